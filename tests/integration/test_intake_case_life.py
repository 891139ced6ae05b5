"""Intake on the real broker and FerretDB: corrections (a higher revision of the same
``(agency.id, encounter_id)``) and withdrawals (docs/design.md, Case life)."""

from __future__ import annotations

import json
from typing import Any

from services.intake import domain
from services.intake.app import bootstrap
from shared.crypto import KeyRing, Sealed
from shared.kafka import headers_of
from shared.settings import Settings
from tests.support import events
from tests.support.kafka import Bus, eventually
from tests.support.procs import ServiceProcess

TX = {"id": "TX-DPS", "name": "Texas DPS", "level": "state"}
CA = {"id": "CA-HP", "name": "California Highway Patrol", "level": "state"}
OPENED, CORRECTED, WITHDRAWN = ("casework.case.opened.v1", "casework.case.corrected.v1",
                                "casework.case.withdrawn.v1")

# The corrected identity: none of it may appear anywhere but in the vault's ciphertext.
CORRECTED_GIVEN, CORRECTED_FAMILY = "Orlavinne", "Thistlewick"
CORRECTED_NARRATIVE = "Kept above the Saltmarsh laundry since June"
CORRECTED_CANARIES = (CORRECTED_GIVEN, CORRECTED_FAMILY, CORRECTED_NARRATIVE, "Saltmarsh laundry")
ADULT = {"date_of_birth": "1990-01-01", "age_estimate": None}
CHILD = {"given_name": CORRECTED_GIVEN, "family_name": CORRECTED_FAMILY, "aliases": [],
         "date_of_birth": "2012-05-01", "age_estimate": None}


def report(encounter_id: str, revision: int | None = None, **overrides: Any) -> dict[str, Any]:
    event = events.encounter(encounter_id, **overrides)
    if revision is not None:
        event["data"]["revision"] = revision
    return event


def corrected_to_a_child(encounter_id: str, revision: int = 1, **overrides: Any) -> dict[str, Any]:
    return report(encounter_id, revision, person=CHILD, narrative=CORRECTED_NARRATIVE, urgent_needs=["medical"],
                  **overrides)


def of_type(type_: str) -> Any:
    return lambda e: e["type"] == type_


def leaks(text: str) -> list[str]:
    return [c for c in (*events.CANARIES, *CORRECTED_CANARIES) if c in text]


async def intake_documents(mongo: Any, settings: Settings) -> str:
    db = mongo[settings.database("intake")]
    return json.dumps({name: [d async for d in db[name].find()] for name in await db.list_collection_names()},
                      default=str)


async def test_two_agencies_one_encounter_id_two_cases_each_corrected_on_its_own(settings, bus: Bus) -> None:
    async with bootstrap(settings).app:
        await bus.publish("encounters.reported", report("E-2001", agency=TX))
        await bus.publish("encounters.reported", report("E-2001", agency=CA))
        await bus.publish("encounters.reported", report("E-2001", 1, agency=TX, urgent_needs=["food"]))
        await bus.publish("encounters.reported", report("E-2001", agency=CA))  # a repeat of CA's report
        await bus.publish("encounters.reported", report("E-2001", 1, agency=TX))  # a repeat of TX's correction
        out = await bus.events("cases.opened", count=3, settle=2.0)
    opened = [e for e in out if e["type"] == OPENED]
    corrected = [e for e in out if e["type"] == CORRECTED]
    assert sorted(e["data"]["agency_id"] for e in opened) == ["CA-HP", "TX-DPS"]
    assert {e["data"]["revision"] for e in opened} == {0}
    tx_case = domain.case_id_for("TX-DPS", "E-2001")
    assert len(corrected) == 1 and corrected[0]["data"]["case_id"] == tx_case
    assert corrected[0]["subject"] == tx_case and corrected[0]["data"]["urgent_needs"] == ["food"]
    assert corrected[0]["data"]["priority"] == "high" and corrected[0]["data"]["minor_revealed"] is False
    assert len(out) == 3


