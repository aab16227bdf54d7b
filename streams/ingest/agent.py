"""The ingest agent: validate raw events, dead-letter the bad ones, re-key the good by crossing."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from schemas.dead_letter import DeadLetterReason, dead_letter_headers, source_headers
from schemas.event import InvalidEvent, parse_event
from streams import failpoints
from streams.ingest import watermarks
from streams.ingest.watermarks import SourceProgress
from streams.kafka.outbox import Record

if TYPE_CHECKING:
    from streams.kafka.batch_channel import BatchChannel
    from streams.worker import Worker

logger = logging.getLogger(__name__)


def classify(service: Worker, message: Any) -> tuple[Record, int | None]:
    """Where one input record goes: the keyed topic (valid, with its event time) or the
    dead-letter topic (None)."""
    settings = service.settings
    raw = message.value
    try:
        if raw is None:
            raise InvalidEvent(DeadLetterReason.NOT_OBJECT, "the record has no value (a tombstone)")
        event = parse_event(raw)
        limit_ms = int(message.timestamp * 1000) + settings.future_tolerance_seconds * 1000
        if event.event_time_ms > limit_ms:
            raise InvalidEvent(
                DeadLetterReason.FUTURE_EVENT,
                f"occurred_at: {event.occurred_at.isoformat()} is more than "
                f"{settings.future_tolerance_seconds} s after the record was written",
            )
    except InvalidEvent as exc:
        service.metrics.dead_lettered.labels(exc.reason.value).inc()
        return Record(
            service.settings.dlq_topic,
            message.key,
            raw,
            headers=dead_letter_headers(
                exc.reason, exc.detail, message.topic, message.partition, message.offset
            ),
        ), None
    # Forward the original bytes: counting parses them again (a few µs) rather than trusting
    # a second format, and the key is what co-locates a post's state on one partition.
    return Record(
        service.keyed_topic_name,
        event.crossing_id.encode(),
        raw,
        headers=[
            ("x-source-timestamp", str(int(message.timestamp * 1000)).encode()),
            # Where it came from, so a later dead letter (expired) points at the original.
            *source_headers(message.topic, message.partition, message.offset),
        ],
    ), event.event_time_ms


class Ingest:
    """Validates and forwards the input, and tells counting how far each input partition got:
    only as far as is committed, so a watermark never covers a record that may be sent again
    (streams/ingest/watermarks.py)."""

    def __init__(self, service: Worker) -> None:
        self.service = service
        self.progress = SourceProgress()
        self.channel: BatchChannel | None = None

    async def handle(self, messages: list[Any]) -> None:
        records, sources = classify_batch(self.service, messages)
        # Active again before its records: idle, a source would not hold the clock back.
        resumed = {s for s in sources if self.progress.resuming(s)}
        await self._announce(resumed, idle=False, now=time.monotonic())
        await failpoints.reached("ingest.write")
        await self.service.outbox.write(records)
        for source, (event_ms, next_offset) in sources.items():
            self.progress.forward(source, event_ms, next_offset)

    async def committed(self, offsets: dict[Any, int]) -> None:
        """The batch channel committed these offsets: what they cover is announced."""
        topic = self.service.settings.events_topic
        moved = {
            tp.partition
            for tp, offset in offsets.items()
            if tp.topic == topic and self.progress.committed(tp.partition, offset)
        }
        # Not while stopping (the producer may be gone), nor in a rebalance: the commit before a
        # revocation would announce a partition leaving this worker, which must then announce
        # it active again if it comes back (`revoked`). What moved is announced with the next
        # move or as idle.
        app = self.service.app
        if moved and not app.should_stop and not app.rebalancing:
            await self._announce(moved, idle=False, now=time.monotonic())

    async def revoked(self, tps: set[Any]) -> None:
        for tp in tps:
            self.progress.revoked(tp.partition)

    async def announce_idle(self) -> None:
        """Input partitions with nothing left to forward are idle: counting stops waiting for
        them. Idle means every record up to the partition's high watermark is committed, not
        merely fetched or forwarded: what is not committed is sent again after a crash.
        Repeated now and then; never during a rebalance."""
        service = self.service
        channel = self.channel
        if channel is None or service.app.rebalancing or service.app.should_stop:
            return  # stopping: the producer may already be gone, and counting hears it next run
        consumer = service.app.consumer
        topic = service.settings.events_topic
        idle = set()
        for tp in consumer.assignment():
            if tp.topic != topic or channel.holds(tp):
                continue
            highwater = consumer.highwater(tp)
            if highwater is None:
                continue
            committed = channel.commits.committed_offset(tp)
            finished = channel.commits.finished_offset(tp)
            if finished is not None and (committed is None or finished > committed):
                continue  # forwarded, not committed yet
            start = 0 if committed is None else committed  # none: read from the beginning
            if start >= highwater or await self._only_markers_left(tp, start, highwater):
                idle.add(tp.partition)
        await self._announce(idle, idle=True, now=time.monotonic())

    async def _only_markers_left(self, tp: Any, committed: int, highwater: int) -> bool:
        """A transactional producer's log ends with a commit marker, never delivered (and a log
        may begin past offset 0): the partition is idle once the consumer has fetched that far
        and no record lies there."""
        channel = self.channel
        assert channel is not None
        position = await self.service.app.consumer.position(tp)
        if position is None or position < highwater:
            return False
        return await channel.guard.nothing_left(tp, committed, highwater)

    async def _announce(self, sources: set[int], *, idle: bool, now: float) -> None:
        service = self.service
        due = sorted(s for s in sources if self.progress.due(s, idle, now))
        if not due:
            return
        # Every topic of the service has this many partitions (streams/admin.py checks it at
        # start). Not the consumer's metadata snapshot: only the group leader keeps one.
        of = service.settings.partitions
        records = []
        for s in due:
            value = watermarks.encode(self.progress.announced(s, of, idle, now))
            for q in range(of):
                records.append(Record(service.keyed_topic_name, watermarks.KEY, value, q))
        await service.outbox.write(records)


def classify_batch(
    service: Worker, messages: list[Any]
) -> tuple[list[Record], dict[int, tuple[int, int]]]:
    """Where a batch goes (every record to the keyed topic or the dead-letter topic), and per
    input partition with valid events: (their largest event time, the offset after the batch)."""
    records = []
    sources: dict[int, tuple[int, int]] = {}
    for m in messages:
        try:
            record, event_ms = classify(service, m)
        except Exception:  # never stall the stream on one record
            logger.exception(
                "unexpected error on %s[%d]@%d; dead-lettering it",
                m.topic,
                m.partition,
                m.offset,
                extra={"topic": m.topic, "partition": m.partition, "offset": m.offset},
            )
            headers = dead_letter_headers(
                DeadLetterReason.INVALID_FIELD,
                "internal error while validating",
                m.topic,
                m.partition,
                m.offset,
            )
            record, event_ms = (
                Record(service.settings.dlq_topic, m.key, m.value, headers=headers),
                None,
            )
        records.append(record)
        if event_ms is not None:
            latest, after = sources.get(m.partition, (event_ms, 0))
            sources[m.partition] = (max(latest, event_ms), max(after, m.offset + 1))
    service.metrics.consumed.inc(len(messages))
    return records, sources


def register(service: Worker) -> Ingest:
    ingest = Ingest(service)
    ingest.channel = service.batch_channel(
        service.events_topic,
        ingest.handle,
        on_revoke=ingest.revoked,
        loss_point="ingest.deliver",
        commit_point="ingest.commit",
        commit_every_batch=True,
        after_commit=ingest.committed,
    )

    @service.app.timer(interval=1.0)  # type: ignore[untyped-decorator]
    async def idle_sources() -> None:
        await ingest.announce_idle()

    return ingest
