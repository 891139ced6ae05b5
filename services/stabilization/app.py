"""The stabilization service: a plan per case from ``cases.opened``, ``referrals.events``,
``stabilization.recorded``, ``interviews.requested`` and ``services.events`` (a completed
support service meets an urgent need); events on ``stabilization.events``.

It never subscribes to certification or prosecution topics: help is not conditioned on
cooperation (rule 1, M2). Run it with
``faststream run --factory services.stabilization.app:create_app``.
"""

from __future__ import annotations

from functools import partial

from faststream import FastStream

from shared.contracts.inbound import InterviewRequested, StabilizationRecorded
from shared.contracts.intake import CaseCorrected, CaseOpened
from shared.contracts.referrals import (
    CaseClosureApplied,
    CaseReopeningApplied,
    CaseUnassigned,
    ReferralAccepted,
    ReferralAssigned,
)
from shared.contracts.stabilization import STABILIZATION_EVENTS, HhsNotificationOverdue
from shared.contracts.support import SERVICE_EVENTS
from shared.kit import Clock
from shared.kit.decision import Pure
from shared.kit.metrics import METRICS
from shared.kit.ports import Backend, Publisher
from shared.kit.service import Service, process_app
from shared.kit.workflow import Change
from shared.settings import Settings

from . import domain
from .state import Plan, Policy


def bootstrap(settings: Settings, *, clock: Clock | None = None, ops_port: int | None = None,
              backend: Backend | None = None, publisher: Publisher | None = None) -> Service:
    service = Service("stabilization", settings, clock=clock, ops_port=ops_port, backend=backend, publisher=publisher,
                      description="Gates interviews on the person's stabilization; holds the "
                                  "24-hour HHS notice for minors.")
    policy = Policy.from_settings(settings.stabilization)

    async def count_breaches(changes: list[Change[Plan]]) -> set[str]:
        overdue = sum(isinstance(e, HhsNotificationOverdue) for c in changes for e in c.emitted)
        if overdue:
            METRICS.sla_breaches.labels(service.name, "hhs_notification").inc(overdue)
        return set()

    plans = service.workflow("plans", Plan, Pure(partial(domain.decide, policy=policy)),
                             gather=settings.stabilization.plan_gather_seconds,
                             before_write=count_breaches)
    service.consume(CaseOpened, CaseCorrected, handler=plans)
    service.consume(ReferralAssigned, ReferralAccepted, CaseUnassigned, CaseClosureApplied, CaseReopeningApplied,
                    handler=plans)
    service.consume(StabilizationRecorded, handler=plans)
    service.consume(InterviewRequested, handler=plans)
    service.consume(*SERVICE_EVENTS, handler=plans)
    service.produces(*STABILIZATION_EVENTS)
    return service


def create_app(settings: Settings | None = None) -> FastStream:
    """The process entry point (``faststream run --factory``)."""
    settings = settings or Settings()
    return process_app(bootstrap, settings, ops_port=settings.stabilization.ops_port)
