"""The runtime a service is built with: broker, database, subscribers, background loops.

A service module creates a :class:`Service`, registers its workflows and consumers, and
exposes ``service.app`` (a FastStream app) for ``faststream run``. Tests build the same
service with other settings and a fake clock, and run it with ``async with service.app``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any

import uvicorn
from faststream import AckPolicy, FastStream
from faststream.kafka import KafkaRouter
from faststream.specification import AsyncAPI
from pymongo.asynchronous.database import AsyncDatabase
from starlette.applications import Starlette

from shared import logging as caselog
from shared.cloudevents import envelope
from shared.contracts.common import Payload
from shared.kafka import ensure_topics, make_broker
from shared.kit.clock import Clock, SystemClock
from shared.kit.consumer import BatchConsumer, Handler, OnInvalid, documented, raw_records
from shared.kit.inbound import TopicReader
from shared.kit.metrics import METRICS
from shared.kit.ops import ops_routes
from shared.kit.outbox import Publisher
from shared.kit.store import AggregateStore
from shared.kit.timers import sweep
from shared.kit.workflow import Decide, Workflow
from shared.mongo import make_client
from shared.settings import Settings
from shared.topics import INBOUND_TOPICS, dlq

log = caselog.get_logger("casework.service")


class Service:
    def __init__(self, name: str, settings: Settings | None = None, *, clock: Clock | None = None,
                 description: str = "", ops_port: int | None = None) -> None:
        self.name = name
        self.settings = settings or Settings()
        self.clock = clock or SystemClock(timedelta(seconds=self.settings.clock_offset_seconds))
        self.source = f"casework/{name}"
        self.ops_port = ops_port
        self.broker = make_broker(self.settings, client_id=f"casework-{name}")
        self.router = KafkaRouter(ack_policy=AckPolicy.NACK_ON_ERROR)
        self.broker.include_router(self.router)
        self.mongo = make_client(self.settings)
        self.db: AsyncDatabase = self.mongo[self.settings.database(name)]
        self.publisher = Publisher(self.broker, self.settings)
        self.workflows: list[Workflow[Any]] = []
        self.topics: set[str] = set()
        self.ready = False
        self.http: Starlette = Starlette(routes=ops_routes(self))
        self._startup: list[Callable[[], Awaitable[None]]] = []
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

    def workflow(self, collection: str, state_type: type[Any], decide: Decide[Any], *,
                 indexes: Sequence[Any] = (), **options: Any) -> Workflow[Any]:
        store = AggregateStore(self.db[collection], list(indexes))
        flow = Workflow(self.name, state_type, decide, store, self.publisher, self.clock, self.source, **options)
        self.workflows.append(flow)
        return flow

    def consume(self, *payloads: type[Payload], handler: Handler | Workflow[Any],
                on_invalid: OnInvalid | None = None, tombstones: bool = False,
                description: str | None = None) -> BatchConsumer:
        """Subscribe to the topic of ``payloads`` (all on one topic) with a batch handler."""
        topic = payloads[0].TOPIC
        assert all(p.TOPIC == topic for p in payloads), "one consume() per topic"
        reader = TopicReader(topic, payloads, strict_types=topic in INBOUND_TOPICS,
                             tombstones=tombstones, max_bytes=self.settings.max_message_bytes)
        consumer = BatchConsumer(self, reader, handler.handle if isinstance(handler, Workflow) else handler,
                                 on_invalid)

        async def on_batch(records: Any) -> None:
            await consumer(records)

        on_batch.__annotations__ = {"records": documented(reader), "return": None}
        on_batch.__name__ = f"on_{topic.replace('.', '_')}"
        self.router.subscriber(
            self.settings.topic(topic), batch=True, group_id=self.group_id(topic),
            auto_offset_reset="earliest", max_records=self.settings.batch_max_records,
            batch_timeout_ms=self.settings.batch_timeout_ms, decoder=raw_records,
            title=f"{topic}:{self.name}",
            description=description or ", ".join(f"`{p.TYPE}`" for p in payloads),
        )(on_batch)
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

    def on_startup(self, hook: Callable[[], Awaitable[None]]) -> None:
        """Run after topics and indexes exist, before consuming (a roster load, say)."""
        self._startup.append(hook)

    def every(self, seconds: float, job: Callable[[], Awaitable[Any]]) -> None:
        """A background loop while the service runs; its errors are logged, never fatal."""
        self._loops.append((seconds, job))

    # -- what the loops do --------------------------------------------------------------

    async def sweep_timers(self) -> int:
        now = self.clock.now()
        return sum([await sweep(w, now) for w in self.workflows])

    async def relay_outbox(self) -> int:
        """Everything a crash left unpublished (start-up: it reads whole collections)."""
        now = self.clock.now()
        return sum([await w.relay(now) for w in self.workflows])

    async def retry_unpublished(self) -> int:
        return sum([await w.retry_unpublished() for w in self.workflows])

    async def update_gauges(self) -> None:
        for sub in self.broker.subscribers:
            consumer = getattr(sub, "consumer", None)
            if consumer is None:
                continue
            lag: dict[str, int] = {}
            for tp in consumer.assignment():
                high = consumer.highwater(tp)
                if high is not None:
                    lag[tp.topic] = lag.get(tp.topic, 0) + max(0, high - await consumer.position(tp))
            for topic, value in lag.items():
                METRICS.consumer_lag.labels(self.name, topic).set(value)

    # -- lifecycle ----------------------------------------------------------------------

    async def _prepare(self) -> None:
        await ensure_topics(self.settings, sorted(self.topics))
        for flow in self.workflows:
            await flow.store.ensure_indexes()
        for hook in self._startup:
            await hook()

    async def _begin(self) -> None:
        await self.relay_outbox()  # what a crash left unpublished
        self._loops_start()
        if self.ops_port is not None:
            serving = _serve(self.http, self.settings.http_host, self.ops_port)
            self._tasks.append(asyncio.create_task(serving, name="ops-http"))
        self.ready = True
        log.info("service ready", service=self.name, topics=sorted(self.topics), ops_port=self.ops_port)

    def _loops_start(self) -> None:
        s = self.settings
        loops = [(s.timer_sweep_seconds, self.sweep_timers), (s.outbox_relay_seconds, self.retry_unpublished),
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

    async def _close(self) -> None:
        await self.mongo.close()


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
