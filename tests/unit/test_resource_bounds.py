"""The worker's memory has bounds that do not grow with uptime: each is pinned here and stated
in the README (Guarantees)."""

from __future__ import annotations

import random

from streams.count.counter import PartitionCounter
from streams.count.model import CountedEvent, CounterConfig
from streams.count.windows import DAY_MS, HOUR_MS, MINUTE_MS
from streams.kafka.channel_buffer import MAX_BUFFERED_BYTES
from streams.kafka.topics import (
    MAX_DEAD_LETTER_BYTES,
    MAX_INPUT_BYTES,
    MAX_REQUEST_BYTES,
    topic_specs,
)
from streams.settings import Settings

T0 = 1_661_904_000_000  # 2022-08-31T00:00:00Z
DIRECTIONS = [("a", "RU", "FI"), ("b", "RU", "GE"), ("c", "FI", "RU")]


def stream(days: int, per_hour: int, seed: int = 1) -> list[CountedEvent]:
    rng = random.Random(seed)
    step = HOUR_MS // per_hour
    return [
        CountedEvent(rng.choice(DIRECTIONS), f"e{i}", T0 + i * step + rng.randrange(step), 1, i)
        for i in range(days * 24 * per_hour)
    ]


def test_bucket_history_keeps_history_days_plus_two_day_arrays_per_direction() -> None:
    cfg = CounterConfig(bucket_ms=5 * MINUTE_MS, lateness_ms=10 * MINUTE_MS, history_ms=3 * DAY_MS)
    c = PartitionCounter(cfg)
    events = stream(days=12, per_hour=60)
    for i in range(0, len(events), 500):
        c.apply_batch(events[i : i + 500])
        assert c.max_event_ms is not None
        assert len(c.days) <= 3 + 2, sorted(c.days)
        horizon = c.max_event_ms - cfg.lateness_ms - cfg.history_ms
        assert all(day + DAY_MS > horizon for day in c.days)
    # One day of one direction: buckets per day x (travellers, events, revision) x 4 bytes.
    for per_direction in c.days.values():
        for chunk in per_direction.values():
            assert chunk.itemsize * len(chunk) == 288 * 3 * 4 == 3456
    assert len(c.days) >= 3  # it did keep the history it should


def test_dedupe_store_holds_only_the_ids_of_the_dedupe_horizon() -> None:
    cfg = CounterConfig(bucket_ms=5 * MINUTE_MS, lateness_ms=10 * MINUTE_MS, dedupe_ms=6 * HOUR_MS)
    c = PartitionCounter(cfg)
    events = stream(days=3, per_hour=120)
    for i in range(0, len(events), 400):
        c.apply_batch(events[i : i + 400])
        assert c.max_event_ms is not None
        horizon = c.max_event_ms - cfg.lateness_ms - cfg.dedupe_ms - cfg.bucket_ms
        inside = sum(1 for e in events[: i + 400] if e.event_time_ms >= horizon)
        assert len(c.seen_ids) <= inside
        assert min(c.dedupe) >= horizon - cfg.bucket_ms
        # bucket keys: (dedupe + lateness) / bucket, plus the open and the closing bucket
        assert len(c.dedupe) <= (cfg.dedupe_ms + cfg.lateness_ms) // cfg.bucket_ms + 2
    assert len(c.seen_ids) >= 6 * 120  # and it does remember the horizon's ids


def test_huge_values_have_room_end_to_end_and_the_buffer_a_byte_bound() -> None:
    specs = {s.name: s for s in topic_specs(Settings())}
    events = int(specs["border.events"].configs["max.message.bytes"])
    dlq = int(specs["border.events.dlq"].configs["max.message.bytes"])
    assert events == MAX_INPUT_BYTES >= 1024 * 1024 + 64 * 1024
    assert dlq == MAX_DEAD_LETTER_BYTES >= events + 64 * 1024  # the copy and its headers
    assert MAX_REQUEST_BYTES > dlq
    assert MAX_BUFFERED_BYTES == 16 * 1024 * 1024


def test_dedupe_memory_has_an_absolute_cap_whatever_the_rate() -> None:
    """A burst far above any border's rate: the ids kept never exceed the cap (after each
    batch), the oldest buckets' ids go first, and a duplicate of a forgotten id counts again,
    as the README says."""
    cfg = CounterConfig(dedupe_max_ids=5_000)
    c = PartitionCounter(cfg)
    events = stream(days=1, per_hour=2_000)  # 48,000 events within the 24 h horizon
    evicted = 0
    for i in range(0, len(events), 1_000):
        result = c.apply_batch(events[i : i + 1_000])
        evicted += result.evicted_ids
        assert len(c.seen_ids) <= cfg.dedupe_max_ids
        assert sum(len(ids) for b in c.dedupe.values() for ids in b.values()) == len(c.seen_ids)
    assert evicted == len(events) - len(c.seen_ids)
    oldest_kept = min(c.dedupe)
    first = events[0]
    assert first.event_time_ms < oldest_kept  # forgotten: its bucket was the oldest
    again = CountedEvent(first.direction, first.event_id, first.event_time_ms, 1, len(events))
    assert c.apply_batch([again]).duplicates == 0  # counted again: the documented limit
    recent = events[-1]
    copy = CountedEvent(recent.direction, recent.event_id, recent.event_time_ms, 1, len(events) + 1)
    assert c.apply_batch([copy]).duplicates == 1  # within the cap: still recognised


def test_an_event_id_costs_about_150_bytes_of_dedupe_memory() -> None:
    """The figure the README gives for BORDER_SURGE_DEDUPE_MAX_IDS, measured."""
    import tracemalloc

    c = PartitionCounter(CounterConfig())
    events = [
        CountedEvent(("vaalimaa", "RU", "FI"), f"{i:08x}-4b1e-9f3a-{i:012d}", T0 + i * 1000, 1, i)
        for i in range(20_000)
    ]
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    c.apply_batch(events)
    per_id = (tracemalloc.get_traced_memory()[0] - before) / len(events)
    tracemalloc.stop()
    assert 80 < per_id < 250, per_id
