"""What intake publishes on ``consents.events``: a consent that is about to lapse, and one
that lapsed (P2; docs/design.md, Consent (P2)).

Intake, the vault's owner, keeps each case's consents and a durable timer for each one in a
disclosing form (written or electronic):

* ``ConsentExpiring`` -> ``remind_at`` came (``CASEWORK_CONSENT_REMINDER_DAYS`` before
  ``expires_at``): the case's specialist is told, so that the person may give a new consent
  in time if they wish to keep sharing
* ``ConsentLapsed``   -> ``expires_at`` came: nothing more is disclosed under it

Each is published once per consent, across redeliveries and restarts; a revoked consent
publishes neither. Ids, codes and times only: nothing here identifies the person. The
recipient may be a shelter, whose identity can put a person in danger: readers name
``recipient_kind`` ("the service provider"), never ``recipient_id``, to anyone outside the
case page.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from shared.contracts.common import Identifier, Payload, Timestamp
from shared.contracts.inbound import ConsentForm, ConsentScope, RecipientKind

TOPIC = "consents.events"


class ConsentEvent(Payload):
    """Fields every consent event carries (not published on its own)."""

    TOPIC: ClassVar[str] = TOPIC

    case_id: Identifier
    consent_id: Identifier
    recipient_kind: RecipientKind
    recipient_id: Identifier
    scope: list[ConsentScope] = Field(min_length=1, max_length=len(ConsentScope))


class ConsentExpiring(ConsentEvent):
    """A consent in force lapses at ``expires_at``: the reminder, ``remind_at`` being when it was due."""

    TYPE: ClassVar[str] = "casework.consent.expiring.v1"

    form: ConsentForm
    expires_at: Timestamp
    remind_at: Timestamp


class ConsentLapsed(ConsentEvent):
    """A consent reached ``expires_at`` unrevoked: nothing more is disclosed under it."""

    TYPE: ClassVar[str] = "casework.consent.lapsed.v1"

    expired_at: Timestamp


CONSENT_EVENTS: tuple[type[Payload], ...] = (ConsentExpiring, ConsentLapsed)
