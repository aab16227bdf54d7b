"""The counting agent: per partition, dedupe, count into buckets, close them, save the state."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from faust.types import TP

from schemas.dead_letter import DeadLetterReason, dead_letter_headers, source_of
from schemas.event import InvalidEvent, parse_event
from streams import failpoints
from streams.count import state
from streams.count.batch_report import report_batch
from streams.count.counter import PartitionCounter
from streams.count.model import BatchResult, CountedEvent, CounterConfig
from streams.count.records import count_record, encode_report
from streams.ingest import watermarks
from streams.kafka.outbox import Record
from streams.kafka.unreadable import is_skipped
from streams.metrics import source_timestamp_s

if TYPE_CHECKING:
    from streams.worker import Worker

logger = logging.getLogger(__name__)

RESTORE_TIMEOUT = 300.0  # seconds a batch may wait for its partition's state


class Counting:
    """Owns the counters of the partitions assigned to this worker."""

    def __init__(self, service: Worker) -> None:
        self.service = service
        s = service.settings
        self.config = CounterConfig(
            bucket_ms=s.bucket_seconds * 1000,
            lateness_ms=s.lateness_seconds * 1000,
            history_ms=s.history_days * 86_400_000,
            dedupe_ms=s.dedupe_hours * 3_600_000,
            dedupe_max_ids=s.dedupe_max_ids,
            await_sources=True,
        )
        self.counters: dict[int, PartitionCounter] = {}
        # wall-clock ms and max event time at the last batch, per partition (idle closing)
        self._anchors: dict[int, tuple[float, int]] = {}
        self._seeks: dict[int, tuple[int, float]] = {}  # partition -> (offset, when) asked
        # Partitions being revoked: nothing is counted, closed or saved for them until the
        # rebalance gives them back. Another worker may own them already; a write from here
        # would overwrite its state and republish its buckets with older counts.
        self.fenced: set[int] = set()
        self._lock = asyncio.Lock()

    # -- lifecycle -------------------------------------------------------------------------

    def restore(self, partitions: set[int], table_data: Any) -> None:
        """Rebuild counters of newly assigned partitions from the recovered table."""
        all_keys = list(table_data.keys())  # one pass over the store, not one per partition
        for p in sorted(partitions - set(self.counters)):
            counter = PartitionCounter(self.config)
            keys = list(state.keys_of(p, all_keys))
            offset = state.restore(p, counter, ((k, table_data[k]) for k in keys))
            for k in keys:  # the counter holds it now; no need for a second copy
                del table_data[k]
            self.counters[p] = counter
            logger.info(
                "partition %d restored: %d directions, %d days, last offset %d",
                p,
                len(counter.first_bucket),
                len(counter.days),
                offset,
            )

    async def fence(self, partitions: set[int]) -> None:
        """Stop writing for partitions that are being revoked; returns once nothing is."""
        self.fenced |= partitions
        async with self._lock:  # an idle close in progress finishes first
            pass

    def unfence(self, partitions: set[int]) -> None:
        """The rebalance gave these partitions to this worker (again)."""
        self.fenced -= partitions

    def revoke(self, partitions: set[int]) -> None:
        for p in partitions:
            self.counters.pop(p, None)
            self._anchors.pop(p, None)

    async def counter(self, partition: int) -> PartitionCounter | None:
        """The partition's counter, once its state has been restored.

        Faust resumes fetching a moment before it reports recovery complete; a batch that
        arrives in between waits here rather than counting into an empty state.
        """
        deadline = time.monotonic() + RESTORE_TIMEOUT
        while (counter := self.counters.get(partition)) is None:
            if partition in self.fenced:
                return None  # revoked while waiting: its records are left for the new owner
            if time.monotonic() > deadline:
                raise RuntimeError(f"partition {partition} was never restored")
            await asyncio.sleep(0.05)
        return counter

    # -- processing ------------------------------------------------------------------------

    async def process(self, messages: list[Any]) -> list[Any]:
        """Count a batch; returns the records left for later (after a gap in offsets)."""
        by_partition: dict[int, list[Any]] = defaultdict(list)
        for m in messages:
            by_partition[m.partition].append(m)
        left: list[Any] = []
        async with self._lock:
            for partition, batch in by_partition.items():
                counter = None if partition in self.fenced else await self.counter(partition)
                if counter is None:
                    left.extend(batch)
                    continue
                todo, later = self._in_order(counter, batch)
                if later:
                    left.extend(later)
                    await self._seek_back(later[0].topic, partition, counter_next(counter, todo))
                if todo:
                    with self.service.metrics.batch_seconds.time():
                        await self._process_partition(partition, counter, todo)
        return left

    def _in_order(self, counter: PartitionCounter, batch: list[Any]) -> tuple[list[Any], list[Any]]:
        """The records that continue the partition's offsets; the rest must come again.

        Faust may deliver a record twice (it re-seeks after a rebalance): an offset below
        next_offset is already in the saved state. An offset above it means records in
        between were not delivered; the consumer is sent back to fetch them.
        """
        todo: list[Any] = []
        expected = counter.next_offset
        # After a seek back, records fetched again arrive behind later ones fetched before it.
        batch = sorted(batch, key=lambda m: m.offset)
        for i, m in enumerate(batch):
            if expected is not None and m.offset < expected:
                continue  # counted already (or a second copy of one in this batch)
            # A skipped, undecodable batch covers first_offset..offset (kafka/unreadable.py).
            first = m.first_offset if is_skipped(m) else m.offset
            if expected is not None and first > expected:
                return todo, batch[i:]
            todo.append(m)
            expected = m.offset + 1
        return todo, []

    async def _seek_back(self, topic: str, partition: int, offset: int) -> None:
        asked, when = self._seeks.get(partition, (-1, 0.0))
        if asked == offset and time.monotonic() - when < 5:
            return  # records fetched before the last seek are still arriving
        self._seeks[partition] = (offset, time.monotonic())
        logger.warning(
            "gap before offset %d of %s[%d]; fetching again",
            offset,
            topic,
            partition,
            extra={"topic": topic, "partition": partition, "offset": offset},
        )
        await self.service.app.consumer.seek(TP(topic, partition), offset)

    async def _process_partition(
        self, partition: int, counter: PartitionCounter, messages: list[Any]
    ) -> None:
        service = self.service
        counted: list[CountedEvent] = []
        outputs: list[Record] = []
        for m in messages:
            if is_skipped(m):
                continue  # dead-lettered by the channel; only its offsets matter here
            if m.key is not None and watermarks.is_watermark(m.key):
                w = watermarks.decode(m.value)
                counter.observe_source(w.source, w.event_ms, w.idle, w.of)
                continue
            try:
                ev = parse_event(m.value)
            except InvalidEvent as exc:  # ingest validated it; only a foreign producer gets here
                outputs.append(self._dead_letter(m, exc.reason, exc.detail))
                continue
            counted.append(
                CountedEvent(
                    (ev.crossing_id, ev.from_country, ev.to_country),
                    ev.event_id,
                    ev.event_time_ms,
                    ev.travellers,
                    m.offset,
                )
            )
        result = counter.apply_batch(counted)
        counter.next_offset = messages[-1].offset + 1
        if counted or partition not in self._anchors:
            # Idle is a partition without events; ingest's watermarks alone do not reset it.
            self._anchors[partition] = (time.time(), counter.max_event_ms or 0)
        report_batch(service.metrics, partition, result, messages, self.config.dedupe_max_ids)
        by_offset = {m.offset: m for m in messages}
        for old in result.expired:
            detail = (
                f"occurred_at: older than the {service.settings.history_days} days of history "
                "kept; its bucket no longer exists"
            )
            dead = self._dead_letter(by_offset[old.offset], DeadLetterReason.EXPIRED, detail)
            outputs.append(dead)
        await self._save(partition, counter, result, outputs)
        # Measured after the save: until then a crash would make these records count again.
        service.metrics.observe_latency(
            source_timestamp_s(m)
            for m in messages
            if not is_skipped(m) and not watermarks.is_watermark(m.key)
        )

    def _dead_letter(self, m: Any, reason: DeadLetterReason, detail: str) -> Record:
        self.service.metrics.dead_lettered.labels(reason.value).inc()
        topic, partition, offset = source_of(m.headers, m.topic, m.partition, m.offset)
        headers = dead_letter_headers(reason, detail, topic, partition, offset)
        return Record(self.service.settings.dlq_topic, m.key, m.value, headers=headers)

    async def _save(
        self,
        partition: int,
        counter: PartitionCounter,
        result: BatchResult,
        outputs: list[Record],
    ) -> None:
        """Outputs first, then state, then the meta with the offset: see docs/exactly-once.md."""
        service = self.service
        counts_topic = service.settings.counts_topic
        border_topic = service.border_topic_name
        for b in result.closed:
            outputs.append(Record(counts_topic, b.direction[0].encode(), count_record(b)))
            key, value = encode_report(b)
            outputs.append(Record(border_topic, key, value))
        if outputs:
            await service.outbox.write(outputs)
        await failpoints.reached("count.save")
        changelog = service.changelog_topic_name
        writes = state.changed_entries(partition, counter, result)
        if writes.state:
            await service.outbox.write(
                [Record(changelog, k.encode(), v, partition) for k, v in writes.state]
            )
        offset = -1 if counter.next_offset is None else counter.next_offset - 1
        last = [*writes.replaced, state.meta_entry(partition, counter, offset)]
        await service.outbox.write([Record(changelog, k.encode(), v, partition) for k, v in last])
        service.metrics.buckets_closed.inc(len(result.closed))

    async def close_idle(self) -> None:
        """Close the buckets of partitions that have been idle longer than the setting."""
        idle_ms = self.service.settings.idle_close_seconds * 1000
        now = time.time()
        async with self._lock:
            for partition, (wall, event_ms) in list(self._anchors.items()):
                counter = self.counters.get(partition)
                elapsed = (now - wall) * 1000
                if counter is None or elapsed < idle_ms or partition in self.fenced:
                    continue
                result = counter.advance(BatchResult(), idle_to_ms=event_ms + int(elapsed))
                if result.closed:
                    await self._save(partition, counter, result, [])


def counter_next(counter: PartitionCounter, todo: list[Any]) -> int:
    """The offset to fetch again from: after what this batch counts, else the saved point."""
    if todo:
        return int(todo[-1].offset) + 1
    assert counter.next_offset is not None
    return counter.next_offset


def register(service: Worker) -> Counting:
    counting = Counting(service)
    service.batch_channel(
        service.keyed_topic,
        counting.process,
        with_skips=True,
        on_revoke=lambda tps: counting.fence({tp.partition for tp in tps}),
    )

    interval = max(1.0, service.settings.idle_close_seconds / 6)

    @service.app.timer(interval=interval)  # type: ignore[untyped-decorator]
    async def idle_closer() -> None:
        await counting.close_idle()

    return counting
