"""Contender 1, the limit: a raw aiokafka consumer that reads and json.loads every message."""

from __future__ import annotations

import asyncio
import json
import sys

from aiokafka import AIOKafkaConsumer, TopicPartition

sys.path.insert(0, __file__.rsplit("/", 2)[0])
from proc import mark


async def main(bootstrap: str, topic: str, expected: int, partitions: int) -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        mark("READY")
        n = 0
        loads = json.loads
        while n < expected:
            batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            for records in batches.values():
                if n == 0 and records:
                    mark("START")
                for r in records:
                    loads(r.value)
                n += len(records)
        mark("DONE", n)
    finally:
        await consumer.stop()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
