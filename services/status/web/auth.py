"""Who is asking: a bearer token for the API's clients, a server-side session for browsers.

* ``Authorization: Bearer <token>``: no session and no CSRF token; a missing or unknown
  token is 401.
* A browser signs in on the login form with its token and gets a session
  (:mod:`..sessions`): a random id in an ``HttpOnly``, ``SameSite=Strict`` cookie,
  ``Secure`` unless the request is on loopback (always in production). The session names
  the token's entry, and the principal is looked up again in the configured tokens on every
  request: a token taken out of ``CASEWORK_DASHBOARD_TOKENS`` (or replaced) ends its
  sessions at the next request.
* CSRF: a state-changing request authenticated by the cookie carries the session's CSRF
  token in ``X-CSRF-Token`` (pages have it in ``<meta name="csrf-token">``), compared in
  constant time; without it, 403.
* Failed sign-ins are limited per client address (a moving minute); past the limit, 429.

Roles: an auditor reads the audit trail and nothing else (``require_principal`` and what
builds on it refuse auditors).
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException, Request
from limits import RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter
from pydantic import ValidationError
from starlette.requests import HTTPConnection
from starsessions import SessionMiddleware, SessionStore, get_session_id, load_session, regenerate_session_id

from shared.audit import AuditTrail
from shared.contracts.audit import AuditAction, AuditOutcome, AuditRole

from ..access import Principal, Tokens
from ..sessions import SessionState

COOKIE = "casework_session"
LEGACY_COOKIE = "casework_token"  # the raw token, as browsers kept it before sessions: deleted on sight
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"  # the sign-out form's hidden field
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
API, PAGE = "dashboard_api", "dashboard_page"  # ``via`` on the audit trail
ANONYMOUS = "anonymous"


# -- the cookie ---------------------------------------------------------------------------

def _loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def on_loopback(scope: Any) -> bool:
    """Both ends are this machine: the host the request was sent to and the peer it came from."""
    connection = HTTPConnection(scope)
    client = scope.get("client")
    return _loopback(connection.url.hostname or "") and (not client or _loopback(str(client[0])))


def secure_cookie(scope: Any, production: bool) -> bool:
    """``Secure`` unless the cookie never leaves this machine in the clear."""
    return production or scope.get("scheme") == "https" or not on_loopback(scope)


class SessionCookies:
    """starsessions' middleware with the cookie's ``Secure`` flag chosen per request."""

    def __init__(self, app: Any, *, store: SessionStore, idle_seconds: int, production: bool) -> None:
        def middleware(secure: bool) -> SessionMiddleware:
            # rolling: each response moves the cookie's max-age on by the idle lifetime; the
            # store ends the session on its own clock (idle and absolute).
            return SessionMiddleware(app, store=store, lifetime=idle_seconds, rolling=True, cookie_name=COOKIE,
                                     cookie_same_site="strict", cookie_https_only=secure)

        self.app, self.production = app, production
        self.secure, self.plain = middleware(True), middleware(False)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        chosen = self.secure if secure_cookie(scope, self.production) else self.plain
        await chosen(scope, receive, send)


# -- who is asking ------------------------------------------------------------------------

@dataclass(frozen=True)
class Credentials:
    principal: Principal
    session_id: str | None = None  # None: a bearer token
    csrf: str | None = None


def bearer_token(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


async def credentials(request: Request) -> Credentials | None:
    """The request's principal, and its session if it came with the cookie (once per request)."""
    if "credentials" not in request.scope.setdefault("casework", {}):
        request.scope["casework"]["credentials"] = await _credentials(request)
    found: Credentials | None = request.scope["casework"]["credentials"]
    return found


async def _credentials(request: Request) -> Credentials | None:
    tokens: Tokens = request.app.state.tokens
    bearer = bearer_token(request)
    if bearer is not None:  # a bearer header decides alone, whatever cookie comes along
        principal = tokens.authenticate(bearer)
        return Credentials(principal) if principal is not None else None
    if not request.cookies.get(COOKIE):
        return None
    await load_session(request)
    session_id = get_session_id(request)
    state = _state(request.session)
    principal = tokens.signed_in(state.principal, state.entry) if state is not None else None
    if state is None or principal is None or session_id is None:
        if request.session:  # its token was removed or replaced
            await _end(request, session_id)
        return None
    request.session["seen_at"] = request.app.state.clock.now().isoformat()
    return Credentials(principal, session_id, state.csrf)


def _state(data: dict[str, Any]) -> SessionState | None:
    try:
        return SessionState.model_validate(data) if data else None
    except ValidationError:
        return None


async def session_of(request: Request) -> str | None:
    """The id of the session the request came in (None: a bearer token, or not signed in);
    an event stream is kept under it, so that the session's end closes the stream."""
    found = await credentials(request)
    return found.session_id if found is not None else None


