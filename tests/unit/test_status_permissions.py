"""Who may act on a case from the dashboard (services/status/permissions.py): the table."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.status.access import Principal, Role
from services.status.permissions import CaseAction, actor_of, allowed, offered_referral
from services.status.state import CaseView, Life, Opened, Referral
from shared.contracts.common import Priority
from shared.contracts.inbound import ActorRole
from shared.contracts.status import ReferralStatus

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
A = CaseAction


def principal(name: str, role: Role, agencies: list[str] | None = None, specialist_id: str | None = None) -> Principal:
    return Principal(sha256="0" * 64, name=name, role=role, agencies=agencies or [], specialist_id=specialist_id)


HOLDER = principal("garcia", Role.SPECIALIST, specialist_id="sp-1")
OTHER = principal("nguyen", Role.SPECIALIST, specialist_id="sp-2")
SUP_IN = principal("reyes", Role.SUPERVISOR, ["TX-DPS"], "sup-tx")
SUP_OUT = principal("park", Role.SUPERVISOR, ["CA-HP"], "sup-ca")
SUP_ALL = principal("chief", Role.SUPERVISOR, ["*"])
ANALYST = principal("counts", Role.ANALYST, ["*"])
AUDITOR = principal("trail", Role.AUDITOR, ["*"])


def case(status: ReferralStatus, specialist_id: str | None = "sp-1", *, closed: bool = False,
         handover_to: str | None = None, released: str | None = None) -> CaseView:
    opened = Opened(encounter_id="ENC-1", agency_id="TX-DPS", region="US-TX", opened_at=T0, priority=Priority.HIGH,
                    minor=False, categories={}, indicator_count=0, languages=["en"], interpreter_needed=False,
                    urgent_needs=[])
    referral = Referral(referral_id="r1" if specialist_id else None, specialist_id=specialist_id, status=status,
                        handover_to=handover_to, handover_referral_id="r2" if handover_to else None,
                        released_specialist_id=released)
    return CaseView(case_id="case-1", opened=opened, referral=referral,
                    life=Life(closed_at=T0 if closed else None))


ASSIGNED = case(ReferralStatus.ASSIGNED)
ACCEPTED = case(ReferralStatus.ACCEPTED)
HANDOVER = case(ReferralStatus.ACCEPTED, handover_to="sp-2")
CLOSED = case(ReferralStatus.UNASSIGNED, None, closed=True, released="sp-1")
UNASSIGNED = case(ReferralStatus.UNASSIGNED, None)

TABLE = [
    (HOLDER, ASSIGNED, {A.ACCEPT, A.DECLINE}),
    (OTHER, ASSIGNED, set()),
    (SUP_IN, ASSIGNED, {A.CLOSE, A.REASSIGN}),
    (SUP_OUT, ASSIGNED, set()),
    (SUP_ALL, ASSIGNED, {A.CLOSE, A.REASSIGN}),
    (ANALYST, ASSIGNED, set()),
    (HOLDER, ACCEPTED, {A.RECORD_MILESTONE, A.READ_IDENTITY, A.CLOSE, A.REASSIGN, A.REQUEST_SERVICE, A.RECORD_CONSENT}),
    (OTHER, ACCEPTED, set()),
    (SUP_IN, ACCEPTED, {A.CLOSE, A.REASSIGN}),
    (SUP_OUT, ACCEPTED, set()),
    (ANALYST, ACCEPTED, set()),
    # A handover: the holder stays responsible (and may read) until the other accepts.
    (HOLDER, HANDOVER, {A.RECORD_MILESTONE, A.READ_IDENTITY, A.CLOSE, A.REASSIGN, A.REQUEST_SERVICE, A.RECORD_CONSENT}),
    (OTHER, HANDOVER, {A.ACCEPT, A.DECLINE}),
    (HOLDER, CLOSED, {A.REOPEN}),
    (OTHER, CLOSED, set()),
    (SUP_IN, CLOSED, {A.REOPEN}),
    (SUP_OUT, CLOSED, set()),
    (HOLDER, UNASSIGNED, set()),
    (SUP_IN, UNASSIGNED, {A.CLOSE, A.REASSIGN}),
    (AUDITOR, ACCEPTED, set()),
]


@pytest.mark.parametrize(("who", "view", "expected"), TABLE)
def test_exactly_these_actions_are_allowed(who: Principal, view: CaseView, expected: set[CaseAction]) -> None:
    assert allowed(who, view) == expected


def test_the_referral_answered_is_the_one_offered_to_that_specialist() -> None:
    assert offered_referral(ASSIGNED, "sp-1") == "r1"
    assert offered_referral(HANDOVER, "sp-2") == "r2"
    assert offered_referral(HANDOVER, "sp-1") is None
    assert offered_referral(case(ReferralStatus.ASSIGNED, closed=True), "sp-1") is None


def test_the_actor_comes_from_the_token() -> None:
    assert actor_of(HOLDER).model_dump() == {"id": "sp-1", "role": ActorRole.VICTIM_SPECIALIST}
    assert actor_of(SUP_IN).model_dump() == {"id": "sup-tx", "role": ActorRole.SUPERVISOR}
    assert actor_of(SUP_ALL).model_dump() == {"id": "chief", "role": ActorRole.SUPERVISOR}
    assert actor_of(ANALYST) is None
