"""The JSON API behind the dashboard (documented by OpenAPI at ``/api/openapi.json``)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from sse_starlette import EventSourceResponse

from shared.contracts.audit import AuditAction
from shared.contracts.common import LANGUAGE_PATTERN, REGION_PATTERN
from shared.contracts.inbound import ProviderKind
from shared.contracts.status import Stage

from .. import alerts, casefile, providers, trail
from ..access import Principal
from ..feed import ENDED
from ..permissions import allowed
from ..state import CaseView
from ..views import Views
from .auth import (
    API,
    authenticated,
    record,
    require_actor,
    require_aggregate_reader,
    require_case_reader,
    require_principal,
    session_of,
)
from .schemas import Aggregates, AuditPage, BoardView, CaseDetail, CaseList, Me, ProviderList

router = APIRouter(prefix="/api")
Reader = Annotated[Principal, Depends(require_case_reader)]
Counter = Annotated[Principal, Depends(require_aggregate_reader)]
Anyone = Annotated[Principal, Depends(require_principal)]
Signed = Annotated[Principal, Depends(authenticated)]  # an auditor too
Actor = Annotated[Principal, Depends(require_actor)]


def views(request: Request) -> Views:
    return request.app.state.views


@router.get("/me", response_model=Me, summary="Who the token belongs to and what it may see")
async def me(principal: Anyone) -> dict[str, Any]:
    return principal.public()


@router.get("/board", response_model=BoardView, summary="Cases by stage, most urgent first, with the attention counts")
async def board(request: Request, principal: Reader,
                per_stage: Annotated[int, Query(ge=1, le=200)] = 25) -> dict[str, Any]:
    view = views(request).board_view(principal, per_stage)
    return view | {"alerts": await alerts.recent(request.app.state.alerts, principal)}


@router.get("/providers", response_model=ProviderList,
            summary="The support-service providers a specialist may pick, by kind, region and language")
async def provider_directory(request: Request, principal: Actor, kind: ProviderKind | None = None,
                             region: Annotated[str | None, Query(pattern=REGION_PATTERN)] = None,
                             language: Annotated[str | None, Query(max_length=35, pattern=LANGUAGE_PATTERN)] = None,
                             ) -> dict[str, Any]:
    if not principal.sees_cases:
        raise HTTPException(403, "the provider directory is for specialists and supervisors")
    query = providers.ProviderQuery(kind=kind, region=region, language=language)
    return {"items": await providers.find(request.app.state.providers, query)}


@router.get("/cases", response_model=CaseList, summary="One stage's cases, a page at a time")
async def cases(request: Request, principal: Reader, stage: Stage = Stage.REFERRAL,
                limit: Annotated[int, Query(ge=1, le=200)] = 50,
                offset: Annotated[int, Query(ge=0, le=100_000)] = 0) -> dict[str, Any]:
    return views(request).cases(principal, stage.value, limit, offset)


@router.get("/cases/{case_id}", response_model=CaseDetail, summary="One case: snapshot and timeline (audited)")
async def case(request: Request, principal: Anyone, case_id: str) -> dict[str, Any]:
    return await readable_case(request, principal, case_id, via=API)


async def readable_case(request: Request, principal: Principal, case_id: str, *, via: str) -> dict[str, Any]:
    """The case if this reader may see it: 403 outside their scope, 404 only for all-agency readers."""
    return casefile.document(await readable_view(request, principal, case_id, via=via))


async def readable_view(request: Request, principal: Principal, case_id: str, *, via: str) -> CaseView:
    """The case's view if this reader may see it; the view, or its refusal, is on the audit
    trail before the answer goes out."""
    wanted = case_id[:128]
    view = await casefile.load(request.app.state.cases, wanted) if principal.sees_cases else None
    opened = view.opened if view is not None else None  # a loaded view is always opened
    visible = view is not None and opened is not None and (
        principal.may_see(opened.agency_id, view.referral.specialist_id) or bool(allowed(principal, view)))
    casefile.audit(wanted, viewer=principal.name, role=principal.role, via=via, allowed=visible)
    await record(request, principal, AuditAction.CASE_VIEWED if visible else AuditAction.CASE_VIEW_REFUSED,
                 visible, via=via, case_id=wanted)
    if view is None and principal.all_agencies and principal.role == "supervisor":
        raise HTTPException(404, "no such case")
    if view is None or not visible:
        raise HTTPException(403, "this case is outside the token's scope")
    return view


@router.get("/aggregates", response_model=Aggregates,
            summary="Times to assignment and acceptance (p50/p90), SLA breaches, open urgent needs")
async def aggregates(request: Request, principal: Counter) -> dict[str, Any]:
    return views(request).aggregates(principal)


@router.get("/events", summary="Live changes as server-sent events: case, gone, stats, reload",
            response_class=EventSourceResponse)
async def events(request: Request, principal: Anyone) -> EventSourceResponse:
    """A browser's stream is kept under its session: signing out, or the session's expiry,
    ends it with an ``ended`` event."""
    broadcaster = request.app.state.broadcaster
    subscriber = broadcaster.subscribe(principal, await session_of(request))

    async def stream() -> AsyncIterator[dict[str, Any]]:
        try:
            yield {"event": "hello", "data": json.dumps({"role": principal.role})}
            while True:
                message = await subscriber.queue.get()
                yield message
                if message is ENDED:
                    return
        finally:
            broadcaster.unsubscribe(subscriber)

    return EventSourceResponse(stream(), ping=15, headers={"Cache-Control": "no-store"})


@router.get("/audit", response_model=AuditPage,
            summary="The audit trail, newest first, by case, actor and time (auditors only; audited)")
async def audit(request: Request, principal: Signed,
                case_id: Annotated[str | None, Query(max_length=128)] = None,
                actor: Annotated[str | None, Query(max_length=128, description="an actor's id")] = None,
                since: Annotated[datetime | None, Query(description="from this time on (UTC if no zone)")] = None,
                until: Annotated[datetime | None, Query(description="up to this time (UTC if no zone)")] = None,
                limit: Annotated[int, Query(ge=1, le=trail.MAX_LIMIT)] = 100,
                offset: Annotated[int, Query(ge=0, le=trail.MAX_OFFSET)] = 0) -> dict[str, Any]:
    query = trail.TrailQuery(case_id=case_id, actor=actor, since=since, until=until, limit=limit, offset=offset)
    return await read_trail(request, principal, query, via=API)


async def read_trail(request: Request, principal: Principal, query: trail.TrailQuery, *, via: str) -> dict[str, Any]:
    """One page of the trail for an auditor; anyone else is refused. Either is on the trail
    itself first (``audit.viewed``, with the case when the view was of one case's records)."""
    await record(request, principal, AuditAction.AUDIT_VIEWED, principal.audits, via=via, case_id=query.case_id)
    if not principal.audits:
        raise HTTPException(403, "the audit trail is for auditors")
    items, more = await trail.find(request.app.state.trail, query)
    return {"items": items, "limit": query.limit, "offset": query.offset, "more": more}
