"""Which fetched records Faust left over: the choice that streams/kafka/fetch_again.py acts on."""

from __future__ import annotations

from streams.kafka.fetch_again import Fetched, left_over

STATE = object()


def fetched(**offsets: list[int]) -> Fetched:
    return {tp: (o, STATE, max(o) + 1) for tp, o in offsets.items()}


def test_nothing_left_when_every_record_was_yielded() -> None:
    assert left_over(fetched(a=[0, 1, 2], b=[7]), {"a": 2, "b": 7}) == {}


def test_a_partition_faust_yielded_nothing_of_starts_at_its_first_record() -> None:
    assert left_over(fetched(a=[0, 1, 2], b=[5, 6]), {"a": 2}) == {"b": 5}


def test_a_partition_cut_short_starts_after_its_last_yielded_record() -> None:
    # Faust stops mid-batch when flow stops or the generation changes.
    assert left_over(fetched(a=[10, 11, 12, 13]), {"a": 11}) == {"a": 12}


def test_offsets_with_holes_start_at_the_next_fetched_one() -> None:
    # A compacted changelog: the offsets are not contiguous.
    assert left_over(fetched(a=[3, 8, 20]), {"a": 3}) == {"a": 8}


def test_nothing_fetched_nothing_left() -> None:
    assert left_over({}, {"a": 4}) == {}
