"""Event time moves on with the slowest input partition (ingest's watermarks): a backlog read
at different paces per partition closes each bucket once, complete, as live traffic does."""

from __future__ import annotations

import random
from collections import Counter

from streams.count import state
from streams.count.counter import PartitionCounter
from streams.count.model import CountedEvent, CounterConfig
from streams.count.windows import DAY_MS, HOUR_MS, MINUTE_MS, bucket_start
from streams.ingest.watermarks import SourceProgress, Watermark, decode, encode, is_watermark

T0 = 1_663_718_400_000  # 2022-09-21T00:00:00Z
CFG = CounterConfig(bucket_ms=5 * MINUTE_MS, lateness_ms=10 * MINUTE_MS)
FAST, SLOW = ("vaalimaa", "RU", "FI"), ("nuijamaa", "RU", "FI")


def ev(d: tuple[str, str, str], t_ms: int, offset: int, eid: str | None = None) -> CountedEvent:
    return CountedEvent(d, eid or f"{d[0]}-{t_ms}", t_ms, 1, offset)


def test_a_source_not_heard_from_holds_every_bucket_open() -> None:
    c = PartitionCounter(CFG)
    c.observe_source(0, T0 + 3 * DAY_MS, idle=False, count=2)  # source 1 has said nothing
    result = c.apply_batch([ev(FAST, T0 + 3 * DAY_MS, 0)])
    assert result.closed == [] and c.watermark_ms is None


def test_before_the_first_report_nothing_closes_when_reports_are_awaited() -> None:
    # A fresh partition of a backlog: the first batch holds a fast source's events days ahead
    # of a slow one's. Closing on the largest event time would make the slow one late.
    c = PartitionCounter(CounterConfig(bucket_ms=5 * MINUTE_MS, await_sources=True))
    r1 = c.apply_batch([ev(FAST, T0 + 2 * DAY_MS, 0), ev(SLOW, T0, 1)])
    assert r1.closed == [] and c.watermark_ms is None and not c.all_sources_idle()
    c.observe_source(0, T0 + 2 * DAY_MS, idle=False, count=2)
    c.observe_source(1, T0 + 5 * MINUTE_MS, idle=False, count=2)
    r2 = c.apply_batch([ev(SLOW, T0 + 2 * MINUTE_MS, 2)])
    assert r2.late == 0 and r2.closed == [] and c.closed_until is not None
    # The legacy clock (input already in event-time order, no reports) closes at once.
    legacy = PartitionCounter(CounterConfig(bucket_ms=5 * MINUTE_MS))
    assert legacy.apply_batch([ev(FAST, T0 + 2 * DAY_MS, 0), ev(SLOW, T0, 1)]).closed


def test_the_slow_source_decides_and_its_events_are_not_late() -> None:
    c = PartitionCounter(CFG)
    c.observe_source(0, T0 + 2 * DAY_MS, idle=False, count=2)
    c.observe_source(1, T0 + HOUR_MS, idle=False, count=2)
    r1 = c.apply_batch([ev(FAST, T0 + 2 * DAY_MS - 1, 0), ev(SLOW, T0 + 30 * MINUTE_MS, 1)])
    closed_until = c.closed_until
    assert closed_until == bucket_start(T0 + HOUR_MS - CFG.lateness_ms, CFG.bucket_ms)
    # The slow source goes on: its events for the hours the fast one passed long ago count
    # into open buckets, not as late corrections.
    c.observe_source(1, T0 + 5 * HOUR_MS, idle=False, count=2)
    r2 = c.apply_batch([ev(SLOW, T0 + 2 * HOUR_MS, 2), ev(SLOW, T0 + 4 * HOUR_MS, 3)])
    assert r1.late == r2.late == 0
    assert all(b.revision == 0 for b in r1.closed + r2.closed)


def test_an_idle_source_does_not_hold_the_others_back() -> None:
    c = PartitionCounter(CFG)
    c.observe_source(0, T0 + HOUR_MS, idle=False, count=2)
    c.observe_source(1, 0, idle=True, count=2)  # an empty input partition, caught up
    c.apply_batch([ev(FAST, T0 + HOUR_MS, 0)])
    assert c.watermark_ms == T0 + HOUR_MS - CFG.lateness_ms
    assert not c.all_sources_idle()
    c.observe_source(0, T0 + HOUR_MS, idle=True, count=2)
    assert c.all_sources_idle()  # now the idle closer may move time on with the wall clock


def test_a_source_report_never_moves_its_clock_back() -> None:
    c = PartitionCounter(CFG)
    c.observe_source(0, T0 + HOUR_MS, idle=False, count=1)
    c.observe_source(0, T0, idle=False, count=1)  # a new owner re-forwarding older records
    assert c.sources[0].event_ms == T0 + HOUR_MS


def test_dedupe_horizon_follows_the_slowest_source() -> None:
    """A retry from the slow source a minute after its original is recognised although the
    fast source is days ahead (the backlog finding: 11 post-hours over-counted)."""
    c = PartitionCounter(CFG)
    c.observe_source(1, T0, idle=False, count=2)
    c.observe_source(0, T0 + 5 * DAY_MS, idle=False, count=2)
    c.apply_batch([ev(FAST, T0 + 5 * DAY_MS, 0), ev(SLOW, T0, 1, eid="bus-12")])
    c.apply_batch([ev(FAST, T0 + 5 * DAY_MS + 1, 2)])
    retry = c.apply_batch([ev(SLOW, T0 + MINUTE_MS, 3, eid="bus-12")])
    assert retry.duplicates == 1 and retry.counted == 0


