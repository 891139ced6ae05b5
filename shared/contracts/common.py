"""Building blocks shared by every contract: strict models, constrained strings, enums."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, ClassVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, StringConstraints

# No C0 control characters other than tab, line feed and carriage return, and no DEL:
# hostile input (terminal escapes, NUL) is refused at the edge.
_PRINTABLE = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
_SINGLE_LINE = r"^[^\x00-\x1f\x7f]*$"

# The patterns are also checked outside a model (intake reads hints from unreadable input).
IDENTIFIER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@/-]*$"
IDENTIFIER_MAX_LENGTH = 128
# ISO 3166-1 alpha-2 country, optionally with an ISO 3166-2 subdivision: US, US-TX.
_REGION = r"[A-Z]{2}(-[A-Z0-9]{1,3})?"
REGION_PATTERN = rf"^{_REGION}$"
# A region a person or a rule covers: a region, or ``*`` for any (see shared.regions).
REGION_OR_ANY_PATTERN = rf"^(\*|{_REGION})$"

Identifier = Annotated[
    str, StringConstraints(min_length=1, max_length=IDENTIFIER_MAX_LENGTH, pattern=IDENTIFIER_PATTERN)
]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=_SINGLE_LINE)]
ShortText = Annotated[str, StringConstraints(max_length=500, pattern=_SINGLE_LINE)]
LongText = Annotated[str, StringConstraints(max_length=20_000, pattern=_PRINTABLE)]
Email = Annotated[
    str, StringConstraints(max_length=254, pattern=r"^[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+\.[^@\s\x00-\x1f\x7f]+$")
]
Phone = Annotated[str, StringConstraints(min_length=3, max_length=40, pattern=r"^\+?[0-9 ()./-]+$")]
Url = Annotated[str, StringConstraints(max_length=2000, pattern=r"^https?://[^\s\x00-\x1f\x7f]+$")]
Region = Annotated[str, StringConstraints(pattern=REGION_PATTERN)]
# BCP 47 language tag (the common subset: language, script, region, variants).
LANGUAGE_PATTERN = r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$"
LanguageTag = Annotated[str, StringConstraints(max_length=35, pattern=LANGUAGE_PATTERN)]
Timestamp = AwareDatetime


class Contract(BaseModel):
    """A strict, immutable event payload: unknown fields and wrong types are refused."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class Payload(Contract):
    """A payload published on a topic under one CloudEvent type."""

    TYPE: ClassVar[str]
    TOPIC: ClassVar[str]

    @property
    def subject(self) -> str:
        """The Kafka key and CloudEvent subject: the case, unless a payload says otherwise."""
        case_id: str = self.case_id  # type: ignore[attr-defined]  # payloads without a case_id override this
        return case_id


class Priority(StrEnum):
    URGENT = "urgent"
    HIGH = "high"
    NORMAL = "normal"


class AgencyLevel(StrEnum):
    FEDERAL = "federal"
    STATE = "state"
    LOCAL = "local"
    TRIBAL = "tribal"


class UrgentNeed(StrEnum):
    MEDICAL = "medical"
    SHELTER = "shelter"
    SAFETY = "safety"
    FOOD = "food"
    CLOTHING = "clothing"
    LEGAL = "legal"
    CHILDCARE = "childcare"
    OTHER = "other"
