"""Consent notices (docs/design.md, Consent (P2)): who hears that a consent is about to lapse,
or lapsed, and what it says, pure. The message names the consent, the kind of recipient and
the scopes, never which recipient: a shelter's identity may put a person in danger."""

from __future__ import annotations

import email
import email.policy
import json
from typing import Any

import pytest

from services.notify import render
from services.notify.audience import Contact, Directory
from services.notify.content import Links, compose
from services.notify.domain import decide
from services.notify.kinds import Kind, notifiable, plan
from services.notify.state import Notification, Policy
from shared.contracts.notifications import NotificationKind, RecipientRole
from shared.kit import Inbound
from tests.support import events
from tests.support import notifications as n

LINK = Links("https://casework.example.org", b"test-disclosure-key")
CASES = "https://casework.example.org/cases/"
SHELTER = "pr-canary-house"  # the provider's id: it must appear in no message
SPEC = Contact(id="spec-a", role=RecipientRole.VICTIM_SPECIALIST, email="a@x.org", webhook_url="https://h/a")
SUP_TX = Contact(id="sup-tx", role=RecipientRole.SUPERVISOR, email="s@x.org", regions=["US-TX"], agency_id="TX-DPS")
SUP_CA = Contact(id="sup-ca", role=RecipientRole.SUPERVISOR, email="c@x.org", regions=["US-CA"], agency_id="CA-DOJ")
DIRECTORY = Directory(contacts={SPEC.id: SPEC}, supervisors=(SUP_TX, SUP_CA),
                      case_specialists={"case-1": SPEC.id}, case_regions={"case-1": "US-TX", "case-2": "US-CA"},
                      case_agencies={"case-1": "TX-DPS", "case-2": "CA-DOJ"})


def ids(contacts: list[Contact]) -> list[str]:
    return [c.id for c in contacts]


def notification(payload: Any, directory: Directory = DIRECTORY) -> Notification:
    event = Inbound(id=f"evt-{payload.TYPE}", type=payload.TYPE, data=payload, subject=payload.subject,
                    source="casework/intake")
    state = decide(None, event, n.T0, directory=directory, policy=Policy())[0]
    assert state is not None
    return state


def wire(state: Notification, index: int = 0) -> tuple[Any, str, str, dict[str, Any]]:
    """The message, its mail's text and HTML, and the webhook body for the same delivery."""
    delivery = state.deliveries[index]
    message = compose(state, delivery, LINK)
    mail = email.message_from_bytes(render.email(message, state, delivery, sender="casework@x.org",
                                                 to="to@x.org").content, policy=email.policy.default)
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = mail.get_body(("html",)).get_content()  # type: ignore[union-attr]
    return message, text, html, json.loads(render.webhook_body(message, state, delivery))


@pytest.mark.parametrize(("payload", "kind"), [(n.consent_expiring("case-1"), Kind.CONSENT_EXPIRING),
                                                (n.consent_lapsed("case-1"), Kind.CONSENT_LAPSED)])
def test_the_case_specialist_is_told_and_the_region_s_supervisors_if_it_cannot_be_delivered(
        payload: Any, kind: Kind) -> None:
    assert notifiable(payload)
    made = plan(payload, DIRECTORY)
    assert made.kind is kind and made.recipients == [SPEC] and ids(made.fallback) == ["sup-tx"]
    assert (made.region, made.agency_id, made.restricted) == ("US-TX", "TX-DPS", False)
    assert NotificationKind(kind.value)  # a general kind, on notifications.events like any other


def test_while_nobody_holds_the_case_its_region_s_supervisors_are_told() -> None:
    made = plan(n.consent_expiring("case-2"), DIRECTORY)
    assert ids(made.recipients) == ["sup-ca"] and ids(made.fallback) == ["sup-tx", "sup-ca"]
    assert ids(plan(n.consent_lapsed("case-unknown"), DIRECTORY).recipients) == ["sup-tx", "sup-ca"]


def test_the_reminder_says_what_consent_for_whom_which_scopes_when_and_what_to_do() -> None:
    state = notification(n.consent_expiring("case-1", "c-77", recipient_id=SHELTER))
    assert state.facts == {"consent_id": "c-77", "recipient_kind": "service_provider",
                           "scope": ["contact", "identity"], "form": "written",
                           "expires_at": "2026-01-12T09:00:00+00:00"}
    assert state.deadline == n.CONSENT_EXPIRES
    message, text, html, hook = wire(state)
    assert message.subject == "Consent expiring: case-1" and message.link == f"{CASES}case-1"
    assert message.summary == ("Consent c-77 on case case-1, letting the service provider see the person's identity "
                               "and their contact details, expires on 2026-01-12 09:00 UTC.")
    assert message.actions[0] == ("If the person wishes to keep sharing, record a new written consent with them "
                                  "before 2026-01-12 09:00 UTC; nothing is shared under this one after it lapses.")
    for part in (text, html.replace("&#39;", "'")):
        assert "c-77" in part and "the service provider" in part and "2026-01-12 09:00 UTC" in part
    assert hook["kind"] == "consent_expiring" and hook["deadline"] == "2026-01-12T09:00:00+00:00"


def test_the_lapse_says_nothing_more_is_shared() -> None:
    message, text, *_ = wire(notification(n.consent_lapsed("case-1", "c-77", recipient_kind="task_force",
                                                           scope=["case_status"])))
    assert message.subject == "Consent lapsed: case-1" and message.deadline is None
    assert message.summary == ("Consent c-77 on case case-1, letting the task force see the case's status, lapsed "
                               "on 2026-01-12 09:00 UTC: nothing more is shared under it.")
    assert "record a new written consent" in message.actions[0] and "record a new written consent" in text


@pytest.mark.parametrize("payload", [n.consent_expiring("case-1", recipient_id=SHELTER),
                                     n.consent_lapsed("case-1", recipient_id=SHELTER)])
def test_no_message_names_the_recipient_or_the_person(payload: Any) -> None:
    state = notification(payload)
    assert "recipient_id" not in state.facts and SHELTER not in state.model_dump_json()
    for index in range(len(state.deliveries)):
        message, text, html, hook = wire(state, index)
        for part in (text, html, json.dumps(hook), message.summary, *message.actions):
            assert SHELTER not in part
            assert not [c for c in events.CANARIES if c in part]