def test_backlog_in_any_partition_order_closes_like_live() -> None:
    """The same events per source, fed source after source in big slices (a backlog) or
    interleaved in event time (live): identical closed buckets, each published once."""
    rng = random.Random(7)
    per_source = {s: sorted(T0 + rng.randrange(2 * DAY_MS) for _ in range(3_000)) for s in range(3)}
    directions = [FAST, SLOW, ("torfyanovka", "RU", "FI")]

    def run(order: list[tuple[int, int]], slice_size: int) -> tuple[list[object], int]:
        c = PartitionCounter(CFG)
        forwarded: dict[int, int] = {}
        closed: list[object] = []
        late = 0
        for i in range(0, len(order), slice_size):
            part = order[i : i + slice_size]
            events = [ev(directions[s], t, i + j) for j, (s, t) in enumerate(part)]
            for s, t in part:
                forwarded[s] = max(forwarded.get(s, 0), t)
            for s in range(3):
                if s in forwarded:
                    done = all(t <= forwarded[s] for t in per_source[s][-1:])
                    c.observe_source(s, forwarded[s], idle=done, count=3)
            result = c.apply_batch(events)
            closed += [(b.direction, b.start_ms, b.travellers, b.revision) for b in result.closed]
            late += result.late
        return closed, late

    live = sorted(((s, t) for s, ts in per_source.items() for t in ts), key=lambda x: x[1])
    backlog = [(s, t) for s in (2, 0, 1) for t in per_source[s]]
    live_closed, live_late = run(live, 100)
    backlog_closed, backlog_late = run(backlog, 700)
    assert live_late == backlog_late == 0
    assert Counter(live_closed) == Counter(backlog_closed)
    assert all(rev == 0 for *_, rev in backlog_closed)


def test_sources_survive_a_restart() -> None:
    c = PartitionCounter(CFG)
    c.observe_source(0, T0 + HOUR_MS, idle=False, count=2)
    c.observe_source(1, T0, idle=True, count=2)
    c.apply_batch([ev(FAST, T0 + HOUR_MS, 0)])
    key, value = state.meta_entry(0, c, 0)
    assert value is not None
    restored = PartitionCounter(CFG)
    state.restore(0, restored, [(key, value)])
    assert restored.sources == c.sources and restored.source_count == 2
    assert restored.watermark_ms == c.watermark_ms


def test_watermark_records_round_trip_and_are_told_from_events() -> None:
    w = Watermark(source=3, of=6, event_ms=T0, idle=True)
    assert decode(encode(w)) == w
    assert is_watermark(b"\x00watermark") and not is_watermark(b"vaalimaa")
    assert not is_watermark(None)


def test_ingest_announces_what_moved_and_repeats_idleness() -> None:
    p = SourceProgress(repeat_idle_s=10)
    p.forward(0, T0, next_offset=10)
    assert p.committed(0, 10)
    assert p.due(0, idle=False, now_s=0)
    p.announced(0, 6, idle=False, now_s=0)
    assert not p.due(0, idle=False, now_s=1)  # nothing moved
    p.forward(0, T0 - 1, next_offset=20)  # an older event does not move it either
    assert not p.committed(0, 20)
    assert not p.due(0, idle=False, now_s=1)
    assert p.due(0, idle=True, now_s=2)  # became idle
    p.announced(0, 6, idle=True, now_s=2)
    assert not p.due(0, idle=True, now_s=5)
    assert p.due(0, idle=True, now_s=12)  # repeated for a counter restored meanwhile


def test_a_batch_is_announced_only_once_its_offsets_are_committed() -> None:
    """After a crash ingest sends again what it had not committed: a watermark over those
    records could move counting's clock, and its dedupe memory, past their second copy."""
    p = SourceProgress()
    p.forward(0, T0, next_offset=100)
    p.forward(0, T0 + 3_600_000, next_offset=250)
    p.forward(1, T0 + 7_200_000, next_offset=40)
    assert p.forwarded == {}  # forwarded, nothing committed: nothing to announce
    assert p.announced(0, 2, idle=False, now_s=0).event_ms == 0
    assert not p.committed(0, 99)  # short of the first batch's end
    assert p.committed(0, 180) and p.forwarded == {0: T0}  # the first batch only
    assert not p.committed(0, 180)  # told twice: nothing moved
    assert p.committed(0, 250) and p.forwarded == {0: T0 + 3_600_000}
    assert p.committed(1, 40) and p.forwarded[1] == T0 + 7_200_000


def test_a_source_is_announced_active_before_it_forwards_again() -> None:
    """Idle, a source does not hold counting's clock back; records forwarded from it and not
    yet committed must: they come again if this worker dies."""
    p = SourceProgress()
    assert p.resuming(0)  # never announced by this worker: another may have called it idle
    p.announced(0, 2, idle=False, now_s=0)
    assert not p.resuming(0)
    p.announced(0, 2, idle=True, now_s=1)
    assert p.resuming(0)
    p.announced(0, 2, idle=False, now_s=2)
    p.revoked(0)  # another worker reads it now, and may call it idle
    assert p.resuming(0)
