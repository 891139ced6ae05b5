"""The dashboard's HTML pages: sign-in and sign-out, board, case page, aggregates, the audit
trail. Plain HTML, a little JS."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, HTTPException, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared import consent
from shared.consent import Consent, Uncovered
from shared.contracts.audit import AuditAction
from shared.contracts.common import UrgentNeed
from shared.contracts.inbound import (
    ClosureReason,
    ConsentScope,
    DeclineReason,
    ProviderKind,
    ReassignmentReason,
    ReopenReason,
)

from .. import alerts, casefile, providers, sharing, trail
from ..access import Principal
from ..permissions import CaseAction, allowed
from ..state import CaseView
from ..views import STAGES
from . import charts
from .api import read_trail, readable_view
from .auth import (
    CSRF_FIELD,
    CSRF_HEADER,
    LEGACY_COOKIE,
    PAGE,
    FailureLimit,
    begin_session,
    client_address,
    credentials,
    csrf_matches,
    csrf_token,
    end_session,
    record,
)

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")


def when(value: Any) -> str:
    """An instant as UTC minutes, e.g. 2026-11-30 08:30 UTC."""
    if not value:
        return "—"
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def instant(value: Any) -> str:
    """An instant as UTC seconds, for the audit trail: 2026-11-30 08:30:05 UTC."""
    return datetime.fromisoformat(str(value)).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    minutes, rest = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {rest:02d} s" if minutes else f"{rest} s"


templates.env.filters.update(when=when, instant=instant, duration=duration)


def render_card(card: dict[str, Any]) -> str:
    """A board card's HTML: the page and the live updates share the one template."""
    return str(templates.get_template("_card.html").module.card(card))  # type: ignore[attr-defined]  # a template's macros are attributes jinja2 makes at run time


# The choices the case page's forms offer: the contract's enumerations, nothing typed freely.
VOCABULARY = {"decline": [r.value for r in DeclineReason], "close": [r.value for r in ClosureReason],
              "reopen": [r.value for r in ReopenReason], "reassign": [r.value for r in ReassignmentReason],
              "needs": [n.value for n in UrgentNeed], "kinds": [k.value for k in ProviderKind],
              "scopes": [c.value for c in ConsentScope]}

STAGE_TITLES = {"referral": "Waiting for a specialist", "engaged": "Engaged", "stabilizing": "Stabilizing",
                "interview_cleared": "Interview cleared", "closed": "Closed"}


def _page(request: Request, name: str, principal: Principal | None, status_code: int = 200,
          headers: dict[str, str] | None = None, **context: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, name, {"me": principal, "stage_titles": STAGE_TITLES,
                                                      "csrf": csrf_token(request), **context},
                                      status_code=status_code, headers=headers)


ERROR_TITLES = {400: "This request cannot be read", 403: "Not yours to see", 404: "No such page",
                429: "Too many attempts"}


async def page_error(request: Request, exc: Exception) -> Response:
    """A page's refusal as a page a person can read (with the way back); the JSON API, the
    event stream and redirects answer as FastAPI does."""
    assert isinstance(exc, StarletteHTTPException)  # registered for these only
    html = "text/html" in request.headers.get("accept", "")
    if not html or exc.status_code not in ERROR_TITLES or request.url.path.startswith(("/api/", "/static/")):
        return await http_exception_handler(request, exc)
    try:
        found = await credentials(request)
    except Exception:  # the sessions store down: the refusal is shown all the same
        found = None
    return _page(request, "error.html", found.principal if found else None, status_code=exc.status_code,
                 title=ERROR_TITLES[exc.status_code], detail=str(exc.detail),
                 headers=dict(exc.headers) if exc.headers else None)


async def _signed_in(request: Request) -> Principal:
    found = await credentials(request)
    if found is None:
        raise HTTPException(303, headers={"Location": "/login"})
    return found.principal


