"""The dashboard's in-memory board: scopes, order, counts, percentiles, the aggregate window."""

from __future__ import annotations

import math
import random
import statistics
from datetime import timedelta

from services.status import domain
from services.status.access import Principal, Role
from services.status.board import Board
from services.status.rows import Row
from services.status.views import Views
from shared.kit import FakeClock
from tests.support import status as ev
from tests.support.status import T0

HASH = "0" * 64


def row(case_id: str, *, agency: str = "TX-DPS", specialist: str | None = None, priority: str = "high",
        opened: float = 0.0, assigned_after: float | None = None, accepted_after: float | None = None,
        version: int = 1, stage: str = "referral", status: str = "unassigned", escalations: int = 0,
        needs: tuple[str, ...] = ()) -> Row:
    start = T0.timestamp() + opened
    return Row(case_id=case_id, encounter_id=f"ENC-{case_id}", version=version, agency_id=agency, region="US-TX",
               priority=priority, minor=False, stage=stage, opened_at=start, updated_at=start,
               referral_status=status, referral_id=None, specialist_id=specialist,
               assigned_at=start + assigned_after if assigned_after is not None else None,
               accepted_at=start + accepted_after if accepted_after is not None else None,
               ack_due_at=start + 900 if status == "assigned" else None, escalations=escalations,
               interpreter="needed", hhs="not_required", urgent_needs=needs, needs_assessed=False,
               interview_status="not_requested", cp_status="not_requested", cp_valid_until=None)


def principal(role: Role, agencies=(), specialist=None) -> Principal:
    return Principal(sha256=HASH, name=f"p-{role}", role=role, agencies=list(agencies), specialist_id=specialist)


NOW = T0.timestamp() + 3600


def test_a_snapshot_becomes_a_row() -> None:
    opened = ev.inbound(ev.case_opened("case-1", minor=True), at=T0)
    assign = ev.inbound(ev.assigned("case-1", "r1", "sp-1", at=T0 + timedelta(seconds=5)))
    state, _ = domain.decide(None, opened, T0)
    state, [snap] = domain.decide(state, assign, T0)
    made = Row.from_snapshot(snap.model_dump(mode="json"))
    assert (made.case_id, made.version, made.specialist_id, made.referral_status) == ("case-1", 2, "sp-1", "assigned")
    assert made.ack_due_at == (T0 + timedelta(seconds=5, minutes=15)).timestamp()
    assert made.hhs == "due" and made.hhs_due_at == T0.timestamp() + 24 * 3600  # M1
    assert "overdue" in made.flags(made.ack_due_at + 1, 0) and "overdue" not in made.flags(made.ack_due_at - 1, 0)


def test_columns_are_scoped_and_ordered_most_urgent_then_oldest() -> None:
    board = Board()
    board.put(row("tx-new-urgent", priority="urgent", opened=50), NOW)
    board.put(row("tx-old-high", opened=10), NOW)
    board.put(row("tx-new-high", opened=20), NOW)
    board.put(row("ca-urgent", agency="CA-HP", priority="urgent"), NOW)
    tx = [("agency", "TX-DPS")]
    assert [r.case_id for r in board.column(tx, "referral", 10)] == ["tx-new-urgent", "tx-old-high", "tx-new-high"]
    both = [("agency", "CA-HP"), ("agency", "TX-DPS")]
    assert [r.case_id for r in board.column(both, "referral", 2, offset=1)] == ["tx-new-urgent", "tx-old-high"]
    assert board.count(tx, "stage:referral") == 3 and board.count([("*",)], "stage:referral") == 4


