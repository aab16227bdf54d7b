"""The worker's lz4 level: aiokafka's batch builders use it, and a batch still decodes."""

from __future__ import annotations

import pytest
from aiokafka.record.memory_records import MemoryRecords

from streams.kafka.lz4_level import use_lz4_level
from tests.record_batches import build_batch

LZ4 = 3  # the codec id in a record batch's attributes

VALUES = [
    (
        f'{{"event_id":"e{i * 7919 % 100_003}","crossing_id":"post-{i % 37}",'
        f'"occurred_at":"2022-09-21T{i % 24:02}:{i % 60:02}:{i * 13 % 60:02}.{i % 1000:03}Z",'
        f'"from_country":"RU","to_country":"GE","travellers":{1 + i % 4},"mode":"car"}}'
    ).encode()
    for i in range(400)
]


def batch() -> bytes:
    return bytes(build_batch(VALUES, LZ4))


@pytest.fixture
def restore_level():
    yield
    use_lz4_level(9)  # aiokafka's own, for the tests after this one


def test_the_level_reaches_the_batch_builder_and_the_batch_decodes(restore_level) -> None:
    assert use_lz4_level(9)  # at least one builder takes it
    slow = batch()
    assert use_lz4_level(1)
    fast = batch()
    assert fast != slow  # another level, other bytes
    records = MemoryRecords(fast)
    decoded = []
    while records.has_next():
        decoded.extend(r.value for r in records.next_batch())
    assert decoded == VALUES
