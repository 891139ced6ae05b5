"""The provider's side of disclosure (docs/design.md, Disclosure): the page a provider's
notice links to, and the API it (or the provider's own system) reads through.

``GET /disclosures/{service_request_id}`` is a page with no sign-in: the capability is in
the link's fragment, which the browser never sends; the page sends it, on a click, as
``Authorization: Bearer`` to ``GET /api/disclosures/{service_request_id}``, which asks
intake and passes its decision on untouched (200 with exactly the consented fields, 403
nothing consented, 404 not a valid link, 410 closed). Intake decides and audits; nothing
here keeps, logs or caches what it shows. A client address presenting links that are not
valid is slowed down (429) like failed sign-ins.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse

from shared.audit import AuditTrail, Disclosure, as_identifier
from shared.contracts.audit import AuditAction, AuditOutcome, AuditRole
from shared.credentials import bearer

from ..identity import IdentityUnavailable
from .auth import FailureLimit, client_address
from .pages import templates

router = APIRouter()
VIA = "dashboard_api"
NO_STORE = {"Cache-Control": "no-store"}
ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {"description": "Exactly the fields the person consented to share with this provider (on audit.events)"},
    403: {"description": "Nothing is shared: no written or electronic consent for this provider"},
    404: {"description": "Not a valid disclosure link"},
    410: {"description": "The link is closed: the consent was revoked or expired, or the request ended"},
    429: {"description": "Too many links that were not valid from this address"},
    503: {"description": "The vault cannot answer now"},
}


@router.get("/api/disclosures/{service_request_id:path}", tags=["disclosure"], responses=ANSWERS,
            summary="What the person consented to share with the provider of a service request")
async def read_disclosure(request: Request, service_request_id: str) -> JSONResponse:
    """The provider presents its link's capability as ``Authorization: Bearer cwd_…``."""
    limit: FailureLimit = request.app.state.disclosure_limit
    address = client_address(request)
    if not await limit.allows(address):
        await refused(request, service_request_id, "rate_limited")
        raise HTTPException(429, "too many disclosure links that were not valid; wait a minute")
    capability = bearer(request.headers.get("authorization"))
    if capability is None:
        await limit.failed(address)
        await refused(request, service_request_id, "no_capability")
        raise HTTPException(401, "present the disclosure link's capability as a bearer token",
                            headers={"WWW-Authenticate": "Bearer"})
    try:
        status, body = await request.app.state.identity.disclose(service_request_id[:128], capability)
    except IdentityUnavailable as exc:
        raise HTTPException(503, "the disclosure cannot be read now; try again") from exc
    if status == 404:
        await limit.failed(address)
    return JSONResponse(body, status_code=status, headers=NO_STORE)


async def refused(request: Request, service_request_id: str, why: str) -> None:
    """An attempt intake never sees, on the trail all the same (intake records the others)."""
    trail: AuditTrail = request.app.state.audit
    try:
        await trail.record(actor_id="unknown", role=AuditRole.ANONYMOUS, action=AuditAction.DISCLOSURE_REFUSED,
                           outcome=AuditOutcome.REFUSED, via=VIA,
                           disclosure=Disclosure(as_identifier(service_request_id) or "unknown", refusal=why))
    except Exception as exc:
        raise HTTPException(503, "the attempt could not be recorded; try again") from exc


@router.get("/disclosures/{service_request_id:path}", response_class=HTMLResponse, include_in_schema=False)
async def disclosure_page(request: Request, service_request_id: str) -> HTMLResponse:
    return templates.TemplateResponse(request, "disclosure.html",
                                      {"me": None, "csrf": None, "service_request_id": service_request_id[:128]},
                                      headers=NO_STORE)
