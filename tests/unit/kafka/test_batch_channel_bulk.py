"""The batch channel takes a fetch's records in bulk (streams/kafka/fetch_again.py hands them
over): in order, waiting for buffer space, and giving back what it did not take when Faust's
flow stops (a rebalance), as Faust's own loop gives up a record whose delivery waits."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any


@dataclass(frozen=True)
class M:
    tp: str
    offset: int
    value: bytes = b"x"


class _FlowControl:
    def __init__(self) -> None:
        self.active = True

    def is_active(self) -> bool:
        return self.active


def channel(batch_size: int = 2) -> Any:
    from streams.kafka.batch_channel import BatchChannel

    consumer = SimpleNamespace(flow_active=True, suspend_flow=asyncio.Event())
    app = SimpleNamespace(
        conf=SimpleNamespace(broker_commit_interval=3600.0),
        consumer=consumer,
        flow_control=_FlowControl(),
    )
    topic = SimpleNamespace(topics=("t",), acks=False)
    return BatchChannel(app, topic, handler=None, batch_size=batch_size, batch_seconds=0.1)  # type: ignore[arg-type]


def records(n: int, tp: str = "a") -> list[M]:
    return [M(tp, o) for o in range(n)]


async def test_takes_every_record_in_order_when_there_is_space() -> None:
    ch = channel(batch_size=10)
    batch = records(5) + records(3, "b")
    assert await ch._deliver_all(batch) == []
    assert ch.buffer.records == batch


async def test_gives_back_everything_when_flow_has_stopped() -> None:
    ch = channel()
    ch.app.consumer.flow_active = False
    batch = records(3)
    assert await ch._deliver_all(batch) == batch
    assert ch.buffer.records == []


async def test_waits_for_space_and_goes_on_when_the_batch_is_taken() -> None:
    ch = channel(batch_size=2)  # room for 8 (batch_size x 4) before it waits
    batch = records(10)
    delivery = asyncio.ensure_future(ch._deliver_all(batch))
    await asyncio.sleep(0.01)
    assert not delivery.done() and ch.buffer.records == batch[:8]
    taken, ch.buffer.records = ch.buffer.records, []  # what the channel's loop does with a batch
    ch.buffer.bytes = 0
    ch.buffer.space.set()
    assert await delivery == []
    assert taken + ch.buffer.records == batch


async def test_a_rebalance_while_waiting_for_space_gives_back_the_rest() -> None:
    ch = channel(batch_size=2)
    batch = records(10)
    delivery = asyncio.ensure_future(ch._deliver_all(batch))
    await asyncio.sleep(0.01)
    ch.app.consumer.flow_active = False  # Faust's stop_flow
    ch.app.consumer.suspend_flow.set()
    assert await delivery == batch[8:]
    assert ch.buffer.records == batch[:8]
