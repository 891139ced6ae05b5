"""The referral service: ``cases.opened``, ``referrals.responded``, the roster and a case's
life (``cases.closed``, ``cases.reopened``, ``referrals.reassigned``) in, ``referrals.events``
out. It reads no certification topic (rule 1: assistance is never tied to cooperation or to
an investigation's outcome).

Run it with ``faststream run --factory services.referral.app:create_app``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from faststream import FastStream
from pymongo import IndexModel

from shared import registry
from shared.cloudevents import derived_id
from shared.contracts.inbound import (
    CaseClosed,
    CaseReopened,
    ProviderRegistered,
    ReferralReassigned,
    ReferralResponded,
    ServiceRequested,
    ServiceResponded,
    SpecialistRegistered,
)
from shared.contracts.intake import CaseOpened, CaseWithdrawn
from shared.contracts.referrals import REFERRAL_EVENTS
from shared.contracts.support import SERVICE_EVENTS
from shared.kit import Clock, Inbound
from shared.kit.outcomes import Poison
from shared.kit.ports import AggregateStore
from shared.kit.service import Service, process_app
from shared.settings import Settings

from .capacity import Capacity
from .ledger import CapacityLedger, Reconciler
from .requests import KEPT, PROVIDERS, ProviderDirectory, RequestContext
from .roster import RosterStore
from .state import RETRY, CaseReferral, Policy, SpecialistDeparted
from .support import CaseServices

UNASSIGNED = {"state.status": "unassigned"}
DEPARTED = "casework.referral.specialist_departed"  # internal: one per (roster record, case touched)


def bootstrap(settings: Settings, *, clock: Clock | None = None, ops_port: int | None = None) -> Service:
    service = Service("referral", settings, clock=clock, ops_port=ops_port,
                      description="Assigns every new case to a victim specialist at once; follows up "
                                  "acknowledgements and escalates to supervisors; decides who may close, "
                                  "reopen or move a case, and moves what a departing specialist held.")
    policy = Policy.from_settings(settings.referral)
    roster = RosterStore(service.db["roster"], service.clock)
    ledger = CapacityLedger(service.db["holds"], service.db["last_assigned"])
    store = service.aggregates("referrals", indexes=[IndexModel("state.status", name="status")])

    async def wake(now: datetime) -> None:
        await store.wake(UNASSIGNED, RETRY, now)

    # A slot freed within a batch (its lock is held) may serve an unassigned case.
    capacity = Capacity(roster, ledger, policy, on_release=lambda: wake(service.clock.now()))
    referrals = service.workflow("referrals", CaseReferral, capacity,
                                 before_write=capacity.reserve, after_write=capacity.settle)

    async def wake_unassigned() -> None:  # someone may now be able to take an unassigned case
        async with referrals.writing:  # the kit's one writer of referral documents per process
            await wake(service.clock.now())

    async def on_roster(events: list[Inbound]) -> list[Poison]:
        await roster.apply(events)
        # Departures first (their unaccepted referrals move at once), then whoever may now take a case.
        if moved := await departures(events, ledger):
            await referrals.handle(moved)
        await wake_unassigned()
        return []

    reader = service.consume(SpecialistRegistered, handler=on_roster, tombstones=True).reader
    service.consume(CaseOpened, CaseWithdrawn, handler=referrals)
    service.consume(ReferralResponded, handler=referrals)
    service.consume(CaseClosed, handler=referrals)
    service.consume(CaseReopened, handler=referrals)
    service.consume(ReferralReassigned, handler=referrals)
    service.produces(*REFERRAL_EVENTS)
    request_services(service, store)

    async def rebuild_roster() -> None:  # a restart rebuilds the roster from the topic
        # Departures are not handed out here (nothing is published before the broker starts):
        # a roster record whose departures were not all applied was not committed either, and
        # its consumer reads it again.
        await roster.apply(await roster.read_topic(service.settings, reader))
        await wake_unassigned()

    service.on_startup(ledger.ensure_indexes)
    service.on_startup(rebuild_roster)
    reconciler = Reconciler(ledger, referrals.store.load, timedelta(seconds=settings.referral.reconcile_grace_seconds))

    async def reconcile_capacity() -> None:
        if await reconciler.run(service.clock.now()):
            await wake_unassigned()

    service.every(settings.referral.reconcile_seconds, reconcile_capacity)
    return service


def request_services(service: Service, referrals: AggregateStore) -> None:
    """Support services: the provider directory, and each case's requests to providers
    (``services.requested``, ``services.responded`` in; ``services.events`` out)."""
    directory = ProviderDirectory(service.db[PROVIDERS])
    service.consume(ProviderRegistered, handler=directory.keep, tombstones=True,
                    description="`casework.provider.registered.v1`: the provider directory (a null value removes)")

    async def load_directory() -> None:  # what changed while the service was away, before any request
        await registry.caught_up(directory.collection, registry.PROVIDERS, KEPT, service.settings,
                                 principal=service.name)

    service.on_startup(load_directory)
    within = timedelta(seconds=service.settings.referral.service_ack_sla_seconds)
    requests = service.workflow("service_requests", CaseServices, RequestContext(referrals, directory, within))
    service.consume(ServiceRequested, handler=requests)
    service.consume(ServiceResponded, handler=requests)
    service.produces(*SERVICE_EVENTS)


async def departures(events: list[Inbound], ledger: CapacityLedger) -> list[Inbound]:
    """For each specialist whose latest roster record here is a removal or ``on_duty: false``,
    one event per case holding a slot of theirs (their referrals and handover offers). Its id
    derives from the roster record and the case, so a redelivered record changes nothing twice;
    ``decide`` looks at the roster as it is, so a specialist back on duty meanwhile keeps all."""
    latest: dict[str, Inbound] = {}
    for event in events:
        latest[event.key or event.subject or ""] = event
    gone = {sid: e for sid, e in latest.items() if sid and (e.data is None or not e.data.on_duty)}
    if not gone:
        return []
    held = await ledger.holds_of(sorted(gone))
    return [Inbound(id=derived_id(gone[sid].identity, case_id, by="referral"), type=DEPARTED,
                    data=SpecialistDeparted(case_id, sid), subject=case_id, source="casework/referral",
                    correlation_id=gone[sid].correlation_id)
            for sid, case_id in held]


def create_app(settings: Settings | None = None) -> FastStream:
    """The process entry point (``faststream run --factory``)."""
    settings = settings or Settings()
    return process_app(bootstrap, settings, ops_port=settings.referral.ops_port)
