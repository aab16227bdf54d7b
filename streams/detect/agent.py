"""The detection agent: closed buckets keyed by border in, alerts out, exactly once.

Each partition has its own transactional producer (transactional.id = app id + partition),
so alerts and the detector state that explains them commit together, and a new owner of the
partition fences a crashed or stalled old one. Input is replayed at least once; detectors
ignore buckets they already evaluated, so a replay re-emits nothing that was committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import ProducerFenced

from schemas.alert import Alert
from streams import failpoints
from streams.count.records import decode_report
from streams.count.windows import DAY_MS, to_datetime
from streams.detect.config import load_config
from streams.detect.partition import Alerting, DetectPartition, DetectResult
from streams.kafka.clients import client_kwargs
from streams.kafka.topics import detect_state_topic

if TYPE_CHECKING:
    from streams.worker import Worker

logger = logging.getLogger(__name__)

# A batch whose transaction fails is judged again from the committed state, this many times
# at most (backing off up to 30 s), before the worker gives up and restarts.
MAX_TRANSACTION_ATTEMPTS = 20


def alert_record(a: Alerting, emitted_at_ms: int) -> tuple[bytes, bytes]:
    t = a.transition
    alert = Alert(
        alert_id=t.alert_id,
        status=t.status.value,
        severity=t.severity.value,
        scope=a.scope,
        crossing_id=a.crossing_id,
        from_country=a.from_country,
        to_country=a.to_country,
        window_start=to_datetime(t.window_start_ms),
        window_end=to_datetime(t.window_end_ms),
        observed=t.observed,
        expected=round(t.expected, 3),
        ratio=round(t.ratio, 3),
        change_point=None if t.change_point_ms is None else to_datetime(t.change_point_ms),
        episode_ratio=None if t.episode_ratio is None else round(t.episode_ratio, 3),
        episode_ratio_low=None if t.episode_ratio_low is None else round(t.episode_ratio_low, 3),
        emitted_at=to_datetime(emitted_at_ms),
    )
    return alert.subject.encode(), alert.model_dump_json().encode()


class Detection:
    def __init__(self, service: Worker) -> None:
        self.service = service
        self.config = load_config(str(service.settings.config) if service.settings.config else None)
        self.state_topic = detect_state_topic(service.settings)
        self.bucket_ms = service.settings.bucket_seconds * 1000
        self.history_days = service.settings.history_days
        self.partitions: dict[int, DetectPartition] = {}
        self._producers: dict[int, AIOKafkaProducer] = {}
        self._last_day: dict[str, int] = {}
        self._lock = asyncio.Lock()

    # -- ownership -------------------------------------------------------------------------

    async def _own(self, q: int) -> DetectPartition:
        part = self.partitions.get(q)
        if part is not None:
            return part
        settings = self.service.settings
        producer = AIOKafkaProducer(
            **client_kwargs(settings),
            transactional_id=f"{settings.app_id}-detect-{q}",
            enable_idempotence=True,
            acks="all",
            linger_ms=5,
            compression_type=settings.compression_type,
        )
        try:
            await producer.start()  # init_transactions: fences the previous owner, aborts its txn
        except BaseException:
            with contextlib.suppress(Exception):
                await producer.stop()
            raise
        self._producers[q] = producer  # _drop stops it if the restore below fails
        part = DetectPartition(self.config, self.bucket_ms)
        started = time.monotonic()
        n = await self._restore(q, part)
        self.partitions[q] = part
        logger.info(
            "detection partition %d restored: %d subjects from %d records in %.2f s",
            q,
            len(part.detectors),
            n,
            time.monotonic() - started,
        )
        return part

    async def _restore(self, q: int, part: DetectPartition) -> int:
        consumer = AIOKafkaConsumer(
            **client_kwargs(self.service.settings),
            isolation_level="read_committed",
            enable_auto_commit=False,
        )
        await consumer.start()
        latest: dict[str, bytes | None] = {}
        n = 0
        try:
            tp = TopicPartition(self.state_topic, q)
            consumer.assign([tp])
            await consumer.seek_to_beginning(tp)
            end = (await consumer.end_offsets([tp]))[tp]
            while await consumer.position(tp) < end:
                batch = await consumer.getmany(tp, timeout_ms=500, max_records=5000)
                for record in batch.get(tp, []):
                    latest[record.key.decode()] = record.value
                    n += 1
        finally:
            await consumer.stop()
        for key in sorted(k for k in latest if k.startswith("h|")):
            value = latest[key]
            if value is not None:
                _, subject, day = key.split("|")
                part.restore_history_day(subject, int(day), value)
        for key, value in latest.items():
            if value is None:
                continue
            kind, name = key.split("|", 1)
            if kind == "d":
                part.restore_detector(name, value)
            elif kind == "b":
                part.restore_border(name, value)
        return n

    async def restore(self, partitions: set[int]) -> None:
        """Take ownership of newly assigned partitions now, so the API shows them at once."""
        async with self._lock:
            for q in sorted(partitions):
                await self._own(q)

    async def revoke(self, partitions: set[int]) -> None:
        async with self._lock:
            for q in partitions:
                await self._drop(q)

    async def _drop(self, q: int) -> None:
        """Forget the partition's state and stop its producer (the caller holds the lock)."""
        self.partitions.pop(q, None)
        producer = self._producers.pop(q, None)
        if producer is not None:
            try:
                await asyncio.wait_for(producer.stop(), timeout=30)
            except Exception as exc:  # a producer in a fatal state may not stop cleanly
                logger.warning("detection partition %d: producer did not stop (%r)", q, exc)

    async def stop(self) -> None:
        await self.revoke(set(self._producers))

    # -- processing ------------------------------------------------------------------------

    async def process(self, messages: list[Any]) -> None:
        by_partition: dict[int, list[Any]] = defaultdict(list)
        for m in messages:
            by_partition[m.partition].append(m)
        async with self._lock:
            for q, messages in by_partition.items():
                await self._process_partition(q, messages)

    async def _process_partition(self, q: int, messages: list[Any]) -> None:
        reports = []
        for m in messages:
            try:
                reports.append(decode_report(m.value))
            except (ValueError, TypeError):
                logger.exception(
                    "skipping a malformed bucket report at %s[%d]@%d",
                    m.topic,
                    m.partition,
                    m.offset,
                )
        for attempt in range(MAX_TRANSACTION_ATTEMPTS):
            try:
                part = await self._own(q)  # after a failure: the broker may still be down
                result = part.apply(reports)
                await self._commit(q, part, result)
                return
            except ProducerFenced:
                # Another worker owns this partition now; it replays from the committed state.
                logger.warning("detection partition %d was taken over; dropping it here", q)
                await self._drop(q)
                return
            except Exception as exc:
                # A broker outage can leave aiokafka's transaction manager in a fatal state
                # (seen with the broker stopped during AddPartitionsToTxn). As after a crash:
                # a new producer fences and aborts the old transaction, the partition's state
                # is read back as committed, and the same bucket reports are judged again, so
                # the alerts of this batch go out once, whether or not the broker had them.
                logger.warning(
                    "detection partition %d: transaction failed (%r); restoring the committed "
                    "state and judging the batch again",
                    q,
                    exc,
                )
                await self._drop(q)
                await asyncio.sleep(min(30.0, 0.5 * 2**attempt))
        raise RuntimeError(f"detection partition {q}: no transaction went through")

    async def _commit(self, q: int, part: DetectPartition, result: DetectResult) -> None:
        settings = self.service.settings
        producer = self._producers[q]
        now_ms = int(time.time() * 1000)
        async with producer.transaction():
            await failpoints.reached("detect.begin")
            for a in result.alerts:
                key, value = alert_record(a, now_ms)
                await producer.send(settings.alerts_topic, value, key=key)
                self.service.metrics.alerts.labels(
                    a.transition.status.value, a.transition.severity.value
                ).inc()
                logger.info(
                    "alert %s %s %s ratio %.2f",
                    a.transition.status.value,
                    a.transition.severity.value,
                    a.transition.alert_id,
                    a.transition.ratio,
                )
            for name, entry in self._state_entries(part, result):
                await producer.send(self.state_topic, entry, key=name.encode(), partition=q)
            await failpoints.reached("detect.commit")

    def _state_entries(
        self, part: DetectPartition, result: DetectResult
    ) -> list[tuple[str, bytes | None]]:
        entries: list[tuple[str, bytes | None]] = []
        for subject, day in sorted(result.dirty_days):
            entries.append((f"h|{subject}|{day}", part.history_day(subject, day)))
            if day > self._last_day.get(subject, day - 1):
                # A new day for this subject: the day that just left the history goes.
                expired = day - (self.history_days + 1) * DAY_MS
                entries.append((f"h|{subject}|{expired}", None))
            self._last_day[subject] = max(day, self._last_day.get(subject, day))
        for subject in sorted(result.dirty_subjects):
            state = part.detectors[subject].to_dict(include_history=False)
            entries.append((f"d|{subject}", json.dumps(state).encode()))
        for border in sorted(result.dirty_borders):
            entries.append((f"b|{border}", part.borders[border].to_json()))
        return entries


def register(service: Worker) -> Detection:
    detection = Detection(service)
    service.batch_channel(service.border_topic, detection.process)
    return detection
