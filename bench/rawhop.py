"""One raw aiokafka hop with no work: read a batch, publish one small event per message, commit.

``python -m bench.rawhop PREFIX IN OUT GROUP`` — the baseline a casework service is
compared with: the same broker, the same batching and acks, none of the processing.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from shared.kafka import connection
from shared.settings import Settings


async def hop(prefix: str, source: str, sink: str, group: str) -> None:
    broker = connection(Settings(), "admin")  # the same broker, reached the same way as the services
    consumer = AIOKafkaConsumer(prefix + source, **broker, group_id=group,
                                enable_auto_commit=False, auto_offset_reset="earliest", max_poll_records=500)
    producer = AIOKafkaProducer(**broker, acks="all", enable_idempotence=True)
    await consumer.start()
    await producer.start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=20, max_records=500)
            futures = []
            for records in batch.values():
                for r in records:
                    event = json.loads(r.value)
                    out = {"id": str(uuid.uuid4()), "subject": event.get("subject"), "data": {"from": event.get("id")}}
                    futures.append(await producer.send(prefix + sink, json.dumps(out).encode(), key=r.key))
            if futures:
                await asyncio.gather(*futures)
                await consumer.commit()
    finally:
        await consumer.stop()
        await producer.stop()


if __name__ == "__main__":
    asyncio.run(hop(*sys.argv[1:5]))