async def test_a_correction_revealing_a_minor_replaces_the_vault_and_a_stale_one_changes_nothing(
        settings, bus: Bus, mongo, logs) -> None:
    cases = mongo[settings.database("intake")]["cases"]
    first = report("ENC-cor", 0, person=ADULT, urgent_needs=[])
    correction = corrected_to_a_child("ENC-cor", 2)
    async with bootstrap(settings).app:
        await bus.publish("encounters.reported", first)
        [opened] = await bus.events("cases.opened", count=1)
        before = (await cases.find_one({"_id": "TX-DPS|ENC-cor"}))["state"]["vault"]

        await bus.publish("encounters.reported", correction)
        await bus.publish("encounters.reported", correction)  # delivered again
        await bus.publish("encounters.reported", corrected_to_a_child("ENC-cor", 2))  # the same revision, new id
        stale = report("ENC-cor", 1, person={"date_of_birth": "1975-01-01", "age_estimate": None})
        await bus.publish("encounters.reported", stale)  # lower: a repeat
        await bus.publish("encounters.reported", report("ENC-marker"))  # behind them on the topic
        await bus.events("cases.opened", where=lambda e: e["data"]["encounter_id"] == "ENC-marker", count=1)
        out = await bus.events("cases.opened", settle=1.0, timeout=3.0,
                               where=lambda e: e["data"]["encounter_id"] == "ENC-cor")
    assert opened["data"]["minor"] is False and opened["data"]["priority"] == "normal"
    [fixed] = [e for e in out if e["type"] == CORRECTED]
    assert [e["type"] for e in out] == [OPENED, CORRECTED]
    data = fixed["data"]
    assert data["revision"] == 2 and data["minor"] is True and data["minor_revealed"] is True
    assert data["priority"] == "urgent" and data["urgent_needs"] == ["medical"]
    assert data["occurred_at"] == opened["data"]["occurred_at"] and data["case_id"] == opened["data"]["case_id"]
    assert fixed["id"] == events.output_id(correction, 0, by="intake")

    doc = await cases.find_one({"_id": "TX-DPS|ENC-cor"})
    state = doc["state"]
    assert state["revision"] == 2 and state["minor"] is True and state["reports"] == 4  # the redelivery is not a report
    assert state["vault"]["aad"] == "case"  # resealed under the case id, as the opening was
    subject = KeyRing.from_settings(settings).open(Sealed.from_dict(state["vault"]), state["case_id"])
    assert subject["person"]["given_name"] == CORRECTED_GIVEN and subject["narrative"] == CORRECTED_NARRATIVE
    # The earlier sealed version is gone: not in the case file, nowhere in intake's database.
    dump = await intake_documents(mongo, settings)
    assert before["ciphertext"] not in dump and before["nonce"] not in dump
    assert not leaks(dump)
    for topic in ("cases.opened", "intake.events", "encounters.reported.dlq"):
        for record in await bus.read(topic, timeout=2):
            assert not leaks(record.value.decode() + repr(record.headers) + (record.key or b"").decode()), topic
    assert not leaks(logs.getvalue())


async def test_a_withdrawal_withdraws_once_and_an_unknown_one_is_dead_lettered(settings, bus: Bus, logs) -> None:
    withdrawal = events.withdrawal("ENC-wd", reason="entered_in_error")
    async with bootstrap(settings).app:
        await bus.publish("encounters.reported", report("ENC-wd"))
        await bus.publish("encounters.reported", withdrawal)
        await bus.publish("encounters.reported", withdrawal)  # delivered again
        await bus.publish("encounters.reported", events.withdrawal("ENC-wd", reason="duplicate"))  # repeated
        await bus.publish("encounters.reported", events.withdrawal("ENC-wd", agency_id="CA-HP"))  # not CA's
        await bus.publish("encounters.reported", events.withdrawal("ENC-never"))
        await bus.publish("encounters.reported", report("ENC-after"))
        out = await bus.events("cases.opened", count=3, settle=2.0)
        dead = await bus.read("encounters.reported.dlq", until=lambda r: len(r) >= 2, settle=1.0)
        alerts = await bus.read("intake.events", timeout=2)
    [gone] = [e for e in out if e["type"] == WITHDRAWN]
    assert gone["data"] == {"case_id": domain.case_id_for("TX-DPS", "ENC-wd"), "encounter_id": "ENC-wd",
                            "agency_id": "TX-DPS", "reason": "entered_in_error",
                            "withdrawn_at": gone["data"]["withdrawn_at"]}
    assert gone["subject"] == gone["data"]["case_id"] and gone["id"] == events.output_id(withdrawal, 0, by="intake")
    assert sorted(e["data"]["encounter_id"] for e in out if e["type"] == OPENED) == ["ENC-after", "ENC-wd"]
    assert len(out) == 3
    assert sorted(r.key.decode() for r in dead) == ["ENC-never", "ENC-wd"]
    for record in dead:
        headers = headers_of(record)
        assert headers["x-dlq-error-type"] == "UnknownEncounter"
        assert "withdrawal must follow its report" in headers["x-dlq-error"]
        assert json.loads(record.value)["type"] == "casework.encounter.withdrawn.v1"  # unchanged
    assert alerts == []  # nobody waits for help on a withdrawal: no "encounter unprocessable"
    assert not leaks(logs.getvalue())


