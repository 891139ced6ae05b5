"""Index creation on the real database is idempotent: every service creates its indexes on
each start, and a second start must find them, not crash the server's connection."""

from __future__ import annotations

from pymongo import ASCENDING, AsyncMongoClient, IndexModel

from services.notify.directory import DirectoryStore
from services.referral.ledger import CapacityLedger
from services.status import trail
from shared import mongo as db
from shared.settings import Settings


async def test_several_indexes_are_created_once_and_found_again_on_every_later_start(
        settings: Settings, mongo: AsyncMongoClient) -> None:
    collection = mongo[settings.database("indexes")]["audit"]
    several = [*trail.INDEXES, IndexModel([("code", ASCENDING)], name="code", unique=True)]
    for _start in range(3):
        await db.ensure_indexes(collection, several)
        assert (await mongo.admin.command("ping"))["ok"] == 1
    names = set(await collection.index_information())
    assert names == {"_id_", "newest", "by_case", "by_actor", "code"}
    await mongo.drop_database(settings.database("indexes"))


async def test_each_services_indexes_survive_a_second_start(settings: Settings, mongo: AsyncMongoClient) -> None:
    database = mongo[settings.database("indexes")]
    for _start in range(2):
        await trail.ensure_indexes(database["audit"])
        await DirectoryStore(database).ensure_indexes()
        await CapacityLedger(database["holds"], database["assigned"]).ensure_indexes()
    assert {"newest", "by_case", "by_actor"} <= set(await database["audit"].index_information())
    assert "on_duty_by_role" in await database["contacts"].index_information()
    assert {"specialist", "token"} <= set(await database["holds"].index_information())
    await mongo.drop_database(settings.database("indexes"))
