"""Browser sessions, CSRF, the sign-in limit and the audit trail on the real status service:
real HTTP, the real broker (``audit.events``) and FerretDB (the ``sessions`` and ``audit``
collections)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from services.status.access import Role, Tokens, new_token
from services.status.app import bootstrap as status_service
from services.status.web.auth import COOKIE
from shared.contracts.audit import AuditAction, AuditActor, AuditOutcome, AuditRecorded, AuditRole
from tests.support import status as ev
from tests.support.kafka import Bus, eventually
from tests.support.procs import free_port

ROLES = {"sup": (Role.SUPERVISOR, ["TX-DPS"], None), "spec": (Role.SPECIALIST, [], "sp-1"),
         "analyst": (Role.ANALYST, ["TX-DPS"], None), "auditor": (Role.AUDITOR, [], None)}


@pytest.fixture
def tokens() -> tuple[Tokens, dict[str, str]]:
    made = {name: new_token(name, role, agencies, sp) for name, (role, agencies, sp) in ROLES.items()}
    return Tokens([p for _, p in made.values()]), {name: t for name, (t, _) in made.items()}


@contextlib.asynccontextmanager
async def dashboard(settings, bus: Bus, registry: Tokens, cases: tuple[str, ...] = ()) -> AsyncIterator:
    port = free_port()
    status = status_service(settings, tokens=registry, dashboard_port=port)
    async with status.app:
        await ev.ready(port)
        for case_id in cases:
            await bus.publish("cases.opened", ev.cloudevent(ev.case_opened(case_id)))
        await eventually(lambda: set(cases) <= set(status.dashboard.board.rows))
        yield status, f"http://127.0.0.1:{port}"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def sign_in(client: httpx.AsyncClient, token: str) -> str:
    """Sign in on the form; the session's CSRF token, from the page the browser lands on."""
    response = await client.post("/login", data={"token": token})
    assert response.status_code == 303, response.text
    page = await client.get(response.headers["location"])
    assert page.status_code == 200, page.text
    [csrf] = re.findall(r'<meta name="csrf-token" content="([^"]+)">', page.text)
    return csrf


async def listen(client: httpx.AsyncClient, into: list[str]) -> None:
    """Read the event stream until the server ends it, noting each event's name."""
    async with client.stream("GET", "/api/events") as response:
        assert response.status_code == 200
        async for line in response.aiter_lines():
            if line.startswith("event:"):
                into.append(line.split(":", 1)[1].strip())


def audit_events(bus: Bus, count: int, where) -> asyncio.Future:
    return bus.events("audit.events", count=count, where=lambda e: where(e["data"]))


