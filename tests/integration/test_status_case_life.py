"""A case's life in the status snapshot, on the real broker and FerretDB: close, reopen,
handover (declined, then accepted), a holder who left, a correction and a withdrawal; an
escalation that stays visible until the next specialist accepts. Redelivered and restarted,
nothing changes twice; malformed new events are dead-lettered and the rest goes on."""

from __future__ import annotations

import json
from datetime import timedelta

from services.status.access import Tokens
from services.status.app import bootstrap
from shared.contracts.common import Priority
from shared.contracts.inbound import ClosureReason, ReassignmentReason
from shared.contracts.notifications import NotificationSent
from shared.contracts.referrals import ReleaseReason
from tests.support import status as ev
from tests.support.kafka import Bus
from tests.support.procs import free_port
from tests.support.status import T0, snapshots

M = timedelta(minutes=1)
L1, L2, L3 = "case-life-1", "case-life-2", "case-life-3"


def service(settings):
    port = free_port()
    return bootstrap(settings, tokens=Tokens([]), dashboard_port=port), port


def at(minutes: int):
    return T0 + minutes * M


def step(payload, minutes: int) -> tuple[str, dict]:
    return payload.TOPIC, ev.cloudevent(payload, at=at(minutes))


def handover_story() -> list[tuple[str, dict]]:
    """Accepted by sp-1; handed over to sp-2, who declines (sp-1 keeps it); moved by a supervisor
    to sp-3, who accepts; closed by the supervisor, then reopened."""
    sup, holder = ev.supervisor("sup-7"), ev.specialist("sp-1")
    return [
        step(ev.case_opened(L1), 0),
        step(ev.assigned(L1, "r1", "sp-1", at=at(1)), 1),
        step(ev.accepted(L1, "r1", "sp-1", assigned_at=at(1), at=at(3)), 3),
        step(ev.assigned(L1, "r2", "sp-2", at=at(30), attempt=2, reassigned_by=holder,
                         reason=ReassignmentReason.HANDOVER, handover_from="sp-1"), 30),
        step(ev.declined(L1, "r2", "sp-2", at=at(32)), 32),
        step(ev.holder_kept(L1, "r1", "sp-1", assigned_at=at(1), accepted_at=at(3), declined_referral_id="r2",
                            at=at(32)), 32),
        step(ev.assigned(L1, "r3", "sp-3", at=at(40), attempt=3, reassigned_by=sup,
                         reason=ReassignmentReason.WORKLOAD, handover_from="sp-1"), 40),
        step(ev.accepted(L1, "r3", "sp-3", assigned_at=at(40), at=at(45)), 45),
        step(ev.released(L1, "r1", "sp-1", at=at(45), reason=ReleaseReason.HANDED_OVER), 45),
        step(ev.closed(L1, at=at(600), by=sup, released="sp-3", referral_id="r3"), 600),
        step(ev.reopened(L1, at=at(700), by=sup, previous="sp-3"), 700),
    ]


def escalation_story() -> list[tuple[str, dict]]:
    return [
        step(ev.case_opened(L2), 0),
        step(ev.assigned(L2, "r1", "sp-1", at=at(1)), 1),
        step(ev.escalated(L2, "r1", "sp-1", assigned_at=at(1)), 16),
        step(ev.assigned(L2, "r2", "sp-2", at=at(16), attempt=2, escalations=1), 16),
        step(ev.accepted(L2, "r2", "sp-2", assigned_at=at(16), at=at(20), escalations=1), 20),
        step(ev.needs_holder(L2, "r2", "sp-2", at=at(90)), 90),
    ]


def correction_story() -> list[tuple[str, dict]]:
    return [
        step(ev.case_opened(L3, priority=Priority.NORMAL), 0),
        step(ev.corrected(L3, 1, at=at(10)), 10),
        step(ev.withdrawn(L3, at=at(20)), 20),
        step(ev.closed(L3, at=at(20), by=None, reason=ClosureReason.WITHDRAWN), 20),
    ]


FINAL = {L1: 10, L2: 6, L3: 3}  # snapshot-bearing events per case (a decline and a withdrawal are not)


def _reached(versions: dict[str, int]):
    def check(records) -> bool:
        got = snapshots(records)
        return all(any(e["data"]["version"] == v for e in got.get(c, [])) for c, v in versions.items())
    return check


