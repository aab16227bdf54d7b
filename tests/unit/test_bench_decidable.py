"""bench/decidable.py: which input record made an alert's window decidable, and when."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from decidable import AlertSeen, PartitionClock, decidable_ms, percentile

MIN = 60_000
LATENESS = 10 * MIN


def clock(*records: tuple[int, int]) -> PartitionClock:
    c = PartitionClock()
    for event_ms, append_ms in records:
        c.add(event_ms, append_ms)
    return c


def alert(scope: str, crossing: str | None, end_ms: int) -> AlertSeen:
    return AlertSeen(scope, crossing, "RU", "GE", end_ms, append_ms=0)


def test_the_first_record_in_offset_order_reaching_the_threshold_decides() -> None:
    # Event times out of order: the late record (25) does not move the watermark back.
    c = clock((10 * MIN, 1), (24 * MIN, 2), (12 * MIN, 3), (25 * MIN, 4), (26 * MIN, 5))
    assert c.first_append_reaching(25 * MIN) == 4
    assert c.first_append_reaching(24 * MIN + 1) == 4
    assert c.first_append_reaching(24 * MIN) == 2
    assert c.first_append_reaching(27 * MIN) is None  # not decidable from this input yet


def test_a_crossing_alert_waits_for_its_own_partition_only() -> None:
    clocks = {0: clock((16 * MIN, 100)), 1: clock((15 * MIN, 50), (30 * MIN, 900))}
    partition_of = {"a": 0, "b": 1}
    # Window ending at 5 min: closed at event time 15 min (lateness 10).
    assert decidable_ms(alert("crossing", "a", 5 * MIN), LATENESS, clocks, partition_of, {}) == 100
    assert decidable_ms(alert("crossing", "b", 5 * MIN), LATENESS, clocks, partition_of, {}) == 50


def test_a_border_alert_waits_for_the_last_of_its_posts() -> None:
    clocks = {0: clock((16 * MIN, 100)), 1: clock((15 * MIN, 50), (30 * MIN, 900))}
    partition_of = {"a": 0, "b": 1}
    posts = {("RU", "GE"): ["a", "b"]}

    def border(end_ms: int, where: dict[str, int] = partition_of) -> int | None:
        return decidable_ms(alert("border", None, end_ms), LATENESS, clocks, where, posts)

    assert border(5 * MIN) == 100  # b closed it first (50), a later (100)
    assert border(6 * MIN) == 900  # a at 16 min, b only at 30 min
    assert border(7 * MIN) is None  # a has not reached 17 min
    assert border(5 * MIN, {"a": 0}) is None  # b never seen: not decidable


def test_percentile_by_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 51.0
    assert percentile(values, 0.99) == 100.0
    assert percentile([3.0], 0.99) == 3.0
