"""The bodies of the dashboard's action routes: JSON, strict, closed vocabularies only.

A body is read whole (bounded) and validated as JSON (enumerations from strings), so a bad
one answers 422 naming the field — and never echoes what was sent: a rejected value may be
a name someone typed in the wrong place.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, TypeVar

from fastapi import HTTPException, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from shared.contracts.common import Identifier
from shared.contracts.inbound import (
    ClosureReason,
    ConsentForm,
    ConsentRecipient,
    ConsentScope,
    DeclineReason,
    Milestone,
    ProviderKind,
    ReassignmentReason,
    ReopenReason,
)

MAX_BODY_BYTES = 16 * 1024


class Body(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class Accept(Body):
    pass


class Decline(Body):
    reason: DeclineReason


class RecordMilestone(Body):
    milestone: Milestone


class Close(Body):
    reason: ClosureReason


class Reopen(Body):
    reason: ReopenReason


class Reassign(Body):
    to_specialist_id: Identifier | None = None
    reason: ReassignmentReason


class RequestService(Body):
    provider_id: Identifier
    need: ProviderKind
    share: list[ConsentScope] = Field(default_factory=list, max_length=len(ConsentScope))


CONSENT_LONGEST = timedelta(days=366)  # reasonably time-limited (P2): a year at most, renewed if need be


class RecordConsent(Body):
    """The person's consent as the specialist took it: ``given_at`` defaults to now."""

    scope: list[ConsentScope] = Field(min_length=1, max_length=len(ConsentScope))
    recipient: ConsentRecipient
    form: ConsentForm
    given_at: AwareDatetime | None = None
    expires_at: AwareDatetime

    def window(self, now: datetime) -> tuple[datetime, datetime]:
        """When the consent starts and ends, or ValueError: it must end after it starts, within a year."""
        given = self.given_at or now
        if self.expires_at <= given:
            raise ValueError("expires_at must be after given_at")
        if self.expires_at - given > CONSENT_LONGEST:
            raise ValueError("a consent lasts a year at most (P2: time-limited); record a new one to renew")
        return given, self.expires_at


class RevokeConsent(Body):
    pass


def schema_of(model: type[Body]) -> dict[str, Any]:
    """The route's documented request body (the body is read by :func:`parse`, not by FastAPI)."""
    return {"requestBody": {"required": model.model_fields != {},
                            "content": {"application/json": {"schema": model.model_json_schema()}}}}


B = TypeVar("B", bound=Body)


async def parse(request: Request, model: type[B]) -> B:
    """The body as ``model``, or 422 with each wrong field's location and the reason."""
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise HTTPException(422, [{"loc": ["body"], "msg": f"the body is over {MAX_BODY_BYTES} bytes",
                                   "type": "too_long"}])
    if not raw.strip() and not model.model_fields:
        raw = b"{}"
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise HTTPException(422, [{"loc": ["body", *e["loc"]], "msg": e["msg"], "type": e["type"]}
                                  for e in exc.errors(include_input=False, include_url=False)]) from None
