"""A prefixed namespace on the servers (``CASEWORK_TOPIC_PREFIX``, ``CASEWORK_DB_PREFIX``):
what tests and benchmarks create for themselves, and remove again when they are done. The
broker's ACLs come with it: :func:`admit` gives each principal what the catalogue allows it on
the prefix's topics (the services under test or measurement sign in as themselves), and
:func:`forget` takes them away with the topics and databases."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from aiokafka.admin import AIOKafkaAdminClient
from pymongo import AsyncMongoClient

from shared import authorizer
from shared.acls import Acl, acls
from shared.kafka import connection
from shared.settings import Settings

SERVICE_DATABASES = ("intake", "referral", "stabilization", "certification", "notify", "status")


async def delete_topics(settings: Settings) -> None:
    """Remove the prefixed topics so the broker does not accumulate them (never unprefixed ones)."""
    if not settings.topic_prefix:
        return
    admin = AIOKafkaAdminClient(**connection(settings, "admin"))
    await admin.start()
    try:
        mine = [t for t in await admin.list_topics() if t.startswith(settings.topic_prefix)]
        if mine:
            await admin.delete_topics(mine)
    finally:
        await admin.close()


async def admit(settings: Settings) -> int:
    """The catalogue's ACLs for the prefix's topics and groups; how many (none on PLAINTEXT)."""
    return await _acls(settings, authorizer.create)


async def revoke(settings: Settings) -> int:
    """The prefix's ACLs away again; how many the broker had."""
    return await _acls(settings, authorizer.delete)


async def _acls(settings: Settings, change: Callable[[AIOKafkaAdminClient, Sequence[Acl]], Awaitable[int]]) -> int:
    if not settings.topic_prefix or settings.kafka_security_protocol == "PLAINTEXT":
        return 0
    admin = AIOKafkaAdminClient(**connection(settings, "admin"))
    await admin.start()
    try:
        return await change(admin, acls(settings.topic_prefix))
    finally:
        await admin.close()


async def drop_databases(settings: Settings) -> None:
    """Remove the prefixed databases so FerretDB does not accumulate them (never unprefixed ones)."""
    if not settings.db_prefix:
        return
    client: AsyncMongoClient = AsyncMongoClient(settings.mongo_uri)
    try:
        # FerretDB's listDatabases at times blocks for minutes while other databases are
        # busy; the services' own databases are then dropped by name.
        names = await asyncio.wait_for(client.list_database_names(), timeout=3)
    except TimeoutError:
        names = [settings.database(service) for service in SERVICE_DATABASES]
    try:
        for name in names:
            if name.startswith(settings.db_prefix):
                await client.drop_database(name)
    finally:
        await client.close()


async def forget(settings: Settings) -> None:
    """Everything created under the prefixes: topics, their ACLs and databases."""
    await delete_topics(settings)
    await revoke(settings)
    await drop_databases(settings)
