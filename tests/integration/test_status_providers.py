"""The provider directory on the real broker and FerretDB: ``casework providers load``
publishes it, the status service keeps it, the dashboard's picker reads it; a removal, a
restart, a redelivery and hostile records each leave the directory right."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import httpx

from services.status.access import Role, Tokens, new_token
from services.status.app import bootstrap as status_service
from shared import registry
from shared.contracts.inbound import ProviderRegistered
from shared.kit import Inbound
from tests.support import events
from tests.support import status as ev
from tests.support.kafka import Bus, eventually
from tests.support.procs import free_port

ROOT = Path(__file__).resolve().parents[2]
TOKENS = {name: new_token(name, role, agencies, sid) for name, role, agencies, sid in (
    ("spec", Role.SPECIALIST, [], "sp-1"), ("sup", Role.SUPERVISOR, ["TX-DPS"], None),
    ("analyst", Role.ANALYST, ["*"], None), ("auditor", Role.AUDITOR, [], None))}


async def providers_load(settings, path: Path) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "casework"), "providers", "load", str(path), cwd=ROOT,
        env=os.environ | settings.as_environment(), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode()


def bearer(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[name][0]}"}


async def picked(client: httpx.AsyncClient, **query: str) -> list[str]:
    answer = await client.get("/api/providers", params=query, headers=bearer("spec"))
    assert answer.status_code == 200, answer.text
    return [p["provider_id"] for p in answer.json()["items"]]


def provider(provider_id: str, **overrides) -> dict:
    data = {"provider_id": provider_id, "name": f"Provider {provider_id}", "kinds": ["legal"],
            "regions": ["US-TX"], "languages": ["en"], "email": f"{provider_id}@example.org"} | overrides
    return events.cloudevent(ProviderRegistered.TYPE, data, subject=provider_id, source="casework/providers")


async def test_the_loaded_directory_is_picked_from_and_survives_removal_restart_and_hostile_records(
        settings, bus: Bus, tmp_path: Path) -> None:
    code, out = await providers_load(settings, ROOT / "examples" / "providers.yaml")
    assert code == 0 and "published 6 registration(s)" in out, out
    port = free_port()
    registered = Tokens([p for _, p in TOKENS.values()])
    status = status_service(settings, tokens=registered, dashboard_port=port)
    async with status.app, httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
        await ev.ready(port)
        await eventually(lambda: picked(client), timeout=30)
        assert await picked(client, kind="shelter", region="US-TX", language="es-MX") == ["pr-tx-safe-harbor"]
        assert await picked(client, kind="medical") == ["pr-tx-lone-star-clinic", "pr-ny-harbor-health"]
        assert await picked(client, kind="interpretation", region="US-NY", language="ht") == ["pr-us-language-line"]
        for name, expected in (("sup", 200), ("analyst", 403), ("auditor", 403)):
            assert (await client.get("/api/providers", headers=bearer(name))).status_code == expected, name
        assert (await client.get("/api/providers")).status_code == 401
        for bad in ({"kind": "spaceship"}, {"region": "Texas"}, {"language": "x" * 40}):
            answer = await client.get("/api/providers", params=bad, headers=bearer("spec"))
            assert answer.status_code == 422 and next(iter(bad)) in answer.text, bad

        # Hostile records among valid ones: each to the dead-letter topic, the rest applied.
        for value in (b"not json", events.encode(provider("pr-bad", kinds=["spaceship"])),
                      events.encode(provider("pr-bad-2") | {"type": "casework.specialist.registered.v1"})):
            await bus.publish("providers.registered", value, key="pr-bad")
        await bus.publish("providers.registered", provider("pr-tx-new-legal"))
        removal = tmp_path / "leave.yaml"
        removal.write_text("- provider_id: pr-tx-immigrant-legal\n  removed: true\n")
        assert (await providers_load(settings, removal))[0] == 0

        async def moved() -> bool:
            return await picked(client, kind="legal") == ["pr-tx-new-legal"]
        await eventually(moved, timeout=30)
        dead = await bus.read("providers.registered.dlq", until=lambda recs: len(recs) >= 3)
        assert len(dead) == 3 and {h for r in dead for h, _ in r.headers} >= {"x-dlq-error-type", "x-dlq-error"}

    # While the service is down, a provider stops accepting; after the restart it is kept and applied.
    await bus.publish("providers.registered", provider("pr-tx-new-legal", accepting=False))
    port = free_port()
    again = status_service(settings, tokens=registered, dashboard_port=port)
    async with again.app, httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
        await ev.ready(port)

        async def applied() -> bool:
            answer = await client.get("/api/providers", params={"kind": "legal"}, headers=bearer("spec"))
            return answer.json()["items"] == [{"provider_id": "pr-tx-new-legal", "name": "Provider pr-tx-new-legal",
                                               "kinds": ["legal"], "regions": ["US-TX"], "languages": ["en"],
                                               "accepting": False}]
        await eventually(applied, timeout=30)
        assert len(await picked(client)) == 6  # five of the demo's and the new one: nothing lost on restart


async def test_a_redelivered_or_late_registration_never_overwrites_a_newer_one(settings, mongo) -> None:
    collection = mongo[settings.database("registry")]["providers"]

    def record(offset: int, **overrides) -> Inbound:
        event = provider("pr-1", **overrides)
        return Inbound(id=event["id"], type=event["type"], subject="pr-1", key="pr-1", offset=offset,
                       data=ProviderRegistered.model_validate(event["data"], strict=False))

    assert await registry.apply(collection, [record(1), record(2, name="Renamed")], ["name"]) == ["pr-1"]
    assert await registry.apply(collection, [record(1)], ["name"]) == []  # a redelivery of the older one
    assert await registry.apply(collection, [record(2, name="Renamed")], ["name"]) == []  # and of the newer
    doc = await collection.find_one({"_id": "pr-1"})
    assert (doc["name"], doc["offset"], doc["removed"]) == ("Renamed", 2, False)
    tombstone = Inbound(id="t", type="", subject="pr-1", key="pr-1", offset=3, data=None)
    assert await registry.apply(collection, [tombstone], ["name"]) == ["pr-1"]
    assert (await collection.find_one({"_id": "pr-1"}))["removed"] is True
    await mongo.drop_database(settings.database("registry"))