def home(principal: Principal) -> str:
    """Where a principal lands after signing in."""
    if principal.audits:
        return "/audit"
    return "/" if principal.sees_cases else "/aggregates"


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request) -> HTMLResponse:
    return _page(request, "login.html", None, failed=False)


@router.post("/login")
async def login(request: Request) -> Response:
    """Sign in: a token for a session. Failures are audited and limited per client address."""
    limit: FailureLimit = request.app.state.sign_in_limit
    address = client_address(request)
    if not await limit.allows(address):
        await record(request, None, AuditAction.SIGN_IN_FAILED, False, via=PAGE)
        refused = _page(request, "login.html", None, status_code=429, limited=True)
        refused.headers["Retry-After"] = "60"
        return refused
    principal = request.app.state.tokens.authenticate(await _form_field(request, "token"))
    if principal is None:
        await limit.failed(address)
        await record(request, None, AuditAction.SIGN_IN_FAILED, False, via=PAGE)
        return _page(request, "login.html", None, status_code=401, failed=True)
    await begin_session(request, principal)
    await record(request, principal, AuditAction.SIGNED_IN, True, via=PAGE)
    response = RedirectResponse(home(principal), status_code=303)
    response.delete_cookie(LEGACY_COOKIE, path="/")
    return response


async def _form_field(request: Request, name: str) -> str:
    """One field of a small urlencoded form (no multipart parser needed)."""
    body = await request.body()
    if len(body) > 2048:
        return ""
    return (parse_qs(body.decode(errors="replace")).get(name) or [""])[0].strip()


@router.post("/logout")
async def logout(request: Request) -> Response:
    """Sign out: the session ends on the server and its event streams close. The session's
    CSRF token comes in the form (``csrf_token``) or the ``X-CSRF-Token`` header."""
    found = await credentials(request)
    if found is not None and found.session_id is not None:
        presented = request.headers.get(CSRF_HEADER) or await _form_field(request, CSRF_FIELD)
        if not csrf_matches(found, presented):
            raise HTTPException(403, f"signing out needs the session's {CSRF_FIELD} (or {CSRF_HEADER})")
        await end_session(request)
        await record(request, found.principal, AuditAction.SIGNED_OUT, True, via=PAGE)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(LEGACY_COOKIE, path="/")
    return response


@router.get("/", response_class=HTMLResponse)
async def board(request: Request) -> Response:
    principal = await _signed_in(request)
    if not principal.sees_cases:
        return RedirectResponse(home(principal), status_code=303)
    view = request.app.state.views.board_view(principal, 25)
    recent = await alerts.recent(request.app.state.alerts, principal)
    return _page(request, "board.html", principal, board=view, stages=STAGES, alerts=recent)


@router.get("/cases/{case_id}", response_class=HTMLResponse)
async def case_page(request: Request, case_id: str) -> Response:
    principal = await _signed_in(request)
    view = await readable_view(request, principal, case_id, via=PAGE)
    detail, now = casefile.document(view), request.app.state.clock.now()
    return _page(request, "case.html", principal, detail=detail, case=detail["case"],
                 actions=sorted(allowed(principal, view)), vocabulary=VOCABULARY,
                 services=await service_lines(request, view, principal, now),
                 consents=consent_lines(view, principal, now))


CONSENT_STATES = {None: "in force", Uncovered.REVOKED: "revoked", Uncovered.EXPIRED: "expired",
                  Uncovered.NOT_YET: "not yet", Uncovered.NOT_WRITTEN: "recorded (verbal: discloses nothing)",
                  Uncovered.NO_CONSENT: "none"}


def consent_lines(view: CaseView, principal: Principal, now: datetime) -> list[dict[str, Any]] | None:
    """The case's consents and whether each is in force, for the accepting specialist only."""
    if CaseAction.RECORD_CONSENT not in allowed(principal, view):
        return None
    def state(line: Consent) -> str:
        return CONSENT_STATES[consent.reason(line, view.revoked_consents, now)]
    return [line.model_dump(mode="json") | {"state": state(line)}
            for line in sorted(view.consents.values(), key=lambda c: (c.given_at, c.consent_id))]


