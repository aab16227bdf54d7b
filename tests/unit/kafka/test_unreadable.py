"""The fetch guard on aiokafka's real decoder: undecodable batches are skipped and reported,
the records around them handed out, the position moved past them."""

from __future__ import annotations

from typing import Any

import pytest
from aiokafka.consumer.fetcher import FetchResult, PartitionRecords
from aiokafka.consumer.subscription_state import SubscriptionState
from aiokafka.record.memory_records import MemoryRecords
from aiokafka.structs import TopicPartition

from streams.kafka import unreadable
from tests.record_batches import batches, break_crc, build_batch, set_unknown_codec

TP = TopicPartition("events", 0)
CLAIMED = TopicPartition("claimed-by-a-channel", 0)


def batch(base: int, n: int, codec: int = 3) -> bytes:
    data = build_batch([b"v%d" % (base + i) for i in range(n)], codec, key=b"k")
    data[0:8] = base.to_bytes(8, "big")  # the base offset, as the broker assigns it
    return bytes(data)


def fetch(
    data: bytes, *, fetch_offset: int = 0, tp: TopicPartition = TP
) -> tuple[FetchResult, Any]:
    """A fetch response for tp as aiokafka's fetcher keeps it, positioned at fetch_offset."""
    subscription = SubscriptionState()
    subscription.assign_from_user({tp})
    assignment = subscription.subscription.assignment
    assignment.state_value(tp).seek(fetch_offset)
    records = PartitionRecords(
        tp, MemoryRecords(data), [], fetch_offset, None, None, True, "read_uncommitted"
    )
    return FetchResult(tp, assignment=assignment, partition_records=records, backoff=0), assignment


@pytest.fixture
def reported() -> Any:
    unreadable.install()
    seen: list[unreadable.UnreadableBatch] = []
    unreadable.add_listener(seen.append)
    yield seen
    unreadable.remove_listener(seen.append)


def damaged_fetch() -> bytes:
    """Four batches: 0-2 fine, 3-5 with a broken CRC, 6-9 in an unknown codec, 10-11 fine."""
    data = bytearray(batch(0, 3) + batch(3, 3, codec=1) + batch(6, 4) + batch(10, 2, codec=0))
    found = batches(data)
    break_crc(data, found[1])
    set_unknown_codec(data, found[2])
    return bytes(data)


async def test_undecodable_batches_are_skipped_and_the_rest_handed_out(reported) -> None:
    result, assignment = fetch(damaged_fetch())
    records = result.getall()
    assert [r.offset for r in records] == [0, 1, 2, 10, 11]
    assert [r.value for r in records] == [b"v0", b"v1", b"v2", b"v10", b"v11"]
    assert [(b.first_offset, b.last_offset) for b in reported] == [(3, 5), (6, 9)]
    assert "CorruptRecord" in reported[0].reason
    assert "UnsupportedCodec" in reported[1].reason
    assert assignment.state_value(TP).position == 12  # the next fetch starts after all four


async def test_a_claimed_topic_gets_a_marker_record_in_place_of_the_batch(reported) -> None:
    unreadable.claim({CLAIMED.topic})
    result, _ = fetch(damaged_fetch(), tp=CLAIMED)
    records = result.getall()
    markers = [unreadable.marker_of(r) for r in records]
    assert [r.offset for r in records] == [0, 1, 2, 5, 9, 10, 11]
    assert markers[3] is not None and markers[3][0] == 3  # offsets 3..5
    assert markers[4] is not None and markers[4][0] == 6  # offsets 6..9
    assert [m is None for m in markers] == [True, True, True, False, False, True, True]


async def test_max_records_resumes_after_a_skipped_batch(reported) -> None:
    result, assignment = fetch(damaged_fetch())
    first = result.getall(max_records=2)
    rest = result.getall()
    assert [r.offset for r in first + rest if unreadable.marker_of(r) is None] == [0, 1, 2, 10, 11]
    assert assignment.state_value(TP).position == 12


async def test_a_fetch_starting_inside_a_damaged_batch_skips_from_there(reported) -> None:
    data = bytearray(batch(0, 3) + batch(3, 3))
    break_crc(data, batches(data)[0])
    result, assignment = fetch(bytes(data), fetch_offset=1)
    assert [r.offset for r in result.getall()] == [3, 4, 5]
    assert [(b.first_offset, b.last_offset) for b in reported] == [(1, 2)]
    assert assignment.state_value(TP).position == 6


def test_without_the_guard_the_same_fetch_raises() -> None:
    # What the guard is for: aiokafka alone stops at the first damaged batch.
    records = PartitionRecords(
        TP, MemoryRecords(damaged_fetch()), [], 0, None, None, True, "read_uncommitted"
    )
    records._records = records._records.records  # undo the tracker: aiokafka's own iteration
    with pytest.raises(Exception, match="CRC"):
        list(records)


async def test_getone_skips_too(reported) -> None:
    result, _ = fetch(damaged_fetch())
    offsets = []
    while (r := result.getone()) is not None:
        offsets.append(r.offset)
    assert offsets == [0, 1, 2, 10, 11]