def csrf_token(request: Request) -> str | None:
    """The CSRF token of the request's session, once its credentials are known (for pages)."""
    found = request.scope.get("casework", {}).get("credentials")
    return found.csrf if found is not None else None


def csrf_matches(found: Credentials, presented: str | None) -> bool:
    """A bearer token needs none; a session's request must carry the session's own."""
    if found.session_id is None:
        return True
    return bool(presented) and found.csrf is not None and hmac.compare_digest(
        str(presented).encode(), found.csrf.encode())


# -- signing in and out -------------------------------------------------------------------

async def begin_session(request: Request, principal: Principal) -> str:
    """A new session for ``principal`` (a session the browser had before ends: a new id
    every sign-in). The response sets its cookie."""
    await load_session(request)
    previous = get_session_id(request)
    if previous and request.session:
        await _end(request, previous)
    session_id = regenerate_session_id(request)
    now = request.app.state.clock.now()
    state = SessionState(principal=principal.name, entry=principal.entry, csrf=secrets.token_urlsafe(32),
                         created_at=now, seen_at=now)
    request.session.clear()
    request.session.update(state.model_dump(mode="json"))
    request.scope.setdefault("casework", {})["credentials"] = Credentials(principal, session_id, state.csrf)
    return session_id


async def end_session(request: Request) -> Credentials | None:
    """Sign out: the request's session ends on the server and its event streams close."""
    found = await credentials(request)
    if found is not None and found.session_id is not None:
        await _end(request, found.session_id)
    return found


async def _end(request: Request, session_id: str | None) -> None:
    if session_id:
        store: SessionStore = request.app.state.sessions
        await store.remove(session_id)
        request.app.state.broadcaster.end_session(session_id)
    request.session.clear()  # the response deletes the cookie


class FailureLimit:
    """Failures per client address in a moving minute (in this process's memory): failed
    sign-ins, disclosure links that were not valid."""

    def __init__(self, failures_per_minute: int, what: str = "sign-in") -> None:
        self.item = RateLimitItemPerMinute(failures_per_minute)
        self.limiter = MovingWindowRateLimiter(MemoryStorage())
        self.what = what

    async def allows(self, address: str) -> bool:
        return await self.limiter.test(self.item, self.what, address)

    async def failed(self, address: str) -> None:
        await self.limiter.hit(self.item, self.what, address)



def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


# -- the audit trail ----------------------------------------------------------------------

async def record(request: Request, principal: Principal | None, action: AuditAction, granted: bool, *,
                 via: str, case_id: str | None = None) -> None:
    """Put what was read or done on ``audit.events`` (acknowledged before the caller goes on)."""
    trail: AuditTrail = request.app.state.audit
    await trail.record(actor_id=principal.actor_id if principal else ANONYMOUS,
                       role=principal.role if principal else AuditRole.ANONYMOUS, action=action,
                       outcome=AuditOutcome.GRANTED if granted else AuditOutcome.REFUSED, via=via, case_id=case_id)


# -- the routes' dependencies -------------------------------------------------------------

def _unauthenticated() -> HTTPException:
    return HTTPException(401, "a valid API token or session is required", headers={"WWW-Authenticate": "Bearer"})


def _no_csrf() -> HTTPException:
    return HTTPException(403, f"a signed-in browser's request must carry its session's {CSRF_HEADER} header")


async def authenticated(request: Request) -> Principal:
    """Any principal, an auditor too (the audit trail's routes check the role themselves)."""
    found = await credentials(request)
    if found is None:
        raise _unauthenticated()
    if request.method not in SAFE_METHODS and not csrf_matches(found, request.headers.get(CSRF_HEADER)):
        raise _no_csrf()
    return found.principal


async def require_principal(request: Request) -> Principal:
    """FastAPI dependency of every API route but the audit trail's: an auditor is refused."""
    principal = await authenticated(request)
    if principal.audits:
        raise HTTPException(403, "an auditor's token reads the audit trail only")
    return principal


async def require_case_reader(request: Request) -> Principal:
    principal = await require_principal(request)
    if not principal.sees_cases:
        raise HTTPException(403, "this token may read aggregates only")
    return principal


async def require_aggregate_reader(request: Request) -> Principal:
    principal = await require_principal(request)
    if not principal.reads_aggregates:
        raise HTTPException(403, "aggregates are for supervisors and analysts")
    return principal


async def require_actor(request: Request) -> Principal:
    """The dependency of the routes that act on a case: 401 without valid credentials, 403
    for a session's request without its CSRF token (whatever the method). Who may act is the
    routes' own decision (an analyst's or auditor's attempt is refused there, and audited)."""
    found = await credentials(request)
    if found is None:
        raise _unauthenticated()
    if not csrf_matches(found, request.headers.get(CSRF_HEADER)):
        raise _no_csrf()
    return found.principal
