"""U visa (U1-U4) and T visa (T1-T2) Supplement B workflows, pure."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from shared.contracts.certifications import (
    CaseCertifications,
    CertificationExpired,
    CertificationExpiring,
    CertificationStatusChanged,
    CertificationUpdateRejected,
)
from tests.support import events
from tests.support.certification import Desk

U, T = "u_visa_certification", "t_visa_declaration"
CENTRAL = timezone(timedelta(hours=-6))
SIGNED_AT = datetime(2026, 8, 31, 22, 0, tzinfo=CENTRAL)  # Sep 1 04:00 UTC; the agency's Aug 31
START = datetime(2026, 8, 20, tzinfo=UTC)


def requested(kind: str = U, cid: str = "u-1", now: datetime = START) -> Desk:
    desk = Desk(now=now)
    desk.send(events.certification_requested("case-1", cid, kind))
    return desk


def sign(desk: Desk, at: datetime = SIGNED_AT, cid: str = "u-1", **signatory: str) -> list:
    signed_by = events.SIGNATORY | signatory
    return desk.send(events.certification_recorded("case-1", cid, "signed", at, signed_by=signed_by))


@pytest.mark.parametrize("capacity", ["agency_head", "designated_supervisor", "judge"])
def test_u_visa_signatories(capacity: str) -> None:
    desk = requested()
    [changed, snapshot] = sign(desk, capacity=capacity)
    assert isinstance(changed, CertificationStatusChanged) and changed.signatory_capacity == capacity
    assert snapshot.certifications[0].signatory_capacity == capacity


def test_any_other_signatory_is_rejected_for_a_u_visa_but_not_for_a_t_visa() -> None:
    desk = requested()
    before = desk.state
    [rejected] = sign(desk, capacity="other")
    assert isinstance(rejected, CertificationUpdateRejected)
    assert (rejected.reason, rejected.kind, rejected.status) == ("invalid_signatory", U, "requested")
    assert desk.state == before
    t_desk = requested(T, "t-1")
    assert sign(t_desk, cid="t-1", capacity="other")[0].status == "signed"  # T1: any LE official


@pytest.mark.parametrize(("signed_by", "missing"), [
    (None, ["signed_by"]),
    ({"name": " ", "title": "Chief of Police", "capacity": "agency_head"}, ["signed_by.name"]),
    ({"name": "  ", "title": "   ", "capacity": "judge"}, ["signed_by.name", "signed_by.title"]),
])
def test_completeness_is_checked_before_signature(signed_by: dict | None, missing: list[str]) -> None:
    desk = requested()
    before = desk.state
    [rejected] = desk.send(events.certification_recorded("case-1", "u-1", "signed", SIGNED_AT,
                                                         signed_by=signed_by))
    assert isinstance(rejected, CertificationUpdateRejected)
    assert (rejected.reason, rejected.missing) == ("incomplete", missing)
    assert desk.state == before


def test_answers_like_n_a_count_as_answered() -> None:
    assert sign(requested(), title="N/A")[0].status == "signed"  # U4: "N/A" is an answer


def test_the_deadline_is_the_agency_s_signature_date_plus_six_months_minus_one_day() -> None:
    desk = requested()
    [changed, snapshot] = sign(desk)
    cert = desk.cert("u-1")
    assert cert.signed_on == date(2026, 8, 31) and cert.expires_on == date(2027, 2, 27)
    assert cert.signed_at == datetime(2026, 9, 1, 4, 0, tzinfo=UTC) and cert.signed_at.tzinfo == UTC
    assert changed.expires_on == date(2027, 2, 27) and snapshot.certifications[0].expires_on == date(2027, 2, 27)
    assert cert.lapses_at() == datetime(2027, 2, 28, 6, 0, tzinfo=UTC)  # midnight Central


def test_reminders_30_and_7_days_before_then_expired_each_once() -> None:
    desk = requested()
    sign(desk)
    day_start = lambda d: datetime(d.year, d.month, d.day, tzinfo=CENTRAL).astimezone(UTC)  # noqa: E731
    assert desk.advance_to(day_start(date(2027, 1, 28)) - timedelta(seconds=1)) == []
    [first, _] = desk.advance_to(day_start(date(2027, 1, 28)))
    assert isinstance(first, CertificationExpiring)
    assert (first.days_left, first.deadline, first.action, first.kind) == (30, date(2027, 2, 27), "file", U)
    assert desk.advance_to(day_start(date(2027, 2, 19)) + timedelta(hours=23)) == []
    [second, _] = desk.advance_to(day_start(date(2027, 2, 20)))
    assert second.days_left == 7
    assert desk.advance_to(datetime(2027, 2, 28, 5, 59, tzinfo=UTC)) == []  # still Feb 27 in Central
    [expired, snapshot] = desk.advance_to(datetime(2027, 2, 28, 6, 0, tzinfo=UTC))
    assert isinstance(expired, CertificationExpired) and expired.deadline == date(2027, 2, 27)
    assert snapshot.certifications[0].reminders_sent == ["remind30@2027-02-27", "remind7@2027-02-27"]
    assert desk.advance_to(datetime(2030, 1, 1, tzinfo=UTC)) == [] and desk.state.timers == {}


def test_filing_stops_the_reminders_and_the_expiry() -> None:
    desk = requested()
    sign(desk)
    [changed, _] = desk.send(events.certification_recorded("case-1", "u-1", "submitted", "2027-01-10T10:00:00-06:00"))
    assert changed.status == "submitted" and desk.state.timers == {}
    assert desk.advance_to(datetime(2028, 1, 1, tzinfo=UTC)) == []


def test_a_filing_dated_after_the_last_day_is_rejected_even_before_the_timer() -> None:
    desk = requested()
    sign(desk)
    [rejected] = desk.send(events.certification_recorded("case-1", "u-1", "submitted", "2027-02-28T00:30:00-06:00"))
    assert isinstance(rejected, CertificationUpdateRejected) and rejected.reason == "past_deadline"
    [changed, _] = desk.send(events.certification_recorded("case-1", "u-1", "submitted", "2027-02-27T23:59:00-06:00"))
    assert changed.status == "submitted"


def test_a_filing_made_in_time_but_recorded_after_the_expiry_is_accepted() -> None:
    desk = requested()
    sign(desk)
    desk.advance_to(datetime(2027, 3, 2, tzinfo=UTC))
    assert desk.cert("u-1").status == "expired"
    [changed, _] = desk.send(events.certification_recorded("case-1", "u-1", "submitted", "2027-02-26T12:00:00Z"))
    assert (changed.previous_status, changed.status) == ("expired", "submitted")


def test_a_signature_recorded_late_reminds_at_once_with_the_days_left() -> None:
    now = datetime(2027, 2, 22, 12, 0, tzinfo=UTC)  # 5 days before the Feb 27 deadline
    desk = requested(now=now)
    sign(desk)
    [reminder, _] = desk.advance_to(now)
    assert reminder.days_left == 5  # both reminders were due: only the latest fires, now
    assert desk.advance_to(datetime(2027, 2, 28, 5, tzinfo=UTC)) == []


def test_signing_again_after_expiry_starts_a_new_six_months() -> None:
    desk = requested()
    sign(desk)
    desk.advance_to(datetime(2027, 3, 1, tzinfo=UTC))
    [changed, _] = sign(desk, at=datetime(2027, 3, 15, 9, 0, tzinfo=UTC))
    assert (changed.previous_status, changed.status, changed.expires_on) == ("expired", "signed", date(2027, 9, 14))
    [reminder, _] = desk.advance_to(datetime(2027, 8, 15, tzinfo=UTC))
    assert reminder.deadline == date(2027, 9, 14) and reminder.days_left == 30


def test_a_t_visa_declaration_is_signed_and_submitted_and_never_expires() -> None:
    desk = requested(T, "t-1")
    [signed, _] = sign(desk, cid="t-1")
    assert signed.expires_on is None and signed.valid_until is None
    [filed, snapshot] = desk.send(events.certification_recorded("case-1", "t-1", "submitted", "2026-09-02T10:00:00Z"))
    assert filed.status == "submitted" and snapshot.certifications[0].submitted_at is not None
    assert desk.state.timers == {}
    assert desk.advance_to(datetime(2036, 1, 1, tzinfo=UTC)) == []


def test_ids_with_dots_make_timer_names_a_document_can_store() -> None:
    desk = requested(cid="U.2026/08.1")
    sign(desk, cid="U.2026/08.1")
    assert desk.state.timers and all("." not in name and not name.startswith("$") for name in desk.state.timers)
    [reminder, _] = desk.advance_to(datetime(2027, 1, 28, 6, 0, tzinfo=UTC))
    assert reminder.certification_id == "U.2026/08.1"


def test_several_certifications_of_a_case_keep_their_own_timers_and_one_snapshot() -> None:
    desk = requested()
    desk.send(events.certification_requested("case-1", "u-2", U))
    sign(desk)
    sign(desk, cid="u-2", at=datetime(2026, 10, 1, 12, tzinfo=UTC))
    [reminder, snapshot] = desk.advance_to(datetime(2027, 1, 28, 6, 0, tzinfo=UTC))
    assert reminder.certification_id == "u-1"
    assert isinstance(snapshot, CaseCertifications)
    assert [c.certification_id for c in snapshot.certifications] == ["u-1", "u-2"]
    assert snapshot.version == 5  # two requests, two signatures, one reminder


def test_every_event_names_its_kind_and_goes_to_a_restricted_topic() -> None:
    from shared.topics import RESTRICTED_TOPICS

    desk = requested()
    sign(desk, capacity="other")
    sign(desk)
    desk.advance_to(datetime(2027, 3, 1, tzinfo=UTC))
    assert desk.published and all(e.TOPIC in RESTRICTED_TOPICS for e in desk.published)
    assert all(e.kind == U for e in desk.published if not isinstance(e, CaseCertifications))
