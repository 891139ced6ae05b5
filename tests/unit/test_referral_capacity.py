"""The capacity bookkeeping around decisions, pure parts: which holds are live, and how a
batch counts its own assignments as it makes them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.referral.capacity import BatchDecider
from services.referral.ledger import judge, split
from services.referral.matching import Roster, Specialist
from services.referral.state import Policy, hold_token
from shared.contracts.common import AgencyLevel, Priority
from shared.contracts.intake import CaseOpened, Screening
from shared.kit import Inbound

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
POLICY = Policy(dict.fromkeys(Priority, timedelta(minutes=30)), max_escalations=2)


def state(attempts: int, status: str = "assigned", attempt: int | None = None, specialist: str = "sp-1") -> dict:
    return {"attempts": attempts, "status": status,
            "current": {"attempt": attempt or attempts, "specialist_id": specialist}}


@pytest.mark.parametrize(("hold", "stored", "verdict"), [
    (("sp-1", "case-1#1"), state(1), "live"),
    (("sp-1", "case-1#1"), state(1, "accepted"), "live"),
    (("sp-2", "case-1#1"), state(1), "dead"),  # a lost race: someone else holds attempt 1
    (("sp-1", "case-1#1"), state(2, specialist="sp-2"), "dead"),  # declined or timed out since
    (("sp-1", "case-1#2"), state(2, "unassigned"), "dead"),
    (("sp-1", "case-1#2"), state(1), "pending"),  # the attempt's write may be in flight
    (("sp-1", "case-1#1"), None, "pending"),  # not even the case's first write yet
    # a handover offer holds its slot while the holder keeps theirs; answered or closed, it is dead
    (("sp-2", "case-1#2"), state(2, "accepted", attempt=1) | {"offer": {"attempt": 2, "specialist_id": "sp-2"}},
     "live"),
    (("sp-1", "case-1#1"), state(2, "accepted", attempt=1) | {"offer": {"attempt": 2, "specialist_id": "sp-2"}},
     "live"),
    (("sp-2", "case-1#2"), state(2, "accepted", attempt=1), "dead"),
    (("sp-1", "case-1#1"), {"attempts": 1, "status": "closed", "current": None}, "dead"),
])
def test_judge(hold, stored, verdict) -> None:
    assert judge(hold, stored) == verdict


def test_tokens_split_back_into_case_and_attempt() -> None:
    assert split(hold_token("case-a.b:c/d-1", 12)) == ("case-a.b:c/d-1", 12)


def opened(case_id: str) -> Inbound:
    data = CaseOpened(case_id=case_id, encounter_id="E", agency_id="TX-DPS", agency_level=AgencyLevel.STATE,
                      officer_id="o", region="US-TX", occurred_at=T0, opened_at=T0, languages=["en"],
                      interpreter_needed=False, urgent_needs=[], priority=Priority.NORMAL, minor=False,
                      screening=Screening(categories={}, indicator_count=0))
    return Inbound(id=f"e-{case_id}", type=data.TYPE, data=data)


def sp(specialist_id: str, load: int = 0) -> Specialist:
    return Specialist(specialist_id, frozenset({"en"}), ("US-TX",), True, 2, load=load)


def test_a_batch_counts_its_own_assignments() -> None:
    decide = BatchDecider(Roster.of([sp("a"), sp("b", load=1)]), POLICY)
    picks = [decide(None, opened(f"c{i}"), T0)[0] for i in range(4)]
    # a tie on load ratio goes to whoever was assigned least recently (b: never)
    assert [p.current.specialist_id if p.current else None for p in picks] == ["a", "b", "a", None]


def test_a_hold_taken_before_a_crash_decides_again_for_its_specialist() -> None:
    roster = Roster.of([sp("a"), sp("b", load=1)], held={"c0#1": "b"})
    decide = BatchDecider(roster, POLICY)
    after, _ = decide(None, opened("c0"), T0)
    assert after.holder == ("b", "c0#1")
    assert decide.roster.specialists["b"].load == 1  # already counted by its hold
