"""Replay equivalence: ten days of events read as one backlog, partition after partition, with
the worker killed halfway, give the counts and the alerts of live traffic (the offline
pipeline, which reads the same events in event-time order as a paced live run would)."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
import zlib
from collections import defaultdict

import pytest
from aiokafka import AIOKafkaProducer

from streams.kafka.admin import ensure_topics
from tests.reliability.replay import (
    assert_same_alerts,
    load_replay,
    wait_alerts,
    wait_counts_exact,
)
from tests.support import WorkerProcess, group_lag, read_topic, settings_from, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.reliability]

PARTITIONS = 6


async def produce_to(
    bootstrap: str, topic: str, partition: int, messages: list[tuple[bytes | None, bytes]]
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, linger_ms=20)
    await producer.start()
    try:
        futures = [await producer.send(topic, v, key=k, partition=partition) for k, v in messages]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


def metric(worker: WorkerProcess, name: str) -> float:
    with urllib.request.urlopen(worker.url("/metrics"), timeout=5) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    return 0.0


def test_backlog_in_skewed_partition_order_with_a_crash_counts_and_alerts_as_live(
    service_env, tmp_path
) -> None:
    replay = load_replay(partitions=PARTITIONS)
    env = {**service_env, "BORDER_SURGE_PARTITIONS": str(PARTITIONS)}
    settings = settings_from(env)
    bootstrap = settings.bootstrap_servers
    asyncio.run(ensure_topics(settings))
    # The backlog: keyed by crossing_id but partitioned as kcat does by default (CRC32, not
    # Java's murmur2), so a keyed partition gets posts from several input partitions; then all
    # of one input partition before the next: ten days apart at the seams.
    by_partition: dict[int, list[tuple[bytes | None, bytes]]] = defaultdict(list)
    for m in replay.messages:
        by_partition[zlib.crc32(m.key or b"") % PARTITIONS].append((m.key, m.value))
    assert len(by_partition) >= 3, "the skew needs several input partitions"
    for p in sorted(by_partition, reverse=True):
        asyncio.run(produce_to(bootstrap, settings.events_topic, p, by_partition[p]))
    total = len(replay.messages)

    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    try:
        worker.wait_ready()

        def forwarded() -> int:
            lag = asyncio.run(group_lag(bootstrap, settings.app_id, settings.events_topic))
            return sum(max(committed, 0) for committed, _ in lag.values())

        wait_until(lambda: forwarded() >= total // 2, 300, message=worker.tail())
        worker.kill9()
        worker.start()
        worker.wait_ready()
        wait_counts_exact(
            bootstrap,
            settings.counts_topic,
            replay.counts,
            replay.closed,
            [worker],
            600,
            settings=settings,
        )
        got = wait_alerts(bootstrap, settings.alerts_topic, replay.alerts, timeout=120)
        assert_same_alerts(got, replay.alerts)
        # Each bucket closed once, complete: no correction although the backlog interleaved
        # input partitions ten days apart (before: 40% of buckets republished).
        records = asyncio.run(read_topic(bootstrap, settings.counts_topic))
        published = [json.loads(r.value) for r in records if r.value]
        corrected = [b for b in published if b["revision"] > 0]
        assert published and not corrected, f"{len(corrected)} corrections: {corrected[:5]}"
        late = metric(worker, "border_events_late_total")
        counted = metric(worker, "border_events_counted_total")
        assert counted > 0 and late / counted < 0.01, (late, counted)
        time.sleep(1)
        assert worker.proc is not None and worker.proc.poll() is None
    finally:
        worker.stop()
