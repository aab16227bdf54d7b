"""Event-time bucket counts for the directions of one partition: watermark, closing, late fixes.

Pure logic, no Kafka: the counting agent feeds batches in and persists what `apply_batch`
reports as changed. State is kept in day chunks (one compact array per direction and UTC day)
so that a month of history costs kilobytes per direction and a batch touches few keys.

Event time moves on with the slowest source. Ingest tells every partition how far each
partition of the input topic has been forwarded (`observe_source`); the partition's event
clock is the least of those among sources that still have records to send. A backlog read
at different paces per input partition therefore closes a bucket only once every source has
passed it, as live traffic would: no bucket closes on partial data, no retry outruns the dedupe
memory. Without such reports (a keyed topic written by something else) the clock is the
largest event time seen, as before.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator

from streams.count.model import (
    BatchResult,
    ClosedBucket,
    CountedEvent,
    CounterConfig,
    Direction,
    SourceClock,
)
from streams.count.windows import DAY_MS, bucket_start, closable_until

_T, _E, _R = 0, 1, 2  # slot layout in a chunk: travellers, events, revision per bucket


class PartitionCounter:
    """Counts of every direction whose events land on one partition."""

    def __init__(self, config: CounterConfig) -> None:
        self.config = config
        self.max_event_ms: int | None = None
        # The next source offset to count: records are taken strictly in offset order.
        self.next_offset: int | None = None
        self.closed_until: int | None = None  # every bucket starting before this is published
        self.first_bucket: dict[Direction, int] = {}
        # day start -> direction -> [travellers, events, revision] * buckets per day
        self.days: dict[int, dict[Direction, array[int]]] = {}
        # The source offset each saved chunk already contains. A record replayed after a crash
        # is added only to chunks whose saved state predates it: counts stay exact even when a
        # crash saved some keys of a batch and not others.
        self.chunk_offsets: dict[tuple[Direction, int], int] = {}
        # bucket start -> crossing_id -> event id -> offset of the record that counted it
        self.dedupe: dict[int, dict[str, dict[str, int]]] = {}
        # "crossing_id|event_id" -> that offset, over every bucket in the dedupe horizon
        self.seen_ids: dict[str, int] = {}
        # Where the state is saved, kept by the codec (dedupe_records.py, chunk_records.py) to
        # delete what is replaced: bucket start -> the keys of its ids; chunk -> its updates.
        self.dedupe_keys: dict[int, set[str]] = {}
        self.dedupe_deltas: dict[int, set[str]] = {}  # bucket -> crossings with delta records
        self.chunk_updates: dict[tuple[Direction, int], list[str]] = {}
        # Input partition -> how far ingest has forwarded it; source_count is how many there
        # are (None: no reports, the clock is max_event_ms).
        self.sources: dict[int, SourceClock] = {}
        self.source_count: int | None = None

    # -- reading ---------------------------------------------------------------------------

    @property
    def clock_ms(self) -> int | None:
        """Event time this partition has reached: what closing and expiry go by (None: wait)."""
        if self.source_count is None:
            # Before the first report, events of a fast source must not close the buckets of
            # a slow one: a fresh partition of a backlog would otherwise close on partial data.
            return None if self.config.await_sources else self.max_event_ms
        if len(self.sources) < self.source_count:
            return None  # an input partition not heard from: it may hold anything
        active = [c.event_ms for c in self.sources.values() if not c.idle]
        if not active:
            return self.max_event_ms  # every source caught up: all there is has arrived
        return min(active)

    @property
    def watermark_ms(self) -> int | None:
        clock = self.clock_ms
        if clock is None:
            return None
        return clock - self.config.lateness_ms

    def all_sources_idle(self) -> bool:
        """Whether nothing more is on its way (true without source reports): the idle closer
        may then move event time on with the wall clock."""
        if self.source_count is None:
            return not self.config.await_sources
        return len(self.sources) >= self.source_count and all(c.idle for c in self.sources.values())

    def observe_source(self, source: int, event_ms: int, idle: bool, count: int) -> None:
        """Ingest's report for one input partition (of `count`): forwarded up to event_ms."""
        self.source_count = count
        known = self.sources.get(source)
        if known is not None:
            event_ms = max(event_ms, known.event_ms)
        self.sources[source] = SourceClock(event_ms, idle)

    def directions(self) -> list[Direction]:
        return sorted(self.first_bucket)

    def bucket(self, direction: Direction, start_ms: int) -> tuple[int, int, int]:
        """(travellers, events, revision) of one bucket; zeros where nothing was counted."""
        day = self.days.get(start_ms - start_ms % DAY_MS)
        chunk = None if day is None else day.get(direction)
        if chunk is None:
            return (0, 0, 0)
        i = 3 * ((start_ms % DAY_MS) // self.config.bucket_ms)
        return (chunk[i + _T], chunk[i + _E], chunk[i + _R])

    def window_sum(self, direction: Direction, end_ms: int, length_ms: int) -> tuple[int, int]:
        """(travellers, events) over the buckets in [end_ms - length_ms, end_ms)."""
        travellers = events = 0
        step = self.config.bucket_ms
        for start in range(end_ms - length_ms, end_ms, step):
            t, e, _ = self.bucket(direction, start)
            travellers += t
            events += e
        return travellers, events

    def buckets(self, direction: Direction, since_ms: int, until_ms: int) -> Iterator[ClosedBucket]:
        step = self.config.bucket_ms
        for start in range(bucket_start(since_ms, step), until_ms, step):
            t, e, r = self.bucket(direction, start)
            yield ClosedBucket(direction, start, start + step, t, e, r)

    # -- writing ---------------------------------------------------------------------------

    def apply_batch(self, events: Iterable[CountedEvent]) -> BatchResult:
        """Count a batch, then close every bucket the new watermark has passed."""
        cfg = self.config
        result = BatchResult()
        corrected: set[tuple[Direction, int]] = set()
        clock = self.clock_ms
        for ev in events:
            if clock is not None and ev.event_time_ms < clock - cfg.lateness_ms - cfg.history_ms:
                result.expired.append(ev)
                continue
            start = bucket_start(ev.event_time_ms, cfg.bucket_ms)
            crossing = ev.direction[0]
            # An upstream retry may carry a corrected occurred_at: the id is looked up across
            # the whole dedupe horizon, and remembered in the bucket where it first counted.
            seen_key = f"{crossing}|{ev.event_id}"
            first_offset = self.seen_ids.get(seen_key)
            if first_offset is None:
                self.seen_ids[seen_key] = ev.offset
                self.dedupe.setdefault(start, {}).setdefault(crossing, {})[ev.event_id] = ev.offset
                result.remembered.setdefault(start, []).append((crossing, ev.event_id, ev.offset))
            elif first_offset != ev.offset:
                result.duplicates += 1
                continue
            if self.max_event_ms is None or ev.event_time_ms > self.max_event_ms:
                self.max_event_ms = ev.event_time_ms
            first = self.first_bucket.get(ev.direction)
            if first is None or start < first:
                self.first_bucket[ev.direction] = start
            day = start - start % DAY_MS
            key = (ev.direction, day)
            if self.chunk_offsets.get(key, -1) >= ev.offset:
                result.replayed += 1
                continue
            self.chunk_offsets[key] = ev.offset
            chunks = self.days.get(day)
            if chunks is None:
                chunks = self.days[day] = {}
            chunk = chunks.get(ev.direction)
            if chunk is None:
                chunk = chunks[ev.direction] = array("I", bytes(12 * cfg.per_day))
            i = 3 * ((start - day) // cfg.bucket_ms)
            chunk[i + _T] += ev.travellers
            chunk[i + _E] += 1
            result.dirty_chunks.add(key)
            result.changed_buckets.setdefault(key, set()).add(i // 3)
            result.counted += 1
            if self.closed_until is not None and start < self.closed_until:
                if first is None:
                    # A direction first seen through a late event: its buckets up to the
                    # partition's close point were never published; publish them now.
                    self._publish_range(ev.direction, start, self.closed_until, result)
                else:
                    result.late += 1
                    corrected.add((ev.direction, start))
        for direction, start in sorted(corrected):
            day = start - start % DAY_MS
            chunk = self.days[day][direction]
            i = 3 * ((start - day) // cfg.bucket_ms)
            chunk[i + _R] += 1
            result.closed.append(
                ClosedBucket(
                    direction,
                    start,
                    start + cfg.bucket_ms,
                    chunk[i + _T],
                    chunk[i + _E],
                    chunk[i + _R],
                )
            )
        self.advance(result)
        self._cap_dedupe(result)
        return result

    def advance(self, result: BatchResult, idle_to_ms: int | None = None) -> BatchResult:
        """Close buckets up to the watermark (or, for an idle partition, up to idle_to_ms)."""
        if self.max_event_ms is None:
            return result
        if idle_to_ms is not None and idle_to_ms > self.max_event_ms and self.all_sources_idle():
            # No new events: event time is taken to move on with the wall clock.
            self.max_event_ms = idle_to_ms
        clock = self.clock_ms
        if clock is None:
            return result
        target = closable_until(clock - self.config.lateness_ms, self.config.bucket_ms)
        if self.closed_until is None:
            # First events ever: nothing before the first bucket of each direction exists.
            self.closed_until = min(min(self.first_bucket.values(), default=target), target)
        if target > self.closed_until:
            for direction in sorted(self.first_bucket):
                self._publish_range(direction, self.closed_until, target, result)
            self.closed_until = target
            self._expire(result)
        return result

    def _publish_range(
        self, direction: Direction, since_ms: int, until_ms: int, result: BatchResult
    ) -> None:
        since_ms = max(since_ms, self.first_bucket[direction])
        step = self.config.bucket_ms
        # Zeros are published for the kept history only: one event from years ago must not
        # close (and send) every empty bucket since then. Counted buckets are always published.
        horizon = bucket_start(until_ms - self.config.history_ms, step)
        if since_ms < horizon:
            for day in sorted(d for d in self.days if since_ms - DAY_MS < d < horizon):
                chunk = self.days[day].get(direction)
                if chunk is None:
                    continue
                for i in range(0, len(chunk), 3):
                    start = day + (i // 3) * step
                    if since_ms <= start < horizon and chunk[i + _E]:
                        result.closed.append(
                            ClosedBucket(
                                direction,
                                start,
                                start + step,
                                chunk[i + _T],
                                chunk[i + _E],
                                chunk[i + _R],
                            )
                        )
            since_ms = horizon
        for start in range(since_ms, until_ms, step):
            t, e, r = self.bucket(direction, start)
            result.closed.append(ClosedBucket(direction, start, start + step, t, e, r))

    def _cap_dedupe(self, result: BatchResult) -> None:
        """Forget the oldest buckets' event ids while more than dedupe_max_ids are kept."""
        while len(self.seen_ids) > self.config.dedupe_max_ids and len(self.dedupe) > 1:
            result.evicted_ids += self._forget_dedupe_bucket(min(self.dedupe), result)

    def _forget_dedupe_bucket(self, start: int, result: BatchResult) -> int:
        forgotten = 0
        for crossing, ids in self.dedupe.pop(start).items():
            for event_id in ids:
                self.seen_ids.pop(f"{crossing}|{event_id}", None)
            forgotten += len(ids)
        result.dropped_dedupe.add(start)
        result.remembered.pop(start, None)
        return forgotten

    def _expire(self, result: BatchResult) -> None:
        """Forget what lies beyond the history and dedupe horizons, by event time only: the
        partition's clock, which a fast source cannot move past a slow one's retries."""
        clock = self.clock_ms
        assert clock is not None
        horizon = clock - self.config.lateness_ms - self.config.history_ms
        for day in [d for d in self.days if d + DAY_MS <= horizon]:  # ~history_days keys
            for direction in self.days.pop(day):
                self.chunk_offsets.pop((direction, day), None)
                result.dropped_chunks.add((direction, day))
                result.dirty_chunks.discard((direction, day))
        dedupe_horizon = clock - self.config.lateness_ms - self.config.dedupe_ms
        while self.dedupe:
            oldest = min(self.dedupe)  # a few hundred bucket starts at most
            if oldest + self.config.bucket_ms > dedupe_horizon:
                break
            self._forget_dedupe_bucket(oldest, result)
        for direction, first in list(self.first_bucket.items()):
            if first < horizon:
                self.first_bucket[direction] = bucket_start(horizon, self.config.bucket_ms)
