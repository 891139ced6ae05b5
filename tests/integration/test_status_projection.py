"""The status projection on the real broker and FerretDB: redelivery, restart, cross-topic
reordering, rebuild equality, T/U dropped on arrival, bad input dead-lettered."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

from services.status import rebuild as status_rebuild
from services.status.access import Tokens
from services.status.app import bootstrap
from shared.cloudevents import derived_id
from shared.contracts.certifications import CertificationStatus
from shared.contracts.inbound import CertificationKind
from shared.contracts.stabilization import PlanChange
from tests.support import status as ev
from tests.support.kafka import Bus, eventually
from tests.support.procs import free_port
from tests.support.status import T0, snapshots

NO_TOKENS = Tokens([])


def service(settings):
    port = free_port()
    return bootstrap(settings, tokens=NO_TOKENS, dashboard_port=port), port


def referral_story(case: str) -> list[tuple[str, dict]]:
    t = T0
    return [
        ("referrals.events", ev.cloudevent(ev.assigned(case, f"{case}-r1", "sp-1", at=t + timedelta(seconds=2)),
                                           at=t + timedelta(seconds=2))),
        ("referrals.events", ev.cloudevent(ev.accepted(case, f"{case}-r1", "sp-1", assigned_at=t + timedelta(seconds=2),
                                                       at=t + timedelta(minutes=5)), at=t + timedelta(minutes=5))),
        ("stabilization.events", ev.cloudevent(ev.progressed(case, ev.plan(2, engaged=True, needs_assessed=True)),
                                               at=t + timedelta(hours=1))),
    ]


async def test_redelivered_events_publish_each_snapshot_once_also_after_a_restart(settings, bus: Bus, mongo) -> None:
    opened = ev.cloudevent(ev.case_opened("case-a"), at=T0)
    [assign, accept, _] = referral_story("case-a")
    status, port = service(settings)
    async with status.app:
        await ev.ready(port)
        await bus.publish("cases.opened", opened)
        await bus.events("cases.status", count=1)
        for topic, event in [assign, assign, ("cases.opened", opened)]:
            await bus.publish(topic, event)
        await bus.events("cases.status", count=2, settle=1.5)
    again, port = service(settings)  # the same consumer groups: a restart
    async with again.app:
        await ev.ready(port)
        await bus.publish(*assign)  # an old event, redelivered after the restart
        await bus.publish(*accept)
        published = await bus.events("cases.status", count=3, settle=1.5)
    assert [e["data"]["version"] for e in published] == [1, 2, 3]
    assert [e["data"]["referral"]["status"] for e in published] == ["unassigned", "assigned", "accepted"]
    assert len({e["id"] for e in published}) == 3
    doc = await mongo[settings.database("status")]["cases"].find_one({"_id": "case-a"})
    assert doc["state"]["version"] == 3 and len(doc["seen"]) == 3


async def test_events_before_the_case_opens_are_kept_and_published_with_it(settings, bus: Bus, mongo) -> None:
    cases = mongo[settings.database("status")]["cases"]
    status, port = service(settings)
    async with status.app:
        await ev.ready(port)
        for topic, event in referral_story("case-b"):  # the referral and plan topics ran ahead
            await bus.publish(topic, event)
        await eventually(lambda: _version(cases, "case-b", 3))
        await bus.publish("cases.opened", ev.cloudevent(ev.case_opened("case-b"), at=T0))
        [snapshot] = await bus.events("cases.status", count=1, settle=1.5)
    data = snapshot["data"]
    assert data["version"] == 4 and data["stage"] == "stabilizing"
    assert data["referral"]["status"] == "accepted" and data["stabilization"]["needs_assessed"] is True
    assert data["updated_at"] == (T0 + timedelta(hours=1)).isoformat().replace("+00:00", "Z")


async def _version(cases, case_id: str, version: int) -> bool:
    doc = await cases.find_one({"_id": case_id})
    return bool(doc) and doc["state"]["version"] == version


async def test_t_and_u_visa_events_are_dropped_on_arrival(settings, bus: Bus, mongo, logs) -> None:
    tu = [ev.cloudevent(ev.certification("case-c", f"cert-{kind.value}-secret", kind, CertificationStatus.SIGNED,
                                         at=T0 + timedelta(days=1)), event_id=f"tu-event-{kind.value}")
          for kind in (CertificationKind.T_VISA_DECLARATION, CertificationKind.U_VISA_CERTIFICATION)]
    cp = ev.cloudevent(ev.certification("case-c", "cp-1", CertificationKind.CONTINUED_PRESENCE,
                                        CertificationStatus.GRANTED, at=T0 + timedelta(days=2),
                                        valid_until=T0 + timedelta(days=732)), at=T0 + timedelta(days=2))
    status, port = service(settings)
    async with status.app:
        await ev.ready(port)
        await bus.publish("cases.opened", ev.cloudevent(ev.case_opened("case-c"), at=T0))
        await bus.events("cases.status", count=1)
        for event in [*tu, cp]:
            await bus.publish("certifications.events", event)
        published = await bus.events("cases.status", count=2, settle=1.5)
    assert [e["data"]["continued_presence"]["status"] for e in published] == ["not_requested", "granted"]
    doc = await mongo[settings.database("status")]["cases"].find_one({"_id": "case-c"})
    stored = json.dumps(doc, default=str)
    for trace in ("t_visa", "u_visa", "cert-t_visa_declaration-secret", "tu-event-"):
        assert trace not in stored
        assert trace not in logs.getvalue()
        assert not [e for e in published if trace in json.dumps(e)]


async def test_unreadable_events_go_to_the_dead_letter_topic_and_the_rest_goes_on(settings, bus: Bus) -> None:
    hostile = ev.cloudevent(ev.assigned("case-d", "r1", "sp-1", at=T0))
    hostile["data"]["specialist_id"] = "\x1b[31mrm -rf /"
    status, port = service(settings)
    async with status.app:
        await ev.ready(port)
        await bus.publish("referrals.events", b"{not json", key="case-d")
        await bus.publish("referrals.events", hostile)
        await bus.publish("stabilization.events", b'{"specversion": "1.0"}', key="case-d")
        await bus.publish("cases.opened", ev.cloudevent(ev.case_opened("case-d"), at=T0))
        [snapshot] = await bus.events("cases.status", count=1)
        dead = await bus.read("referrals.events.dlq", until=lambda r: len(r) >= 2)
        dead_plans = await bus.read("stabilization.events.dlq", until=lambda r: len(r) >= 1)
    assert snapshot["data"]["case_id"] == "case-d"
    assert len(dead) == 2 and len(dead_plans) == 1
    assert {dict(r.headers)["x-dlq-error-type"].decode() for r in dead} >= {"ValidationError"}


async def test_rebuild_yields_the_same_snapshots_as_the_live_read_model(settings, bus: Bus, mongo) -> None:
    story = []
    for i, case in enumerate(("case-e", "case-f", "case-g")):
        opened = ("cases.opened", ev.cloudevent(ev.case_opened(case, at=T0 + timedelta(minutes=i)), at=T0))
        steps = referral_story(case)[: i + 1]
        story += [*steps, opened] if i == 1 else [opened, *steps]  # case-f: the others ran ahead
    story.append(("stabilization.events", ev.cloudevent(
        ev.progressed("case-g", ev.plan(3, engaged=True, needs_assessed=True, urgent_needs_open=()),
                      PlanChange.URGENT_NEED_MET), at=T0 + timedelta(hours=3))))
    story.append(("certifications.events", ev.cloudevent(ev.certification(
        "case-e", "cp-9", CertificationKind.CONTINUED_PRESENCE, CertificationStatus.REQUESTED, at=T0), at=T0)))
    final = {"case-e": 3, "case-f": 3, "case-g": 5}  # bearing events per case, whatever the order

    def complete(records) -> bool:
        return all(any(e["data"]["version"] == v for e in snapshots(records).get(c, [])) for c, v in final.items())

    status, port = service(settings)
    async with status.app:
        await ev.ready(port)
        for topic, event in story:
            await bus.publish(topic, event)
        live_records = await bus.read("cases.status", until=complete, settle=1.0)
    live = {case: evs[-1] for case, evs in snapshots(live_records).items()}
    assert {case: e["data"]["version"] for case, e in live.items()} == final

    report = await status_rebuild.rebuild(settings)
    assert report.cases == 3 and report.identical == 3 and not report.differing and report.events == 11
    rebuilt = {d["_id"]: d async for d in mongo[settings.database("status")]["cases"].find()}
    assert {k: v["state"]["version"] for k, v in rebuilt.items()} == final
    before, after = snapshots(live_records), snapshots(await bus.read("cases.status", timeout=3))
    for case, event in live.items():  # published again, field for field, updated_at included
        assert len(after[case]) > len(before[case]) and after[case][-1]["data"] == event["data"]


async def test_a_cases_events_arriving_on_several_topics_at_once_are_all_applied(settings, bus: Bus, mongo) -> None:
    """Referral and stabilization both answer the same ``cases.opened`` at the same moment, each
    with the id its kit derives from that input: the read model must take both."""
    cases = [f"case-c{n}" for n in range(12)]
    status, port = service(settings)
    async with status.app:
        await ev.ready(port)
        opened = {case: ev.cloudevent(ev.case_opened(case), at=T0) for case in cases}
        for event in opened.values():
            await bus.publish("cases.opened", event)
        await bus.events("cases.status", count=len(cases))
        at = T0 + timedelta(seconds=2)
        for case in cases:  # no waiting between them: each topic's consumer takes its own at once
            cause = opened[case]["id"]
            assigned = ev.assigned(case, f"{case}-r1", "sp-1", at=at)
            progressed = ev.progressed(case, ev.plan(2, engaged=True))
            await bus.publish("referrals.events",
                              ev.cloudevent(assigned, at=at, event_id=derived_id(cause, 0, by="referral")))
            await bus.publish("stabilization.events",
                              ev.cloudevent(progressed, at=at, event_id=derived_id(cause, 0, by="stabilization")))

        async def every_case_has_both() -> bool:
            docs = [d async for d in mongo[settings.database("status")]["cases"].find({})]
            return len(docs) == len(cases) and all(len(d["seen"]) == 3 for d in docs)

        await eventually(every_case_has_both, timeout=30)
        await asyncio.sleep(1.0)  # and nothing undoes it afterwards
    docs = {d["_id"]: d async for d in mongo[settings.database("status")]["cases"].find({})}
    assert {c: len(d["seen"]) for c, d in docs.items()} == dict.fromkeys(cases, 3)
    assert {c: d["state"]["referral"]["referral_id"] for c, d in docs.items()} == {c: f"{c}-r1" for c in cases}
