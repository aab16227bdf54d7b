"""Sends a batch of records through the worker's producer and waits until the broker has them.

The records go to aiokafka a partition batch at a time (`send_batch`), not a `send` each: one
call, one future and one metadata lookup per batch instead of per record (a `send` per record
and its future were a fifth of the worker's CPU under the bench, docs/benchmarks.md). Records
without a partition take the one `send` would have given them: aiokafka's partitioner, over the
topic's partitions, on the key.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

Headers = list[tuple[str, bytes]] | None


@dataclass(frozen=True, slots=True)
class Record:
    topic: str
    key: bytes | None
    value: bytes | None
    partition: int | None = None
    headers: Headers = None


def by_partition(
    records: list[Record], choose: Callable[[Record], int]
) -> dict[tuple[str, int], list[Record]]:
    """The records per (topic, partition), in their order; `choose` partitions those without."""
    groups: dict[tuple[str, int], list[Record]] = {}
    for r in records:
        partition = r.partition if r.partition is not None else choose(r)
        groups.setdefault((r.topic, partition), []).append(r)
    return groups


class Outbox:
    """Writes records and confirms every one of them before the caller acknowledges its input.

    Faust's own buffered sends may still be in flight when it commits offsets; the counting
    state must never be behind a committed offset, so each batch waits here for the broker's
    acknowledgement, retrying a failed send until it goes through (records are idempotent).
    `producer` is Faust's; the records go to the aiokafka producer underneath it.
    """

    def __init__(self, producer: Any, *, retry_backoff: float = 0.5, max_backoff: float = 10.0):
        self._producer = producer
        self._retry_backoff = retry_backoff
        self._max_backoff = max_backoff
        # aiokafka's partitioner hashes in Python; a worker writes the same few keys again and
        # again (its crossings and borders), so each key's partition is kept per partition list.
        self._chosen = KeyPartitions()

    async def write(self, records: list[Record]) -> None:
        pending = records
        backoff = self._retry_backoff
        while pending:
            pending = await self._write_once(pending)
            if pending:
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._max_backoff)

    async def _write_once(self, records: list[Record]) -> list[Record]:
        """Queues every record and waits for the broker; returns those to try again."""
        try:
            # Not started or stopped (the worker starting or shutting down), no metadata yet:
            # not a bug in our code, so no stack trace; the input is not acknowledged until sent.
            producer = self._producer._ensure_producer()
            groups = by_partition(records, await _partitioner(producer, records, self._chosen))
        except Exception as exc:
            logger.warning("could not queue %d records (%r); will retry", len(records), exc)
            return records
        futures: list[asyncio.Future[Any]] = []
        queued: list[list[Record]] = []
        failed: list[Record] = []
        for (topic, partition), group in groups.items():
            for builder, batch in _batches(producer, group):
                try:
                    futures.append(await producer.send_batch(builder, topic, partition=partition))
                except Exception as exc:
                    logger.warning("could not queue a batch for %s (%r); will retry", topic, exc)
                    failed.extend(batch)
                    continue
                queued.append(batch)
        results = await asyncio.gather(*futures, return_exceptions=True)
        for batch, res in zip(queued, results, strict=True):
            if isinstance(res, BaseException):
                logger.warning("write to %s failed (%r); will retry", batch[0].topic, res)
                failed.extend(batch)
        return failed


class KeyPartitions:
    """The partition the partitioner chose per (topic, key), for the topic's partition list it
    chose from; bounded (forgotten all at once when full)."""

    MAX_KEYS = 100_000

    def __init__(self) -> None:
        self._chosen: dict[tuple[str, bytes], tuple[tuple[int, ...], int]] = {}

    def get(self, topic: str, key: bytes, every: tuple[int, ...]) -> int | None:
        hit = self._chosen.get((topic, key))
        return hit[1] if hit is not None and hit[0] == every else None

    def put(self, topic: str, key: bytes, every: tuple[int, ...], partition: int) -> None:
        if len(self._chosen) >= self.MAX_KEYS:
            self._chosen.clear()
        self._chosen[(topic, key)] = (every, partition)


async def _partitioner(
    producer: Any, records: list[Record], chosen: KeyPartitions
) -> Callable[[Record], int]:
    """What `send` would choose for a record without a partition, each topic looked up once;
    a keyed record's partition depends on its key and the topic's partitions only."""
    topics = {r.topic for r in records if r.partition is None}
    partitions: dict[str, tuple[tuple[int, ...], list[int]]] = {}
    for topic in topics:
        await producer.client._wait_on_metadata(topic)
        metadata = producer.client.cluster
        partitions[topic] = (
            tuple(metadata.partitions_for_topic(topic)),
            list(metadata.available_partitions_for_topic(topic)),
        )

    def choose(record: Record) -> int:
        every, available = partitions[record.topic]
        key = record.key
        if key is None:  # spread at random over the available partitions
            return int(producer._partitioner(key, list(every), available))
        partition = chosen.get(record.topic, key, every)
        if partition is None:
            partition = int(producer._partitioner(key, list(every), available))
            chosen.put(record.topic, key, every, partition)
        return partition

    return choose


def _batches(producer: Any, records: list[Record]) -> Iterator[tuple[Any, list[Record]]]:
    """The records in producer batches, each as full as the producer's batch size allows (a
    record larger than that goes alone)."""
    builder = producer.create_batch()
    batch: list[Record] = []
    for r in records:
        if builder.append(timestamp=None, key=r.key, value=r.value, headers=r.headers) is None:
            yield builder, batch
            builder = producer.create_batch()
            batch = []
            builder.append(timestamp=None, key=r.key, value=r.value, headers=r.headers)
        batch.append(r)
    if batch:
        yield builder, batch
