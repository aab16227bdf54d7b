"""The pure bucket and watermark logic of one partition."""

from __future__ import annotations

import random
from collections import Counter

from streams.count.counter import PartitionCounter
from streams.count.model import CountedEvent, CounterConfig
from streams.count.windows import DAY_MS, MINUTE_MS, bucket_start

T0 = 1_663_718_400_000  # 2022-09-21T00:00:00Z
D1 = ("vaalimaa", "RU", "FI")
D2 = ("nuijamaa", "RU", "FI")
CFG = CounterConfig(bucket_ms=5 * MINUTE_MS, lateness_ms=10 * MINUTE_MS)


_offsets = iter(range(10**9))


def ev(
    t_ms: int,
    n: int = 1,
    d: tuple[str, str, str] = D1,
    eid: str | None = None,
    offset: int | None = None,
) -> CountedEvent:
    off = next(_offsets) if offset is None else offset
    return CountedEvent(d, eid or f"e{t_ms}-{n}-{off}", t_ms, n, off)


def test_bucket_start_is_utc_aligned_and_floors():
    assert bucket_start(T0 + 4 * MINUTE_MS + 59_999, 5 * MINUTE_MS) == T0
    assert bucket_start(T0 + 5 * MINUTE_MS, 5 * MINUTE_MS) == T0 + 5 * MINUTE_MS
    assert bucket_start(T0 - 1, 5 * MINUTE_MS) == T0 - 5 * MINUTE_MS


def test_bucket_closes_only_when_watermark_passes_its_end():
    c = PartitionCounter(CFG)
    r = c.apply_batch([ev(T0 + 1000, 3)])
    assert r.closed == []
    # watermark = max - 10 min; bucket [T0, T0+5m) closes when max >= T0 + 15 min
    r = c.apply_batch([ev(T0 + 15 * MINUTE_MS - 1)])
    assert r.closed == []
    r = c.apply_batch([ev(T0 + 15 * MINUTE_MS)])
    assert [(b.start_ms, b.travellers, b.events, b.revision) for b in r.closed] == [(T0, 3, 1, 0)]


def test_late_event_within_lateness_counts_in_its_open_bucket_without_revision():
    c = PartitionCounter(CFG)
    c.apply_batch([ev(T0 + 12 * MINUTE_MS)])
    r = c.apply_batch([ev(T0 + 60_000, 2)])  # 11 minutes behind max, bucket still open
    assert r.late == 0 and r.closed == []
    r = c.apply_batch([ev(T0 + 30 * MINUTE_MS)])
    first = [b for b in r.closed if b.start_ms == T0 and b.direction == D1]
    assert first[0].travellers == 2 and first[0].revision == 0


def test_late_event_beyond_lateness_corrects_closed_bucket_with_next_revision():
    c = PartitionCounter(CFG)
    c.apply_batch([ev(T0, 5), ev(T0 + 60 * MINUTE_MS)])
    assert c.bucket(D1, T0) == (5, 1, 0)
    r = c.apply_batch([ev(T0 + 1, 4)])
    assert r.late == 1
    assert [(b.start_ms, b.travellers, b.events, b.revision) for b in r.closed] == [(T0, 9, 2, 1)]
    r = c.apply_batch([ev(T0 + 2, 1), ev(T0 + 3, 1)])
    assert [(b.travellers, b.revision) for b in r.closed] == [(11, 2)]


def test_quiet_direction_gets_zero_buckets_when_partition_watermark_moves():
    c = PartitionCounter(CFG)
    c.apply_batch([ev(T0, 1, D1), ev(T0, 1, D2)])
    r = c.apply_batch([ev(T0 + 60 * MINUTE_MS, 1, D1)])
    quiet = [b for b in r.closed if b.direction == D2]
    assert [b.start_ms for b in quiet] == list(range(T0, T0 + 50 * MINUTE_MS, 5 * MINUTE_MS))
    assert [b.travellers for b in quiet] == [1] + [0] * 9


def test_idle_partition_closes_buckets_by_wall_clock_advance():
    c = PartitionCounter(CFG)
    c.apply_batch([ev(T0 + MINUTE_MS, 7)])
    r = c.advance(type(c.apply_batch([]))(), idle_to_ms=T0 + 16 * MINUTE_MS)
    assert [(b.start_ms, b.travellers) for b in r.closed] == [(T0, 7)]


def test_duplicate_event_id_for_same_crossing_counts_once():
    c = PartitionCounter(CFG)
    r = c.apply_batch([ev(T0, 3, eid="a"), ev(T0, 3, eid="a"), ev(T0, 3, D2, eid="a")])
    assert (r.counted, r.duplicates) == (2, 1)
    assert c.bucket(D1, T0) == (3, 1, 0)
    r = c.apply_batch([ev(T0, 3, eid="a")])
    assert r.duplicates == 1


def test_offsets_in_event_time_land_in_the_utc_bucket():
    from schemas.event import parse_event

    raw = (
        b'{"event_id":"x","crossing_id":"vaalimaa","occurred_at":"2022-09-21T03:02:00+03:00",'
        b'"from_country":"RU","to_country":"FI","travellers":2}'
    )
    e = parse_event(raw)
    assert bucket_start(e.event_time_ms, CFG.bucket_ms) == T0


