"""The runtime a service is built with: broker, database, subscribers, background loops.

Each service's composition root (``bootstrap`` in its ``app.py``) creates a :class:`Service`,
registers its workflows and consumers, and ``create_app`` hands ``service.app`` (a
FastStream app) to ``faststream run --factory``. Tests build the same service with other
settings, a fake clock or the in-memory backend, and run it with ``async with service.app``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any, Protocol

import uvicorn
from aiokafka import ConsumerRebalanceListener
from faststream import AckPolicy, FastStream
from faststream.kafka import KafkaRouter
from faststream.specification import AsyncAPI
from pymongo.asynchronous.database import AsyncDatabase
from starlette.applications import Starlette
from starlette.routing import BaseRoute

from shared import environment
from shared import logging as caselog
from shared.cloudevents import envelope
from shared.contracts.common import Payload
from shared.kafka import ensure_topics, make_broker, parse_batch, tolerant
from shared.kit.clock import Clock, SystemClock
from shared.kit.consumer import BatchConsumer, DeadLetters, Handler, OnInvalid, documented, raw_records
from shared.kit.decision import Decision
from shared.kit.failpoints import refuse_start
from shared.kit.health import Health
from shared.kit.inbound import TopicReader
from shared.kit.metrics import METRICS
from shared.kit.ops import ops_routes
from shared.kit.outbox import KafkaPublisher
from shared.kit.ports import AggregateStore, Backend, Publisher
from shared.kit.store import MongoBackend
from shared.kit.workflow import AfterWrite, BeforeWrite, Workflow, by_subject
from shared.mongo import make_client
from shared.settings import Settings
from shared.topics import INBOUND_TOPICS, dlq

log = caselog.get_logger("casework.service")
WATERMARK_SECONDS = 1.0


class Service:
    def __init__(self, name: str, settings: Settings | None = None, *, clock: Clock | None = None,
                 description: str = "", ops_port: int | None = None, backend: Backend | None = None,
                 publisher: Publisher | None = None, principal: str | None = None) -> None:
        refuse_start(name)
        self.name = name
        # Who it is on the broker: the service itself (a test's own service may sign in as another).
        self.principal = principal or name
        self.settings = settings or Settings()
        announce_mode(name, self.settings)  # development off loopback refuses to start here
        self.clock = clock or SystemClock(timedelta(seconds=self.settings.clock_offset_seconds))
        self.source = f"casework/{name}"
        self.ops_port = ops_port
        self.broker = make_broker(self.settings, client_id=f"casework-{name}", principal=self.principal)
        self.router = KafkaRouter(ack_policy=AckPolicy.NACK_ON_ERROR)
        self.broker.include_router(self.router)
        self.mongo = make_client(self.settings)  # connects on first use
        self.db: AsyncDatabase[dict[str, Any]] = self.mongo[self.settings.database(name)]
        self.backend = backend or MongoBackend(self.db)
        self.publisher = publisher or KafkaPublisher(self.broker, self.settings)
        self.dead_letters = DeadLetters(name, self.publisher, self.settings.topic, self.source, self.clock)
        self.workflows: list[Workflow[Any]] = []
        self.consumers: list[BatchConsumer] = []
        self._stores: dict[str, AggregateStore] = {}
        self.topics: set[str] = set()
        self.ready = False
        self.health = Health()
        self.http: Starlette = Starlette(routes=ops_routes(self))
        self._startup: list[Callable[[], Awaitable[None]]] = []
        self._shutdown: list[Callable[[], Awaitable[None]]] = []
        self._loops: list[tuple[float, Callable[[], Awaitable[Any]]]] = []
        self._tasks: list[asyncio.Task[Any]] = []
        self.app = FastStream(
            self.broker, logger=caselog.get_logger(f"casework.{name}"),
            specification=AsyncAPI(title=f"casework {name}", version="1.0.0", description=description))
        self.app.on_startup(self._prepare)
        self.app.after_startup(self._begin)
        self.app.on_shutdown(self._end)
        self.app.after_shutdown(self._close)

    # -- building -----------------------------------------------------------------------

    def aggregates(self, collection: str, indexes: Sequence[Any] = ()) -> AggregateStore:
        """The store of one collection of aggregates (one per name: its timer cursor is shared)."""
        if collection not in self._stores:
            self._stores[collection] = self.backend.aggregates(collection, indexes)
        return self._stores[collection]

    def workflow(self, collection: str, state_type: type[Any], decision: Decision[Any], *,
                 indexes: Sequence[Any] = (), aggregate_id: Callable[[Any], str] = by_subject,
                 before_write: BeforeWrite | None = None, after_write: AfterWrite | None = None,
                 gather: float = 0.0, per_aggregate: bool = False) -> Workflow[Any]:
        """A workflow over one collection of aggregates, its hooks fixed here once."""
        flow = Workflow(self.name, state_type, decision, self.aggregates(collection, indexes),
                        self.publisher, self.clock, self.source, aggregate_id=aggregate_id,
                        before_write=before_write, after_write=after_write,
                        relay_after=timedelta(milliseconds=round(self.settings.kit.outbox_relay_seconds * 1000)),
                        gather=gather, per_aggregate=per_aggregate)
        self.workflows.append(flow)
        return flow

    def consume(self, *payloads: type[Payload], handler: Handler | Workflow[Any],
                on_invalid: OnInvalid | None = None, tombstones: bool = False,
                description: str | None = None) -> BatchConsumer:
        """Subscribe to the topic of ``payloads`` (all on one topic) with a batch handler."""
        topic = payloads[0].TOPIC
        assert all(p.TOPIC == topic for p in payloads), "one consume() per topic"
        reader = TopicReader(topic, payloads, strict_types=topic in INBOUND_TOPICS,
                             tombstones=tombstones, max_bytes=self.settings.kit.max_message_bytes)
        consumer = BatchConsumer(self.name, reader, handler.handle if isinstance(handler, Workflow) else handler,
                                 self.dead_letters, on_invalid, self.health, self.settings.kit.max_delivery_attempts)
        self.consumers.append(consumer)

        async def on_batch(records: Any) -> None:
            await consumer(records)

        on_batch.__annotations__ = {"records": documented(reader), "return": None}
        on_batch.__name__ = f"on_{topic.replace('.', '_')}"
        subscriber = self.router.subscriber(
            self.settings.topic(topic), batch=True, group_id=self.group_id(topic),
            auto_offset_reset="earliest", max_records=self.settings.kit.batch_max_records,
            batch_timeout_ms=self.settings.kit.batch_timeout_ms, fetch_max_wait_ms=self.settings.kit.fetch_max_wait_ms,
            parser=parse_batch, decoder=raw_records,
            listener=Reassigned(self.workflows), title=f"{topic}:{self.name}",
            description=description or ", ".join(f"`{p.TYPE}`" for p in payloads),
        )
        subscriber(on_batch)

        async def set_aside(tp: Any, offset: int) -> None:
            await self.dead_letters.undecodable(topic, tp.topic, tp.partition, offset)

        subscriber.get_msg = tolerant(subscriber.get_msg, set_aside)  # type: ignore[method-assign,assignment]
        self.topics |= {topic, dlq(topic)}
        return consumer

    def produces(self, *payloads: type[Payload]) -> None:
        """Declare what this service publishes: topics to create and the AsyncAPI contract."""
        for payload in payloads:
            self.router.publisher(self.settings.topic(payload.TOPIC), schema=envelope(payload),
                                  title=f"{payload.TOPIC}:{payload.TYPE}",
                                  description=(payload.__doc__ or "").strip() or None)
            self.topics.add(payload.TOPIC)

    def group_id(self, topic: str) -> str:
        return f"{self.settings.topic_prefix}casework.{self.name}.{topic}"

    def serve(self, http: Starlette) -> None:
        """Serve this web app on the service's port instead of the bare ops routes (it must
        include them: see :func:`shared.kit.ops.ops_routes`)."""
        self.http = http

    def route(self, route: BaseRoute) -> None:
        """Serve one more route beside the ops routes (an internal endpoint of the service)."""
        self.http.router.routes.append(route)

    def on_startup(self, hook: Callable[[], Awaitable[None]]) -> None:
        """Run after topics and indexes exist, before consuming (a roster load, say)."""
        self._startup.append(hook)

    def on_shutdown(self, hook: Callable[[], Awaitable[None]]) -> None:
        """Run when the service stops, while its broker and database are still open."""
        self._shutdown.append(hook)

    def every(self, seconds: float, job: Callable[[], Awaitable[Any]]) -> None:
        """A background loop while the service runs; its errors are logged, never fatal."""
        self._loops.append((seconds, job))

    # -- what the loops do --------------------------------------------------------------

    async def sweep_timers(self) -> int:
        return sum([await w.sweep() for w in self.workflows])

    async def retry_unpublished(self) -> int:
        return sum([await w.retry_unpublished() for w in self.workflows])

    async def save_watermarks(self) -> None:
        for flow in self.workflows:
            await flow.keep_watermarks(others=False)

    async def read_watermarks(self) -> None:
        for flow in self.workflows:
            await flow.keep_watermarks()

    async def update_gauges(self) -> None:
        for sub in self.broker.subscribers:
            consumer = getattr(sub, "consumer", None)
            if consumer is None:
                continue
            for tp in consumer.assignment():
                high = consumer.highwater(tp)
                if high is not None:
                    lag = max(0, high - await consumer.position(tp))
                    METRICS.consumer_lag.labels(self.name, tp.topic, str(tp.partition)).set(lag)
        for topic in self.topics:
            METRICS.infrastructure_failing.labels(self.name, topic).set(int(topic in self.health.topics))

    def consuming(self) -> bool:
        """Every subscriber is started and its consume loop is running."""
        for sub in self.broker.subscribers:
            tasks = getattr(sub, "tasks", [])
            if not getattr(sub, "running", False) or (tasks and all(t.done() for t in tasks)):
                return False
        return True

    # -- lifecycle ----------------------------------------------------------------------

    async def _prepare(self) -> None:
        await ensure_topics(self.settings, sorted(self.topics), principal=self.principal)
        for flow in self.workflows:
            await flow.store.ensure_indexes()
            await flow.keep_watermarks()
        for hook in self._startup:
            await hook()

    async def _begin(self) -> None:
        await self.sweep_timers()  # what came due, and what a crash left unpublished, while it was down
        self._loops_start()
        if self.ops_port is not None:
            serving = _serve(self.http, self.settings.http_host, self.ops_port)
            self._tasks.append(asyncio.create_task(serving, name="ops-http"))
        self.ready = True
        log.info("service ready", service=self.name, topics=sorted(self.topics), ops_port=self.ops_port)

    def _loops_start(self) -> None:
        s = self.settings.kit
        loops = [(s.timer_sweep_seconds, self.sweep_timers), (s.outbox_relay_seconds, self.retry_unpublished),
                 (WATERMARK_SECONDS, self.save_watermarks), (10 * WATERMARK_SECONDS, self.read_watermarks),
                 (5.0, self.update_gauges), *self._loops]
        for seconds, job in loops:
            self._tasks.append(asyncio.create_task(_repeat(self.name, seconds, job), name=job.__name__))

    async def _end(self) -> None:
        self.ready = False
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        for hook in self._shutdown:
            try:
                await hook()
            except Exception as exc:
                log.warning("shutdown hook failed", service=self.name, hook=getattr(hook, "__name__", ""),
                            exc_info=exc)

    async def _close(self) -> None:
        try:  # every consumer has stopped: what this run published is known up to its last write
            await self.save_watermarks()
        except Exception as exc:
            log.warning("watermarks not saved at stop: the next run re-sends its last outboxes", exc_info=exc)
        await self.mongo.close()


class Built(Protocol):
    """What a service's ``bootstrap`` builds: something with its FastStream app."""

    @property
    def app(self) -> FastStream: ...


