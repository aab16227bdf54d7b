"""A partition being revoked is fenced: nothing is counted, closed or saved for it until the
rebalance gives it back. Without the fence, the idle closer of the old owner published
buckets with its older counts after the new owner had published the right ones (the
scale-out failure: 1 traveller published where 47 crossed) and saved a stale offset."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from faust.types import TP

from streams.count.agent import Counting
from streams.count.windows import to_rfc3339
from streams.kafka.outbox import Record
from streams.metrics import Metrics
from streams.settings import load_settings

T0 = 1_663_754_400_000  # 2022-09-21T10:00:00Z
KEYED = "t.events.by-crossing"


class RecordingOutbox:
    def __init__(self) -> None:
        self.records: list[Record] = []

    async def write(self, records: list[Record]) -> None:
        self.records.extend(records)


@dataclass
class StubService:
    """What the counting agent uses of the worker: settings, metrics and an outbox."""

    settings: Any = field(default_factory=lambda: load_settings(idle_close_seconds=1))
    metrics: Metrics = field(default_factory=Metrics)
    outbox: RecordingOutbox = field(default_factory=RecordingOutbox)
    border_topic_name: str = "t.buckets.by-border"
    changelog_topic_name: str = "t-state-changelog"
    keyed_topic_name: str = KEYED


@dataclass
class Message:
    offset: int
    value: bytes
    partition: int = 0
    topic: str = KEYED
    key: bytes = b"post"
    headers: list[tuple[str, bytes]] = field(default_factory=list)
    timestamp: float = 1.0

    @property
    def tp(self) -> TP:
        return TP(self.topic, self.partition)


def event(i: int, minutes: int) -> bytes:
    return json.dumps(
        {
            "event_id": f"e{i}",
            "crossing_id": "post",
            "occurred_at": to_rfc3339(T0 + minutes * 60_000),
            "from_country": "RU",
            "to_country": "FI",
            "travellers": 3,
        }
    ).encode()


def counting_with_one_partition() -> tuple[Counting, StubService]:
    service = StubService()
    counting = Counting(service)  # type: ignore[arg-type]
    from streams.count.counter import PartitionCounter

    counting.counters[0] = PartitionCounter(counting.config)
    return counting, service


async def test_fenced_partition_is_neither_idle_closed_nor_counted() -> None:
    counting, service = counting_with_one_partition()
    left = await counting.process([Message(0, event(0, 1)), Message(1, event(1, 14))])
    assert left == []
    # Ingest's report: its one input partition is caught up (else nothing may close).
    counting.counters[0].observe_source(0, 0, idle=True, count=1)
    written = len(service.outbox.records)
    # Idle for 20 minutes of wall time: the idle clock would close its open buckets.
    counting._anchors[0] = (time.time() - 1200, counting._anchors[0][1])
    await counting.fence({0})
    await counting.close_idle()
    assert len(service.outbox.records) == written  # no zombie write
    later = [Message(2, event(2, 20))]
    assert await counting.process(later) == later  # left for the partition's next owner
    assert len(service.outbox.records) == written
    assert counting.counters[0].next_offset == 2

    # Given back by the rebalance, it counts and closes again.
    counting.unfence({0})
    await counting.close_idle()
    closed = [
        r for r in service.outbox.records[written:] if r.topic == service.settings.counts_topic
    ]
    assert closed, "the idle closer did nothing after the fence was lifted"


async def test_a_batch_waiting_for_a_revoked_partitions_state_gives_up_its_records() -> None:
    counting, _ = counting_with_one_partition()
    waiting = [Message(0, event(0, 1), partition=1)]  # partition 1 is not restored (yet)
    counting.fenced.add(1)
    assert await counting.process(waiting) == waiting  # no 300 s wait for a state never coming
