"""Notify and a case's life, on the real broker, FerretDB, SMTP sink and HTTP receiver: each new
notification once, to the right people, with no PII; with no supervisor on duty, the agency's
supervisors are reached and ``notifications.events`` names them; redelivery and restart send
nothing twice; malformed new events are dead-lettered and notify goes on."""

from __future__ import annotations

import json

from services.notify.app import bootstrap
from services.notify.content import TITLES
from services.notify.kinds import Kind
from shared.kit import FakeClock
from tests.support import events
from tests.support import notifications as n
from tests.support.kafka import Bus, eventually

SPEC_A, SPEC_B, SPEC_C = "spec-a", "spec-b", "spec-c"
SUP_TX, SUP_CA, SUP_OFF = "sup-tx", "sup-ca", "sup-off"


def roster(hooks: str) -> list[dict]:
    return [
        n.member(SPEC_A, webhook=f"{hooks}/{SPEC_A}"),
        n.member(SPEC_B),
        n.member(SPEC_C),
        n.member(SUP_TX, role="supervisor", webhook=f"{hooks}/{SUP_TX}"),
        n.member(SUP_CA, role="supervisor", regions=("US-CA",), agency="CA-DOJ"),
        n.member(SUP_OFF, role="supervisor", on_duty=False),
    ]


# name -> (kind, event, whose mailboxes get it)
def scenario() -> dict[str, tuple]:
    canary = f"{events.CANARY_GIVEN} {events.CANARY_FAMILY} {events.CANARY_PHONE}"
    return {
        "reassigned": ("referral_reassigned", n.reassigned("case-1", SPEC_B), {SPEC_B}),
        "handover": ("referral_reassigned", n.reassigned("case-2", SPEC_C, by=SPEC_A, role="victim_specialist",
                                                         reason="handover", handover_from=SPEC_A), {SPEC_C}),
        "handed_over": ("handed_over", n.handed_over("case-3", SPEC_A), {SPEC_A}),
        "kept": ("handed_over", n.holder_kept("case-4", SPEC_A), {SPEC_A}),
        "moved_away": ("handed_over", n.released("case-12", SPEC_B, reason="reassigned"), {SPEC_B}),
        "closed": ("case_closed", n.closed("case-5", SPEC_B), {SPEC_B}),
        "withdrawn": ("case_withdrawn", n.closed("case-6", SPEC_C, by=None, reason="withdrawn"), {SPEC_C}),
        "reopened": ("case_reopened", n.reopened("case-7", SPEC_B), {SPEC_B}),
        "needs_holder": ("case_needs_holder", n.needs_holder("case-8", "spec-gone"), {SUP_TX}),
        "needs_holder_ca": ("case_needs_holder", n.needs_holder("case-9", "spec-gone", region="US-CA",
                                                                agency_id="CA-DOJ"), {SUP_CA}),
        # Re-alerts of an unassigned case: each one once; beyond the limit every on-duty supervisor.
        "realert": ("case_unassigned", n.unassigned("case-10", alert=2, reason=canary), {SUP_TX}),
        "realert_all": ("case_unassigned", n.unassigned("case-11", alert=4, scope="all", escalations=3),
                        {SUP_TX, SUP_CA}),
    }


SILENT = [n.closed("case-s1", SPEC_A, by=SPEC_A, role="victim_specialist"),  # the holder closed it
          n.reopened("case-s2", None), n.released("case-s3", SPEC_B)]


async def _start_roster(bus: Bus, members: list[dict]) -> None:
    await bus.ensure("roster.specialists")
    for entry in members:
        await bus.publish("roster.specialists", entry)


async def test_each_case_life_notification_reaches_exactly_its_recipients_once(settings, bus: Bus, mongo,
                                                                               tmp_path, logs) -> None:
    cases = scenario()
    async with n.receivers(tmp_path) as (sink, receiver):
        config = n.notify_settings(settings, sink)
        await _start_roster(bus, roster(receiver.url))
        published_events = [n.cloud(payload) for *_, payload, _ in cases.values()]
        mails = sum(len(to) for *_, to in cases.values())
        hooks = sum(1 for *_, to in cases.values() for who in to if who in (SPEC_A, SUP_TX))
        async with bootstrap(config, clock=FakeClock(n.T0)).app:
            for event in published_events:
                await bus.publish("referrals.events", event)
            for payload in SILENT:
                await bus.publish("referrals.events", n.cloud(payload))
            await bus.publish("referrals.events", published_events[0])  # the producer retried
            await eventually(lambda: len(sink.files()) >= mails and len(receiver.requests) >= hooks, timeout=30)
        async with bootstrap(config, clock=FakeClock(n.T0)).app:  # a restart, then old events again
            for event in published_events[:4]:
                await bus.publish("referrals.events", event)
            await bus.publish("referrals.events", n.cloud(n.reassigned("case-last", SPEC_B)))
            await eventually(lambda: len(sink.files()) >= mails + 1, timeout=30)
            published = await bus.events("notifications.events", count=mails + hooks + 1, settle=1.5)
        messages, requests = sink.messages(), receiver.requests
        records = [d async for d in mongo[config.database("notify")]["notifications"].find()]
    assert len(messages) == mails + 1 and len(requests) == hooks  # nobody else, nothing twice
    assert sorted(sink.per_message_id().values()) == [1] * (mails + 1)
    for name, (kind, payload, to) in cases.items():
        subject = f"{TITLES[Kind(kind)]}: {payload.case_id}"
        assert {str(m["To"]) for m in messages if m["Subject"] == subject} == {n.email_of(w) for w in to}, name
        reached = {(e["data"]["recipient_id"], e["data"]["recipient_role"]) for e in published
                   if e["data"]["case_id"] == payload.case_id and e["data"]["channel"] == "email"}
        assert reached == {(w, "supervisor" if w.startswith("sup") else "victim_specialist") for w in to}, name
    assert len(published) == mails + hooks + 1 and all(e["data"]["kind"] in {k for k, *_ in cases.values()}
                                                      for e in published)
    assert not any(m["Subject"].endswith(("case-s1", "case-s2", "case-s3")) for m in messages)
    # What to do, and the link, without anything about the person.
    [handover] = [m for m in messages if m["Subject"] == "Case reassigned to you: case-2"]
    text = handover.get_body(("plain",)).get_content()
    assert f"Specialist {SPEC_A} stays responsible" in text and "https://casework.example.org/cases/case-2" in text
    [realert] = [m for m in messages if m["Subject"] == "Case unassigned: case-10"]
    assert "alert 2" in realert.get_body(("plain",)).get_content()
    everything = [*(m.as_string() for m in messages), *(r.body.decode() for r in requests),
                  json.dumps(published), json.dumps(records, default=str), logs.getvalue()]
    for text in everything:
        assert not [c for c in events.CANARIES if c in text], text[:2000]


