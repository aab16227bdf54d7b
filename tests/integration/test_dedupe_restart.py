"""Dedupe survives kill -9: an event_id seen before a crash is still a duplicate after it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from streams.count.windows import HOUR_MS, MINUTE_MS, to_rfc3339
from streams.kafka.admin import ensure_topics
from tests.support import (
    Consumed,
    WorkerProcess,
    latest_counts,
    produce,
    read_topic,
    settings_from,
    wait_until,
)

pytestmark = pytest.mark.integration

CROSSING = "vaalimaa"
T0 = 1_663_754_520_000  # 2022-09-21T10:02:00Z, in the bucket starting 10:00
BUCKET = to_rfc3339(T0 - T0 % (5 * MINUTE_MS))


def event(event_id: str, t_ms: int, travellers: int = 1, **extra: Any) -> bytes:
    return json.dumps(
        {
            "event_id": event_id,
            "crossing_id": CROSSING,
            "occurred_at": to_rfc3339(t_ms),
            "from_country": "RU",
            "to_country": "FI",
            "travellers": travellers,
            **extra,
        }
    ).encode()


class Harness:
    """One worker on fresh topics, and what the tests read back from the broker."""

    def __init__(self, env: dict[str, str], tmp_path: Path) -> None:
        self.settings = settings_from(env)
        self.bootstrap = self.settings.bootstrap_servers
        self.keyed_topic = self.settings.topic("events.by-crossing")
        asyncio.run(ensure_topics(self.settings))
        self.worker = WorkerProcess(env, tmp_path / "worker.log")

    def send(self, *values: bytes, key: bytes = CROSSING.encode()) -> None:
        asyncio.run(produce(self.bootstrap, self.settings.events_topic, [(key, v) for v in values]))

    def counts(self) -> list[Consumed]:
        return asyncio.run(read_topic(self.bootstrap, self.settings.counts_topic))

    def bucket(self, start: str) -> dict[str, Any] | None:
        return latest_counts(self.counts()).get((CROSSING, "RU", "FI", start))

    def wait_published(self, start: str, travellers: int | None = None) -> None:
        """Until the bucket is in the counts topic (with that many travellers, if given)."""

        def published() -> bool:
            assert self.worker.proc is not None and self.worker.proc.poll() is None, "died"
            b = self.bucket(start)
            return b is not None and (travellers is None or b["travellers"] == travellers)

        wait_until(published, 60, message=f"bucket {start} not published\n{self.worker.tail()}")

    def wait_forwarded(self, n: int) -> None:
        """Until the ingest agent has forwarded n events to the keyed topic."""

        def forwarded() -> bool:
            return len(asyncio.run(read_topic(self.bootstrap, self.keyed_topic))) >= n

        wait_until(forwarded, 30, message=f"not forwarded\n{self.worker.tail()}")

    def wait_committed(self) -> None:
        """Until the worker has committed everything in the keyed topic: a restart then
        resumes after it, so what it knows of the past comes from the saved state alone."""

        async def caught_up() -> bool:
            admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
            consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap)
            await admin.start()
            await consumer.start()
            try:
                committed = await admin.list_consumer_group_offsets(self.settings.app_id)
                tps = [TopicPartition(self.keyed_topic, p) for p in range(self.settings.partitions)]
                ends = await consumer.end_offsets(tps)
            finally:
                await consumer.stop()
                await admin.close()
            return all(
                end == 0 or (tp in committed and committed[tp].offset >= end)
                for tp, end in ends.items()
            )

        wait_until(lambda: asyncio.run(caught_up()), 30, message="offsets never committed")

    def restart(self) -> None:
        self.worker.kill9()
        self.worker.start()
        self.worker.wait_ready()

    def revisions(self, start: str) -> list[tuple[int, int]]:
        """(revision, travellers) of every record published for one bucket, in order."""
        out = []
        for r in self.counts():
            c = json.loads(r.value or b"{}")
            if (c["crossing_id"], c["bucket_start"]) == (CROSSING, start):
                out.append((c["revision"], c["travellers"]))
        return out

    def api_bucket(self, start: str) -> dict[str, Any]:
        status, body = self.worker.get_json(f"/crossings/{CROSSING}")
        assert status == 200, body
        [direction] = [d for d in body["directions"] if d["from_country"] == "RU"]
        [bucket] = [b for b in direction["buckets"] if b["bucket_start"] == start]
        return bucket


@pytest.fixture
def harness(service_env: dict[str, str], tmp_path: Path) -> Iterator[Harness]:
    h = Harness(service_env, tmp_path)
    try:
        h.worker.start().wait_ready()
        yield h
    finally:
        h.worker.stop()


@pytest.mark.parametrize("when", ["after the commit", "right after publishing"])
def test_event_resent_after_kill9_restart_is_counted_once(harness: Harness, when: str) -> None:
    original = event("gate-1/0001", T0, travellers=7)
    # Another event in the bucket: a worker that lost its state would publish 7, not 9.
    harness.send(original, event("gate-1/0002", T0 + 1000, travellers=2))
    harness.send(event("close-1", T0 + HOUR_MS))
    harness.wait_published(BUCKET, travellers=9)
    if when == "after the commit":
        harness.wait_forwarded(3)
        harness.wait_committed()
    # "right after publishing": the state may or may not be saved and the input not yet
    # committed, so the restart may replay the events; either way each counts once.
    harness.restart()

    # The same bytes again, then a later event in the same partition: once the bucket that
    # event closes is published, the resent one has been through the counter too.
    harness.send(original, event("close-2", T0 + 2 * HOUR_MS))
    harness.wait_published(to_rfc3339(T0 - T0 % (5 * MINUTE_MS) + HOUR_MS))
    assert harness.bucket(BUCKET)["travellers"] == 9
    assert {rev for rev, _ in harness.revisions(BUCKET)} == {0}, harness.revisions(BUCKET)
    assert harness.api_bucket(BUCKET) == {
        "bucket_start": BUCKET,
        "travellers": 9,
        "events": 2,
        "revision": 0,
    }


def test_duplicates_before_and_after_a_restart_within_24h_count_once(harness: Harness) -> None:
    original = event("gate-2/0042", T0, travellers=5, mode="bus")
    # a retry before the crash, re-serialised and sent under another key (other partition)
    retry = event("gate-2/0042", T0, travellers=5, mode="bus", nationality="RU")
    harness.send(original, event("gate-2/0043", T0 + 60_000, travellers=1))
    harness.send(retry, key=b"not-the-crossing")
    # 20 hours of event time later: the watermark has moved far on, dedupe still remembers
    harness.send(event("later-1", T0 + 20 * HOUR_MS))
    harness.wait_published(BUCKET, travellers=6)
    harness.wait_forwarded(4)
    harness.wait_committed()
    harness.restart()

    harness.send(original, retry, event("later-2", T0 + 21 * HOUR_MS))
    closed_by_later_2 = to_rfc3339(T0 - T0 % (5 * MINUTE_MS) + 20 * HOUR_MS)
    harness.wait_published(closed_by_later_2)
    assert harness.bucket(BUCKET)["travellers"] == 6
    assert harness.revisions(BUCKET) == [(0, 6)]
    assert harness.api_bucket(BUCKET)["travellers"] == 6


def test_event_resent_with_a_corrected_time_in_another_bucket_counts_once(
    harness: Harness,
) -> None:
    harness.send(event("gate-3/0007", T0, travellers=4))
    harness.send(event("gate-3/0007", T0 + 5 * MINUTE_MS, travellers=4))
    harness.send(event("close-3", T0 + HOUR_MS))
    next_bucket = to_rfc3339(T0 - T0 % (5 * MINUTE_MS) + 5 * MINUTE_MS)
    harness.wait_published(next_bucket)
    travellers = sum(
        c["travellers"]
        for c in latest_counts(harness.counts()).values()
        if c["bucket_start"] in (BUCKET, next_bucket)
    )
    assert travellers == 4
