"""What the notify service publishes on ``notifications.events``: per-recipient delivery.

One event per delivery (a recipient on one channel) that reached its end: sent, or given
up after the maximum attempts. ``notifications.events`` is a general topic (the status
service reads it), so:

* nothing here identifies the person (rule 7, P2): ids, kinds and timestamps only;
* nothing is published about certification notifications (Continued Presence, T and U
  visas): that a T or U case exists is itself protected (8 U.S.C. 1367, P1). Their kinds
  are not even in :class:`NotificationKind`, so such an event cannot be built.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from pydantic import Field

from shared.contracts.common import Identifier, Payload, ShortText, Timestamp

TOPIC = "notifications.events"


class NotificationKind(StrEnum):
    """The general notification kinds (docs/design.md, Notifications); certification kinds never appear here."""

    REFERRAL_ASSIGNED = "referral_assigned"
    REFERRAL_ESCALATED = "referral_escalated"
    CASE_UNASSIGNED = "case_unassigned"
    INTERVIEW_DEFERRED = "interview_deferred"
    INTERVIEW_CLEARED = "interview_cleared"
    HHS_NOTIFICATION_DUE = "hhs_notification_due"
    HHS_NOTIFICATION_OVERDUE = "hhs_notification_overdue"
    ENCOUNTER_UNPROCESSABLE = "encounter_unprocessable"
    NOTIFICATION_FAILED = "notification_failed"
    # A case's life (docs/design.md, Case life).
    REFERRAL_REASSIGNED = "referral_reassigned"
    HANDED_OVER = "handed_over"
    CASE_CLOSED = "case_closed"
    CASE_REOPENED = "case_reopened"
    CASE_WITHDRAWN = "case_withdrawn"
    CASE_NEEDS_HOLDER = "case_needs_holder"
    # Support services (docs/design.md, Notifications): the provider asked, the specialist told.
    SERVICE_REQUESTED = "service_requested"
    SERVICE_DECLINED = "service_declined"
    SERVICE_UNANSWERED = "service_unanswered"
    # Consent (docs/design.md, Consent (P2)): the case's specialist, before and when one lapses.
    CONSENT_EXPIRING = "consent_expiring"
    CONSENT_LAPSED = "consent_lapsed"


class Channel(StrEnum):
    EMAIL = "email"
    WEBHOOK = "webhook"


class RecipientRole(StrEnum):
    VICTIM_SPECIALIST = "victim_specialist"
    SUPERVISOR = "supervisor"
    OFFICER = "officer"
    SERVICE_PROVIDER = "service_provider"  # a provider in the directory (``providers.registered``)


class NotificationEvent(Payload):
    """Fields every delivery event carries. Keyed by the case (or, without one, the reference)."""

    TOPIC: ClassVar[str] = TOPIC

    notification_id: Identifier  # the same for every recipient of one notification
    kind: NotificationKind
    case_id: Identifier | None = None  # None for an encounter that could not be read
    reference: Identifier  # the case id, else the encounter id or the alert id
    recipient_id: Identifier | None = None  # roster specialist id, ``officer:<officer_id>``, or a provider id
    recipient_role: RecipientRole | None = None
    channel: Channel | None = None
    attempts: int = Field(ge=0)

    @property
    def subject(self) -> str:
        return self.case_id or self.reference


class NotificationSent(NotificationEvent):
    """The recipient's mail server accepted the mail, or its webhook answered 2xx."""

    TYPE: ClassVar[str] = "casework.notification.sent.v1"

    sent_at: Timestamp


class NotificationFailed(NotificationEvent):
    """A delivery given up after its last attempt (or at once on a final refusal), or a
    notification that had nobody to go to (``recipient_id`` None). Supervisors are alerted."""

    TYPE: ClassVar[str] = "casework.notification.failed.v1"

    error: ShortText  # what went wrong, without any message content
    failed_at: Timestamp


NOTIFICATION_EVENTS: tuple[type[Payload], ...] = (NotificationSent, NotificationFailed)
