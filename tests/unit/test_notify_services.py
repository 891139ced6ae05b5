"""Support-service notifications (docs/design.md, Notifications): who hears of a service request
and what it says, pure. The provider learns the case and request ids, the need, the person's
languages and how to answer, never who the person is, and gets no link into the case system."""

from __future__ import annotations

import email
import email.policy
import json
from typing import Any

import pytest

from services.notify import render
from services.notify.audience import Contact, Directory
from services.notify.channels import SENT, Outcome
from services.notify.content import PROVIDER_NOTE, TEAM_NOTE, Links, compose
from services.notify.domain import decide
from services.notify.kinds import Kind, notifiable, plan
from services.notify.sender import NO_ADDRESS, Sender
from services.notify.state import DeliveryAttempted, Notification, Policy
from shared import disclosure
from shared.contracts.notifications import Channel, NotificationKind, RecipientRole
from shared.contracts.support import (
    RequestRefusal,
    ResponseRefusal,
    ServiceAccepted,
    ServiceCompleted,
    ServiceRequestRefused,
    ServiceResponseRefused,
)
from shared.kit import Inbound
from tests.support import events
from tests.support import notifications as n

LINK = Links("https://casework.example.org", b"test-disclosure-key")
SPEC = Contact(id="spec-a", role=RecipientRole.VICTIM_SPECIALIST, email="a@x.org", webhook_url="https://h/a")
SUP_TX = Contact(id="sup-tx", role=RecipientRole.SUPERVISOR, email="s@x.org", regions=["US-TX"], agency_id="TX-DPS")
SUP_CA = Contact(id="sup-ca", role=RecipientRole.SUPERVISOR, email="c@x.org", regions=["US-CA"], agency_id="CA-DOJ")
HOOKED = Contact.provider("pr-shelter", "intake@shelter.example.org", "https://hooks.example.org/pr-shelter")
MAILED = Contact.provider("pr-legal", "desk@legal.example.org")
DIRECTORY = Directory(contacts={SPEC.id: SPEC}, supervisors=(SUP_TX, SUP_CA),
                      providers={HOOKED.id: HOOKED, MAILED.id: MAILED})


def ids(contacts: list[Contact]) -> list[str]:
    return [c.id for c in contacts]


def notification(payload: Any, directory: Directory = DIRECTORY) -> Notification:
    event = Inbound(id=f"evt-{payload.TYPE}", type=payload.TYPE, data=payload, subject=payload.subject,
                    source="casework/referral")
    return decide(None, event, n.T0, directory=directory, policy=Policy())[0]


def wire(state: Notification, index: int = 0) -> tuple[Any, str, str, dict[str, Any]]:
    """The message, its mail's text and HTML, and the webhook body for the same delivery."""
    delivery = state.deliveries[index]
    message = compose(state, delivery, LINK)
    mail = email.message_from_bytes(render.email(message, state, delivery, sender="casework@x.org",
                                                 to="to@x.org").content, policy=email.policy.default)
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = mail.get_body(("html",)).get_content()  # type: ignore[union-attr]
    return message, text, html, json.loads(render.webhook_body(message, state, delivery))


# -- who ---------------------------------------------------------------------------------


def test_a_sent_request_goes_to_the_provider_by_mail_and_its_webhook() -> None:
    made = plan(n.service_sent("case-1", HOOKED.id), DIRECTORY)
    assert made.kind is Kind.SERVICE_REQUESTED and made.recipients == [HOOKED]
    assert ids(made.fallback) == ["spec-a"]  # the specialist who asked hears if it cannot be delivered
    assert made.deadline == n.T0.replace(hour=13)  # respond_by
    state = notification(n.service_sent("case-1", HOOKED.id))
    assert [(d.recipient_id, d.role, d.channel, d.address) for d in state.deliveries] == [
        ("pr-shelter", "service_provider", Channel.EMAIL, "intake@shelter.example.org"),
        ("pr-shelter", "service_provider", Channel.WEBHOOK, "https://hooks.example.org/pr-shelter")]


def test_a_provider_without_a_webhook_is_mailed_only_and_one_not_on_file_yet_is_looked_up_later() -> None:
    assert [d.channel for d in notification(n.service_sent("case-1", MAILED.id)).deliveries] == [Channel.EMAIL]
    [later] = notification(n.service_sent("case-1", "pr-new")).deliveries
    assert (later.recipient_id, later.role, later.address) == ("pr-new", "service_provider", None)


