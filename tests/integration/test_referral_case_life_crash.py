"""A crash between the write and the publish, for each request of a case's life: after the
restart each is applied once, published once, and the slot it freed is free."""

from __future__ import annotations

from typing import Any

from services.referral.state import hold_token
from tests.support import events as ev
from tests.support import referral as r
from tests.support.kafka import Bus, eventually
from tests.support.procs import ServiceProcess

EVENTS = "referrals.events"


async def test_sigkill_after_each_write_applies_each_request_once(settings, bus: Bus, mongo, proc_logs) -> None:
    # A slot a crash kept (released after the write) is freed by the reconciler: run it often.
    settings = settings.amended(referral={"reconcile_seconds": 1.0})
    await bus.ensure("roster.specialists", "cases.closed", "cases.reopened", "referrals.reassigned")
    for entry in (r.victim_specialist("sp-1"), r.victim_specialist("sp-2"), r.supervisor("sup-tx")):
        await bus.publish("roster.specialists", entry)
    sup = r.actor("sup-tx", "supervisor")
    db = mongo[settings.database("referral")]
    referral = ServiceProcess("referral", settings, proc_logs)
    steps = [("cases.closed", r.case_closed("case-k", sup), "closed", {}),
             ("cases.reopened", r.case_reopened("case-k", sup), "reopened", {"sp-1": [hold_token("case-k", 2)]}),
             ("referrals.reassigned", r.reassigned("case-k", sup, "sp-2"), "released",
              {"sp-2": [hold_token("case-k", 3)]}),
             ("cases.opened", r.case_withdrawn("case-k"), "closed", {})]
    try:
        referral.start()
        await referral.ready()
        await bus.publish("cases.opened", r.case_opened("case-k"))
        [assigned] = await bus.events(EVENTS, count=1, where=r.is_kind("assigned"))
        await bus.publish("referrals.responded", r.responded("case-k", assigned["data"]["referral_id"], "sp-1"))
        await bus.events(EVENTS, count=1, where=r.is_kind("accepted"))
        referral.stop()
        previous = None
        for step in [*steps, None]:
            # Armed again: what the last crash left is published at start (it writes nothing new).
            referral.start(failpoints="after-write" if step else "")
            await referral.ready()
            if previous is not None:
                await published_once(bus, db, *previous)
            if step is None:
                break
            topic, request, _, _ = previous = step
            before = len(await bus.events(EVENTS))
            await bus.publish(topic, request)
            assert await referral.wait_exit() == -9, topic  # written, not yet published
            doc = await db["referrals"].find_one({"_id": "case-k"})
            assert ev.seen_as(request) in doc["seen"] and doc["outbox"], topic
            assert len(await bus.events(EVENTS, timeout=1)) == before, topic
    finally:
        referral.stop()
    events = await bus.events(EVENTS, settle=1.0)
    counts = {kind: len(r.unique(events, kind)) for kind in ("closed", "reopened", "released", "assigned", "refused")}
    assert counts == {"closed": 2, "reopened": 1, "released": 1, "assigned": 3, "refused": 0}
    doc = await db["referrals"].find_one({"_id": "case-k"})
    assert doc["state"]["status"] == "closed" and doc["state"]["reopen_count"] == 1


async def published_once(bus: Bus, db: Any, topic: str, request: dict[str, Any], kind: str,
                         holds_after: dict[str, list[str]]) -> None:
    """What the request produced is out after the restart, and the slots are as it left them."""
    [out] = await bus.events(EVENTS, count=1, where=lambda e: e["id"] == ev.output_id(request, 0, by="referral"),
                             timeout=30)
    assert out["type"] == r.TYPES[kind], topic  # the first of what the request produced
    await eventually(lambda: _holds_are(db, holds_after), timeout=20)


async def _holds_are(db: Any, expected: dict[str, list[str]]) -> bool:
    return await r.holds(db) == expected
