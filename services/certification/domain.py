"""Certification workflows, pure: Continued Presence, T and U visas (D7, C1-C3, T1-T2, U1-U4).

``decide`` takes a request, a record or a fired timer for one case's certifications and
returns the new aggregate and what to publish. An update the rules refuse is answered with
a ``CertificationUpdateRejected`` naming the reason; nothing of it is applied. Every change
a reader can see publishes the case's whole ``certifications.status`` snapshot, once.

A record for a certification not (yet) requested waits ``Policy.orphan_grace`` for its
request (the two inbound topics are not ordered with each other), then is rejected as
``unknown_certification``.

The aggregate and its ``Policy`` are in :mod:`.state`; which record a certification accepts,
as named rules, in :mod:`.rules`; what an accepted record changes in :mod:`.effects`.
"""

from __future__ import annotations

from datetime import datetime

from shared.contracts.certifications import CertificationStatus as S
from shared.contracts.certifications import RejectionReason
from shared.contracts.common import AgencyLevel, Payload
from shared.contracts.inbound import CertificationKind as K
from shared.contracts.inbound import CertificationRecorded, CertificationRequested, RecordedStatus
from shared.kit import Inbound, TimerFired

from . import events, reminders, rules
from .effects import apply
from .state import CaseCertificationFile, Certification, ParkedRecord, Policy

Result = tuple[CaseCertificationFile | None, list[Payload]]
# The aggregate, the events, and whether the snapshot changed.
Outcome = tuple[CaseCertificationFile | None, list[Payload], bool]


def decide(state: CaseCertificationFile | None, event: Inbound, now: datetime, *, policy: Policy) -> Result:
    data = event.data
    if isinstance(data, CertificationRequested):
        outcome = request(state, data, event.id, now, policy)
    elif isinstance(data, CertificationRecorded):
        outcome = record(state, data, event.id, now, policy)
    elif isinstance(data, TimerFired) and state is not None:
        outcome = timer_fired(state, data, now, policy)
    else:
        return state, []
    return with_snapshot(*outcome, now)


def with_snapshot(file: CaseCertificationFile | None, published: list[Payload], visible: bool,
                  now: datetime) -> Result:
    """A visible change: the next snapshot version goes out after the change's events."""
    if not visible or file is None:
        return file, published
    file = file.model_copy(update={"version": file.version + 1})
    return file, [*published, events.snapshot(file, now)]


def request(state: CaseCertificationFile | None, req: CertificationRequested, event_id: str,
            now: datetime, policy: Policy) -> Outcome:
    file = state or CaseCertificationFile(case_id=req.case_id)
    known = file.find(req.certification_id)
    if known is not None:
        refusal = rules.Rejection(RejectionReason.ALREADY_REQUESTED)
        return state, [events.rejected(req.case_id, req.certification_id, known, S.REQUESTED,
                                       refusal, event_id, now)], False
    cert = Certification(
        certification_id=req.certification_id, kind=req.kind, status=S.REQUESTED,
        agency_id=req.requested_by.agency_id, agency_level=req.requested_by.agency_level,
        officer_id=req.requested_by.officer_id, routed_through_hsi=routes_through_hsi(req),
        requested_at=now, updated_at=now)
    published: list[Payload] = [events.status_changed(file.case_id, cert, None, now)]
    if cert.routed_through_hsi:
        published.append(events.routed_to_hsi(file.case_id, cert, now))
    file, replayed = replay_parked(file.put(cert), cert.certification_id, now, policy)
    return file, published + replayed, True


def routes_through_hsi(req: CertificationRequested) -> bool:
    """C1: only federal law enforcement submits CP; others go through their local HSI office."""
    federal = req.requested_by.agency_level is AgencyLevel.FEDERAL
    return req.kind is K.CONTINUED_PRESENCE and not federal