def test_history_expires_by_event_time_not_wall_clock():
    cfg = CounterConfig(bucket_ms=5 * MINUTE_MS, lateness_ms=0, history_ms=2 * DAY_MS)
    c = PartitionCounter(cfg)
    c.apply_batch([ev(T0, 1)])  # 2022: a wall-clock expiry would drop it at once
    c.apply_batch([ev(T0 + 2 * DAY_MS, 1)])
    assert c.bucket(D1, T0) == (1, 1, 0)
    r = c.apply_batch([ev(T0 + 3 * DAY_MS + 1, 1)])
    assert c.bucket(D1, T0) == (0, 0, 0)
    assert (D1, T0) in r.dropped_chunks


def test_event_older_than_history_is_reported_expired_not_counted():
    cfg = CounterConfig(bucket_ms=5 * MINUTE_MS, lateness_ms=0, history_ms=DAY_MS)
    c = PartitionCounter(cfg)
    c.apply_batch([ev(T0 + 3 * DAY_MS)])
    r = c.apply_batch([ev(T0, 1)])
    assert len(r.expired) == 1 and r.counted == 0


def test_dedupe_memory_expires_after_horizon():
    cfg = CounterConfig(bucket_ms=5 * MINUTE_MS, lateness_ms=0, dedupe_ms=3_600_000)
    c = PartitionCounter(cfg)
    c.apply_batch([ev(T0, eid="a")])
    c.apply_batch([ev(T0 + 2 * 3_600_000, eid="b")])
    assert T0 not in c.dedupe


def test_random_stream_matches_reference_sums():
    rng = random.Random(7)
    c = PartitionCounter(CFG)
    directions = [(f"p{i}", "RU", "GE") for i in range(5)]
    sent: list[CountedEvent] = []
    t = T0
    for _ in range(3000):
        t += rng.randint(0, 20_000)
        jitter = rng.choice([0, 0, 0, -rng.randint(0, 40 * MINUTE_MS)])
        e = ev(t + jitter, rng.randint(1, 4), rng.choice(directions), eid=f"id{len(sent)}")
        sent.append(e)
        if rng.random() < 0.05:
            sent.append(ev(e.event_time_ms, e.travellers, e.direction, eid=e.event_id))
    published: dict[tuple[tuple[str, str, str], int], tuple[int, int]] = {}
    for i in range(0, len(sent), 100):
        for b in c.apply_batch(sent[i : i + 100]).closed:
            key = (b.direction, b.start_ms)
            assert b.revision >= published.get(key, (0, -1))[1]
            published[key] = (b.travellers, b.revision)
    reference: Counter[tuple[tuple[str, str, str], int]] = Counter()
    for e in {x.event_id: x for x in sent}.values():
        reference[(e.direction, bucket_start(e.event_time_ms, CFG.bucket_ms))] += e.travellers
    for key, (travellers, _) in published.items():
        assert travellers == reference.get(key, 0)
    assert set(reference) - set(published) <= {
        k for k in reference if k[1] >= (c.closed_until or 0)
    }


def test_retry_with_corrected_time_in_another_bucket_counts_once():
    c = PartitionCounter(CFG)
    r = c.apply_batch([ev(T0, 4, eid="gate-3/7"), ev(T0 + 7 * MINUTE_MS, 4, eid="gate-3/7")])
    assert (r.counted, r.duplicates) == (1, 1)
    assert c.bucket(D1, T0) == (4, 1, 0)
    assert c.bucket(D1, T0 + 5 * MINUTE_MS) == (0, 0, 0)


def test_restored_counter_remembers_ids_across_buckets():
    from streams.count import state

    c = PartitionCounter(CFG)
    r = c.apply_batch([ev(T0, 4, eid="a", offset=1)])
    entries = dict(state.changed_entries(0, c, r).all)
    entries.update([state.meta_entry(0, c, 1)])
    again = PartitionCounter(CFG)
    assert state.restore(0, again, entries.items()) == 1
    r = again.apply_batch([ev(T0 + 9 * MINUTE_MS, 4, eid="a", offset=2)])
    assert r.duplicates == 1 and again.next_offset == 2


def test_replayed_record_is_not_counted_twice_when_its_chunk_was_saved():
    from streams.count import state

    c = PartitionCounter(CFG)
    batch = [ev(T0, 2, eid="x", offset=10), ev(T0 + 1, 3, eid="y", offset=11)]
    r = c.apply_batch(batch)
    # Crash after the chunk was saved but before the dedupe shard and meta were.
    saved = [e for e in state.changed_entries(0, c, r).all if e[0].startswith(("0|c|", "0|u|"))]
    again = PartitionCounter(CFG)
    state.restore(0, again, saved)
    r = again.apply_batch(batch)
    assert r.replayed == 2 and r.counted == 0
    assert again.bucket(D1, T0) == (5, 2, 0)


def test_one_ancient_first_event_does_not_publish_every_empty_bucket_since():
    cfg = CounterConfig(bucket_ms=5 * MINUTE_MS, lateness_ms=10 * MINUTE_MS, history_ms=2 * DAY_MS)
    c = PartitionCounter(cfg)
    ancient = 946_684_800_000  # 2000-01-01
    c.apply_batch([ev(ancient, 3)])
    r = c.apply_batch([ev(T0, 1)])
    assert len(r.closed) <= 2 * DAY_MS // cfg.bucket_ms + 1
    # The ancient event's own bucket is still published: nothing counted goes unreported.
    assert [(b.start_ms, b.travellers) for b in r.closed if b.start_ms < T0 - 3 * DAY_MS] == [
        (ancient, 3)
    ]