async def service_lines(request: Request, view: CaseView, principal: Principal,
                        now: datetime) -> list[dict[str, Any]] | None:
    """The case's service requests with their providers and what each shares with its
    provider now (scope by scope, or why not), for the specialist who accepted the case only
    (a shelter's identity may put a person in danger); None for anyone else, who sees the
    needs and statuses of the snapshot."""
    if CaseAction.REQUEST_SERVICE not in allowed(principal, view):
        return None
    lines = sorted(view.services.values(), key=lambda s: (s.requested_at, s.service_request_id))
    wanted = {line.provider_id for line in lines} | {line.next_provider_id for line in lines if line.next_provider_id}
    names = await providers.names(request.app.state.providers, wanted)
    return [line.model_dump(mode="json") | {"provider": names.get(line.provider_id, line.provider_id),
                                            "next_provider": names.get(line.next_provider_id or "",
                                                                       line.next_provider_id),
                                            "sharing": [s.model_dump(mode="json")
                                                        for s in sharing.sharing(view, line, now)]}
            for line in lines]


@router.get("/aggregates", response_class=HTMLResponse)
async def aggregates(request: Request) -> Response:
    principal = await _signed_in(request)
    if principal.audits:
        return RedirectResponse(home(principal), status_code=303)
    if not principal.reads_aggregates:
        raise HTTPException(403, "aggregates are for supervisors and analysts")
    data = request.app.state.views.aggregates(principal)
    timing = {f"{label} {p}": charts.minutes(data[key][f"{p}_seconds"])
              for label, key in (("assignment", "time_to_assignment"), ("acceptance", "time_to_acceptance"))
              for p in ("p50", "p90") if data[key][f"{p}_seconds"] is not None}  # no cases yet: no bar
    sla = data["sla"]
    figures = [
        charts.stacked("Cases by stage and priority", {STAGE_TITLES[s]: v for s, v in data["by_stage"].items()}),
        charts.bars(f"Time to assignment and to acceptance, minutes (cases opened in the last "
                    f"{data['window_days']} days)", timing, unit=" min"),
        charts.bars("Deadlines", {"overdue acknowledgements": sla["overdue"], "escalated now": sla["escalated"],
                                  "unassigned now": sla["unassigned"],
                                  "unassigned re-alerts": sla["unassigned_realerts"],
                                  "need a new holder": sla["needs_holder"],
                                  "missed acknowledgements": sla["missed_acknowledgements"],
                                  "HHS notice due": sla["hhs_due"], "HHS notice overdue": sla["hhs_overdue"],
                                  "CP expiring": sla["cp_expiring"], "CP expired": sla["cp_expired"]}, color="#b3261e"),
        charts.bars("Open urgent needs", data["urgent_needs_open"], color="#d97706"),
        charts.bars("Closed cases by reason", {r.replace("_", " "): v for r, v in data["closed_by_reason"].items()}),
    ]
    return _page(request, "aggregates.html", principal, data=data, figures=figures)


@router.get("/audit", response_class=HTMLResponse)
async def audit(request: Request) -> Response:
    """The audit trail for auditors: filters by case, actor and time, newest first (audited)."""
    principal = await _signed_in(request)
    try:
        query = trail.TrailQuery.parse(request.query_params)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    page = await read_trail(request, principal, query, via=PAGE)
    shown = {k: v for k, v in request.query_params.items() if k in trail.FILTERS and v}

    def link(offset: int) -> str:
        return "/audit?" + urlencode({**shown, "limit": query.limit, "offset": max(0, offset)})

    return _page(request, "audit.html", principal, page=page, filters=shown,
                 newer=link(query.offset - query.limit) if query.offset else None,
                 older=link(query.offset + query.limit) if page["more"] else None)
