"""Which event notifies whom (docs/design.md, Notifications): the recipient rules, pure."""

from __future__ import annotations

import pytest

from services.notify.audience import Contact, Directory
from services.notify.kinds import RESTRICTED, Kind, notifiable, plan
from shared.contracts.notifications import NotificationKind, RecipientRole
from shared.contracts.referrals import ReferralAccepted
from tests.support import notifications as n


def supervisor(sid: str, regions: list[str], agency: str) -> Contact:
    return Contact(id=sid, role=RecipientRole.SUPERVISOR, email=f"{sid}@x.org", regions=regions, agency_id=agency)


A = Contact(id="spec-a", role=RecipientRole.VICTIM_SPECIALIST, email="a@x.org")
TX, CA, ANY = supervisor("sup-tx", ["US-TX"], "TX-DPS"), supervisor("sup-ca", ["US-CA"], "CA-DOJ"), \
    supervisor("sup-any", ["*"], "HSI")
DIRECTORY = Directory(contacts={"spec-a": A}, supervisors=(TX, CA, ANY),
                      case_specialists={"case-1": "spec-a"}, case_regions={"case-1": "US-TX"})


def ids(contacts) -> list[str]:
    return [c.id for c in contacts]


@pytest.mark.parametrize(("payload", "kind", "recipients", "fallback"), [
    (n.assigned("case-1", "spec-a"), Kind.REFERRAL_ASSIGNED, ["spec-a"], ["sup-tx", "sup-any"]),
    (n.escalated("case-1"), Kind.REFERRAL_ESCALATED, ["sup-tx", "sup-any"], ["sup-tx", "sup-ca", "sup-any"]),
    (n.escalated("case-1", scope="all"), Kind.REFERRAL_ESCALATED, ["sup-tx", "sup-ca", "sup-any"],
     ["sup-tx", "sup-ca", "sup-any"]),
    (n.unassigned("case-1", region="US-CA"), Kind.CASE_UNASSIGNED, ["sup-ca", "sup-any"],
     ["sup-tx", "sup-ca", "sup-any"]),
    (n.deferred("case-1"), Kind.INTERVIEW_DEFERRED, ["officer:officer-17", "spec-a"], ["sup-tx", "sup-any"]),
    (n.cleared("case-1", "spec-b"), Kind.INTERVIEW_CLEARED, ["officer:officer-17", "spec-b"],
     ["sup-tx", "sup-any"]),
    (n.hhs_due("case-1", "spec-a"), Kind.HHS_NOTIFICATION_DUE, ["spec-a", "sup-tx", "sup-any"],
     ["sup-tx", "sup-ca", "sup-any"]),
    (n.hhs_due("case-1", "spec-a", overdue=True), Kind.HHS_NOTIFICATION_OVERDUE, ["spec-a", "sup-tx", "sup-any"],
     ["sup-tx", "sup-ca", "sup-any"]),
    (n.expiring("case-1"), Kind.CERTIFICATION_EXPIRING, ["spec-a", "sup-tx"], ["sup-tx"]),
    (n.expired("case-1"), Kind.CERTIFICATION_EXPIRED, ["spec-a", "sup-tx"], ["sup-tx"]),
    (n.routed_to_hsi("case-1", agency="CA-DOJ"), Kind.CONTINUED_PRESENCE_ROUTED_TO_HSI, ["sup-ca"], ["sup-ca"]),
    (n.unprocessable("a-1", region="US-CA"), Kind.ENCOUNTER_UNPROCESSABLE, ["sup-ca", "sup-any"],
     ["sup-tx", "sup-ca", "sup-any"]),
    (n.unprocessable("a-2", region=None), Kind.ENCOUNTER_UNPROCESSABLE, ["sup-tx", "sup-ca", "sup-any"],
     ["sup-tx", "sup-ca", "sup-any"]),
])
def test_recipients_per_kind(payload, kind: Kind, recipients: list[str], fallback: list[str]) -> None:
    made = plan(payload, DIRECTORY)
    assert made.kind is kind
    assert ids(made.recipients) == recipients and ids(made.fallback) == fallback


def test_a_region_nobody_supervises_goes_to_every_supervisor_on_duty() -> None:
    made = plan(n.escalated("case-1", region="US-NY"), Directory(supervisors=(TX, CA)))
    assert ids(made.recipients) == ["sup-tx", "sup-ca"]


def test_certifications_never_fall_back_beyond_the_agency() -> None:
    made = plan(n.routed_to_hsi("case-9", agency="NO-SUPERVISORS"), DIRECTORY)
    assert made.recipients == [] and made.fallback == [] and made.restricted


def test_an_officer_without_an_email_is_not_a_recipient() -> None:
    event = n.deferred("case-1", "spec-a")
    event = event.model_copy(update={"requested_by": event.requested_by.model_copy(update={"email": None})})
    assert ids(plan(event, DIRECTORY).recipients) == ["spec-a"]


def test_facts_are_ids_codes_and_times_never_free_text() -> None:
    deferred = plan(n.deferred("case-1"), DIRECTORY).facts
    assert deferred["reasons"] == ["location_not_neutral", "urgent_needs_open"]
    assert deferred["urgent_needs_open"] == ["shelter"] and "detail" not in str(deferred)
    assert "reason" not in plan(n.unassigned("case-1"), DIRECTORY).facts
    alert = plan(n.unprocessable("a-1").model_copy(update={"error_type": "Name Here", "source": "x y"}),
                 DIRECTORY).facts
    assert alert["error_type"] is None and alert["source"] is None and "error" not in alert