async def test_a_session_needs_its_csrf_token_and_signing_out_ends_it_and_its_streams(settings, bus: Bus,
                                                                                      tokens) -> None:
    registry, token = tokens
    case_id = f"case-s-{uuid.uuid4().hex[:6]}"
    async with dashboard(settings, bus, registry, (case_id,)) as (status, url), \
            httpx.AsyncClient(base_url=url, timeout=10) as browser, \
            httpx.AsyncClient(base_url=url, timeout=10) as other:
        csrf = await sign_in(browser, token["sup"])
        await sign_in(other, token["spec"])
        session, other_session = browser.cookies[COOKIE], other.cookies[COOKIE]
        assert session != other_session and token["sup"] not in session
        stored = await status.service.db["sessions"].find({}).to_list(None)
        assert len(stored) == 2 and not [d for d in stored if session in str(d) or token["sup"] in str(d)]

        # A cookie-only state-changing request without the session's CSRF token: refused, nothing ends.
        assert (await browser.post("/logout")).status_code == 403
        assert (await browser.post("/logout", data={"csrf_token": csrf[::-1]})).status_code == 403
        assert (await browser.post("/logout", headers={"X-CSRF-Token": "nope"})).status_code == 403
        assert (await browser.get("/api/me")).json()["name"] == "sup"
        close = f"/api/cases/{case_id}/close"
        refused = await browser.post(close, json={"reason": "services_completed"})
        assert refused.status_code == 403 and "X-CSRF-Token" in refused.json()["detail"]
        assert (await browser.post(close, json={"reason": "services_completed"},
                                   headers={"X-CSRF-Token": csrf[:-1]})).status_code == 403
        done = await browser.post(close, json={"reason": "services_completed"}, headers={"X-CSRF-Token": csrf})
        assert done.status_code == 202, done.text
        assert (await browser.post(close, json={"reason": "services_completed"},
                                   headers=bearer(token["sup"]))).status_code == 202  # no session, no token needed
        [closing, _] = await bus.events("cases.closed", count=2)
        assert closing["data"]["case_id"] == case_id

        mine, theirs = [], []
        streams = [asyncio.create_task(listen(browser, mine)), asyncio.create_task(listen(other, theirs))]
        await eventually(lambda: status.dashboard.broadcaster.sessions() == {session, other_session})
        await eventually(lambda: mine == ["hello"] and theirs == ["hello"])

        out = await browser.post("/logout", data={"csrf_token": csrf})
        assert out.status_code == 303 and out.headers["location"] == "/login"
        await asyncio.wait_for(streams[0], timeout=20)  # the server ended it
        assert mine == ["hello", "ended"]
        assert not streams[1].done() and status.dashboard.broadcaster.sessions() == {other_session}

        browser.cookies.set(COOKIE, session)  # the old cookie, replayed
        assert (await browser.get("/api/me")).status_code == 401
        assert (await browser.get("/api/events")).status_code == 401
        page = await browser.get("/", follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"] == "/login"
        assert (await browser.post("/logout", data={"csrf_token": csrf})).status_code == 303  # nothing left to end
        assert (await other.get("/api/me")).json()["name"] == "spec"  # the other session goes on
        streams[1].cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await streams[1]

    trail = await audit_events(bus, 3, lambda d: d["action"].startswith("session."))
    assert sorted((e["data"]["action"], e["data"]["actor"]["id"]) for e in trail) == [
        ("session.signed_in", "sp-1"), ("session.signed_in", "sup"), ("session.signed_out", "sup")]


async def test_wrong_sign_ins_in_a_row_are_limited_and_audited(settings, bus: Bus, tokens) -> None:
    registry, token = tokens
    async with dashboard(settings, bus, registry) as (_, url), httpx.AsyncClient(base_url=url, timeout=10) as client:
        answers = [(await client.post("/login", data={"token": f"cw_wrong-{i}"})).status_code for i in range(40)]
        assert answers[:10] == [401] * 10 and set(answers[10:]) == {429}
        assert (await client.post("/login", data={"token": token["sup"]})).status_code == 429
        assert COOKIE not in client.cookies
    failed = await audit_events(bus, 41, lambda d: d["action"] == AuditAction.SIGN_IN_FAILED)
    assert len(failed) == 41
    assert {(e["data"]["actor"]["id"], e["data"]["actor"]["role"], e["data"]["outcome"]) for e in failed} == {
        ("anonymous", "anonymous", "refused")}
    assert "cw_wrong" not in json.dumps(failed)


async def test_the_auditor_reads_the_trail_and_nothing_else(settings, bus: Bus, tokens) -> None:
    registry, token = tokens
    case_a, case_b = f"case-a-{uuid.uuid4().hex[:6]}", f"case-b-{uuid.uuid4().hex[:6]}"
    async with dashboard(settings, bus, registry, (case_a, case_b)) as (status, url), \
            httpx.AsyncClient(base_url=url, timeout=10) as api:
        assert (await api.get(f"/api/cases/{case_a}", headers=bearer(token["sup"]))).status_code == 200
        assert (await api.get(f"/api/cases/{case_a}", headers=bearer(token["spec"]))).status_code == 403
        assert (await api.get(f"/api/cases/{case_b}", headers=bearer(token["sup"]))).status_code == 200
        auditor = bearer(token["auditor"])

        async def trail(**params) -> list[dict]:
            response = await api.get("/api/audit", params=params, headers=auditor)
            assert response.status_code == 200, response.text
            return response.json()["items"]

        async def case_views() -> list[dict]:
            found = await trail(actor="sup")
            return found if len([r for r in found if r["action"] == "case.viewed"]) == 2 else []

        views = await eventually(case_views)
        assert [r["at"] for r in views] == sorted((r["at"] for r in views), reverse=True)  # newest first
        viewed_b, viewed_a = [r for r in views if r["action"] == "case.viewed"]
        assert (viewed_a["case_id"], viewed_b["case_id"]) == (case_a, case_b)
        assert {r["actor"]["id"] for r in views} == {"sup"}

        of_a = await trail(case_id=case_a)
        assert {r["case_id"] for r in of_a} == {case_a}
        assert {("sup", "case.viewed", "granted"), ("sp-1", "case.view_refused", "refused")} <= {
            (r["actor"]["id"], r["action"], r["outcome"]) for r in of_a}
        assert {r["via"] for r in of_a if r["action"].startswith("case.")} == {"dashboard_api"}

        since_b = await trail(actor="sup", since=viewed_b["at"])
        assert viewed_b["audit_id"] in {r["audit_id"] for r in since_b}
        assert viewed_a["audit_id"] not in {r["audit_id"] for r in since_b}
        until_a = await trail(actor="sup", until=viewed_a["at"])
        assert [r["audit_id"] for r in until_a] == [viewed_a["audit_id"]]
        assert await trail(actor="sup", since=viewed_a["at"], until=viewed_b["at"]) == [viewed_b, viewed_a]
        pages = [(await api.get("/api/audit", params={"actor": "sup", "limit": 1, "offset": offset},
                                headers=auditor)).json() for offset in (0, 1)]
        assert [p["items"][0]["audit_id"] for p in pages] == [viewed_b["audit_id"], viewed_a["audit_id"]]
        assert pages[0]["more"] is True

        # A record delivered twice is kept once (the trail is idempotent by audit_id); a third
        # record on the same key (the same partition) is read after both copies.
        def record(actor: str) -> AuditRecorded:
            return AuditRecorded(audit_id=f"au-{uuid.uuid4().hex}",
                                 actor=AuditActor(id=actor, role=AuditRole.SUPERVISOR),
                                 action=AuditAction.IDENTITY_READ, outcome=AuditOutcome.GRANTED,
                                 at=datetime.now(UTC), case_id=case_b, via="intake_vault")

        twice, after = record("vault-1"), record("vault-2")
        for sent in (twice, twice, after):
            await bus.publish("audit.events", ev.cloudevent(sent, event_id=sent.audit_id))
        await eventually(lambda: trail(actor="vault-2"))
        assert [r["audit_id"] for r in await trail(actor="vault-1")] == [twice.audit_id]
        assert await status.service.db["audit"].count_documents({"_id": twice.audit_id}) == 1

        for path in ("/api/me", "/api/board", "/api/cases", f"/api/cases/{case_a}", "/api/aggregates",
                     "/api/events"):
            assert (await api.get(path, headers=auditor)).status_code == 403, path
        for who in ("sup", "spec", "analyst"):
            assert (await api.get("/api/audit", headers=bearer(token[who]))).status_code == 403, who
        acting = await api.post(f"/api/cases/{case_a}/close", json={"reason": "services_completed"}, headers=auditor)
        assert acting.status_code == 403

        async with httpx.AsyncClient(base_url=url, timeout=10) as browser:
            await sign_in(browser, token["auditor"])
            for path in ("/", "/aggregates"):
                response = await browser.get(path)
                assert response.status_code == 303 and response.headers["location"] == "/audit", path
            assert (await browser.get(f"/cases/{case_a}")).status_code == 403
            page = await browser.get("/audit", params={"case_id": case_b})
            assert page.status_code == 200 and f'data-audit-id="{twice.audit_id}"' in page.text
            assert f'data-audit-id="{viewed_a["audit_id"]}"' not in page.text
            assert (await browser.get("/audit", params={"since": "yesterday"})).status_code == 400

    refused = await audit_events(bus, 3, lambda d: d["action"] == AuditAction.AUDIT_VIEWED
                                 and d["outcome"] == "refused")
    assert {e["data"]["actor"]["id"] for e in refused} == {"sup", "sp-1", "analyst"}
    granted = await audit_events(bus, 1, lambda d: d["action"] == AuditAction.AUDIT_VIEWED
                                 and d["outcome"] == "granted" and d.get("case_id") == case_b)
    assert {(e["data"]["actor"]["id"], e["data"]["actor"]["role"]) for e in granted} == {("auditor", "auditor")}
    [tried] = await audit_events(bus, 1, lambda d: d["action"] == AuditAction.CASE_CLOSED)
    assert (tried["data"]["actor"]["id"], tried["data"]["outcome"], tried["data"]["case_id"]) == (
        "auditor", "refused", case_a)
    assert not await bus.events("cases.closed", timeout=1)


async def test_an_idle_session_expires_and_its_stream_closes(settings, bus: Bus, tokens) -> None:
    registry, token = tokens
    brief = settings.amended(status={"session_idle_seconds": 2, "session_check_seconds": 0.5})
    async with dashboard(brief, bus, registry) as (status, url), httpx.AsyncClient(base_url=url, timeout=10) as browser:
        await sign_in(browser, token["sup"])
        heard: list[str] = []
        stream = asyncio.create_task(listen(browser, heard))
        await asyncio.wait_for(stream, timeout=30)  # an open stream is no use of the session: it ends
        assert heard == ["hello", "ended"]
        assert (await browser.get("/api/me")).status_code == 401
        assert status.dashboard.broadcaster.sessions() == set()


async def test_an_expired_session_may_do_nothing_on_any_route(settings, bus: Bus, tokens) -> None:
    """The action matrix's expired-session column: the holder's session did act while it
    lasted; once it has idled out, every route answers 401 and publishes nothing."""
    registry, token = tokens
    case_id = f"case-x-{uuid.uuid4().hex[:6]}"
    brief = settings.amended(status={"session_idle_seconds": 2, "session_check_seconds": 0.5})
    async with dashboard(brief, bus, registry, (case_id,)) as (status, url), \
            httpx.AsyncClient(base_url=url, timeout=10) as browser:
        await bus.publish("referrals.events", ev.cloudevent(ev.assigned(case_id, "r-x", "sp-1", at=datetime.now(UTC))))
        await eventually(lambda: status.dashboard.board.rows[case_id].specialist_id == "sp-1")
        csrf = await sign_in(browser, token["spec"])
        accept = f"/api/cases/{case_id}/referral/accept"
        live = await browser.post(accept, json={}, headers={"X-CSRF-Token": csrf})
        assert live.status_code == 202, live.text
        await asyncio.sleep(3)  # idle past its two seconds
        routes = [("POST", "referral/accept", {}), ("POST", "referral/decline", {"reason": "at_capacity"}),
                  ("POST", "milestones", {"milestone": {"kind": "rights_explained"}}),
                  ("POST", "close", {"reason": "services_completed"}), ("POST", "reopen", {"reason": "re_engaged"}),
                  ("POST", "reassign", {"reason": "workload"}), ("GET", "person", None),
                  ("POST", "services", {"provider_id": "pr-tx-safe-harbor", "need": "shelter"})]
        for method, route, body in routes:
            answer = await browser.request(method, f"/api/cases/{case_id}/{route}", json=body,
                                           headers={"X-CSRF-Token": csrf})
            assert answer.status_code == 401, (route, answer.text)
    published = await bus.events("referrals.responded", where=lambda e: e["data"]["case_id"] == case_id, settle=1.0,
                                 count=1)
    assert [e["id"] for e in published] == [live.json()["event_id"]]
    for topic in ("stabilization.recorded", "cases.closed", "cases.reopened", "referrals.reassigned",
                  "services.requested"):
        assert await bus.events(topic, settle=0.5, timeout=2) == []
