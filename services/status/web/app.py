"""The dashboard application, served by the status service on ``CASEWORK_DASHBOARD_PORT``.

It also answers the kit's ``/healthz`` and ``/metrics``, and a ``/readyz`` that waits for
the board to have caught up with ``cases.status``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from shared import environment
from shared.audit import AuditTrail
from shared.kit.ops import ops_routes

from ..identity import IdentityReader
from . import actions, api, disclosures, pages
from .auth import FailureLimit, SessionCookies

# Everything from this origin only: no CDN, no inline script, nothing framed elsewhere.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def create_dashboard(service: Any, *, tokens: Any, views: Any, broadcaster: Any, feed: Any, cases: Any,
                     alerts: Any, sessions: Any, trail: Any, identity: IdentityReader | None = None,
                     providers: Any = None) -> FastAPI:
    settings = service.settings
    app = FastAPI(title="casework status dashboard", version="1.0.0", openapi_url="/api/openapi.json",
                  docs_url=None, redoc_url=None,
                  description="Case status for supervisors and specialists; aggregates for analysts; the "
                              "audit trail for auditors. Every call needs `Authorization: Bearer <token>`, or "
                              "a signed-in browser's session cookie (then a state-changing call also needs "
                              "the session's `X-CSRF-Token` header).")
    app.state.tokens, app.state.views, app.state.broadcaster = tokens, views, broadcaster
    app.state.cases, app.state.alerts, app.state.trail = cases, alerts, trail
    app.state.providers = providers
    app.state.sessions, app.state.clock = sessions, service.clock
    app.state.sign_in_limit = FailureLimit(settings.status.sign_in_failures_per_minute)
    app.state.disclosure_limit = FailureLimit(settings.status.sign_in_failures_per_minute, "disclosure")
    # Every view and action on a case, granted or refused, is recorded on audit.events.
    app.state.audit = AuditTrail(service.publisher, source=service.source, clock=service.clock)
    app.state.publisher = service.publisher  # the dashboard's actions publish inbound events
    # The identity path: intake's vault decides and audits; built now so that a missing
    # credential in production stops the dashboard at start, not at the first read.
    app.state.identity = identity or IdentityReader.from_settings(settings, httpx.AsyncClient(timeout=10))
    app.include_router(api.router)
    app.include_router(actions.router)
    app.include_router(pages.router)
    app.include_router(disclosures.router)
    app.add_exception_handler(StarletteHTTPException, pages.page_error)
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    kit = {route.path: route for route in ops_routes(service)}
    app.router.routes.append(kit["/healthz"])
    app.router.routes.append(kit["/metrics"])
    app.router.routes.append(Route("/readyz", _readiness(kit["/readyz"].endpoint, feed)))

    app.add_middleware(SessionCookies, store=sessions, idle_seconds=settings.status.session_idle_seconds,
                       production=environment.production(settings))
    app.add_middleware(SecurityHeaders)
    return app


class SecurityHeaders:
    """Plain ASGI (not BaseHTTPMiddleware), so event streams pass through untouched."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        cacheable = scope["path"].startswith("/static/")

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
                if not cacheable and "cache-control" not in headers:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _readiness(kit_readyz: Any, feed: Any) -> Any:
    async def readyz(request: Request) -> Response:
        response = await kit_readyz(request)
        if response.status_code == 200 and feed.caught_up.is_set():
            body = json.loads(response.body) | {"board": {"cases": len(feed.board.rows), "records_read": feed.read,
                                                          "caught_up_after_seconds": feed.caught_up_after}}
            return JSONResponse(body)
        return JSONResponse({"ready": False, "checks": {"service": response.status_code == 200,
                                                        "board_caught_up": feed.caught_up.is_set()}},
                            status_code=503)
    return readyz
