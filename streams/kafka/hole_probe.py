"""Asks the broker which record really comes first at or after an offset of a partition.

A batch channel that sees its partition's offsets jump (streams/kafka/continuity.py) must tell
a genuine hole in the log from records its consumer lost on the way: a transactional producer
leaves one offset per commit or abort marker that no consumer ever sees (and aborted records,
which a committed read skips), and compaction or retention remove records. A consumer of its
own (no group, never committing, reading committed records as the worker does) reads one
record from the offset and answers: if the first record there is the one delivered, nothing
lies in between; if it is earlier, those records exist and must be fetched again.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from streams.kafka.clients import client_kwargs
from streams.settings import Settings

logger = logging.getLogger(__name__)

PROBE_TIMEOUT_MS = 5_000


class ProbeFailed(Exception):
    """The broker did not answer (it is away, say): nothing is known."""


class HoleProbe:
    """One standalone consumer, started on first use and shared by the worker's channels."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._consumer: Any = None
        self._lock = asyncio.Lock()
        self.closed = False

    async def first_offset_from(
        self, topic: str, partition: int, offset: int, *, timeout_ms: int = PROBE_TIMEOUT_MS
    ) -> int | None:
        """The offset of the first committed record at or after `offset`; None if there is
        none yet (none arrived within the timeout). Raises ProbeFailed without an answer."""
        from aiokafka import TopicPartition

        async with self._lock:
            if self.closed:
                raise ProbeFailed("the worker is stopping")
            try:
                consumer = await self._started()
                tp = TopicPartition(topic, partition)
                consumer.assign([tp])
                consumer.seek(tp, offset)
                got = await consumer.getmany(tp, timeout_ms=timeout_ms, max_records=1)
            except Exception as exc:
                logger.warning(
                    "could not read %s[%d] from offset %d: %r", topic, partition, offset, exc
                )
                raise ProbeFailed(str(exc)) from exc
        records = got.get(tp) or []
        return int(records[0].offset) if records else None

    async def _started(self) -> Any:
        if self._consumer is None:
            from aiokafka import AIOKafkaConsumer

            consumer = AIOKafkaConsumer(
                group_id=None,
                enable_auto_commit=False,
                auto_offset_reset="earliest",  # below the log start (retention): its first record
                isolation_level="read_committed",  # as the worker reads (kafka/committed_reads.py)
                **client_kwargs(self._settings),
            )
            await consumer.start()
            self._consumer = consumer
        return self._consumer

    async def close(self) -> None:
        async with self._lock:
            self.closed = True
            if self._consumer is not None:
                consumer, self._consumer = self._consumer, None
                await consumer.stop()