def test_a_newer_version_moves_the_case_and_an_older_one_is_ignored() -> None:
    board = Board()
    board.put(row("c1", version=2, stage="engaged", specialist="sp-1", status="accepted"), NOW)
    assert board.put(row("c1", version=1), NOW) is None  # stale: dropped
    assert board.count([("*",)], "stage:engaged") == 1
    before = board.put(row("c1", version=3, stage="stabilizing", specialist="sp-2", status="accepted"), NOW)
    assert before is not None and before.version == 2
    assert board.count([("*",)], "stage:engaged") == 0 and board.count([("*",)], "stage:stabilizing") == 1
    assert board.column([("specialist", "sp-1")], "engaged", 5) == []
    assert [r.case_id for r in board.column([("specialist", "sp-2")], "stabilizing", 5)] == ["c1"]


def test_percentiles_match_a_plain_computation_across_scopes() -> None:
    rng = random.Random(7)
    board, waits = Board(), {"TX-DPS": [], "CA-HP": [], "NM-SP": []}
    for i in range(300):
        agency = rng.choice(sorted(waits))
        wait = rng.uniform(5, 5000)
        waits[agency].append(wait)
        board.put(row(f"c{i}", agency=agency, assigned_after=wait, status="assigned"), NOW)
    for agencies in (["TX-DPS"], ["TX-DPS", "CA-HP"], sorted(waits)):
        values = sorted(w for a in agencies for w in waits[a])
        for share in (0.5, 0.9):
            expected = values[math.ceil(len(values) * share) - 1]  # nearest rank
            got, n = board.percentile([("agency", a) for a in agencies], share, acceptance=False)
            assert n == len(values) and abs(got - expected) < 1e-6
    assert abs(board.percentile([("*",)], 0.5, acceptance=False)[0]
               - statistics.median_low(sorted(w for ws in waits.values() for w in ws))) < 1e-6


def test_cases_leave_the_aggregate_window_as_they_age() -> None:
    board = Board(window_seconds=7 * 86400)
    board.put(row("old", assigned_after=600, opened=-6 * 86400), NOW)
    board.put(row("new", assigned_after=60), NOW)
    assert board.percentile([("*",)], 0.9, acceptance=False) == (600.0, 2)
    board.evict(NOW + 2 * 86400)
    assert board.percentile([("*",)], 0.9, acceptance=False) == (60.0, 1)
    assert board.count([("*",)], "cases") == 2  # still on the board, only out of the timing window


def test_each_role_sees_its_own_share() -> None:
    board, clock = Board(), FakeClock(T0 + timedelta(hours=1))
    board.put(row("tx-1", specialist="sp-1", status="assigned", escalations=1, needs=("medical",)), NOW)
    board.put(row("tx-2", specialist="sp-2", status="assigned"), NOW)
    board.put(row("ca-1", agency="CA-HP", status="unassigned", needs=("shelter",)), NOW)
    views = Views(board, clock, cp_lead_days=90)
    tx = views.board_view(principal(Role.SUPERVISOR, ["TX-DPS"]), 10)
    assert sorted(c["case_id"] for c in tx["columns"]["referral"]) == ["tx-1", "tx-2"]
    mine = views.board_view(principal(Role.SPECIALIST, specialist="sp-1"), 10)
    assert [c["case_id"] for c in mine["columns"]["referral"]] == ["tx-1"]
    agg = views.aggregates(principal(Role.ANALYST, ["CA-HP"]))
    assert agg["cases"] == 1 and agg["urgent_needs_open"]["shelter"] == 1 and agg["urgent_needs_open"]["medical"] == 0
    assert views.aggregates(principal(Role.SUPERVISOR, ["*"]))["sla"]["cases_with_missed_acknowledgement"] == 1


def test_live_changes_reach_only_those_who_may_see_them() -> None:
    board, clock = Board(), FakeClock(T0)
    views = Views(board, clock, cp_lead_days=90)
    before = row("tx-1", specialist="sp-1", status="assigned")
    after = row("tx-1", specialist="sp-2", status="assigned", version=2)
    assert views.change_for(principal(Role.SPECIALIST, specialist="sp-2"), after, before)["event"] == "case"
    assert views.change_for(principal(Role.SPECIALIST, specialist="sp-1"), after, before)["event"] == "gone"
    assert views.change_for(principal(Role.SPECIALIST, specialist="sp-9"), after, before) is None
    assert views.change_for(principal(Role.SUPERVISOR, ["CA-HP"]), after, before) is None
    analyst = views.change_for(principal(Role.ANALYST, ["TX-DPS"]), after, before)
    assert analyst == {"event": "stats", "data": "{}"}  # no case in it