def test_only_certification_kinds_are_restricted_and_absent_from_the_general_contract() -> None:
    assert {k.value for k in Kind} - {k.value for k in RESTRICTED} == {k.value for k in NotificationKind}


def test_other_events_notify_nobody() -> None:
    accepted = ReferralAccepted.model_validate({
        "case_id": "case-1", "agency_id": "TX-DPS", "region": "US-TX", "priority": "normal", "escalations": 0,
        "referral_id": "r", "specialist_id": "spec-a", "assigned_at": n.T0, "accepted_at": n.T0,
        "ack_due_at": n.T0}, strict=False)
    assert not notifiable(accepted) and notifiable(n.assigned("case-1", "spec-a"))


def test_a_country_supervisor_hears_of_its_subdivisions_and_not_the_reverse() -> None:
    country, other = supervisor("sup-us", ["US"], "HSI"), supervisor("sup-mx", ["MX"], "INM")
    directory = Directory(supervisors=(TX, country, other))
    assert ids(plan(n.escalated("case-1", region="US-NY"), directory).recipients) == ["sup-us"]
    assert ids(plan(n.escalated("case-1", region="US"), directory).recipients) == ["sup-us"]


@pytest.mark.parametrize(("payload", "kind", "recipients"), [
    (n.reassigned("case-1", "spec-b"), Kind.REFERRAL_REASSIGNED, ["spec-b"]),
    (n.reassigned("case-1", "spec-b", by="spec-a", role="victim_specialist", reason="handover",
                  handover_from="spec-a"), Kind.REFERRAL_REASSIGNED, ["spec-b"]),
    (n.handed_over("case-1", "spec-a"), Kind.HANDED_OVER, ["spec-a"]),
    (n.holder_kept("case-1", "spec-a"), Kind.HANDED_OVER, ["spec-a"]),
    (n.released("case-1", "spec-a", reason="reassigned"), Kind.HANDED_OVER, ["spec-a"]),
    (n.closed("case-1", "spec-a"), Kind.CASE_CLOSED, ["spec-a"]),
    (n.closed("case-1", "spec-a", by=None, reason="withdrawn"), Kind.CASE_WITHDRAWN, ["spec-a"]),
    (n.reopened("case-1", "spec-a"), Kind.CASE_REOPENED, ["spec-a"]),
    (n.needs_holder("case-1", "spec-gone"), Kind.CASE_NEEDS_HOLDER, ["sup-tx", "sup-any"]),
    (n.needs_holder("case-1", "spec-gone", scope="all"), Kind.CASE_NEEDS_HOLDER, ["sup-tx", "sup-ca", "sup-any"]),
])
def test_case_life_recipients(payload, kind: Kind, recipients: list[str]) -> None:
    assert notifiable(payload)
    made = plan(payload, DIRECTORY)
    assert made.kind is kind and ids(made.recipients) == recipients


def test_a_reassignment_says_who_asked_and_why_and_an_ordinary_assignment_does_not() -> None:
    facts = plan(n.reassigned("case-1", "spec-b", handover_from="spec-a"), DIRECTORY).facts
    assert (facts["requested_by_role"], facts["reassignment_reason"], facts["handover_from"]) == (
        "supervisor", "workload", "spec-a")
    assert "requested_by_role" not in plan(n.assigned("case-1", "spec-b"), DIRECTORY).facts


@pytest.mark.parametrize("payload", [
    n.closed("case-1", "spec-a", by="spec-a", role="victim_specialist"),  # the holder closed it: they know
    n.closed("case-1", None),  # nobody held it
    n.closed("case-1", None, by=None, reason="withdrawn"),
    n.reopened("case-1", None),
    n.reopened("case-1", "spec-a", by="spec-a", role="victim_specialist"),
    n.released("case-1", "spec-a"),  # a departure: the next assignment or CaseNeedsHolder tells
    n.released("case-1", "spec-a", reason="case_closed"),
])
def test_case_life_events_that_tell_nobody(payload) -> None:
    assert not notifiable(payload)


def test_with_no_supervisor_on_duty_alerts_go_to_every_supervisor_of_the_agency() -> None:
    off_tx = supervisor("sup-tx-off", ["US-CA"], "TX-DPS").model_copy(update={"on_duty": False})
    off_ca = CA.model_copy(update={"on_duty": False})
    nobody = Directory(supervisors=(), rostered=(off_ca, off_tx))
    for payload in (n.unassigned("case-1", alert=3), n.needs_holder("case-1", "spec-gone"), n.escalated("case-1")):
        made = plan(payload, nobody)
        assert ids(made.recipients) == ["sup-tx-off"] and ids(made.fallback) == ["sup-tx-off"]
    assert ids(plan(n.unassigned("case-1", agency_id="XX"), nobody).recipients) == ["sup-ca", "sup-tx-off"]
    # Someone on duty anywhere: the usual rules (every on-duty supervisor when the region has none).
    assert ids(plan(n.unassigned("case-1"), Directory(supervisors=(CA,), rostered=(CA, off_tx))).recipients) == [
        "sup-ca"]


def test_each_unassigned_alert_says_its_number() -> None:
    assert plan(n.unassigned("case-1", alert=4, scope="all"), DIRECTORY).facts["alert"] == 4


def test_a_handover_notice_says_how_it_ended() -> None:
    outcomes = [plan(p, DIRECTORY).facts["outcome"] for p in (
        n.handed_over("case-1", "spec-a"), n.released("case-1", "spec-a", reason="reassigned"),
        n.holder_kept("case-1", "spec-a"))]
    assert outcomes == ["accepted", "reassigned", "kept"]
