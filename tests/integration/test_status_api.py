"""The dashboard API on the real broker and FerretDB: who sees what, audit, live events, no PII.

Cases come in as agencies report them (intake runs too, fed canary PII), so every page and
response below is checked against the canaries.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import UTC, datetime

import httpx
import pytest

from services.intake.app import bootstrap as intake_service
from services.status.access import Role, Tokens, new_token
from services.status.app import bootstrap as status_service
from tests.support import events
from tests.support import status as ev
from tests.support.kafka import Bus, eventually
from tests.support.procs import free_port

ROLES = {
    "sup_tx": (Role.SUPERVISOR, ["TX-DPS"], None),
    "sup_all": (Role.SUPERVISOR, ["*"], None),
    "spec": (Role.SPECIALIST, [], "sp-1"),
    "analyst_tx": (Role.ANALYST, ["TX-DPS"], None),
}


@pytest.fixture
def tokens() -> tuple[Tokens, dict[str, str]]:
    made = {name: new_token(name, role, agencies, specialist) for name, (role, agencies, specialist) in ROLES.items()}
    return Tokens([p for _, p in made.values()]), {name: t for name, (t, _) in made.items()}


@contextlib.asynccontextmanager
async def dashboard(settings, bus: Bus, tokens: Tokens):
    """Intake and status running, three cases reported: two by TX-DPS, one by CA-HP."""
    port = free_port()
    intake, status = intake_service(settings), status_service(settings, tokens=tokens, dashboard_port=port)
    async with intake.app, status.app:
        await ev.ready(port)
        for agency in ("TX-DPS", "TX-DPS", "CA-HP"):
            encounter = events.encounter(agency={"id": agency, "name": "Agency", "level": "state"})
            await bus.publish("encounters.reported", encounter)
        await eventually(lambda: len(status.dashboard.board.rows) == 3)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            yield client, status


def cases_of(status, agency: str) -> list[str]:
    return sorted(r.case_id for r in status.dashboard.board.rows.values() if r.agency_id == agency)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def assign(bus: Bus, status, case_id: str, specialist: str, version: int) -> None:
    now = datetime.now(UTC)
    assigned = ev.assigned(case_id, f"ref-{case_id}", specialist, at=now)
    await bus.publish("referrals.events", ev.cloudevent(assigned, at=now))
    await eventually(lambda: status.dashboard.board.rows[case_id].version == version)


async def test_each_role_sees_exactly_what_it_may(settings, bus: Bus, tokens, logs) -> None:
    registry, token = tokens
    bodies: list[str] = []
    async with dashboard(settings, bus, registry) as (client, status):
        tx1, tx2 = cases_of(status, "TX-DPS")
        [ca] = cases_of(status, "CA-HP")
        await assign(bus, status, tx1, "sp-1", 2)
        unreadable = events.encounter("ENC-UNREADABLE")
        unreadable["data"]["region"] = 42  # intake dead-letters it and raises an alert
        await bus.publish("encounters.reported", unreadable)

        async def alerted() -> list:
            return (await client.get("/api/board", headers=auth(token["sup_tx"]))).json()["alerts"]

        [alert] = await eventually(alerted)
        assert (alert["agency_id"], alert["encounter_id"]) == ("TX-DPS", "ENC-UNREADABLE")

        async def get(path: str, who: str | None, expected: int) -> httpx.Response:
            response = await client.get(path, headers=auth(token[who]) if who else {})
            assert response.status_code == expected, (path, who, response.text)
            bodies.append(response.text)
            return response

        for path in ("/api/me", "/api/board", "/api/cases", f"/api/cases/{tx1}", "/api/aggregates", "/api/events"):
            await get(path, None, 401)
        assert (await client.get("/api/board", headers=auth("cw_not-a-token"))).status_code == 401
        assert (await client.get("/", follow_redirects=False)).headers["location"] == "/login"

        board = (await get("/api/board", "sup_tx", 200)).json()
        assert sorted(c["case_id"] for c in board["columns"]["referral"]) == [tx1, tx2]
        assert (await get(f"/api/cases/{tx2}", "sup_tx", 200)).json()["case"]["agency_id"] == "TX-DPS"
        await get(f"/api/cases/{ca}", "sup_tx", 403)
        await get("/api/cases/case-unknown", "sup_tx", 403)

        assert (await get("/api/board", "spec", 200)).json()["alerts"] == []  # supervisors' business
        mine = (await get("/api/cases?stage=referral", "spec", 200)).json()
        assert [c["case_id"] for c in mine["items"]] == [tx1] and mine["total"] == 1
        detail = (await get(f"/api/cases/{tx1}", "spec", 200)).json()
        assert detail["case"]["referral"]["specialist_id"] == "sp-1"
        assert [m["kind"] for m in detail["timeline"]] == ["referral_assigned", "case_opened"]
        await get(f"/api/cases/{tx2}", "spec", 403)
        await get("/api/aggregates", "spec", 403)

        for path in ("/api/board", "/api/cases", f"/api/cases/{tx1}"):
            await get(path, "analyst_tx", 403)
        counts = (await get("/api/aggregates", "analyst_tx", 200)).json()
        assert counts["cases"] == 2 and counts["time_to_assignment"]["cases"] == 1
        assert "case_id" not in json.dumps(counts)

        assert len((await get("/api/board", "sup_all", 200)).json()["columns"]["referral"]) == 3
        await get("/api/cases/case-unknown", "sup_all", 404)
        for who in ("sup_tx", "spec"):
            assert (await client.post("/login", data={"token": token[who]})).status_code == 303
            bodies += [(await client.get(p)).text for p in ("/", f"/cases/{tx1}")]
        assert (await client.post("/login", data={"token": token["analyst_tx"]})).status_code == 303
        page = await client.get("/aggregates")
        assert page.status_code == 200 and "<svg" in page.text
        bodies += [page.text, (await client.get("/api/openapi.json")).text, (await client.get("/login")).text]
        client.cookies.clear()
    for body in bodies:
        assert not [c for c in events.CANARIES if c in body]
    audit = [json.loads(line) for line in logs.getvalue().splitlines() if '"case view' in line]
    assert {(a["event"], a["case_id"], a["viewer"]) for a in audit} >= {
        ("case viewed", tx1, "spec"), ("case viewed", tx2, "sup_tx"), ("case view refused", ca, "sup_tx"),
        ("case view refused", tx1, "analyst_tx")}
    assert not [c for c in events.CANARIES if c in logs.getvalue()]


async def read_events(client: httpx.AsyncClient, token: str, want: int, into: list[tuple[str, dict]]) -> None:
    async with client.stream("GET", "/api/events", headers=auth(token)) as response:
        assert response.status_code == 200
        kind = None
        async for line in response.aiter_lines():
            if line.startswith("event:"):
                kind = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and kind in ("case", "gone", "stats"):
                into.append((kind, json.loads(line.split(":", 1)[1])))
                if len(into) >= want:
                    return


async def test_live_updates_reach_the_readers_who_may_see_them(settings, bus: Bus, tokens) -> None:
    registry, token = tokens
    async with dashboard(settings, bus, registry) as (client, status):
        tx1, tx2 = cases_of(status, "TX-DPS")
        [ca] = cases_of(status, "CA-HP")
        seen: dict[str, list[tuple[str, dict]]] = {name: [] for name in ("sup_tx", "spec", "analyst_tx")}
        wants = {"sup_tx": 3, "spec": 2, "analyst_tx": 1}
        readers = [asyncio.create_task(read_events(client, token[n], wants[n], seen[n])) for n in seen]
        await eventually(lambda: len(status.dashboard.broadcaster.subscribers) == 3)
        await assign(bus, status, ca, "sp-9", 2)  # not for sup_tx, not for spec
        await assign(bus, status, tx1, "sp-1", 2)
        await assign(bus, status, tx2, "sp-2", 2)
        await assign(bus, status, tx1, "sp-2", 3)  # reassigned: sp-1 hears it is gone
        await asyncio.wait_for(asyncio.gather(*readers), timeout=20)
    assert [(k, d["case"]["case_id"]) for k, d in seen["sup_tx"]] == [("case", tx1), ("case", tx2), ("case", tx1)]
    assert [k for k, _ in seen["spec"]] == ["case", "gone"] and seen["spec"][0][1]["case"]["case_id"] == tx1
    assert seen["spec"][1][1]["case_id"] == tx1 and 'data-case-id="' + tx1 in seen["spec"][0][1]["html"]
    assert seen["analyst_tx"] == [("stats", {})]
    assert not [c for c in events.CANARIES if c in json.dumps(seen)]
