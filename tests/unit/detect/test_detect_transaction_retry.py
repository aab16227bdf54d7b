"""A detection transaction that fails (aiokafka's transaction manager left in a fatal state by a
broker outage, found by `make soak`) is handled as after a crash: the partition's producer and
state are dropped, the committed state is read back, and the same batch is judged again. The
worker does not crash."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from streams.count.model import ClosedBucket
from streams.count.records import encode_report
from streams.detect import agent as detect
from streams.detect.agent import Detection
from streams.detect.partition import DetectPartition
from streams.metrics import Metrics
from streams.settings import load_settings

T0 = 1_663_754_400_000  # 2022-09-21T10:00:00Z


@dataclass
class StubService:
    settings: Any = field(default_factory=load_settings)
    metrics: Metrics = field(default_factory=Metrics)


@dataclass
class Message:
    value: bytes
    offset: int
    partition: int = 0
    topic: str = "t.buckets.by-border"


async def test_a_failed_transaction_is_judged_again_from_the_committed_state(monkeypatch) -> None:
    monkeypatch.setattr(detect.asyncio, "sleep", _no_sleep)
    detection = Detection(StubService())  # type: ignore[arg-type]
    owned: list[DetectPartition] = []
    commits: list[DetectPartition] = []

    async def own(q: int) -> DetectPartition:
        part = detection.partitions.get(q)
        if part is None:  # a restore from the committed state: empty in this test
            part = detection.partitions[q] = DetectPartition(detection.config, 300_000)
            owned.append(part)
        return part

    async def commit(q: int, part: DetectPartition, result: Any) -> None:
        commits.append(part)
        if len(commits) == 1:
            raise AssertionError(
                "Invalid state transition TransactionState.FATAL_ERROR -> "
                "TransactionState.COMMITTING_TRANSACTION"
            )

    monkeypatch.setattr(detection, "_own", own)
    monkeypatch.setattr(detection, "_commit", commit)
    bucket = ClosedBucket(("vaalimaa", "RU", "FI"), T0, T0 + 300_000, 12, 5, 0)
    await detection.process([Message(encode_report(bucket)[1], 0)])
    assert len(commits) == 2, "the batch was not committed again"
    assert len(owned) == 2 and commits[1] is owned[1]  # judged again on a restored partition
    assert commits[0] is not commits[1]


async def test_a_transaction_that_never_goes_through_ends_in_an_error(monkeypatch) -> None:
    monkeypatch.setattr(detect.asyncio, "sleep", _no_sleep)
    monkeypatch.setattr(detect, "MAX_TRANSACTION_ATTEMPTS", 3)
    detection = Detection(StubService())  # type: ignore[arg-type]

    async def own(q: int) -> DetectPartition:
        return detection.partitions.setdefault(q, DetectPartition(detection.config, 300_000))

    async def commit(q: int, part: DetectPartition, result: Any) -> None:
        raise RuntimeError("broker gone")

    monkeypatch.setattr(detection, "_own", own)
    monkeypatch.setattr(detection, "_commit", commit)
    bucket = ClosedBucket(("vaalimaa", "RU", "FI"), T0, T0 + 300_000, 12, 5, 0)
    with pytest.raises(RuntimeError, match="no transaction went through"):
        await detection.process([Message(encode_report(bucket)[1], 0)])


async def _no_sleep(seconds: float) -> None:
    return None