async def test_malformed_corrections_and_withdrawals_are_dead_lettered_and_the_consumer_goes_on(
        settings, bus: Bus) -> None:
    bad_revision = corrected_to_a_child("ENC-mal", 1)
    bad_revision["data"]["revision"] = -1
    word_revision = corrected_to_a_child("ENC-mal", 1)
    word_revision["data"]["revision"] = "two"
    no_agency = events.withdrawal("ENC-mal")
    del no_agency["data"]["agency_id"]
    bad_reason = events.withdrawal("ENC-mal", reason="changed_our_minds")
    extra = events.withdrawal("ENC-mal")
    extra["data"]["narrative"] = CORRECTED_NARRATIVE  # PII where the contract has no place for it
    malformed = [bad_revision, word_revision, no_agency, bad_reason, extra]
    async with bootstrap(settings).app:
        await bus.publish("encounters.reported", report("ENC-mal"))
        for event in malformed:
            await bus.publish("encounters.reported", event)
        await bus.publish("encounters.reported", corrected_to_a_child("ENC-mal", 1))
        await bus.publish("encounters.reported", events.withdrawal("ENC-mal"))
        out = await bus.events("cases.opened", count=3, settle=1.0)
        dead = await bus.read("encounters.reported.dlq", until=lambda r: len(r) >= len(malformed), settle=1.0)
        alerts = await bus.events("intake.events", count=2, settle=1.0)
    assert [e["type"] for e in out] == [OPENED, CORRECTED, WITHDRAWN]
    assert out[1]["data"]["minor_revealed"] is True
    assert sorted(json.loads(r.value)["id"] for r in dead) == sorted(e["id"] for e in malformed)
    for record in dead:
        assert headers_of(record)["x-dlq-error-type"] == "ValidationError"
        assert not leaks(headers_of(record)["x-dlq-error"])
    # The two malformed reports alert the supervisors (a person may be waiting); withdrawals do not.
    assert len(alerts) == 2 and {a["data"]["encounter_id"] for a in alerts} == {"ENC-mal"}
    assert not [a for a in alerts if leaks(json.dumps(a))]


async def test_sigkill_after_a_correction_and_a_withdrawal_are_written_publishes_each_once(
        settings, bus: Bus, mongo, proc_logs) -> None:
    cases = mongo[settings.database("intake")]["cases"]
    holders = mongo[settings.database("intake")]["holders"]
    async with bootstrap(settings).app:
        await bus.publish("encounters.reported", report("ENC-kill", person=ADULT))
        [opened] = await bus.events("cases.opened", count=1)
        # Intake folds its own opening into who holds the case: that write, too, would fire the
        # failpoint below if it were left to the process.
        await eventually(lambda: holders.find_one({"_id": opened["data"]["case_id"]}))

    intake = ServiceProcess("intake", settings, proc_logs, failpoints="after-write")
    correction, withdrawal = corrected_to_a_child("ENC-kill", 1), events.withdrawal("ENC-kill")
    try:
        for event, type_ in ((correction, CORRECTED), (withdrawal, WITHDRAWN)):
            intake.start(failpoints="after-write")
            await intake.ready()
            await bus.publish("encounters.reported", event)
            assert await intake.wait_exit() == -9  # SIGKILL right after the write
            doc = await cases.find_one({"_id": "TX-DPS|ENC-kill"})
            # Written, not published (an earlier entry the kit cannot know is out may ride along again).
            assert events.seen_as(event) in doc["seen"] and doc["outbox"][-1]["type"] == type_
            assert not await bus.events("cases.opened", where=of_type(type_), timeout=1)
            intake.start(failpoints="")  # the event is delivered again: applied already, published now
            await intake.ready()
            await bus.events("cases.opened", where=of_type(type_), count=1)
            intake.stop()
        intake.start(failpoints="")  # and once more: nothing is applied or published twice
        await intake.ready()
        await bus.publish("encounters.reported", report("ENC-kill-marker"))
        await bus.events("cases.opened", where=lambda e: e["data"]["encounter_id"] == "ENC-kill-marker", count=1)
    finally:
        intake.stop()
    out = await bus.events("cases.opened", where=lambda e: e["data"]["encounter_id"] == "ENC-kill", timeout=3)
    distinct = {e["id"]: e for e in out}
    assert sorted(e["type"] for e in distinct.values()) == sorted([OPENED, CORRECTED, WITHDRAWN])
    assert events.output_id(correction, 0, by="intake") in distinct
    assert events.output_id(withdrawal, 0, by="intake") in distinct
    doc = await cases.find_one({"_id": "TX-DPS|ENC-kill"})
    assert doc["state"]["revision"] == 1 and doc["state"]["withdrawn"] == "entered_in_error"
    assert doc["state"]["reports"] == 2 and doc["seen"].count(events.seen_as(correction)) == 1
    assert not leaks(intake.log())