async def test_with_no_supervisor_on_duty_every_supervisor_of_the_agency_is_alerted(settings, bus: Bus,
                                                                                   tmp_path) -> None:
    off = [n.member("sup-tx-1", role="supervisor", on_duty=False),
           n.member("sup-tx-2", role="supervisor", regions=("US-CA",), on_duty=False),
           n.member("sup-ca-1", role="supervisor", regions=("US-TX",), agency="CA-DOJ", on_duty=False),
           n.member(SPEC_A)]
    async with n.receivers(tmp_path) as (sink, _):
        config = n.notify_settings(settings, sink)
        await _start_roster(bus, off)
        async with bootstrap(config, clock=FakeClock(n.T0)).app:
            for payload in (n.needs_holder("case-f1", "spec-gone"), n.unassigned("case-f2", alert=3)):
                await bus.publish("referrals.events", n.cloud(payload))
            await eventually(lambda: len(sink.files()) >= 4, timeout=30)
            published = await bus.events("notifications.events", count=4, settle=1.5)
        messages = sink.messages()
    assert sorted((str(m["Subject"]), str(m["To"])) for m in messages) == sorted(
        (f"{title}: {case}", n.email_of(who)) for title, case in (("Case needs a new specialist", "case-f1"),
                                                                  ("Case unassigned", "case-f2"))
        for who in ("sup-tx-1", "sup-tx-2"))
    assert sorted((e["data"]["case_id"], e["data"]["recipient_id"], e["data"]["recipient_role"])
                  for e in published) == [("case-f1", "sup-tx-1", "supervisor"), ("case-f1", "sup-tx-2", "supervisor"),
                                          ("case-f2", "sup-tx-1", "supervisor"), ("case-f2", "sup-tx-2", "supervisor")]


async def test_malformed_case_life_events_are_dead_lettered_and_notify_goes_on(settings, bus: Bus,
                                                                              tmp_path) -> None:
    bad_close = n.cloud(n.closed("case-bad", SPEC_A))
    bad_close["data"]["closed_by"] = {"id": SUP_TX, "role": "mayor"}
    bad_kept = n.cloud(n.holder_kept("case-bad", SPEC_A))
    del bad_kept["data"]["declined_referral_id"]
    bad_realert = n.cloud(n.unassigned("case-bad"))
    bad_realert["data"]["alert"] = 0
    bad_fix = n.cloud(n.unassigned("case-bad")) | {"type": "casework.case.corrected.v1"}
    bad_withdrawal = {**n.cloud(n.unassigned("case-bad")), "type": "casework.case.withdrawn.v1",
                      "data": {"case_id": "case-bad", "reason": "because"}}
    async with n.receivers(tmp_path) as (sink, _):
        config = n.notify_settings(settings, sink)
        await _start_roster(bus, [n.member(SPEC_A), n.member(SUP_TX, role="supervisor")])
        async with bootstrap(config, clock=FakeClock(n.T0)).app:
            for event in (bad_close, bad_kept, bad_realert):
                await bus.publish("referrals.events", event, key="case-bad")
            for event in (bad_fix, bad_withdrawal):
                await bus.publish("cases.opened", event, key="case-bad")
            await bus.publish("referrals.events", n.cloud(n.closed("case-ok", SPEC_A)), key="case-bad")
            await eventually(lambda: len(sink.files()) == 1, timeout=30)
            dead = await bus.read("referrals.events.dlq", until=lambda r: len(r) >= 3)
            dead_opened = await bus.read("cases.opened.dlq", until=lambda r: len(r) >= 2)
        [mail] = sink.messages()
    assert mail["Subject"] == "Case closed: case-ok" and str(mail["To"]) == n.email_of(SPEC_A)
    assert len(dead) == 3 and len(dead_opened) == 2
    assert [json.loads(r.value)["type"] for r in dead_opened] == ["casework.case.corrected.v1",
                                                                  "casework.case.withdrawn.v1"]
