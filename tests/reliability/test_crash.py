"""SIGKILL the worker three times at random moments of a 206,000-event replay with surges:
counts, API and alerts afterwards equal the independent references."""

from __future__ import annotations

import asyncio
import os
import random
import time

import pytest

from streams.kafka.admin import ensure_topics
from tests.reliability.replay import (
    Sender as ReplaySender,
)
from tests.reliability.replay import (
    api_buckets,
    assert_same_alerts,
    load_replay,
    wait_alerts,
    wait_counts_exact,
)
from tests.support import WorkerProcess, settings_from

pytestmark = [pytest.mark.integration, pytest.mark.reliability]


def test_three_kill9_during_replay_leave_counts_and_alerts_exact(service_env, tmp_path) -> None:
    replay = load_replay(partitions=6)
    assert len(replay.messages) >= 200_000
    statuses = {a[1] for a in replay.alerts}
    assert statuses == {"firing", "resolved"}, "the replay must start and end episodes"
    env = {**service_env, "BORDER_SURGE_PARTITIONS": "6"}
    settings = settings_from(env)
    bootstrap = settings.bootstrap_servers
    asyncio.run(ensure_topics(settings))
    seed = int(os.environ.get("RELIABILITY_SEED", time.time_ns() % 1_000_000))
    rng = random.Random(seed)
    print(f"kill moments drawn with RELIABILITY_SEED={seed}")

    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    try:
        worker.wait_ready()
        started = time.monotonic()
        sender = ReplaySender(bootstrap, settings.events_topic, replay.messages)
        sender.start()
        for i in range(3):
            time.sleep(rng.uniform(3, 15))
            print(f"kill -9 #{i + 1} at {time.monotonic() - started:.1f}s")
            worker.kill9()
            worker.start()
            worker.wait_ready(timeout=120)
        sender.join_checked()
        published = wait_counts_exact(
            bootstrap,
            settings.counts_topic,
            replay.counts,
            replay.closed,
            [worker],
            timeout=300,
            settings=settings,
        )
        print(
            f"{len(replay.messages)} messages counted exactly after 3 kills in "
            f"{time.monotonic() - started:.0f}s; {len(published)} buckets"
        )
        got = wait_alerts(bootstrap, settings.alerts_topic, replay.alerts, timeout=120)
        assert_same_alerts(got, replay.alerts)

        # The API serves the same numbers: the last 24 h of buckets of every post.
        for crossing in sorted({k[0] for k in replay.counts}):
            served = api_buckets(worker, crossing)
            assert served, crossing
            wrong = {k: v for k, v in served.items() if v != replay.counts.get(k, 0)}
            assert wrong == {}, f"API differs from the reference: {list(wrong.items())[:5]}"
    finally:
        worker.stop()
