"""Vault key rotation on the real broker and FerretDB (``casework keys rotate``,
services/intake/rotation.py): case files sealed under key A are sealed again under B, each
one a version-guarded write of its vault alone, safe while intake runs and idempotent."""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import os
from datetime import UTC, datetime
from typing import Any

import pytest
from typer.testing import CliRunner

from casework.cli import app
from services.intake import vault
from services.intake.app import bootstrap
from services.intake.rotation import CASES, rotate
from services.intake.state import CaseFile
from shared.crypto import KeyRing, VaultKeyError
from shared.kit.records import Record, Write
from shared.kit.store import MongoAggregateStore
from tests.support import events
from tests.support.kafka import Bus

KEY_A, KEY_B = os.urandom(32), os.urandom(32)
RING_A = KeyRing({"A": KEY_A}, "A")
RING_AB = KeyRing({"A": KEY_A, "B": KEY_B}, "B")
RING_B = KeyRing({"B": KEY_B}, "B")
ENCOUNTERS = [f"ENC-rot-{i}" for i in range(4)]


def subject(ring: KeyRing, doc: dict[str, Any]) -> dict[str, Any]:
    return vault.open_subject(ring, CaseFile.model_validate(doc["state"]))


def without_vault(doc: dict[str, Any]) -> dict[str, Any]:
    """The document less what a re-seal may change: the vault's sealed fields and the version."""
    rest = copy.deepcopy(doc)
    del rest["version"]
    for name in ("key_id", "nonce", "ciphertext"):
        del rest["state"]["vault"][name]
    return rest


async def sealed_under_a(settings, bus: Bus, mongo) -> Any:
    """Four case files sealed by an intake holding key A alone (one corrected, one withdrawn),
    and a fifth rewritten as sealed before the case-id binding (under its encounter id)."""
    async with bootstrap(settings, keyring=RING_A).app:
        for encounter_id in ENCOUNTERS:
            await bus.publish("encounters.reported", events.encounter(encounter_id))
        await bus.events("cases.opened", count=len(ENCOUNTERS))
        corrected = events.encounter(ENCOUNTERS[1], narrative="Moved to the Greyfield site in May")
        corrected["data"]["revision"] = 1
        await bus.publish("encounters.reported", corrected)
        await bus.publish("encounters.reported", events.withdrawal(ENCOUNTERS[2]))
        await bus.events("cases.opened", count=len(ENCOUNTERS) + 2, settle=1.0)
    cases = mongo[settings.database("intake")][CASES]
    legacy = await cases.find_one({"_id": f"TX-DPS|{ENCOUNTERS[3]}"})
    case = CaseFile.model_validate(legacy["state"])
    bound_to_encounter = RING_A.seal(vault.open_subject(RING_A, case), case.encounter_id).to_dict()
    await cases.update_one({"_id": legacy["_id"]}, {"$set": {"state.vault": bound_to_encounter}})
    return cases


async def test_rotate_reseals_every_record_under_the_active_key_and_nothing_else(settings, bus: Bus, mongo) -> None:
    cases = await sealed_under_a(settings, bus, mongo)
    before = {d["_id"]: d async for d in cases.find({})}
    assert {d["state"]["vault"]["key_id"] for d in before.values()} == {"A"} and len(before) == len(ENCOUNTERS)
    assert "aad" not in before[f"TX-DPS|{ENCOUNTERS[3]}"]["state"]["vault"]
    subjects = {i: subject(RING_A, d) for i, d in before.items()}

    report = await rotate(cases, RING_AB)
    assert (dict(report.resealed), report.current, report.unopenable, report.busy) == ({"A": 4}, 0, {}, [])
    assert dict(report.in_use) == {"B": 4} and report.removable == ["A"] and report.complete
    after = {d["_id"]: d async for d in cases.find({})}
    assert after.keys() == before.keys()
    for doc_id, doc in after.items():
        assert doc["state"]["vault"]["key_id"] == "B" and doc["version"] == before[doc_id]["version"] + 1
        assert doc["state"]["vault"]["nonce"] != before[doc_id]["state"]["vault"]["nonce"]
        assert without_vault(doc) == without_vault(before[doc_id]), doc_id  # the aad marker kept, all else too
        assert subject(RING_B, doc) == subjects[doc_id]  # B alone opens it: A may go
    # Still bound to its own case (or, sealed before the binding, to its encounter id): no other opens it.
    moved = after[f"TX-DPS|{ENCOUNTERS[0]}"]["state"]["vault"]
    other = CaseFile.model_validate(after[f"TX-DPS|{ENCOUNTERS[1]}"]["state"])
    with pytest.raises(VaultKeyError, match="does not open"):
        vault.open_subject(RING_B, other.model_copy(update={"vault": moved}))

    again = await rotate(cases, RING_AB)
    assert (dict(again.resealed), again.current, again.conflicts) == ({}, 4, 0)
    assert {d["_id"]: d async for d in cases.find({})} == after  # a second run changes nothing


