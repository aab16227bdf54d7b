"""The outbox (streams/kafka/outbox.py): a partition's records in order, a batch at a time, each
keyed record where `send` would put it; what the producer refused or the broker failed is
retried, said in one line, not a stack trace."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiokafka.producer.message_accumulator import BatchBuilder
from faust.exceptions import NotReady

from streams.kafka.outbox import Outbox, Record, by_partition


class Cluster:
    def partitions_for_topic(self, topic: str) -> set[int]:
        return {0, 1, 2}

    def available_partitions_for_topic(self, topic: str) -> set[int]:
        return {0, 1, 2}


class Client:
    def __init__(self) -> None:
        self.cluster = Cluster()

    async def _wait_on_metadata(self, topic: str) -> None:
        return None


class AioProducer:
    """aiokafka's batch interface; fails the first `failures` batches at the broker."""

    def __init__(self, failures: int = 0, batch_size: int = 16384) -> None:
        self.client = Client()
        self.failures = failures
        self.batch_size = batch_size
        self.sent: list[tuple[str, int, list[bytes | None]]] = []

    def _partitioner(self, key: bytes, every: list[int], available: list[int]) -> int:
        return every[len(key) % len(every)]

    def create_batch(self) -> BatchBuilder:
        return BatchBuilder(self.batch_size, 0)

    async def send_batch(self, builder: BatchBuilder, topic: str, *, partition: int) -> Any:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.failures:
            self.failures -= 1
            done.set_exception(ConnectionError("broker went away"))
            return done
        values = [r.value for r in self._records(builder)]
        self.sent.append((topic, partition, values))
        done.set_result(None)
        return done

    @staticmethod
    def _records(builder: BatchBuilder) -> list[Any]:
        from aiokafka.record.default_records import DefaultRecordBatch

        return list(DefaultRecordBatch(bytes(builder._builder.build())))


class FaustProducer:
    """Refuses the first `refusals` writes as Faust's producer does while it is stopped."""

    def __init__(self, aio: AioProducer, refusals: int = 0) -> None:
        self.aio = aio
        self.refusals = refusals

    def _ensure_producer(self) -> AioProducer:
        if self.refusals:
            self.refusals -= 1
            raise NotReady("Producer service not yet started")
        return self.aio


def test_a_refused_write_is_retried_until_it_goes_through(caplog: Any) -> None:
    aio = AioProducer()
    outbox = Outbox(FaustProducer(aio, refusals=2), retry_backoff=0.001)
    records = [Record("t", b"k", b"1", 0), Record("t", b"k", b"2", 0)]
    with caplog.at_level(logging.WARNING, logger="streams.kafka.outbox"):
        asyncio.run(outbox.write(records))
    assert aio.sent == [("t", 0, [b"1", b"2"])]
    warnings = [r for r in caplog.records if r.name == "streams.kafka.outbox"]
    assert len(warnings) == 2
    assert all(r.exc_info is None and "will retry" in r.getMessage() for r in warnings)
    assert "Traceback" not in caplog.text


def test_a_failed_batch_is_written_again_and_only_it() -> None:
    aio = AioProducer(failures=1)
    outbox = Outbox(FaustProducer(aio), retry_backoff=0.001)
    records = [Record("t", None, b"a", 0), Record("t", None, b"b", 1)]
    asyncio.run(outbox.write(records))
    # the first batch (partition 0) failed at the broker and went again; partition 1 went once
    assert sorted(aio.sent) == [("t", 0, [b"a"]), ("t", 1, [b"b"])]


def test_records_fill_batches_in_order_and_a_large_one_goes_alone() -> None:
    aio = AioProducer(batch_size=200)
    values = [b"x" * 50, b"y" * 50, b"z" * 1000, b"w" * 10]
    asyncio.run(Outbox(FaustProducer(aio)).write([Record("t", None, v, 2) for v in values]))
    sent = [v for _, partition, batch in aio.sent for v in batch if partition == 2]
    assert sent == values
    assert [b"z" * 1000] in [batch for _, _, batch in aio.sent]
    assert len(aio.sent) == 3


def test_records_without_a_partition_take_the_partitioners_choice_in_order() -> None:
    records = [
        Record("t", b"ab", b"1"),
        Record("t", b"abc", b"2"),
        Record("u", b"ab", b"3", 0),
        Record("t", b"ab", b"4"),
    ]
    groups = by_partition(records, lambda r: len(r.key or b"") % 3)
    assert groups == {
        ("t", 2): [records[0], records[3]],
        ("t", 0): [records[1]],
        ("u", 0): [records[2]],
    }


def test_a_keys_partition_is_hashed_once_until_the_topic_gains_partitions() -> None:
    class Counting(AioProducer):
        hashed = 0

        def _partitioner(self, key: bytes, every: list[int], available: list[int]) -> int:
            self.hashed += 1
            return every[len(key) % len(every)]

    aio = Counting()
    outbox = Outbox(FaustProducer(aio))
    asyncio.run(outbox.write([Record("t", b"abcd", b"1"), Record("t", b"abcd", b"2")]))
    asyncio.run(outbox.write([Record("t", b"abcd", b"3")]))
    assert aio.hashed == 1
    assert [p for _, p, _ in aio.sent] == [1, 1]  # 4 % 3
    grown = {0, 1, 2, 3}
    aio.client.cluster.partitions_for_topic = lambda topic: grown  # type: ignore[method-assign]
    aio.client.cluster.available_partitions_for_topic = lambda topic: grown  # type: ignore[method-assign]
    asyncio.run(outbox.write([Record("t", b"abcd", b"4")]))
    assert aio.hashed == 2
    assert aio.sent[-1][1] == 0  # 4 % 4