@pytest.mark.parametrize("payload", [
    n.service_declined("case-1", HOOKED.id, next_provider_id="pr-next"),
    n.service_unanswered("case-1", HOOKED.id, next_provider_id="pr-next"),
])
def test_a_decline_or_a_missed_answer_goes_to_the_specialist_who_asked(payload: Any) -> None:
    made = plan(payload, DIRECTORY)
    assert made.recipients == [SPEC] and ids(made.fallback) == ["sup-tx"]  # the region's supervisors
    assert made.facts["provider_id"] == HOOKED.id and made.facts["next_provider_id"] == "pr-next"
    assert HOOKED not in made.recipients  # the provider is not told of its own decline


def test_only_sent_declined_and_unanswered_requests_notify() -> None:
    base = {"case_id": "case-1", "agency_id": "TX-DPS", "region": "US-TX", "service_request_id": "sr-1",
            "provider_id": HOOKED.id, "need": "shelter", "specialist_id": SPEC.id}
    quiet = [ServiceAccepted.model_validate(base | {"accepted_at": n.T0}, strict=False),
             ServiceCompleted.model_validate(base | {"completed_at": n.T0}, strict=False),
             ServiceRequestRefused.model_validate({
                 "case_id": "case-1", "service_request_id": "sr-1", "provider_id": HOOKED.id, "need": "shelter",
                 "requested_by": {"id": SPEC.id, "role": "victim_specialist"},
                 "refusal": RequestRefusal.NOT_HOLDER, "request_event_id": "e-1", "refused_at": n.T0}, strict=False),
             ServiceResponseRefused.model_validate({
                 "case_id": "case-1", "service_request_id": "sr-1", "provider_id": HOOKED.id,
                 "refusal": ResponseRefusal.WRONG_PROVIDER, "request_event_id": "e-2", "refused_at": n.T0},
                 strict=False)]
    assert not any(notifiable(p) for p in quiet)
    assert all(notifiable(p) for p in (n.service_sent("c", "p"), n.service_declined("c", "p"),
                                       n.service_unanswered("c", "p")))


def test_the_new_kinds_are_general_ones() -> None:
    """On notifications.events like any other general kind (not certification-restricted)."""
    for kind in (Kind.SERVICE_REQUESTED, Kind.SERVICE_DECLINED, Kind.SERVICE_UNANSWERED):
        assert NotificationKind(kind.value) and not plan(_of(kind), DIRECTORY).restricted


def _of(kind: Kind) -> Any:
    return {Kind.SERVICE_REQUESTED: n.service_sent("case-1", HOOKED.id),
            Kind.SERVICE_DECLINED: n.service_declined("case-1", HOOKED.id),
            Kind.SERVICE_UNANSWERED: n.service_unanswered("case-1", HOOKED.id)}[kind]


# -- what --------------------------------------------------------------------------------


def test_the_provider_learns_the_request_the_need_the_languages_the_deadline_and_how_to_answer() -> None:
    state = notification(n.service_sent("case-7", HOOKED.id, request_id="sr-77", need="mental_health"))
    assert set(state.facts) == {"service_request_id", "provider_id", "need", "languages", "asked_to_share"}
    message, text, html, hook = wire(state)
    assert message.subject == "Service requested: case-7"
    for part in (text, html.replace("&#39;", "'")):
        assert "case-7" in part and "sr-77" in part and "mental health" in part and "es, en" in part
        assert "2026-01-05 13:00 UTC" in part  # respond_by
        assert "casework.service.responded.v1" in part and "services.responded" in part
        assert all(word in part for word in ("accepted", "declined", "completed", "pr-shelter"))
    assert hook["kind"] == "service_requested" and hook["deadline"] == "2026-01-05T13:00:00+00:00"
    assert hook["facts"] == {"service_request_id": "sr-77", "provider_id": "pr-shelter", "need": "mental_health",
                             "languages": ["es", "en"]}  # not what the specialist asked to share


def test_the_provider_gets_no_link_into_the_case_system_and_its_own_footnote() -> None:
    state = notification(n.service_sent("case-7", HOOKED.id, share=[]))
    for index in (0, 1):
        message, text, html, hook = wire(state, index)
        assert message.link is None and hook["link"] is None and message.disclosure_link is None
        assert "http" not in text and "href" not in html  # nothing asked to be shared: no link of any kind
        assert message.note == PROVIDER_NOTE and "the team working the case" not in text


