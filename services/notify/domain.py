"""A notification and its deliveries, one aggregate per notification (pure, no I/O).

The notification id is fixed by the event it comes from, so a redelivered event finds the
notification already made. Each delivery (one recipient on one channel) moves
``sending -> sent``, or ``sending -> retrying -> sending ...`` with exponential backoff and
jitter on durable timers, until ``failed`` after the maximum attempts; then the supervisors
are alerted. ``sending`` is a claim: only a write that moves a delivery into it lets the
sender send (:mod:`.dispatch`), so a delivery recorded ``sent`` is never sent again. A
claim whose outcome never comes back (the process died) times out as a failed attempt.

The notification (the aggregate) and its delivery ``Policy`` are in :mod:`.state`; which
events are notifications, of what kind and to whom, this service's rules, in :mod:`.kinds`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from shared.contracts.notifications import Channel, NotificationFailed, NotificationKind, NotificationSent
from shared.kit import Inbound, TimerFired

from .audience import Contact, Directory
from .kinds import Kind, Plan, plan
from .state import Delivery, DeliveryAttempted, Notification, Policy, Status, aggregate_of, backoff, one_line

NO_RECIPIENT = "no recipient on file for this notification"


Claim = tuple[str, int, int]  # (notification id, delivery index, attempt)


def decide(state: Notification | None, event: Inbound, now: datetime, *, directory: Directory,
           policy: Policy, in_flight: frozenset[Claim] = frozenset()) -> tuple[Notification | None, list[Any]]:
    """``in_flight``: the claims ``(notification, delivery, attempt)`` the sender is still
    working on (sent, its outcome not yet recorded): their leases are extended."""
    data = event.data
    if isinstance(data, DeliveryAttempted):
        return attempted(state, data, now, policy) if state else (state, [])
    if isinstance(data, TimerFired):
        return timer_fired(state, data.name, now, policy, in_flight) if state else (state, [])
    if state is not None:
        return state, []  # made already (the same event under a new offset)
    return create(plan(data, directory), aggregate_of(event), now, policy)


def create(p: Plan, nid: str, now: datetime, policy: Policy) -> tuple[Notification, list[Any]]:
    state = Notification(id=nid, kind=p.kind, reference=p.reference, case_id=p.case_id, region=p.region,
                         agency_id=p.agency_id, restricted=p.restricted, deadline=p.deadline,
                         facts=p.facts, created_at=now, fallback=p.fallback)
    deliveries = [_delivery(f"{c.id}/{ch.value}", c, ch, p.kind) for c in p.recipients for ch in c.channels]
    state = _claim_new(state, deliveries, now, policy)
    if deliveries or state.restricted:
        return state, []
    return state, [_failed(state, None, now, NO_RECIPIENT)]


def timer_fired(state: Notification, name: str, now: datetime, policy: Policy,
                in_flight: frozenset[Claim] = frozenset()) -> tuple[Notification, list[Any]]:
    index = int(name.removeprefix("d"))
    delivery = state.deliveries[index]
    lease = now + timedelta(seconds=policy.lease)
    if delivery.status is Status.RETRYING:
        return _put(state, index, _claimed(delivery, now), lease), []
    if delivery.status is Status.SENDING and (state.id, index, delivery.attempts) in in_flight:
        return _put(state, index, delivery, lease), []  # its outcome is on its way: wait for it
    if delivery.status is Status.SENDING:  # no outcome came back: the attempt counts as failed
        return _failure(state, index, f"no outcome within {policy.lease:g} s of the attempt", False, now, policy)
    return state, []


def attempted(state: Notification, a: DeliveryAttempted, now: datetime,
              policy: Policy) -> tuple[Notification, list[Any]]:
    delivery = state.deliveries[a.index]
    if a.released:
        return _released(state, a, now, policy), []
    if a.ok:
        if delivery.status is Status.SENT:
            return state, []
        sent = delivery.model_copy(update={"status": Status.SENT, "sent_at": now})  # errors stay: history
        state = _put(state, a.index, sent, None)
        return state, [] if state.restricted else [_sent(state, sent, now)]
    if delivery.status is not Status.SENDING or delivery.attempts != a.attempt:
        return state, []  # an attempt that was already given up on
    return _failure(state, a.index, a.error or "failed", a.permanent, now, policy)


def _released(state: Notification, a: DeliveryAttempted, now: datetime, policy: Policy) -> Notification:
    """An attempt the sender never started (too busy): claimed again later, no attempt spent."""
    delivery = state.deliveries[a.index]
    if delivery.status is not Status.SENDING or delivery.attempts != a.attempt:
        return state
    retry = delivery.model_copy(update={"status": Status.RETRYING, "attempts": delivery.attempts - 1})
    return _put(state, a.index, retry, now + timedelta(seconds=policy.lease / 2))


def _failure(state: Notification, index: int, error: str, permanent: bool, now: datetime,
             policy: Policy) -> tuple[Notification, list[Any]]:
    delivery = state.deliveries[index].model_copy(update={"last_error": one_line(error)})
    if not permanent and delivery.attempts < policy.max_attempts:
        retry = delivery.model_copy(update={"status": Status.RETRYING})
        return _put(state, index, retry, now + backoff(state.id, index, delivery.attempts, policy)), []
    failed = delivery.model_copy(update={"status": Status.FAILED, "failed_at": now})
    state = _claim_new(_put(state, index, failed, None), _alerts(state, index), now, policy)
    return state, [] if state.restricted else [_failed(state, failed, now, failed.last_error or "")]


def _alerts(state: Notification, index: int) -> list[Delivery]:
    """The supervisors learn that a recipient could not be reached (never about an alert)."""
    failed = state.deliveries[index]
    if failed.about is not None:
        return []
    return [_delivery(f"alert-{index}/{c.id}/{ch.value}", c, ch, Kind.NOTIFICATION_FAILED, about=index)
            for c in state.fallback if c.id != failed.recipient_id for ch in c.channels]


def _delivery(key: str, contact: Contact, channel: Channel, kind: Kind, about: int | None = None) -> Delivery:
    return Delivery(key=key, recipient_id=contact.id, role=contact.role.value, channel=channel,
                    address=contact.address(channel), kind=kind, about=about)


def _claimed(delivery: Delivery, now: datetime) -> Delivery:
    return delivery.model_copy(update={"status": Status.SENDING, "attempts": delivery.attempts + 1,
                                       "claimed_at": now})


def _claim_new(state: Notification, new: list[Delivery], now: datetime, policy: Policy) -> Notification:
    """Add deliveries, each claimed for its first attempt at once (sent right after the write)."""
    first = len(state.deliveries)
    lease = now + timedelta(seconds=policy.lease)
    timers = state.timers | {f"d{first + i}": lease for i in range(len(new))}
    return state.model_copy(update={"deliveries": [*state.deliveries, *(_claimed(d, now) for d in new)],
                                    "timers": timers})


def _put(state: Notification, index: int, delivery: Delivery, timer: datetime | None) -> Notification:
    deliveries = list(state.deliveries)
    deliveries[index] = delivery
    timers = {k: v for k, v in state.timers.items() if k != f"d{index}"}
    if timer is not None:
        timers[f"d{index}"] = timer
    return state.model_copy(update={"deliveries": deliveries, "timers": timers})


def _common(state: Notification, delivery: Delivery | None) -> dict[str, Any]:
    return {"notification_id": state.id, "case_id": state.case_id, "reference": state.reference,
            "kind": NotificationKind((delivery.kind if delivery else state.kind).value),
            "recipient_id": delivery.recipient_id if delivery else None,
            "recipient_role": delivery.role if delivery else None,
            "channel": delivery.channel if delivery else None,
            "attempts": delivery.attempts if delivery else 0}


def _sent(state: Notification, delivery: Delivery, now: datetime) -> NotificationSent:
    return NotificationSent.model_validate(_common(state, delivery) | {"sent_at": now}, strict=False)


def _failed(state: Notification, delivery: Delivery | None, now: datetime, error: str) -> NotificationFailed:
    return NotificationFailed.model_validate(
        _common(state, delivery) | {"error": one_line(error), "failed_at": now}, strict=False)
