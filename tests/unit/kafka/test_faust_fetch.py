"""Faust's getmany, split (streams/kafka/faust_fetch.py): its own topics' records one by one,
the batch channels' in one call, with Faust's checks (flow, generation, active partitions)."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from faust.types import TP

from streams.kafka.faust_fetch import in_bulk, one_by_one, split_by_delivery


@dataclass(frozen=True)
class Rec:
    offset: int


@dataclass(frozen=True)
class Msg:
    tp: TP
    offset: int


class Consumer:
    def __init__(self) -> None:
        self.flow_active = True
        self._buffered_partitions: set[TP] = set()
        self.tracked: dict[TP, int] = {}
        self.app = SimpleNamespace(
            consumer_generation_id=7,
            monitor=SimpleNamespace(track_tp_end_offset=self.tracked.__setitem__),
        )
        self.scheduler = SimpleNamespace(iterate=self._round_robin)

    @staticmethod
    def _round_robin(records: dict[TP, list[Rec]]) -> Any:
        its = {tp: iter(rs) for tp, rs in records.items()}
        while its:
            for tp in list(its):
                try:
                    yield tp, next(its[tp])
                except StopIteration:
                    del its[tp]

    def highwater(self, tp: TP) -> int:
        return 100

    def _to_message(self, tp: TP, record: Rec) -> Msg:
        return Msg(tp, record.offset)


A0, A1, B0 = TP("a", 0), TP("a", 1), TP("b", 0)


def recs(*offsets: int) -> list[Rec]:
    return [Rec(o) for o in offsets]


async def take_all(deliveries: list[list[Msg]]) -> Any:
    async def deliver(messages: list[Msg]) -> list[Msg]:
        deliveries.append(messages)
        return []

    return deliver


def test_split_puts_each_partition_with_its_delivery() -> None:
    def deliver_b(ms: list[Any]) -> Any: ...

    records = {A0: recs(1), B0: recs(2, 3), A1: recs(4)}
    by_delivery, rest = split_by_delivery(records, {"b": deliver_b})  # type: ignore[dict-item]
    assert by_delivery == {deliver_b: {B0: recs(2, 3)}}
    assert rest == {A0: recs(1), A1: recs(4)}


async def test_one_by_one_yields_round_robin_for_active_partitions_only() -> None:
    consumer = Consumer()
    got = [
        (tp, m.offset)
        async for tp, m in one_by_one(consumer, {A0: recs(1, 2), A1: recs(5, 6)}, {A0}, 7)
    ]
    assert got == [(A0, 1), (A0, 2)]
    assert consumer.tracked == {A0: 100}


async def test_one_by_one_stops_when_the_generation_changes_or_flow_stops() -> None:
    consumer = Consumer()
    records = {A0: recs(1, 2, 3), A1: recs(5, 6, 7)}
    got = []
    async for tp, m in one_by_one(consumer, records, None, 7):
        got.append((tp, m.offset))
        consumer.app.consumer_generation_id = 8  # a rebalance
    assert got == [(A0, 1)]
    consumer = Consumer()
    got = []
    async for tp, m in one_by_one(consumer, records, None, 7):
        got.append((tp, m.offset))
        consumer.flow_active = False
    assert got == [(A0, 1)]


async def test_in_bulk_hands_a_delivery_its_records_in_one_call() -> None:
    consumer = Consumer()
    calls: list[list[Msg]] = []
    deliver = await take_all(calls)
    handed: dict[TP, int] = {}
    await in_bulk(consumer, {deliver: {B0: recs(2, 3), A1: recs(4)}}, {B0}, 7, handed)
    assert calls == [[Msg(B0, 2), Msg(B0, 3)]]  # A1 is not active: not handed over
    assert handed == {B0: 3}


async def test_in_bulk_notes_what_the_delivery_did_not_take() -> None:
    consumer = Consumer()

    async def takes_two(messages: list[Msg]) -> list[Msg]:
        return messages[2:]

    handed: dict[TP, int] = {}
    await in_bulk(consumer, {takes_two: {B0: recs(10, 11, 12, 13)}}, None, 7, handed)
    assert handed == {B0: 11}


async def test_in_bulk_hands_nothing_after_a_rebalance() -> None:
    consumer = Consumer()
    calls: list[list[Msg]] = []
    deliver = await take_all(calls)
    handed: dict[TP, int] = {}
    await in_bulk(consumer, {deliver: {B0: recs(2)}}, None, 6, handed)  # fetched in generation 6
    assert calls == [] and handed == {}