def test_asked_to_share_the_provider_gets_its_own_disclosure_link_and_nothing_else() -> None:
    state = notification(n.service_sent("case-7", HOOKED.id, request_id="sr-77", share=["identity", "contact"]))
    link = disclosure.link("https://casework.example.org", b"test-disclosure-key", "sr-77", HOOKED.id)
    for index in (0, 1):  # mail and webhook
        message, text, html, hook = wire(state, index)
        assert message.link is None and message.disclosure_link == link and hook["disclosure_link"] == link
        assert link in text and link in html and "/cases/" not in text + html
        assert "Asked to share" not in text and "asked_to_share" not in hook["facts"]  # the wish is not told
        assert disclosure.admits(b"test-disclosure-key", link.split("#", 1)[1], "sr-77", HOOKED.id)
        assert not disclosure.admits(b"test-disclosure-key", link.split("#", 1)[1], "sr-78", HOOKED.id)
        assert not disclosure.admits(b"another-key", link.split("#", 1)[1], "sr-77", HOOKED.id)


def test_a_provider_that_cannot_be_reached_is_reported_to_the_specialist_with_the_link() -> None:
    state = notification(n.service_sent("case-7", HOOKED.id))
    failed = DeliveryAttempted(state.id, 1, 1, ok=False, error="HTTP 410", permanent=True).inbound()
    state = decide(state, failed, n.T0, directory=DIRECTORY, policy=Policy())[0]
    [alert] = [d for d in state.deliveries if d.about == 1 and d.channel is Channel.EMAIL]
    message, *_ = wire(state, state.deliveries.index(alert))
    assert alert.recipient_id == SPEC.id and message.link == LINK.case("case-7") and message.note == TEAM_NOTE
    assert "could not be delivered to pr-shelter by webhook" in message.summary
    assert "provider directory" in message.actions[0]


def test_a_decline_names_the_reason_and_the_next_provider() -> None:
    message, text, _, hook = wire(notification(n.service_declined("case-3", HOOKED.id, reason="language",
                                                                  next_provider_id="pr-next")))
    assert message.subject == "Service request declined: case-3" and message.link == LINK.case("case-3")
    assert "pr-shelter declined service request sr-case-3 (shelter) on case case-3: language" in message.summary
    assert "pr-next" in message.actions[0] and "pr-next" in text and LINK.case("case-3") in text
    assert hook["facts"]["reason"] == "language" and hook["facts"]["next_provider_id"] == "pr-next"


def test_without_a_next_provider_the_specialist_is_told_none_is_left() -> None:
    for payload in (n.service_declined("case-3", HOOKED.id, reason=None), n.service_unanswered("case-3", HOOKED.id)):
        message, *_ = wire(notification(payload))
        assert "No other matching provider" in message.actions[0] and "unknown" not in message.summary


def test_an_unanswered_request_says_when_the_answer_was_due() -> None:
    message, *_ = wire(notification(n.service_unanswered("case-4", MAILED.id, next_provider_id="pr-next")))
    assert message.subject == "Service request unanswered: case-4"
    assert "pr-legal did not answer service request sr-case-4 (shelter) on case case-4 by 2026-01-05 13:00 UTC" \
        in message.summary and "pr-next" in message.actions[0]


def test_no_canary_reaches_any_service_notification() -> None:
    """Nothing in these events can name the person; the rendered messages carry only ids and codes."""
    for payload in (n.service_sent("case-1", HOOKED.id), n.service_declined("case-1", HOOKED.id, next_provider_id="x"),
                    n.service_unanswered("case-1", HOOKED.id)):
        state = notification(payload)
        for index in range(len(state.deliveries)):
            _, text, html, hook = wire(state, index)
            for part in (text, html, json.dumps(hook), state.model_dump_json()):
                assert not [c for c in events.CANARIES if c in part]


# -- sending -----------------------------------------------------------------------------


class _Mailer:
    def __init__(self) -> None:
        self.sent: list[render.Mail] = []

    async def send(self, mail: render.Mail) -> Outcome:
        self.sent.append(mail)
        return SENT


async def test_an_address_not_known_yet_is_looked_up_by_role_when_sending() -> None:
    """A provider's id may also be someone's on the roster: the lookup says which directory."""
    asked: list[tuple[str, str]] = []

    async def lookup(recipient_id: str, role: str) -> Contact | None:
        asked.append((recipient_id, role))
        return Contact.provider(recipient_id, "late@provider.example.org") if role == "service_provider" else None

    mailer = _Mailer()
    sender = Sender(mailer, None, lookup, sender="casework@x.org", links=LINK)  # type: ignore[arg-type]
    state = notification(n.service_sent("case-1", "pr-new"))
    assert await sender(state, 0) == SENT
    assert asked == [("pr-new", "service_provider")] and [m.to for m in mailer.sent] == ["late@provider.example.org"]
    state = notification(n.service_declined("case-1", "pr-new", specialist_id="spec-unknown"))
    assert await sender(state, 0) == NO_ADDRESS and asked[-1] == ("spec-unknown", "victim_specialist")