async def test_a_case_file_intake_changed_meanwhile_is_read_again_and_keeps_both_changes(
        settings, bus: Bus, mongo) -> None:
    cases = await sealed_under_a(settings, bus, mongo)
    target = f"TX-DPS|{ENCOUNTERS[0]}"

    class Interleaved:
        """The case file, as intake writes it between the rotation's read and its guarded write."""

        def __init__(self) -> None:
            self.interfered = False

        def find(self, *args: Any, **kwargs: Any) -> Any:
            return cases.find(*args, **kwargs)

        async def find_one(self, *args: Any, **kwargs: Any) -> Any:
            return await cases.find_one(*args, **kwargs)

        async def update_one(self, where: dict[str, Any], change: dict[str, Any]) -> Any:
            if where["_id"] == target and not self.interfered:
                self.interfered = True
                await cases.update_one({"_id": target}, {"$set": {"state.reports": 7}, "$inc": {"version": 1}})
            return await cases.update_one(where, change)

    before = await cases.find_one({"_id": target})
    report = await rotate(Interleaved(), RING_AB)
    assert report.conflicts == 1 and report.complete and dict(report.resealed) == {"A": 4}
    after = await cases.find_one({"_id": target})
    assert after["version"] == before["version"] + 2
    assert after["state"]["reports"] == 7 and after["state"]["vault"]["key_id"] == "B"  # neither write lost
    assert subject(RING_B, after) == subject(RING_A, before)


async def test_a_write_intake_decided_before_the_reseal_conflicts_instead_of_writing_key_a_back(
        settings, bus: Bus, mongo) -> None:
    """Why a re-seal moves the version on: intake's next write, guarded by the version it read
    (say, from its cache), is refused and decided again from the re-sealed case file."""
    cases = await sealed_under_a(settings, bus, mongo)
    target = f"TX-DPS|{ENCOUNTERS[0]}"
    read = Record.from_doc(await cases.find_one({"_id": target}))
    await rotate(cases, RING_AB)
    stale = Write(read.id, read.version, read.state | {"reports": 9}, [*read.seen, "evt-late"], [], None,
                  datetime.now(UTC), applied=["evt-late"])
    assert await MongoAggregateStore(cases).write([stale]) == {target}  # to decide again
    stored = await cases.find_one({"_id": target})
    assert stored["state"]["vault"]["key_id"] == "B" and stored["state"]["reports"] == 1


