"""Signing in to the dashboard, in the unit tier: server-side sessions (on the memory store),
their cookie, CSRF, the sign-in limit, re-resolution of the principal, the auditor's fence.

The real dashboard app runs in-process (httpx over ASGI); the broker is a recording
publisher, so what goes on ``audit.events`` is checked too. The real-HTTP version, on the
broker and FerretDB, is ``tests/integration/test_status_sessions.py``.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from fastapi import Depends

from services.status.access import Principal, Role, Tokens, new_token
from services.status.board import Board
from services.status.feed import Broadcaster
from services.status.identity import IdentityReader
from services.status.sessions import Lifetimes, MemorySessionStore
from services.status.views import Views
from services.status.web.app import create_dashboard
from services.status.web.auth import COOKIE, require_actor, secure_cookie
from shared.kit import FakeClock
from shared.kit.memory import RecordingPublisher
from shared.settings import Settings, StatusSettings

IDLE, ABSOLUTE = 1800, 12 * 3600
ROLES = {"sup": (Role.SUPERVISOR, ["*"], None), "spec": (Role.SPECIALIST, [], "sp-1"),
         "analyst": (Role.ANALYST, ["*"], None), "auditor": (Role.AUDITOR, [], None)}


class NoAlerts:
    """The alerts collection, empty (the supervisors' board reads it)."""

    def find(self, *_: Any) -> NoAlerts:
        return self

    def __aiter__(self) -> NoAlerts:
        return self

    async def __anext__(self) -> Any:
        raise StopAsyncIteration


class Dashboard:
    def __init__(self, production: bool = False) -> None:
        self.clock = FakeClock()
        made = {name: new_token(name, role, agencies, sp) for name, (role, agencies, sp) in ROLES.items()}
        self.token = {name: t for name, (t, _) in made.items()}
        self.principal = {name: p for name, (_, p) in made.items()}
        self.tokens = Tokens(list(self.principal.values()))
        self.publisher = RecordingPublisher()
        self.store = MemorySessionStore(self.clock, Lifetimes.of(IDLE, ABSOLUTE))
        settings = Settings(environment="production" if production else "development",
                            status=StatusSettings(session_idle_seconds=IDLE, session_absolute_seconds=ABSOLUTE,
                                                  dashboard_tokens="[]"))
        service = SimpleNamespace(name="status", settings=settings, publisher=self.publisher,
                                  source="casework/status", clock=self.clock)
        views = Views(Board(), self.clock, 90)
        self.broadcaster = Broadcaster(views)
        self.app = create_dashboard(service, tokens=self.tokens, views=views, broadcaster=self.broadcaster,
                                    feed=SimpleNamespace(), cases=None, alerts=NoAlerts(), sessions=self.store,
                                    trail=None,  # intake is not asked here: a reader that points nowhere
                                    identity=IdentityReader("http://127.0.0.1:9", "unit-credential",
                                                            httpx.AsyncClient()))

        async def act(principal: Principal = Depends(require_actor)) -> dict[str, str]:  # noqa: B008
            return {"actor": principal.actor_id}

        # The action routes' dependency, on a route of the test's own (GET too: it checks whatever the method).
        self.app.add_api_route("/api/test-act", act, methods=["POST", "GET"])

    def client(self, base_url: str = "http://127.0.0.1:8080",
               peer: tuple[str, int] = ("127.0.0.1", 50000)) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app, client=peer), base_url=base_url)

    def audited(self) -> list[dict[str, Any]]:
        return [json.loads(e["value"])["data"] for e in self.publisher.on("audit.events")]


@pytest.fixture
def dash() -> Dashboard:
    return Dashboard()


@pytest.fixture
async def client(dash: Dashboard) -> AsyncIterator[httpx.AsyncClient]:
    async with dash.client() as client:
        yield client


