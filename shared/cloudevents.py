"""CloudEvents 1.0, structured JSON mode: the envelope of every message
(docs/design.md, The envelope).

Consumers accept any valid structured event as the official SDKs write it: optional
attributes may be missing and unknown extension attributes are kept. Producers here
always set ``time``, ``subject`` and ``datacontenttype``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from functools import cache
from typing import Annotated, Any, Literal, Union

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    create_model,
    model_validator,
)

from shared.contracts.common import Payload

CONTENT_TYPE = "application/cloudevents+json"
_EXTENSION_NAME = r"^[a-z0-9]{1,20}$"
_JSON_CONTENT = ("application/json", "text/json")

EventId = Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=r"^[^\x00-\x1f\x7f]+$")]
Attribute = Annotated[str, StringConstraints(min_length=1, max_length=1024, pattern=r"^[^\x00-\x1f\x7f]+$")]


class CloudEvent(BaseModel):
    """The envelope. ``data`` is typed by the subclasses :func:`envelope` builds."""

    model_config = ConfigDict(extra="allow", frozen=True, strict=True)

    specversion: Literal["1.0"]
    id: EventId
    source: Attribute
    type: Attribute
    time: AwareDatetime | None = None
    subject: Attribute | None = None
    datacontenttype: Attribute | None = None
    dataschema: Attribute | None = None
    correlationid: Attribute | None = None
    data: Any = None

    @model_validator(mode="after")
    def _extensions_are_attributes(self) -> CloudEvent:
        for name, value in (self.model_extra or {}).items():
            if name.startswith("data_base64"):
                raise ValueError("data_base64 is not accepted: events carry JSON data")
            if not _matches(name):
                raise ValueError("an extension attribute name is not [a-z0-9]{1,20}")
            if not isinstance(value, str | int | bool) or (isinstance(value, str) and len(value) > 1024):
                raise ValueError("an extension attribute must be a short string, integer or boolean")
        if self.datacontenttype and self.datacontenttype.split(";")[0].strip() not in _JSON_CONTENT:
            raise ValueError("datacontenttype is not JSON")
        return self


def _matches(name: str) -> bool:
    import re

    return re.fullmatch(_EXTENSION_NAME, name) is not None


@cache
def envelope(payload: type[Payload]) -> type[CloudEvent]:
    """The envelope model whose ``type`` is the payload's and whose ``data`` is the payload."""
    return create_model(
        f"{payload.__name__}Event",
        __base__=CloudEvent,
        __doc__=f"CloudEvent `{payload.TYPE}` on `{payload.TOPIC}`. {payload.__doc__ or ''}".strip(),
        type=(Literal[payload.TYPE], ...),  # type: ignore[arg-type]  # a Literal of a value known at run time
        data=(payload, ...),
    )


@cache
def reader(*payloads: type[Payload]) -> TypeAdapter[Any]:
    """Validates raw JSON bytes as one of these payloads' events, chosen by ``type``."""
    models = tuple(envelope(p) for p in payloads)
    if len(models) == 1:
        return TypeAdapter(models[0])
    # a Union of classes made at run time: to mypy a typing special form, not a type
    return TypeAdapter(Annotated[Union[models], Field(discriminator="type")])  # type: ignore[arg-type]  # noqa: UP007


def new_event(
    payload: Payload,
    *,
    event_id: str,
    source: str,
    time: datetime,
    correlation_id: str | None = None,
) -> CloudEvent:
    model = envelope(type(payload))
    fields: dict[str, Any] = {
        "specversion": "1.0",
        "id": event_id,
        "source": source,
        "type": payload.TYPE,
        "time": time.astimezone(UTC),
        "subject": payload.subject,
        "datacontenttype": "application/json",
        "data": payload,
    }
    if correlation_id:
        fields["correlationid"] = correlation_id
    return model.model_construct(**fields)


def encode(event: CloudEvent) -> bytes:
    return event.model_dump_json(exclude_none=True).encode()


def identity(source: str, event_id: str) -> str:
    """What makes an event unique: CloudEvents promise only the pair ``(source, id)`` is.

    Two agencies' systems may both number an event ``17``; every de-duplication and every id
    derived from an inbound event therefore uses this, never the id alone.
    """
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"casework-event:{len(source)}:{source}:{event_id}"))


def derived_id(input_id: str, index: int | str, *, by: str = "") -> str:
    """Deterministic output id: a handler re-run after a crash emits the same ids
    (docs/design.md, Deterministic ids).

    ``by`` names the producer: several services react to the same input (every service
    reads ``cases.opened``), and their outputs must not share ids, or a consumer of
    several topics (status, notify) would drop one as a repeat of the other.
    """
    producer = f"{by}:" if by else ""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"casework:{producer}{input_id}:{index}"))