async def test_rotate_while_intake_runs_with_the_new_ring(settings, bus: Bus, mongo) -> None:
    """Intake (ring A and B, B active) withdraws and corrects cases while the pass runs: every
    case file ends under B with intake's changes, and the old key is reported removable."""
    cases = await sealed_under_a(settings, bus, mongo)
    async with bootstrap(settings, keyring=RING_AB).app:
        for encounter_id in (ENCOUNTERS[0], ENCOUNTERS[3]):
            await bus.publish("encounters.reported", events.withdrawal(encounter_id))
        report = await rotate(cases, RING_AB)
        # Wait for these two withdrawals by name: a count of events on the topic is met early by
        # the outboxes the restarted intake publishes again (at least once), and a count of
        # documents would pass before intake had read the withdrawals at all.
        for encounter_id in (ENCOUNTERS[0], ENCOUNTERS[3]):
            await bus.events("cases.opened", count=1, timeout=90.0, where=lambda e, i=encounter_id: (
                e["type"] == "casework.case.withdrawn.v1" and e["data"]["encounter_id"] == i))
        stored = {e: (await cases.find_one({"_id": f"TX-DPS|{e}"}))["state"] for e in ENCOUNTERS}
        assert [e for e in (ENCOUNTERS[0], ENCOUNTERS[3]) if not stored[e]["withdrawn"]] == []  # written with the event
        # A pass that races intake's writes may end with a file under A: the report must say so
        # then (it is what an operator goes by), and a pass once intake has settled completes.
        assert report.complete or (report.still_needed == ["A"] and report.removable == [])
        for _ in range(3):
            if report.complete:
                break
            report = await rotate(cases, RING_AB)
    assert report.complete and report.removable == ["A"] and not report.unopenable
    final = [d async for d in cases.find({})]
    assert {d["state"]["vault"]["key_id"] for d in final} == {"B"}
    assert all(subject(RING_B, d)["person"]["given_name"] == events.CANARY_GIVEN for d in final)
    again = await rotate(cases, RING_AB)
    assert not again.resealed and again.current == len(ENCOUNTERS)


def ring_environment(settings, keys: dict[str, bytes], active: str | None) -> dict[str, str | None]:
    return {"CASEWORK_DB_PREFIX": settings.db_prefix, "CASEWORK_ENVIRONMENT": "production",
            "CASEWORK_PII_KEYS": json.dumps({k: base64.b64encode(v).decode() for k, v in keys.items()}),
            "CASEWORK_PII_ACTIVE_KEY_ID": active}


async def test_the_command_reports_what_it_did_and_which_key_may_go(settings, bus: Bus, mongo) -> None:
    await sealed_under_a(settings, bus, mongo)
    runner = CliRunner()

    async def keys_rotate(*args: str, keys: dict[str, bytes], active: str | None) -> Any:
        return await asyncio.to_thread(runner.invoke, app, ["keys", "rotate", *args],
                                       env=ring_environment(settings, keys, active))

    unnamed = await keys_rotate(keys={"A": KEY_A, "B": KEY_B}, active=None)  # never the first key by default
    assert unnamed.exit_code == 2 and "CASEWORK_PII_ACTIVE_KEY_ID must name" in unnamed.output
    checked = await keys_rotate("--check", keys={"A": KEY_A, "B": KEY_B}, active="B")
    assert checked.exit_code == 1, checked.output
    assert checked.output.splitlines() == ["case files per key id now: A 4",
                                           "still sealed under A: keep it in CASEWORK_PII_KEYS"]
    unopened = await keys_rotate(keys={"B": KEY_B}, active="B")  # A left the ring too early
    assert unopened.exit_code == 1 and unopened.output.count("could not open") == 4
    assert "no key 'A' in the key ring" in unopened.output and events.CANARY_GIVEN not in unopened.output
    rotated = await keys_rotate(keys={"A": KEY_A, "B": KEY_B}, active="B")
    assert rotated.exit_code == 0, rotated.output
    assert rotated.output.splitlines() == [
        "re-sealed under B: 4 (from A 4)", "already under B: 0", "case files per key id now: B 4",
        "no case file is sealed under A any more: once every intake runs with CASEWORK_PII_ACTIVE_KEY_ID=B, "
        "remove it from CASEWORK_PII_KEYS"]
    again = await keys_rotate(keys={"B": KEY_B}, active="B")  # A removed: nothing needs it
    assert again.exit_code == 0 and again.output.splitlines()[:2] == ["re-sealed under B: 0", "already under B: 4"]