async def sign_in(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/login", data={"token": token})


def csrf_of(page: str) -> str:
    [found] = re.findall(r'<meta name="csrf-token" content="([^"]+)">', page)
    return found


async def signed_in(dash: Dashboard, client: httpx.AsyncClient, who: str = "spec") -> str:
    """Sign in as ``who``; the session's CSRF token, read from a page as a browser would."""
    response = await sign_in(client, dash.token[who])
    assert response.status_code == 303, response.text
    page = await client.get(response.headers["location"], follow_redirects=True)
    assert page.status_code == 200, page.text
    return csrf_of(page.text)


def set_cookie(response: httpx.Response) -> str:
    [cookie] = [v for k, v in response.headers.multi_items() if k == "set-cookie" and v.startswith(COOKIE)]
    return cookie.lower()


async def test_signing_in_opens_a_server_side_session_in_a_strict_httponly_cookie(dash: Dashboard, client) -> None:
    response = await sign_in(client, dash.token["spec"])
    assert response.status_code == 303 and response.headers["location"] == "/"
    cookie = set_cookie(response)
    assert "httponly" in cookie and "samesite=strict" in cookie and "secure" not in cookie  # loopback
    session_id = client.cookies[COOKIE]
    assert dash.token["spec"] not in cookie and dash.token["spec"] not in str(dash.store.entries)
    assert session_id not in str(dash.store.entries)  # stored under a digest
    assert (await client.get("/api/me")).json()["name"] == "spec"
    [stored] = [json.loads(e.data) for e in dash.store.entries.values()]
    assert stored["principal"] == "spec" and len(stored["csrf"]) >= 32
    assert {"created_at", "seen_at", "entry"} <= set(stored) and "token" not in json.dumps(stored)


@pytest.mark.parametrize(("base_url", "peer", "production", "secure"), [
    ("http://127.0.0.1:8080", ("127.0.0.1", 5), False, False),
    ("http://localhost:8080", ("::1", 5), False, False),
    ("http://dashboard.example.org", ("127.0.0.1", 5), False, True),  # a proxy on this machine
    ("http://127.0.0.1:8080", ("10.1.2.3", 5), False, True),  # reached from elsewhere
    ("http://127.0.0.1:8080", ("127.0.0.1", 5), True, True),  # production: always
    ("https://127.0.0.1:8443", ("127.0.0.1", 5), False, True),
])
async def test_the_cookie_is_secure_unless_the_request_is_on_loopback(base_url, peer, production, secure) -> None:
    dash = Dashboard(production=production)
    async with dash.client(base_url, peer) as client:
        response = await sign_in(client, dash.token["spec"])
    assert response.status_code == 303
    assert ("secure" in set_cookie(response).split("; ")) is secure


def test_secure_is_decided_by_the_host_the_request_was_sent_to_and_its_peer() -> None:
    def scope(host: str, client: tuple[str, int] | None = ("127.0.0.1", 1), scheme: str = "http") -> dict:
        return {"type": "http", "scheme": scheme, "path": "/", "query_string": b"", "client": client,
                "server": ("127.0.0.1", 8080), "headers": [(b"host", host.encode())]}

    assert not secure_cookie(scope("127.0.0.1:8080"), production=False)
    assert not secure_cookie(scope("[::1]:8080", ("::1", 1)), production=False)
    assert not secure_cookie(scope("localhost"), production=False)
    assert secure_cookie(scope("casework.example.org"), production=False)
    assert secure_cookie(scope("192.168.1.20:8080"), production=False)
    assert secure_cookie(scope("127.0.0.1:8080", ("192.168.1.7", 1)), production=False)
    assert secure_cookie(scope("127.0.0.1:8080"), production=True)


async def test_a_state_changing_request_by_cookie_needs_the_sessions_csrf_token(dash: Dashboard, client) -> None:
    csrf = await signed_in(dash, client)
    assert (await client.post("/api/test-act")).status_code == 403
    assert (await client.post("/api/test-act", headers={"X-CSRF-Token": "x" + csrf[1:]})).status_code == 403
    assert (await client.get("/api/test-act")).status_code == 403  # the actions' dependency: whatever the method
    done = await client.post("/api/test-act", headers={"X-CSRF-Token": csrf})
    assert done.status_code == 200 and done.json() == {"actor": "sp-1"}
    assert (await client.post("/logout")).status_code == 403  # signing out is state-changing too
    assert (await client.get("/api/me")).status_code == 200  # and the session is still there


async def test_a_bearer_token_needs_no_session_and_no_csrf_token(dash: Dashboard, client) -> None:
    bearer = {"Authorization": f"Bearer {dash.token['sup']}"}
    assert (await client.post("/api/test-act", headers=bearer)).json() == {"actor": "sup"}
    assert COOKIE not in client.cookies
    assert (await client.post("/api/test-act")).status_code == 401
    assert (await client.post("/api/test-act", headers={"Authorization": "Bearer cw_nope"})).status_code == 401
    await signed_in(dash, client)  # a bearer header decides alone, whatever cookie comes with it
    assert (await client.post("/api/test-act", headers={"Authorization": "Bearer cw_nope"})).status_code == 401


async def test_signing_out_ends_the_session_on_the_server(dash: Dashboard, client) -> None:
    csrf = await signed_in(dash, client)
    session_id = client.cookies[COOKIE]
    stream = dash.broadcaster.subscribe(dash.principal["spec"], session_id)
    out = await client.post("/logout", data={"csrf_token": csrf})
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert stream.closed
    client.cookies.set(COOKIE, session_id)  # the old cookie, kept by someone
    assert (await client.get("/api/me")).status_code == 401
    page = await client.get("/")
    assert page.status_code == 303 and page.headers["location"] == "/login"
    assert (await client.post("/api/test-act", headers={"X-CSRF-Token": csrf})).status_code == 401
    assert [(a["action"], a["actor"]["id"]) for a in dash.audited()] == [
        ("session.signed_in", "sp-1"), ("session.signed_out", "sp-1")]


async def test_the_csrf_token_may_come_as_the_header_to_sign_out(dash: Dashboard, client) -> None:
    csrf = await signed_in(dash, client)
    assert (await client.post("/logout", headers={"X-CSRF-Token": csrf})).status_code == 303
    assert (await client.get("/api/me")).status_code == 401


async def test_every_page_carries_the_csrf_token_and_the_sign_out_form_sends_it(dash: Dashboard, client) -> None:
    csrf = await signed_in(dash, client, "analyst")
    page = (await client.get("/aggregates")).text
    assert csrf_of(page) == csrf and f'<input type="hidden" name="csrf_token" value="{csrf}">' in page
    assert "csrf-token" not in (await client.get("/login")).text  # no session yet, no token


async def test_a_session_ends_when_idle_and_at_its_absolute_lifetime(dash: Dashboard, client) -> None:
    await signed_in(dash, client)
    dash.clock.advance(seconds=IDLE - 1)
    assert (await client.get("/api/me")).status_code == 200  # a request: the idle time starts again
    dash.clock.advance(seconds=IDLE - 1)
    assert (await client.get("/api/me")).status_code == 200
    dash.clock.advance(seconds=IDLE)
    assert (await client.get("/api/me")).status_code == 401
    assert (await client.get("/")).headers["location"] == "/login"

    await signed_in(dash, client)
    for _ in range(ABSOLUTE // 600 - 1):
        dash.clock.advance(seconds=600)
        assert (await client.get("/api/me")).status_code == 200
    dash.clock.advance(seconds=600)
    assert (await client.get("/api/me")).status_code == 401  # active all along, but 12 hours old


async def test_the_principal_is_looked_up_again_on_every_request(dash: Dashboard, client) -> None:
    await signed_in(dash, client, "sup")
    others = [p for n, p in dash.principal.items() if n != "sup"]
    demoted = dash.principal["sup"].model_copy(update={"role": Role.ANALYST})  # the same token, a new role
    dash.tokens.principals = [*others, demoted]
    assert (await client.get("/api/me")).json()["role"] == "analyst"
    assert (await client.get("/api/board")).status_code == 403
    rotated, replacement = new_token("sup", Role.SUPERVISOR, ["*"])  # the same name, a new token
    dash.tokens.principals = [*others, replacement]
    assert (await client.get("/api/me")).status_code == 401  # the session was opened with the old token
    assert (await sign_in(client, rotated)).status_code == 303
    assert (await client.get("/api/me")).json()["name"] == "sup"
    dash.tokens.principals = others  # taken out
    assert (await client.get("/api/me")).status_code == 401


async def test_signing_in_again_gives_a_new_session_and_ends_the_old(dash: Dashboard, client) -> None:
    await signed_in(dash, client)
    first = client.cookies[COOKIE]
    await signed_in(dash, client, "analyst")
    second = client.cookies[COOKIE]
    assert first != second
    client.cookies.set(COOKIE, first)
    assert (await client.get("/api/me")).status_code == 401


async def test_failed_sign_ins_are_audited_and_limited_per_address(dash: Dashboard) -> None:
    async with dash.client(peer=("127.0.0.7", 1)) as mallory, dash.client(peer=("127.0.0.8", 1)) as alice:
        answers = [(await sign_in(mallory, f"cw_guess-{i}")).status_code for i in range(40)]
        assert answers == [401] * 10 + [429] * 30
        limited = await sign_in(mallory, dash.token["sup"])  # even the right token, for now
        assert limited.status_code == 429 and limited.headers["retry-after"] == "60"
        assert "Too many failed sign-ins" in limited.text
        assert (await sign_in(alice, dash.token["sup"])).status_code == 303  # another address
    failed = [a for a in dash.audited() if a["action"] == "session.sign_in_failed"]
    assert len(failed) == 41
    assert {(a["actor"]["id"], a["actor"]["role"], a["outcome"], a["via"]) for a in failed} == {
        ("anonymous", "anonymous", "refused", "dashboard_page")}
    assert not [a for a in dash.audited() if "cw_guess" in json.dumps(a)]


async def test_the_auditor_reads_nothing_but_the_trail(dash: Dashboard, client) -> None:
    response = await sign_in(client, dash.token["auditor"])
    assert response.headers["location"] == "/audit"
    for path in ("/api/me", "/api/board", "/api/cases", "/api/cases/case-1", "/api/aggregates", "/api/events"):
        assert (await client.get(path)).status_code == 403, path
    for path in ("/", "/aggregates"):
        assert (await client.get(path)).headers["location"] == "/audit", path
    bearer = {"Authorization": f"Bearer {dash.token['auditor']}"}
    assert (await client.get("/api/board", headers=bearer)).status_code == 403


ROLE_CHECKS: list[tuple[str, Callable[[Principal], bool]]] = [
    ("sees_cases", lambda p: p.sees_cases), ("reads_aggregates", lambda p: p.reads_aggregates),
    ("audits", lambda p: p.audits)]


def test_what_each_role_may_read(dash: Dashboard) -> None:
    table = {name: tuple(check(dash.principal[name]) for _, check in ROLE_CHECKS) for name in ROLES}
    assert table == {"sup": (True, True, False), "spec": (True, False, False),
                     "analyst": (False, True, False), "auditor": (False, False, True)}
    auditor = dash.principal["auditor"]
    assert not auditor.may_see("TX-DPS", None) and not auditor.may_count("TX-DPS")
    assert dash.principal["spec"].actor_id == "sp-1" and dash.principal["sup"].actor_id == "sup"


def test_an_entry_names_the_configured_token_not_the_principal(dash: Dashboard) -> None:
    _, same_name = new_token("sup", Role.SUPERVISOR, ["*"])
    assert same_name.entry != dash.principal["sup"].entry
    assert dash.tokens.signed_in("sup", dash.principal["sup"].entry) == dash.principal["sup"]
    assert dash.tokens.signed_in("sup", same_name.entry) is None
    assert dash.tokens.signed_in("spec", dash.principal["sup"].entry) is None



async def test_a_refused_page_is_a_page_with_the_way_back_and_the_api_stays_json(dash: Dashboard, client) -> None:
    assert (await sign_in(client, dash.token["auditor"])).status_code == 303
    browser = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    page = await client.get("/cases/case-1", headers=browser)
    assert page.status_code == 403 and page.headers["content-type"].startswith("text/html")
    assert "Not yours to see" in page.text and "outside the token&#39;s scope" in page.text
    assert 'href="/audit"' in page.text and "Sign out" in page.text  # still signed in, the nav kept
    assert page.headers["cache-control"] == "no-store"
    script = await client.get("/cases/case-1")
    assert script.status_code == 403 and script.json() == {"detail": "this case is outside the token's scope"}
    api = await client.get("/api/cases/case-1", headers=browser)
    assert api.status_code == 403 and api.headers["content-type"] == "application/json"
    async with dash.client() as stranger:
        anonymous = await stranger.get("/cases/case-1", headers=browser)
        assert anonymous.status_code == 303 and anonymous.headers["location"] == "/login"