def life_row(case_id: str, *, opened: float = 0.0, closed_after: float | None = None, **kw) -> Row:
    made = row(case_id, opened=opened, **kw)
    if closed_after is not None:
        made.stage, made.closed_at, made.closure_reason = "closed", made.opened_at + closed_after, "services_completed"
    return made


def test_closed_cases_have_their_column_wait_for_nobody_and_give_the_time_to_close() -> None:
    board, clock = Board(), FakeClock(T0 + timedelta(hours=1))
    board.put(life_row("open-1", status="assigned", specialist="sp-1"), NOW)
    board.put(life_row("closed-1", status="assigned", specialist="sp-1", closed_after=2 * 3600,
                       needs=("shelter",)), NOW)
    board.put(life_row("closed-2", status="unassigned", closed_after=10 * 3600), NOW)
    board.put(life_row("closed-3", status="accepted", closed_after=4 * 3600), NOW)
    views = Views(board, clock, cp_lead_days=90)
    everyone = principal(Role.SUPERVISOR, ["*"])
    seen = views.board_view(everyone, 10)
    assert sorted(c["case_id"] for c in seen["columns"]["closed"]) == ["closed-1", "closed-2", "closed-3"]
    assert seen["totals"]["closed"] == 3 and seen["totals"]["referral"] == 1
    assert (seen["attention"]["awaiting_acceptance"], seen["attention"]["unassigned"]) == (1, 0)
    assert board.due_before([("*",)], NOW + 86400) == 1  # only the open referral can be overdue
    card = next(c for c in seen["columns"]["closed"] if c["case_id"] == "closed-1")
    assert "closed" in card["flags"] and "overdue" not in card["flags"] and card["closure"]["reason"] == (
        "services_completed")
    agg = views.aggregates(everyone)
    assert agg["time_to_close"] == {"p50_seconds": 4 * 3600.0, "p90_seconds": 10 * 3600.0, "cases": 3}
    assert agg["closed_by_reason"]["services_completed"] == 3 and agg["urgent_needs_open"]["shelter"] == 0


def test_cases_needing_a_holder_handovers_and_unassigned_re_alerts_are_counted_and_flagged() -> None:
    board, clock = Board(), FakeClock(T0 + timedelta(hours=1))
    orphan = life_row("orphan", status="accepted", specialist="sp-gone", stage="engaged")
    orphan.needs_holder = True
    moving = life_row("moving", status="accepted", specialist="sp-1", stage="engaged")
    moving.handover_to = "sp-2"
    waiting = life_row("waiting", status="unassigned")
    waiting.unassigned_alerts = 3
    for made in (orphan, moving, waiting, life_row("first-alert", status="unassigned")):
        made.unassigned_alerts = made.unassigned_alerts or 1
        board.put(made, NOW)
    views = Views(board, clock, cp_lead_days=90)
    attention = views.board_view(principal(Role.SUPERVISOR, ["TX-DPS"]), 10)["attention"]
    assert (attention["needs_holder"], attention["handovers"], attention["unassigned"]) == (1, 1, 2)
    assert (attention["unassigned_realerted"], attention["unassigned_realerts"]) == (1, 2)
    cards = {c["case_id"]: c for cs in views.board_view(principal(Role.SUPERVISOR, ["*"]), 10)["columns"].values()
             for c in cs}
    assert "needs_holder" in cards["orphan"]["flags"] and "handover" in cards["moving"]["flags"]
    assert "realerted" in cards["waiting"]["flags"] and "realerted" not in cards["first-alert"]["flags"]
