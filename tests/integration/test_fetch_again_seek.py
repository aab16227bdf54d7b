"""fetch_again.seek_back on a real aiokafka consumer: it moves a partition back to the records
left over only if nothing has moved the partition since the fetch."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streams.kafka.fetch_again import Fetched, left_over, seek_back
from tests.support import produce

pytestmark = pytest.mark.integration

N = 10


async def drained(consumer: AIOKafkaConsumer, tp: TopicPartition) -> list[int]:
    """Every record aiokafka hands over until the partition's end: its position moves past."""
    offsets: list[int] = []
    while len(offsets) < N:
        batch = await consumer.getmany(tp, timeout_ms=2000)
        offsets += [r.offset for r in batch.get(tp, [])]
    return offsets


def noted(consumer: AIOKafkaConsumer, tp: TopicPartition, offsets: list[int]) -> Fetched:
    state = consumer._subscription.subscription.assignment.state_value(tp)
    return {tp: (offsets, state, state.position)}


async def scenario(bootstrap: str, topic: str, move: int | None) -> tuple[list, list[int]]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 1, 1)])
    finally:
        await admin.close()
    await produce(bootstrap, topic, [(None, f"v{i}".encode()) for i in range(N)], partition=0)
    tp = TopicPartition(topic, 0)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign([tp])
        consumer.seek(tp, 0)
        offsets = await drained(consumer, tp)
        fetched = noted(consumer, tp, offsets)
        # Faust yielded the first four, then dropped the rest.
        first = left_over(fetched, {tp: offsets[3]})
        if move is not None:
            consumer.seek(tp, move)  # recovery or perform_seek moved it meanwhile
        moved = await seek_back(consumer, first, fetched)
        again = [r.offset for r in (await consumer.getmany(tp, timeout_ms=5000)).get(tp, [])]
        return moved, again
    finally:
        await consumer.stop()


def test_records_left_over_are_fetched_again(kafka: str, unique_name: str) -> None:
    moved, again = asyncio.run(scenario(kafka, f"{unique_name}-untouched", None))
    assert [(offset, position) for _, offset, position in moved] == [(4, N)]
    assert again[0] == 4 and again == list(range(4, N))


def test_a_partition_moved_since_the_fetch_is_left_where_it_was_moved(
    kafka: str, unique_name: str
) -> None:
    moved, again = asyncio.run(scenario(kafka, f"{unique_name}-moved", 1))
    assert moved == []
    assert again[0] == 1