def record(state: CaseCertificationFile | None, rec: CertificationRecorded, event_id: str,
           now: datetime, policy: Policy) -> Outcome:
    cert = state.find(rec.certification_id) if state else None
    if state is None or cert is None:
        return park(state, rec, event_id, now, policy)
    refusal = rules.check(cert, rec)
    if refusal is not None:
        return state, [events.rejected(rec.case_id, rec.certification_id, cert, S(rec.status.value),
                                       refusal, event_id, rec.at)], False
    updated = apply(cert, rec, now, policy)
    file = reminders.rearm(state.put(updated), updated, now, policy.cp_renewal_lead)
    signed = rec.status is RecordedStatus.SIGNED
    capacity = rec.signed_by.capacity if signed and rec.signed_by else None
    change = events.status_changed(file.case_id, updated, cert.status, rec.at, capacity)
    return file, [change], True


def park(state: CaseCertificationFile | None, rec: CertificationRecorded, event_id: str,
         now: datetime, policy: Policy) -> Outcome:
    """Hold a record for an unknown certification until its request or the grace runs out."""
    file = state or CaseCertificationFile(case_id=rec.case_id)
    waiting = ParkedRecord(event_id=event_id, certification_id=rec.certification_id,
                           record=rec.model_dump(mode="json"), parked_at=now)
    timer = reminders.timer_name(rec.certification_id, reminders.ORPHAN)
    timers = file.timers if timer in file.timers else file.timers | {timer: now + policy.orphan_grace}
    return file.model_copy(update={"parked": [*file.parked, waiting], "timers": timers}), [], False


def replay_parked(file: CaseCertificationFile, certification_id: str, now: datetime,
                  policy: Policy) -> tuple[CaseCertificationFile, list[Payload]]:
    """The request came: the records that waited for it go through the rules, in order."""
    waiting, file = _unpark(file, certification_id)
    published: list[Payload] = []
    for parked in waiting:
        after, produced, _ = record(file, parked.recorded(), parked.event_id, now, policy)
        file, published = after or file, published + produced
    return file, published


def reject_orphans(state: CaseCertificationFile, certification_id: str) -> Outcome:
    """The grace ran out with no request: each waiting record is rejected, none dropped."""
    waiting, file = _unpark(state, certification_id)
    unknown = rules.Rejection(RejectionReason.UNKNOWN_CERTIFICATION)
    refused = [(p, p.recorded()) for p in waiting]
    return file, [events.rejected(r.case_id, r.certification_id, None, S(r.status.value), unknown,
                                  p.event_id, r.at) for p, r in refused], False


def _unpark(file: CaseCertificationFile,
            certification_id: str) -> tuple[list[ParkedRecord], CaseCertificationFile]:
    waiting = [p for p in file.parked if p.certification_id == certification_id]
    rest = [p for p in file.parked if p.certification_id != certification_id]
    timer = reminders.timer_name(certification_id, reminders.ORPHAN)
    timers = {k: v for k, v in file.timers.items() if k != timer}
    return waiting, file.model_copy(update={"parked": rest, "timers": timers})


def timer_fired(state: CaseCertificationFile, fired: TimerFired, now: datetime,
                policy: Policy) -> Outcome:
    certification_id, what = reminders.parse(fired.name)
    if what == reminders.ORPHAN:
        return reject_orphans(state, certification_id)
    cert = state.find(certification_id)
    if cert is None or not reminders.running(cert):
        return state, [], False
    if what == reminders.EXPIRY:
        return expire(state, cert, now, policy)
    return remind(state, cert, what, now)


def remind(state: CaseCertificationFile, cert: Certification, what: str, now: datetime) -> Outcome:
    sent = reminders.label(what, cert)
    if sent in cert.reminders_sent:
        return state, [], False
    updated = cert.model_copy(update={"reminders_sent": [*cert.reminders_sent, sent],
                                      "updated_at": now})
    return state.put(updated), [events.expiring(state.case_id, updated, now)], True


def expire(state: CaseCertificationFile, cert: Certification, now: datetime,
           policy: Policy) -> Outcome:
    """CP not renewed (C3), U visa Supplement B not filed (U3): ``expired`` after the deadline."""
    updated = cert.model_copy(update={"status": S.EXPIRED, "updated_at": now})
    file = reminders.rearm(state.put(updated), updated, now, policy.cp_renewal_lead)
    return file, [events.expired(state.case_id, updated, now)], True
