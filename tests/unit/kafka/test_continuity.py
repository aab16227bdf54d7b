"""A batch channel hands its handler only records that continue their partitions' offsets:
records lost on delivery are fetched again, a genuine hole in the log is stepped over."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from streams.kafka.continuity import Gap, split
from streams.kafka.offset_guard import OffsetGuard
from streams.kafka.unreadable import SkippedBatch


@dataclass(frozen=True)
class TP:
    topic: str
    partition: int


@dataclass(frozen=True)
class Msg:
    tp: TP
    offset: int


A = TP("events", 0)
B = TP("events", 1)


def msgs(tp: TP, *offsets: int) -> list[Msg]:
    return [Msg(tp, o) for o in offsets]


def offsets(records: list[Any]) -> list[tuple[int, int]]:
    return [(m.tp.partition, m.offset) for m in records]


def test_contiguous_records_pass_and_finished_ones_are_left_out() -> None:
    batch = msgs(A, 12, 10, 11, 9, 11) + msgs(B, 0, 1)
    todo, rest, gaps = split(batch, {A: 10, B: None})
    assert offsets(todo) == [(0, 10), (0, 11), (0, 12), (1, 0), (1, 1)]
    assert rest == [] and gaps == []


def test_a_jump_in_offsets_holds_back_the_records_after_it() -> None:
    batch = msgs(A, 3942 + 5995, 3942 + 5996) + msgs(B, 7, 8)
    todo, rest, gaps = split(batch, {A: 3942, B: 7})
    assert offsets(todo) == [(1, 7), (1, 8)]
    assert offsets(rest) == [(0, 9937), (0, 9938)]
    assert gaps == [Gap(A, 3942, 9937)]


def test_a_skipped_batch_continues_from_its_first_offset() -> None:
    skipped = SkippedBatch(A, 5, 9, "unknown codec")
    todo, _, gaps = split([skipped, *msgs(A, 10)], {A: 5})
    assert [m.offset for m in todo] == [9, 10] and gaps == []


class Consumer:
    def __init__(self) -> None:
        self.seeks: list[tuple[TP, int]] = []

    async def seek(self, tp: TP, offset: int) -> None:
        self.seeks.append((tp, offset))


class Log:
    """What the broker holds: the offsets of the records in each partition."""

    def __init__(self, present: dict[TP, list[int]]) -> None:
        self.present = present
        self.asked = 0

    async def first_offset_from(
        self, topic: str, partition: int, offset: int, *, timeout_ms: int = 0
    ) -> int | None:
        self.asked += 1
        tp = TP(topic, partition)
        return min((o for o in self.present[tp] if o >= offset), default=None)


def run_guard(guard: OffsetGuard, batch: list[Msg], expected: dict[Any, int | None]) -> list[Msg]:
    return asyncio.run(guard.continuous(batch, expected))


def test_records_lost_on_delivery_are_fetched_again() -> None:
    consumer = Consumer()
    log = Log({A: list(range(0, 200))})
    guard = OffsetGuard(lambda: consumer, log)  # type: ignore[arg-type]
    todo = run_guard(guard, msgs(A, 150, 151), {A: 100})
    assert todo == [] and guard.refetched == {A}
    assert consumer.seeks == [(A, 100)]
    # Records fetched before the seek still arrive: no second seek, no second question.
    # Buffered records may be the ones that seek fetched: the channel keeps them.
    assert run_guard(guard, msgs(A, 152), {A: 100}) == []
    assert consumer.seeks == [(A, 100)] and log.asked == 1 and guard.refetched == set()
    # The records fetched again continue the partition.
    assert offsets(run_guard(guard, msgs(A, 100, 101), {A: 100})) == [(0, 100), (0, 101)]


def test_transaction_markers_are_stepped_over() -> None:
    # A transactional producer's commit markers take offsets 50 and 101 and are never delivered.
    present = [o for o in range(0, 160) if o not in (50, 101)]
    consumer = Consumer()
    guard = OffsetGuard(lambda: consumer, Log({A: present}))  # type: ignore[arg-type]
    todo = run_guard(guard, msgs(A, *range(40, 50), *range(51, 101), *range(102, 110)), {A: 40})
    assert [m.offset for m in todo] == [o for o in range(40, 110) if o not in (50, 101)]
    assert consumer.seeks == [] and guard.refetched == set()


def test_without_an_answer_the_records_are_fetched_again() -> None:
    consumer = Consumer()
    guard = OffsetGuard(lambda: consumer, None)
    assert run_guard(guard, msgs(A, 5), {A: 3}) == []
    assert consumer.seeks == [(A, 3)]


def test_a_log_ending_with_a_commit_marker_has_nothing_left() -> None:
    # Records 0..39, the commit marker at 40: the high watermark is 41, the handler finished 40.
    consumer = Consumer()
    log = Log({A: list(range(0, 40))})
    guard = OffsetGuard(lambda: consumer, log)  # type: ignore[arg-type]
    assert asyncio.run(guard.nothing_left(A, 40, 41))
    assert asyncio.run(guard.nothing_left(A, 40, 41)) and log.asked == 1  # asked once
    assert consumer.seeks == []


def test_a_record_fetched_past_but_never_delivered_is_fetched_again() -> None:
    consumer = Consumer()
    guard = OffsetGuard(lambda: consumer, Log({A: list(range(0, 60))}))  # type: ignore[arg-type]
    # Maybe still on its way at the first look; at the second, it was lost.
    assert not asyncio.run(guard.nothing_left(A, 50, 60))
    assert consumer.seeks == []
    assert not asyncio.run(guard.nothing_left(A, 50, 60))
    assert consumer.seeks == [(A, 50)]


def test_faust_reads_no_offset_for_the_channels_partitions() -> None:
    from collections import defaultdict
    from types import SimpleNamespace

    from streams.kafka.faust_hooks import deliver_everything_fetched

    other = TP("changelog", 0)
    consumer = SimpleNamespace(_read_offset=defaultdict(lambda: None, {A: 300, other: 7}))
    deliver_everything_fetched(consumer, {"events"})
    offsets = consumer._read_offset
    offsets[A] = 862  # Faust sets it after each delivery, and at a seek
    # Faust's fetch loop reads None (deliver everything); other topics keep theirs.
    assert offsets[A] is None and offsets[other] == 7 and offsets[TP("changelog", 1)] is None
    # A channel's own check (a committed offset known) still sees the value.
    assert offsets.get(A) == 862
    deliver_everything_fetched(consumer, {"events.by-crossing"})
    assert consumer._read_offset is offsets and offsets[TP("events.by-crossing", 0)] is None