async def test_a_cases_life_reaches_the_snapshot_once_per_event_across_redelivery_and_restart(
        settings, bus: Bus, mongo) -> None:
    l1, l2, l3 = handover_story(), escalation_story(), correction_story()
    sent = NotificationSent.model_validate(dict(
        notification_id="n-1", kind="case_needs_holder", case_id=L2, reference=L2, recipient_id="sup-7",
        recipient_role="supervisor", channel="email", attempts=1, sent_at=at(91)), strict=False)
    first = [*l1[1:6], *l2[1:], l3[1], ("notifications.events", ev.cloudevent(sent, at=at(91)))]
    status, port = service(settings)
    async with status.app:
        await ev.ready(port)
        for topic, event in (l1[0], l2[0], l3[0]):  # opened first: every later version is published
            await bus.publish(topic, event)
        await bus.read("cases.status", until=_reached({L1: 1, L2: 1, L3: 1}))
        for topic, event in first:
            await bus.publish(topic, event)
        for topic, event in (l1[3], l2[3]):  # the producers retried
            await bus.publish(topic, event)
        await bus.read("cases.status", until=_reached({L1: 5, L2: 6, L3: 2}), settle=1.0)
    again, port = service(settings)  # the same consumer groups: a restart
    async with again.app:
        await ev.ready(port)
        for topic, event in (l1[5], l3[1], l2[2]):  # old events, redelivered after the restart
            await bus.publish(topic, event)
        for topic, event in [*l1[6:], *l3[2:]]:
            await bus.publish(topic, event)
        records = await bus.read("cases.status", until=_reached(FINAL), settle=1.5)
    published = snapshots(records)
    for case, count in FINAL.items():  # every version once, none twice, nothing after the last
        assert [e["data"]["version"] for e in published[case]] == list(range(1, count + 1)), case
    one = {e["data"]["version"]: e["data"] for e in published[L1]}
    referral = {v: (s["referral"].get("specialist_id"), s["referral"]["status"], s["referral"].get("handover_to"))
                for v, s in one.items()}
    assert referral[4] == ("sp-1", "accepted", "sp-2")  # offered: the holder stays responsible
    assert referral[5] == ("sp-1", "accepted", None)  # declined: HolderKept
    assert referral[6] == ("sp-1", "accepted", "sp-3")
    assert referral[7] == referral[8] == ("sp-3", "accepted", None)
    assert one[9]["stage"] == "closed" and one[9]["closure"] == {"at": "2026-11-30T18:30:00Z",
                                                                 "reason": "services_completed"}
    assert one[10]["stage"] == "engaged" and one[10].get("closure") is None and one[10]["reopen_count"] == 1
    assert [(m["from_specialist_id"], m["to_specialist_id"], m["reason"], m["requested_by_role"])
            for m in one[10]["reassignments"]] == [("sp-1", "sp-2", "handover", "victim_specialist"),
                                                   ("sp-1", "sp-3", "workload", "supervisor")]
    two = [e["data"]["referral"] for e in published[L2]]
    assert [r["status"] for r in two] == ["unassigned", "assigned", "escalated", "escalated", "accepted",
                                          "accepted"]
    assert [r["needs_holder"] for r in two][-2:] == [False, True] and two[3].get("specialist_id") == "sp-2"
    three = published[L3][-1]["data"]
    assert (three["priority"], three["minor"], three["revision"], three["languages"]) == (
        "urgent", True, 1, ["es", "en"])
    assert three["stage"] == "closed" and three["closure"]["reason"] == "withdrawn"
    assert three["stabilization"]["hhs_notification"] == "due"  # the correction revealed a minor
    docs = {d["_id"]: d async for d in mongo[settings.database("status")]["cases"].find({})}
    lines = [m["text"] for m in docs[L2]["state"]["timeline"]]
    assert "Notification case_needs_holder sent to supervisor sup-7 by email" in lines
    assert any("left the roster" in line for line in lines)
    assert any("withdrew encounter" in m["text"] for m in docs[L3]["state"]["timeline"])
    assert len(docs[L1]["seen"]) == len(l1) and len(docs[L3]["seen"]) == len(l3)


async def test_malformed_case_life_events_are_dead_lettered_and_the_rest_goes_on(settings, bus: Bus) -> None:
    case = "case-life-bad"
    bad_close = ev.cloudevent(ev.closed(case, at=at(5), by=ev.supervisor()))
    bad_close["data"]["reason"] = "she told us to stop"
    bad_kept = ev.cloudevent(ev.holder_kept(case, "r1", "sp-1", assigned_at=at(1), accepted_at=at(2),
                                            declined_referral_id="r2", at=at(3)))
    del bad_kept["data"]["kept_at"]
    bad_needs = ev.cloudevent(ev.needs_holder(case, "r1", "sp-1", at=at(4)))
    bad_needs["data"]["scope"] = "everyone"
    bad_fix = ev.cloudevent(ev.corrected(case, 1, at=at(5)))
    bad_fix["data"]["revision"] = 0
    bad_withdrawal = ev.cloudevent(ev.withdrawn(case, at=at(6)))
    bad_withdrawal["data"]["reason"] = "the victim asked"
    status, port = service(settings)
    async with status.app:
        await ev.ready(port)
        for event in (bad_close, bad_kept, bad_needs):
            await bus.publish("referrals.events", event)
        for event in (bad_fix, bad_withdrawal):
            await bus.publish("cases.opened", event)
        await bus.publish("cases.opened", ev.cloudevent(ev.case_opened(case), at=T0))
        await bus.publish("referrals.events", ev.cloudevent(ev.closed(case, at=at(9), by=ev.supervisor()), at=at(9)))
        records = await bus.read("cases.status", until=_reached({case: 2}), settle=1.0)
        dead = await bus.read("referrals.events.dlq", until=lambda r: len(r) >= 3)
        dead_opened = await bus.read("cases.opened.dlq", until=lambda r: len(r) >= 2)
    # Version 2 is the closed case; version 1 may have been gathered into the same publish.
    stages = [e["data"]["stage"] for e in snapshots(records)[case]]
    assert stages in (["referral", "closed"], ["closed"])
    assert snapshots(records)[case][-1]["data"]["version"] == 2
    assert len(dead) == 3 and len(dead_opened) == 2
    assert {dict(r.headers)["x-dlq-error-type"].decode() for r in [*dead, *dead_opened]} == {"ValidationError"}
    for record in [*dead, *dead_opened]:
        assert "told us" not in dict(record.headers)["x-dlq-error"].decode()
        assert json.loads(record.value)["data"]["case_id"] == case  # unchanged
