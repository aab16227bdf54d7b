"""The worker's lz4 level: aiokafka's batch builders use it, and a batch still decodes."""

from __future__ import annotations

import pytest
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from aiokafka.record.memory_records import MemoryRecords

from streams.kafka.lz4_level import use_lz4_level

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
    builder = DefaultRecordBatchBuilder(
        magic=2,
        compression_type=LZ4,
        is_transactional=0,
        producer_id=-1,
        producer_epoch=-1,
        base_sequence=-1,
        batch_size=10_000_000,
    )
    for offset, value in enumerate(VALUES):
        builder.append(offset, timestamp=None, key=None, value=value, headers=[])
    return bytes(builder.build())


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
