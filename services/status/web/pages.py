"""The dashboard's HTML pages: login, board, case page, aggregates. Plain HTML, a little JS."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from shared.contracts.common import UrgentNeed
from shared.contracts.inbound import ClosureReason, DeclineReason, ReassignmentReason, ReopenReason

from .. import alerts, casefile
from ..access import Principal
from ..permissions import allowed
from ..views import STAGES
from . import charts
from .api import readable_view
from .auth import COOKIE, principal_of

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")


def when(value: Any) -> str:
    """An instant as UTC minutes, e.g. 2026-11-30 08:30 UTC."""
    if not value:
        return "—"
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    minutes, rest = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {rest:02d} s" if minutes else f"{rest} s"


templates.env.filters.update(when=when, duration=duration)


def render_card(card: dict[str, Any]) -> str:
    """A board card's HTML: the page and the live updates share the one template."""
    return str(templates.get_template("_card.html").module.card(card))  # type: ignore[attr-defined]  # a template's macros are attributes jinja2 makes at run time


# The choices the case page's forms offer: the contract's enumerations, nothing typed freely.
VOCABULARY = {"decline": [r.value for r in DeclineReason], "close": [r.value for r in ClosureReason],
              "reopen": [r.value for r in ReopenReason], "reassign": [r.value for r in ReassignmentReason],
              "needs": [n.value for n in UrgentNeed]}

STAGE_TITLES = {"referral": "Waiting for a specialist", "engaged": "Engaged", "stabilizing": "Stabilizing",
                "interview_cleared": "Interview cleared", "closed": "Closed"}


def _page(request: Request, name: str, principal: Principal | None, **context: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, name, {"me": principal, "stage_titles": STAGE_TITLES, **context})


def _signed_in(request: Request) -> Principal:
    principal = principal_of(request)
    if principal is None:
        raise HTTPException(303, headers={"Location": "/login"})
    return principal


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request) -> HTMLResponse:
    return _page(request, "login.html", None, failed=False)


@router.post("/login")
async def login(request: Request) -> Response:
    token = await _form_token(request)
    principal = request.app.state.tokens.authenticate(token)
    if principal is None:
        return _page(request, "login.html", None, failed=True)
    response = RedirectResponse("/" if principal.sees_cases else "/aggregates", status_code=303)
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict", path="/",
                        secure=request.app.state.secure_cookies, max_age=12 * 3600)
    return response


async def _form_token(request: Request) -> str:
    """The login form's one field (a urlencoded body; no multipart parser needed)."""
    body = await request.body()
    if len(body) > 2048:
        return ""
    return (parse_qs(body.decode(errors="replace")).get("token") or [""])[0].strip()


@router.post("/logout")
async def logout() -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/", response_class=HTMLResponse)
async def board(request: Request) -> Response:
    principal = _signed_in(request)
    if not principal.sees_cases:
        return RedirectResponse("/aggregates", status_code=303)
    view = request.app.state.views.board_view(principal, 25)
    recent = await alerts.recent(request.app.state.alerts, principal)
    return _page(request, "board.html", principal, board=view, stages=STAGES, alerts=recent)


@router.get("/cases/{case_id}", response_class=HTMLResponse)
async def case_page(request: Request, case_id: str) -> Response:
    principal = _signed_in(request)
    view = await readable_view(request, principal, case_id, via="page")
    detail = casefile.document(view)
    return _page(request, "case.html", principal, detail=detail, case=detail["case"],
                 actions=sorted(allowed(principal, view)), vocabulary=VOCABULARY)


@router.get("/aggregates", response_class=HTMLResponse)
async def aggregates(request: Request) -> Response:
    principal = _signed_in(request)
    if principal.role == "specialist":
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