class Reassigned(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka ships no type hints
    """Partitions moved: what this process remembers of aggregates may now be someone else's."""

    def __init__(self, workflows: list[Workflow[Any]]) -> None:
        self.workflows = workflows

    async def on_partitions_revoked(self, revoked: Any) -> None:
        for flow in self.workflows:
            flow.cache.clear()

    async def on_partitions_assigned(self, assigned: Any) -> None:
        for flow in self.workflows:
            flow.cache.clear()


def announce_mode(service: str, settings: Settings) -> None:
    """Check the process's mode before anything is built (:class:`UnsafeEnvironment` ends the
    start), and warn loudly when development secrets sit on a network listener."""
    warning = environment.network_warning(settings)
    if warning:
        log.warning(warning, service=service, environment=environment.mode(settings))


def process_app(bootstrap: Callable[..., Built], settings: Settings, *, ops_port: int) -> FastStream:
    """What a service's ``create_app`` returns to ``faststream run --factory``: logging
    configured once, here, for the process (never at import)."""
    caselog.configure(settings.log_level)
    return bootstrap(settings, ops_port=ops_port).app


async def _repeat(service: str, seconds: float, job: Callable[[], Awaitable[Any]]) -> None:
    while True:
        await asyncio.sleep(seconds)
        try:
            await job()
        except Exception as exc:
            log.warning("background job failed", service=service, job=job.__name__, exc_info=exc)


class _EmbeddedServer(uvicorn.Server):
    """uvicorn inside a FastStream process: FastStream owns SIGINT and SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Any:
        yield


async def _serve(app: Any, host: str, port: int) -> None:
    config = uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False,
                            lifespan="off")
    await _EmbeddedServer(config).serve()
