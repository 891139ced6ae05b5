"""A notification's deliveries through ``decide``: claims, outcomes, backoff, failure, alerts."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.notify.audience import Contact, Directory
from services.notify.domain import NO_RECIPIENT, decide
from services.notify.state import (
    DeliveryAttempted,
    Notification,
    Policy,
    Status,
    aggregate_of,
    backoff,
    claims,
    notification_id,
)
from shared.contracts.notifications import NotificationFailed, NotificationSent, RecipientRole
from shared.kit import Inbound, TimerFired
from tests.support import notifications as n

POLICY = Policy(max_attempts=3, retry_base=5.0, retry_max=60.0, lease=30.0)
NOW = n.T0
SPEC = Contact(id="spec-a", role=RecipientRole.VICTIM_SPECIALIST, email="a@x.org", webhook_url="https://hooks/a")
SUP = Contact(id="sup-tx", role=RecipientRole.SUPERVISOR, email="s@x.org", regions=["US-TX"], agency_id="TX-DPS")
DIRECTORY = Directory(contacts={SPEC.id: SPEC}, supervisors=(SUP,))


def source(payload, event_id: str = "evt-1") -> Inbound:
    return Inbound(id=event_id, type=payload.TYPE, data=payload, subject=payload.subject)


def created(payload=None, directory: Directory = DIRECTORY) -> Notification:
    state, out = decide(None, source(payload or n.assigned("case-1", SPEC.id)), NOW, directory=directory,
                        policy=POLICY)
    assert out == []
    return state


def step(state: Notification, data, at=NOW):
    event = data.inbound() if isinstance(data, DeliveryAttempted) else Inbound.timer(state.id, data.name, data.due_at)
    return decide(state, event, at, directory=Directory(), policy=POLICY)


def outcome(state: Notification, index: int, ok: bool, error: str | None = None, permanent: bool = False):
    return DeliveryAttempted(state.id, index, state.deliveries[index].attempts, ok, error, permanent)


def test_a_notification_claims_every_delivery_for_its_first_attempt() -> None:
    state = created()
    assert state.id == notification_id(Inbound(id="evt-1", type="t", data=None)) and state.kind == "referral_assigned"
    assert [(d.recipient_id, d.channel, d.status, d.attempts) for d in state.deliveries] == [
        ("spec-a", "email", Status.SENDING, 1), ("spec-a", "webhook", Status.SENDING, 1)]
    assert state.timers == {"d0": NOW + timedelta(seconds=30), "d1": NOW + timedelta(seconds=30)}  # leases
    assert claims(None, state) == [0, 1]


def test_the_same_event_again_changes_nothing_and_claims_nothing() -> None:
    state = created()
    again, out = decide(state, source(n.assigned("case-1", SPEC.id)), NOW, directory=DIRECTORY, policy=POLICY)
    assert again == state and out == [] and claims(state, again) == []


def test_sent_is_recorded_once_and_published() -> None:
    state = created()
    sent, out = step(state, outcome(state, 0, ok=True), NOW + timedelta(seconds=1))
    assert sent.deliveries[0].status is Status.SENT and "d0" not in sent.timers
    [event] = out
    assert isinstance(event, NotificationSent) and event.recipient_id == "spec-a" and event.attempts == 1
    assert claims(state, sent) == []
    again, out = step(sent, outcome(sent, 0, ok=True))
    assert again == sent and out == []


def test_a_failed_attempt_is_retried_after_a_jittered_backoff() -> None:
    state = created()
    retrying, out = step(state, outcome(state, 1, ok=False, error="HTTP 500\nupstream"))
    delivery = retrying.deliveries[1]
    assert out == [] and delivery.status is Status.RETRYING and delivery.last_error == "HTTP 500 upstream"
    assert NOW + timedelta(seconds=2.5) <= retrying.timers["d1"] <= NOW + timedelta(seconds=5)
    assert claims(state, retrying) == []
    again, _ = step(retrying, TimerFired("d1", retrying.timers["d1"]), retrying.timers["d1"])
    assert again.deliveries[1].status is Status.SENDING and again.deliveries[1].attempts == 2
    assert claims(retrying, again) == [1]


def test_backoff_grows_is_capped_and_stays_the_same_for_the_same_attempt() -> None:
    waits = [backoff("n-1", 0, attempt, POLICY).total_seconds() for attempt in range(1, 8)]
    ceilings = [min(60.0, 5.0 * 2 ** (a - 1)) for a in range(1, 8)]
    assert all(c / 2 <= w <= c for w, c in zip(waits, ceilings, strict=True))
    assert backoff("n-1", 0, 3, POLICY) == backoff("n-1", 0, 3, POLICY)
    assert len({backoff(f"n-{i}", 0, 3, POLICY) for i in range(20)}) > 10  # spread out


def test_after_the_last_attempt_it_fails_and_the_supervisors_are_alerted() -> None:
    state = created()
    for _ in range(POLICY.max_attempts - 1):
        state, _ = step(state, outcome(state, 1, ok=False, error="HTTP 503"))
        state, _ = step(state, TimerFired("d1", state.timers["d1"]), state.timers["d1"])
    before = state
    state, out = step(state, outcome(state, 1, ok=False, error="HTTP 503"))
    failed = state.deliveries[1]
    assert failed.status is Status.FAILED and failed.attempts == 3 and "d1" not in state.timers
    [event] = out
    assert isinstance(event, NotificationFailed) and event.error == "HTTP 503" and event.channel == "webhook"
    [alert] = state.deliveries[2:]
    assert (alert.recipient_id, alert.kind, alert.about, alert.status) == ("sup-tx", "notification_failed", 1,
                                                                           Status.SENDING)
    assert claims(before, state) == [2]


def test_a_final_refusal_fails_at_once() -> None:
    state = created()
    state, out = step(state, outcome(state, 1, ok=False, error="HTTP 410", permanent=True))
    assert state.deliveries[1].status is Status.FAILED and state.deliveries[1].attempts == 1
    assert isinstance(out[0], NotificationFailed)


def test_an_alert_that_fails_raises_no_further_alert() -> None:
    state = created()
    state, _ = step(state, outcome(state, 1, ok=False, error="HTTP 410", permanent=True))
    state, out = step(state, outcome(state, 2, ok=False, error="HTTP 410", permanent=True))
    assert len(state.deliveries) == 3 and state.deliveries[2].status is Status.FAILED
    assert out[0].kind == "notification_failed"


def test_a_claim_whose_outcome_never_comes_counts_as_a_failed_attempt() -> None:
    state = created()
    lease = state.timers["d0"]
    retrying, out = step(state, TimerFired("d0", lease), lease)
    assert retrying.deliveries[0].status is Status.RETRYING and out == []
    assert "no outcome within 30 s" in retrying.deliveries[0].last_error
    late, _ = step(retrying, DeliveryAttempted(state.id, 0, 1, ok=False, error="late"))
    assert late == retrying  # a stale failure is ignored
    sent, _ = step(retrying, DeliveryAttempted(state.id, 0, 1, ok=True))
    assert sent.deliveries[0].status is Status.SENT  # a late success is the truth


def test_nobody_to_notify_is_a_failure_on_the_topic() -> None:
    state, [event] = decide(None, source(n.escalated("case-2")), NOW, directory=Directory(), policy=POLICY)
    assert state.deliveries == [] and isinstance(event, NotificationFailed)
    assert event.recipient_id is None and event.error == NO_RECIPIENT


def test_certification_notifications_publish_nothing_even_when_failing() -> None:
    state = created(n.expiring("case-1"), Directory(case_specialists={"case-1": SPEC.id},
                                                    contacts={SPEC.id: SPEC}, supervisors=(SUP,)))
    assert state.restricted and [d.recipient_id for d in state.deliveries] == ["spec-a", "spec-a", "sup-tx"]
    state, out = step(state, outcome(state, 0, ok=True))
    assert out == []
    state, out = step(state, outcome(state, 1, ok=False, error="HTTP 404", permanent=True))
    assert out == [] and state.deliveries[-1].kind == "notification_failed"  # alerted by mail only


def test_a_specialist_not_on_file_yet_is_kept_and_looked_up_when_sending() -> None:
    state = created(n.assigned("case-1", "spec-new"))
    [delivery] = state.deliveries
    assert (delivery.recipient_id, delivery.channel, delivery.address) == ("spec-new", "email", None)


@pytest.mark.parametrize("attempt", [0, 2])
def test_an_outcome_for_another_attempt_is_ignored(attempt: int) -> None:
    state = created()
    after, out = step(state, DeliveryAttempted(state.id, 0, attempt, ok=False, error="x"))
    assert after == state and out == []


def test_a_released_claim_is_claimed_again_without_spending_an_attempt() -> None:
    state = created()
    claimed_at = state.deliveries[0].claimed_at
    released = DeliveryAttempted(state.id, 0, 1, ok=False, released=True, claimed_at=claimed_at)
    later = NOW + timedelta(seconds=50)
    state, out = step(state, released, later)
    delivery = state.deliveries[0]
    assert out == [] and delivery.status is Status.RETRYING and delivery.attempts == 0
    assert state.timers["d0"] == later + timedelta(seconds=POLICY.lease / 2)
    again, _ = step(state, TimerFired("d0", state.timers["d0"]), state.timers["d0"])
    assert again.deliveries[0].attempts == 1 and again.deliveries[0].claimed_at != claimed_at
    # The new claim's outcome is not mistaken for the released one's.
    sent = DeliveryAttempted(state.id, 0, 1, ok=True, claimed_at=again.deliveries[0].claimed_at)
    assert sent.inbound().id != released.inbound().id
    assert step(again, sent)[0].deliveries[0].status is Status.SENT


def test_one_event_id_from_two_sources_makes_two_notifications() -> None:
    payload = n.assigned("case-1", SPEC.id)
    one, other = (Inbound(id="17", type=payload.TYPE, data=payload, source=s) for s in ("agency/A", "agency/B"))
    assert aggregate_of(one) != aggregate_of(other)
    assert aggregate_of(one) == aggregate_of(Inbound(id="17", type=payload.TYPE, data=payload, source="agency/A"))


def test_a_lease_runs_out_only_for_a_claim_nobody_is_working_on() -> None:
    state = created()
    fired = Inbound.timer(state.id, "d0", state.timers["d0"])
    at = state.timers["d0"]
    extended, out = decide(state, fired, at, directory=DIRECTORY, policy=POLICY,
                           in_flight=frozenset({(state.id, 0, 1)}))
    assert out == [] and extended.deliveries[0].status is Status.SENDING and extended.deliveries[0].attempts == 1
    assert extended.timers["d0"] == at + timedelta(seconds=POLICY.lease)  # waits for the outcome on its way
    lapsed, _ = decide(state, fired, at, directory=DIRECTORY, policy=POLICY)
    assert lapsed.deliveries[0].status is Status.RETRYING  # nobody will answer for it: counted as failed
