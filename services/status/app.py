"""The status service: folds the case topics into the read model, publishes ``cases.status``,
and serves the dashboard (with ``/healthz``, ``/readyz``, ``/metrics``) on
``CASEWORK_DASHBOARD_PORT``.

Run it with ``faststream run --factory services.status.app:create_app``.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from faststream import FastStream

from shared.contracts.audit import AuditRecorded
from shared.contracts.inbound import ProviderRegistered
from shared.contracts.intake import EncounterUnprocessable
from shared.contracts.status import CaseStatus
from shared.kit import Clock, Inbound
from shared.kit.decision import Pure
from shared.kit.outcomes import Poison
from shared.kit.service import Service, process_app
from shared.kit.workflow import Change, Workflow
from shared.settings import Settings

from . import alerts, casefile, domain, providers, sessions, sources, trail
from .access import Tokens
from .board import Board
from .feed import Broadcaster, StatusFeed, close_ended
from .identity import IdentityReader
from .sessions import MongoSessionStore
from .state import CaseView
from .views import Views
from .web import actions
from .web.app import create_dashboard
from .web.pages import render_card


def bootstrap(settings: Settings, *, clock: Clock | None = None, tokens: Tokens | None = None,
              dashboard_port: int | None = None, ops_port: int | None = None) -> Status:
    service = Service("status", settings, clock=clock,
                      ops_port=dashboard_port or ops_port or settings.status.dashboard_port,
                      description="Folds every case topic into the case read model and publishes the "
                                  "whole snapshot on cases.status; serves the supervisors' dashboard.")
    cases = projection(service)
    for payloads in sources.INPUTS:
        # P1: T and U visa events are dropped here, before anything is stored, counted or logged.
        service.consume(*payloads, handler=only(sources.kept, cases))
    service.produces(CaseStatus, AuditRecorded)
    service.produces(*actions.PUBLISHES)  # the dashboard's actions: the same events an integrator sends
    report_in(service)
    dashboard = serve_dashboard(service, tokens or Tokens.from_settings(settings))
    watch_alerts(service, dashboard.broadcaster)
    keep_trail(service)
    keep_directory(service)
    return Status(service, dashboard)


def keep_directory(service: Service) -> None:
    """``providers.registered`` into the ``providers`` collection, for the services picker."""
    collection = service.db[providers.COLLECTION]

    async def keep(events: list[Inbound]) -> list[Poison]:
        return await providers.keep(collection, events)

    service.consume(ProviderRegistered, handler=keep, tombstones=True,
                    description="`casework.provider.registered.v1`: the provider directory the dashboard's "
                                "services picker reads (a null value removes)")


def keep_trail(service: Service) -> None:
    """``audit.events`` into the ``audit`` collection, for the auditors' page (the only reader)."""
    collection = service.db[trail.COLLECTION]

    async def indexes() -> None:
        await trail.ensure_indexes(collection)

    async def keep(events: list[Inbound]) -> list[Poison]:
        return await trail.keep(collection, events)

    service.on_startup(indexes)
    service.consume(AuditRecorded, handler=keep, description="`casework.audit.recorded.v1`: kept for the "
                                                              "auditors' page, once per audit_id")


def watch_alerts(service: Service, broadcaster: Broadcaster) -> None:
    """Unprocessable encounters (``intake.events``): kept, and shown live to supervisors."""
    async def announce(changes: list[Change[alerts.Alert]]) -> None:
        for change in changes:
            if change.before is None and change.after is not None:
                broadcaster.alert(change.after)

    flow = service.workflow(alerts.COLLECTION, alerts.Alert, Pure(alerts.decide),
                            aggregate_id=lambda e: e.data.alert_id, after_write=announce)
    service.consume(EncounterUnprocessable, handler=flow)


INSTANCES = "instances"


def report_in(service: Service) -> None:
    """A heartbeat document per running process: ``casework status rebuild`` refuses to race it."""
    instance = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    instances = service.db[INSTANCES]

    async def heartbeat() -> None:
        await instances.update_one({"_id": instance}, {"$set": {"seen_at": datetime.now(UTC)}}, upsert=True)

    async def leave() -> None:
        await instances.delete_one({"_id": instance})

    service.on_startup(heartbeat)
    service.every(service.settings.status.alive_seconds / 4, heartbeat)
    service.on_shutdown(leave)


def projection(service: Service) -> Workflow[CaseView]:
    return service.workflow(casefile.COLLECTION, CaseView, Pure(domain.decide), aggregate_id=lambda e: e.data.case_id,
                            gather=service.settings.status.snapshot_gather_seconds,
                            per_aggregate=True)  # one case's snapshots in order; other cases' meanwhile


def only(keep: Callable[[Any], bool], flow: Workflow[CaseView]) -> Callable[[list[Inbound]], Any]:
    """A handler that passes on only the events whose payload ``keep`` accepts.

    The five topics' consumers write the same case documents; the Workflow never writes one
    case's document twice at once (its per-aggregate locks), since on FerretDB a guarded
    update is not atomic between concurrent writers.
    """
    async def handle(events: list[Inbound]) -> list[Poison]:
        kept = [e for e in events if keep(e.data)]
        return await flow.handle(kept) if kept else []
    return handle


@dataclass(frozen=True)
class Dashboard:
    board: Board
    views: Views
    broadcaster: Broadcaster
    feed: StatusFeed
    sessions: MongoSessionStore


@dataclass(frozen=True)
class Status:
    """The status service and the dashboard it serves."""

    service: Service
    dashboard: Dashboard

    @property
    def app(self) -> FastStream:
        return self.service.app


def serve_dashboard(service: Service, tokens: Tokens) -> Dashboard:
    board = Board()
    views = Views(board, service.clock, service.settings.certification.cp_renewal_lead_days, render=render_card)
    broadcaster = Broadcaster(views)
    feed = StatusFeed(service.settings, board, broadcaster, service.clock)
    service.on_startup(feed.start)
    service.on_shutdown(feed.stop)
    status = service.settings.status
    store = MongoSessionStore(service.db[sessions.COLLECTION], service.clock,
                              sessions.Lifetimes.of(status.session_idle_seconds, status.session_absolute_seconds))

    async def check_sessions() -> None:
        await close_ended(broadcaster, store)

    service.every(status.session_check_seconds, check_sessions)
    intake = httpx.AsyncClient(timeout=10)
    service.on_shutdown(intake.aclose)
    service.serve(create_dashboard(service, tokens=tokens, views=views, broadcaster=broadcaster, feed=feed,
                                   cases=service.db[casefile.COLLECTION], alerts=service.db[alerts.COLLECTION],
                                   sessions=store, trail=service.db[trail.COLLECTION],
                                   providers=service.db[providers.COLLECTION],
                                   identity=IdentityReader.from_settings(service.settings, intake)))
    return Dashboard(board, views, broadcaster, feed, store)


def create_app(settings: Settings | None = None) -> FastStream:
    """The process entry point (``faststream run --factory``). ``CASEWORK_OPS_PORT``, when set
    (test and benchmark harnesses), moves the dashboard with the ops routes."""
    settings = settings or Settings()
    return process_app(bootstrap, settings, ops_port=settings.status.port)
