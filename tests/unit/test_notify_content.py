"""What a notification says and how it is put on the wire (templates, Message-ID, webhook body)."""

from __future__ import annotations

import email
import email.policy
import json
import re

import pytest

from services.notify import render
from services.notify.audience import Contact, Directory
from services.notify.content import TITLES, WORDING, Links, compose
from services.notify.domain import decide
from services.notify.kinds import Kind
from services.notify.state import DeliveryAttempted, Notification, Policy
from shared.contracts.notifications import RecipientRole
from shared.kit import Inbound
from tests.support import notifications as n

LINK = Links("https://casework.example.org", b"test-disclosure-key")
SPEC = Contact(id="spec-a", role=RecipientRole.VICTIM_SPECIALIST, email="a@x.org", webhook_url="https://h/a")
SUP = Contact(id="sup-tx", role=RecipientRole.SUPERVISOR, email="s@x.org", regions=["*"], agency_id="TX-DPS")
PROVIDER = Contact.provider("pr-shelter", "intake@shelter.example.org", "https://h/pr")
DIRECTORY = Directory(contacts={SPEC.id: SPEC}, supervisors=(SUP,), case_specialists={"case-1": SPEC.id},
                      providers={PROVIDER.id: PROVIDER})
EVERY_KIND = [n.assigned("case-1", SPEC.id), n.escalated("case-1"), n.unassigned("case-1"), n.deferred("case-1"),
              n.cleared("case-1"), n.hhs_due("case-1", SPEC.id), n.hhs_due("case-1", SPEC.id, overdue=True),
              n.expiring("case-1"), n.expired("case-1"), n.routed_to_hsi("case-1"), n.unprocessable("a-1"),
              n.reassigned("case-1", SPEC.id, handover_from="spec-z"), n.handed_over("case-1", SPEC.id),
              n.released("case-1", SPEC.id, reason="reassigned"),
              n.holder_kept("case-1", SPEC.id), n.closed("case-1", SPEC.id), n.reopened("case-1", SPEC.id),
              n.closed("case-1", SPEC.id, by=None, reason="withdrawn"), n.needs_holder("case-1", "spec-z"),
              n.service_sent("case-1", PROVIDER.id, SPEC.id),
              n.service_declined("case-1", PROVIDER.id, SPEC.id, next_provider_id="pr-next"),
              n.service_unanswered("case-1", PROVIDER.id, SPEC.id),
              n.consent_expiring("case-1"), n.consent_lapsed("case-1")]


def notification(payload) -> Notification:
    event = Inbound(id=f"evt-{payload.TYPE}", type=payload.TYPE, data=payload, subject=payload.subject)
    return decide(None, event, n.T0, directory=DIRECTORY, policy=Policy())[0]


def wire(state: Notification, index: int = 0):
    delivery = state.deliveries[index]
    message = compose(state, delivery, LINK)
    mail = render.email(message, state, delivery, sender="casework@x.org", to="a@x.org")
    return message, email.message_from_bytes(mail.content, policy=email.policy.default)


def test_every_kind_has_a_title_and_wording() -> None:
    assert set(TITLES) == set(Kind) and set(WORDING) == set(Kind) - {Kind.NOTIFICATION_FAILED}
    assert {notification(p).kind for p in EVERY_KIND} == set(Kind) - {Kind.NOTIFICATION_FAILED}


@pytest.mark.parametrize("payload", EVERY_KIND, ids=lambda p: p.TYPE)
def test_every_kind_renders_case_action_deadline_and_link(payload) -> None:
    state = notification(payload)
    message, mail = wire(state)
    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    assert mail["Subject"] == f"{TITLES[state.kind]}: {state.reference}"
    assert "unknown" not in message.summary  # every fact the wording names is there
    for part in (text, html):
        assert state.reference in part and message.actions[0][:30] in part.replace("&#39;", "'")
        if state.case_id and state.deliveries[0].role != RecipientRole.SERVICE_PROVIDER:
            assert LINK.case(state.case_id) in part  # a provider, outside the team, gets no link
        if state.deadline:
            assert message.deadline in part


def test_the_message_id_and_idempotency_key_come_from_the_notification_and_recipient() -> None:
    state = notification(n.assigned("case-1", SPEC.id))
    _, mail = wire(state, 0)
    assert re.fullmatch(rf"<{state.id}\.[0-9a-f]{{16}}@casework>", mail["Message-ID"])
    assert wire(state, 0)[1]["Message-ID"] == mail["Message-ID"]  # the same on every attempt
    mail_hash = mail["Message-ID"].split(".")[1].split("@")[0]
    assert render.idempotency_key(state, state.deliveries[1]).startswith(f"{state.id}:")
    assert not render.idempotency_key(state, state.deliveries[1]).endswith(mail_hash)  # per channel


def test_the_webhook_body_is_stable_compact_json() -> None:
    state = notification(n.hhs_due("case-1", SPEC.id))
    delivery = state.deliveries[1]
    body = render.webhook_body(compose(state, delivery, LINK), state, delivery)
    assert body == render.webhook_body(compose(state, delivery, LINK), state, delivery)
    data = json.loads(body)
    assert body == json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert data["kind"] == "hhs_notification_due" and data["deadline"] == "2026-01-06T09:00:00+00:00"
    assert data["link"] == LINK.case("case-1") and data["id"] == state.id


def test_html_is_escaped_and_text_is_not() -> None:
    state = notification(n.assigned("case-1", SPEC.id))
    state = state.model_copy(update={"facts": state.facts | {"referral_id": "<b>ref</b> & co"}})
    _, mail = wire(state)
    assert "&lt;b&gt;ref&lt;/b&gt; &amp; co" in mail.get_body(("html",)).get_content()
    assert "<b>ref</b> & co" in mail.get_body(("plain",)).get_content()


def test_an_alert_says_who_could_not_be_reached_how_and_why() -> None:
    state = notification(n.assigned("case-1", SPEC.id))
    failed = DeliveryAttempted(state.id, 1, 1, ok=False, error="HTTP 410", permanent=True).inbound()
    state = decide(state, failed, n.T0, directory=Directory(), policy=Policy())[0]
    message, mail = wire(state, 2)
    assert mail["Subject"] == "Notification not delivered: case-1"
    assert "referral assigned notification for case-1 could not be delivered to spec-a by webhook after " \
           "1 attempt(s): HTTP 410" in message.summary
