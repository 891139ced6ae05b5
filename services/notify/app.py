"""The notify service: the ``*.events`` topics, the roster and the provider directory in;
e-mail, signed webhooks and ``notifications.events`` out.

Run it with ``faststream run --factory services.notify.app:create_app``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from faststream import FastStream
from pymongo import IndexModel

from shared import environment
from shared.contracts.certifications import CERTIFICATION_EVENTS
from shared.contracts.consents import CONSENT_EVENTS
from shared.contracts.inbound import ProviderRegistered, SpecialistRegistered
from shared.contracts.intake import CaseCorrected, CaseOpened, CaseWithdrawn, EncounterUnprocessable
from shared.contracts.notifications import NotificationFailed, NotificationSent
from shared.contracts.referrals import REFERRAL_EVENTS
from shared.contracts.stabilization import STABILIZATION_EVENTS
from shared.contracts.support import SERVICE_EVENTS
from shared.disclosure import disclosure_key
from shared.kit import Clock, Inbound
from shared.kit.decision import Decide
from shared.kit.service import Service, process_app
from shared.kit.workflow import Workflow
from shared.settings import Settings, SmtpSettings
from shared.webhooks import recipient_secrets, signing_keys

from . import domain, state
from .audience import Directory
from .channels import Mailer, WebhookPoster
from .content import Links
from .directory import DirectoryStore
from .dispatch import Dispatcher
from .kinds import notifiable
from .sender import Sender
from .targets import TargetRules

CASES_GATHER_SECONDS = 1.0


@dataclass
class Notify:
    """The subscribers' work: note what routing needs, decide notifications, send off the path."""

    store: DirectoryStore
    notifications: Workflow[state.Notification]
    dispatcher: Dispatcher
    sender: Sender

    async def on_events(self, events: list[Inbound]) -> list[Any]:
        # The cases' records are written beside the decisions, not before them (the decisions
        # read them from memory, or wait for the write); both are done before the commit.
        writing = self.store.note_cases(events)
        wanted = [e for e in events if notifiable(e.data)]
        try:
            poisons = await self.notifications.handle(wanted) if wanted else []
        finally:
            await writing
        await self.dispatcher.wait_capacity()  # back-pressure: Kafka lag rather than memory
        return poisons

    async def on_cases(self, events: list[Inbound]) -> list[Any]:
        # Off the path to the mail, and usually told again at once by the referral service's
        # first event for the case (region, agency and holder): a moment's wait spares the write.
        await asyncio.sleep(CASES_GATHER_SECONDS)
        await self.store.note_cases(events)
        return []

    async def stop_sending(self) -> None:
        await self.dispatcher.close()
        await self.sender.close()


def bootstrap(settings: Settings, *, clock: Clock | None = None, ops_port: int | None = None,
              wall_clock: Callable[[], float] = time.time) -> Service:
    service = Service("notify", settings, clock=clock, ops_port=ops_port,
                      description="Tells specialists, supervisors, officers and support-service providers "
                                  "what needs them, by e-mail and signed webhooks: case ids only, never the person.")
    store = DirectoryStore(service.db)
    delivery = settings.notify.delivery
    policy = state.Policy.from_settings(settings.notify)
    sender = _sender(settings, store, wall_clock)
    # Outcomes go back through the workflow the dispatcher serves (bound when it exists).
    dispatcher = Dispatcher(sender, lambda outcomes: notifications.handle(outcomes), service.clock, policy,
                            concurrency=delivery.concurrency, send_timeout=delivery.send_timeout_seconds)
    notifications = service.workflow(
        "notifications", state.Notification, RoutingDecision(store, policy, dispatcher.in_flight),
        aggregate_id=state.aggregate_of, after_write=dispatcher.after_write,
        indexes=[IndexModel("state.case_id", name="case_id")],
        per_aggregate=True)  # a new notice's claim need not wait for an older one's outcome
    _subscribe(service, Notify(store, notifications, dispatcher, sender))
    return service


def _sender(settings: Settings, store: DirectoryStore, wall_clock: Callable[[], float]) -> Sender:
    keys, notify = signing_keys(settings), settings.notify
    timeout = notify.delivery.send_timeout_seconds
    return Sender(Mailer(mail_server(settings), timeout, pool_size=min(8, notify.delivery.concurrency)),
                  WebhookPoster(timeout, lambda recipient: recipient_secrets(keys, recipient),
                                TargetRules.for_environment(environment.mode(settings)), wall_clock),
                  store.contact, sender=notify.smtp.sender,
                  links=Links(dashboard(settings), disclosure_key(settings)))


def mail_server(settings: Settings) -> SmtpSettings:
    """The SMTP server notify sends through: in production only over STARTTLS (a mail names
    a case, a specialist and a provider's disclosure link), checked at start."""
    smtp = settings.notify.smtp
    if environment.production(settings) and not smtp.starttls:
        raise RuntimeError("CASEWORK_SMTP_STARTTLS must be true in production: notify sends mail only over "
                           "TLS (CASEWORK_ENVIRONMENT=development on loopback allows the local sink without it)")
    return smtp


def dashboard(settings: Settings) -> str:
    """Where the mails' links point: in production only over https (a provider's link carries
    its capability to a browser across the Internet), checked at start."""
    url = settings.status.dashboard_url
    if environment.production(settings) and not url.startswith("https://"):
        raise RuntimeError("CASEWORK_DASHBOARD_URL must be an https:// address in production: the links in "
                           "the mails (a provider's disclosure link among them) travel across the Internet")
    return url


@dataclass(frozen=True)
class RoutingDecision:
    """The batch's ``decide``, bound to the recipients its events can reach (read once)."""

    store: DirectoryStore
    policy: state.Policy
    in_flight: Callable[[], frozenset[domain.Claim]]

    async def for_batch(self, events: Sequence[Inbound]) -> Decide[state.Notification]:
        payloads = [e.data for e in events if notifiable(e.data)]
        directory = await self.store.directory_for(payloads) if payloads else Directory()
        return partial(domain.decide, directory=directory, policy=self.policy, in_flight=self.in_flight())


def _subscribe(service: Service, notify: Notify) -> None:
    service.consume(SpecialistRegistered, handler=notify.store.apply_roster, tombstones=True,
                    description="The roster: who to reach, and how")
    service.consume(ProviderRegistered, handler=notify.store.apply_providers, tombstones=True,
                    description="The provider directory: how to reach each support-service provider "
                                "(a null value removes)")
    service.consume(CaseOpened, CaseCorrected, CaseWithdrawn, handler=notify.on_cases,
                    description="Each case's region and agency (a withdrawal is told from the referral "
                                "service's closure)")
    for payloads in ((EncounterUnprocessable,), REFERRAL_EVENTS, STABILIZATION_EVENTS, CERTIFICATION_EVENTS,
                     SERVICE_EVENTS, CONSENT_EVENTS):
        service.consume(*payloads, handler=notify.on_events)
    service.produces(NotificationSent, NotificationFailed)
    service.on_startup(notify.store.ensure_indexes)

    async def load_roster() -> None:
        await notify.store.load_roster(service.settings)

    async def load_providers() -> None:
        await notify.store.load_providers(service.settings)

    service.on_startup(load_roster)
    service.on_startup(load_providers)
    service.on_shutdown(notify.stop_sending)


def create_app(settings: Settings | None = None) -> FastStream:
    """The process entry point (``faststream run --factory``)."""
    settings = settings or Settings()
    return process_app(bootstrap, settings, ops_port=settings.notify.ops_port)
