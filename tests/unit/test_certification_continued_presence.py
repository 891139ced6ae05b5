"""Continued Presence (C1-C3): routing through HSI, validity, renewal reminder, expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.certification.state import Policy
from shared.contracts.certifications import (
    CaseCertifications,
    CertificationExpired,
    CertificationExpiring,
    CertificationStatusChanged,
    CertificationUpdateRejected,
    ContinuedPresenceRoutedToHsi,
)
from shared.settings import CertificationSettings
from tests.support import events
from tests.support.certification import T0, Desk

CP = "continued_presence"
GRANT = datetime(2026, 2, 1, 15, 30, tzinfo=UTC)


def granted_desk(policy: Policy | None = None, **grant: object) -> Desk:
    desk = Desk(policy=policy)
    desk.send(events.certification_requested("case-1", "cp-1", CP, agency_level="federal"))
    desk.send(events.certification_recorded("case-1", "cp-1", "granted", GRANT, **grant))
    return desk


@pytest.mark.parametrize("level", ["state", "local", "tribal"])
def test_a_non_federal_request_is_routed_through_hsi(level: str) -> None:
    desk = Desk()
    changed, routed, snapshot = desk.send(events.certification_requested(
        "case-1", "cp-1", CP, agency_id="TX-DPS", agency_level=level, officer_id="officer-9"))
    assert isinstance(routed, ContinuedPresenceRoutedToHsi)
    assert (routed.kind, routed.agency_id, routed.agency_level, routed.officer_id, routed.routed_at) == (
        CP, "TX-DPS", level, "officer-9", T0)
    assert isinstance(changed, CertificationStatusChanged) and changed.routed_through_hsi
    assert changed.status == "requested" and changed.previous_status is None
    assert isinstance(snapshot, CaseCertifications) and snapshot.certifications[0].routed_through_hsi


def test_a_federal_request_goes_straight_in() -> None:
    desk = Desk()
    out = desk.send(events.certification_requested("case-1", "cp-1", CP, agency_level="federal"))
    assert [type(e) for e in out] == [CertificationStatusChanged, CaseCertifications]
    assert not out[0].routed_through_hsi


def test_only_cp_is_routed_through_hsi() -> None:
    out = Desk().send(events.certification_requested("case-1", "u-1", "u_visa_certification",
                                                     agency_level="local"))
    assert not [e for e in out if isinstance(e, ContinuedPresenceRoutedToHsi)]


def test_a_grant_is_valid_for_the_configured_duration_then_reminds_then_expires() -> None:
    desk = granted_desk(Policy.from_settings(CertificationSettings(cp_duration_days=365, cp_renewal_lead_days=30)))
    until = GRANT + timedelta(days=365)
    assert desk.cert("cp-1").valid_until == until
    assert desk.advance_to(until - timedelta(days=30, seconds=1)) == []
    [reminder, snapshot] = desk.advance_to(until - timedelta(days=30))
    assert isinstance(reminder, CertificationExpiring)
    assert (reminder.kind, reminder.action, reminder.days_left, reminder.valid_until) == (CP, "renew", 30, until)
    assert reminder.deadline == until.date() and reminder.lapses_at == until
    assert snapshot.certifications[0].reminders_sent == [f"renewal@{until.date()}"]
    assert desk.advance_to(until - timedelta(seconds=1)) == []
    [expired, snapshot] = desk.advance_to(until + timedelta(days=3))
    assert isinstance(expired, CertificationExpired)
    assert (expired.status, expired.lapses_at, expired.expired_at) == ("expired", until, until + timedelta(days=3))
    assert desk.state.timers == {} and snapshot.certifications[0].status == "expired"


def test_the_defaults_are_two_years_and_ninety_days() -> None:
    desk = granted_desk()
    until = GRANT + timedelta(days=730)
    assert desk.cert("cp-1").valid_until == until
    assert sorted(desk.state.timers.values()) == [until - timedelta(days=90), until]


def test_a_given_valid_until_is_kept() -> None:
    given = datetime(2027, 6, 30, 23, 59, tzinfo=UTC)
    desk = granted_desk(valid_until=given)
    assert desk.cert("cp-1").valid_until == given
    assert desk.cert("cp-1").deadline().isoformat() == "2027-06-30"


def test_a_renewal_extends_and_the_old_deadline_never_fires() -> None:
    desk = granted_desk()
    first_until = GRANT + timedelta(days=730)
    [reminder, _] = desk.advance_to(first_until - timedelta(days=90))
    assert reminder.days_left == 90
    renewal = desk.send(events.certification_recorded("case-1", "cp-1", "renewed", first_until - timedelta(days=10)))
    assert renewal[0].status == "renewed" and renewal[0].previous_status == "granted"
    new_until = first_until + timedelta(days=730)
    assert desk.cert("cp-1").valid_until == new_until and desk.cert("cp-1").renewals == 1
    assert desk.advance_to(new_until - timedelta(days=91)) == []  # the old expiry is gone
    [second_reminder, _] = desk.advance_to(new_until - timedelta(days=90))
    assert second_reminder.deadline == new_until.date()
    [expired, _] = desk.advance_to(new_until)
    assert isinstance(expired, CertificationExpired) and expired.valid_until == new_until
    assert len([e for e in desk.published if isinstance(e, CertificationExpiring)]) == 2


def test_a_renewal_dated_after_the_lapse_is_rejected() -> None:
    desk = granted_desk()
    until = GRANT + timedelta(days=730)
    before = desk.state
    [rejected] = desk.send(events.certification_recorded("case-1", "cp-1", "renewed", until))
    assert isinstance(rejected, CertificationUpdateRejected) and rejected.reason == "past_deadline"
    assert desk.state == before


def test_a_renewal_made_in_time_but_recorded_after_expiry_revives_it() -> None:
    desk = granted_desk()
    until = GRANT + timedelta(days=730)
    desk.advance_to(until)
    assert desk.cert("cp-1").status == "expired"
    [changed, _] = desk.send(events.certification_recorded("case-1", "cp-1", "renewed", until - timedelta(days=1)))
    assert (changed.previous_status, changed.status) == ("expired", "renewed")
    assert set(desk.state.timers.values()) == {until + timedelta(days=730),
                                               until + timedelta(days=730 - 90)}


def test_a_grant_recorded_after_its_validity_expires_at_once_without_a_reminder() -> None:
    desk = Desk(now=GRANT + timedelta(days=800))
    desk.send(events.certification_requested("case-1", "cp-1", CP, agency_level="federal"))
    desk.send(events.certification_recorded("case-1", "cp-1", "granted", GRANT))
    out = desk.advance_to(desk.now)
    assert [type(e) for e in out] == [CertificationExpired, CaseCertifications]
