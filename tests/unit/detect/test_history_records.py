"""The stored form of a history day: version 1 slots, and the JSON layout before still read."""

from __future__ import annotations

import json
import random
from array import array

import pytest

from streams.detect.history import ABSENT, BucketHistory
from streams.detect.history_records import decode_day, encode_day

BUCKET_MS = 300_000
DAY_MS = 86_400_000
DAY = 1_663_718_400_000  # 2022-09-21T00:00Z


def test_a_day_record_is_the_version_byte_then_little_endian_travellers_then_events() -> None:
    raw = encode_day(array("I", [1, ABSENT]), array("I", [2, 0]))
    assert raw == bytes([1, 1, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 2, 0, 0, 0, 0, 0, 0, 0])


def test_a_bucket_with_no_traffic_stays_present_and_an_absent_one_stays_absent() -> None:
    history = BucketHistory(capacity=288, bucket_ms=BUCKET_MS)
    history.set(DAY + 3 * BUCKET_MS, 0, 0)  # closed, nobody crossed
    history.set(DAY + 5 * BUCKET_MS, 4_294_967_294, 7)  # the largest value a slot holds
    raw = encode_day(*history.slots(DAY, 288))
    assert list(decode_day(raw)) == [(3, 0, 0), (5, 4_294_967_294, 7)]


def test_buckets_after_the_latest_one_are_absent_even_if_their_ring_slots_held_old_days() -> None:
    history = BucketHistory(capacity=288, bucket_ms=BUCKET_MS)
    for i in range(288):
        history.set(DAY - DAY_MS + i * BUCKET_MS, 10, 1)  # the day before fills the ring
    history.set(DAY + 2 * BUCKET_MS, 5, 1)
    assert list(decode_day(encode_day(*history.slots(DAY, 288)))) == [(2, 5, 1)]


def test_the_json_layout_before_reads_as_the_same_buckets() -> None:
    values = [-1] * 576
    values[6:8] = [12, 3]
    values[10:12] = [0, 0]
    raw = json.dumps(values, separators=(",", ":")).encode()
    assert list(decode_day(raw)) == [(3, 12, 3), (5, 0, 0)]


@pytest.mark.parametrize("raw", [b"", b"\x02" + bytes(8), b"\x01" + bytes(7)])
def test_an_unknown_version_or_a_truncated_record_is_refused(raw: bytes) -> None:
    with pytest.raises(ValueError):
        list(decode_day(raw))


def test_slots_of_different_lengths_are_refused() -> None:
    with pytest.raises(ValueError):
        encode_day(array("I", [1, 2]), array("I", [1]))


def test_slots_hold_what_was_set_in_the_ring_wherever_the_span_lies() -> None:
    """Spans before, across, inside and after the ring, wrapping or not, against a model."""
    rng = random.Random(7)
    cap = 50
    history = BucketHistory(capacity=cap, bucket_ms=BUCKET_MS)
    model: dict[int, tuple[int, int]] = {}
    latest = None
    for _ in range(400):
        idx = rng.randrange(0, 300) if latest is None else latest + rng.randrange(-60, 8)
        value = (rng.randrange(0, 100), rng.randrange(0, 10))
        if history.set(idx * BUCKET_MS, *value):
            model[idx] = value
        latest = idx if latest is None else max(latest, idx)
        first = latest + rng.randrange(-2 * cap, 10)
        count = rng.randrange(1, 3 * cap)
        travellers, events = history.slots(first * BUCKET_MS, count)
        for k in range(count):
            i = first + k
            want = model.get(i) if latest - cap < i <= latest else None
            got = None if travellers[k] == ABSENT else (travellers[k], events[k])
            assert got == want, (first, count, i)
