"""Scaling: border-surge throughput with 1, 2 and 3 workers in one consumer group.

Every worker is a process on the same 2-core machine as the broker: past one worker they
compete for the same cores, so this shows the coordination overhead more than any gain.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import generate
from kafka_util import Lag, create_topic, delete_topics
from proc import cpu_seconds, load_average
from worker import Worker, settled


def _load(bootstrap: str, topic: str, events: int, days: int) -> None:
    from datetime import UTC, datetime, timedelta

    asyncio.run(create_topic(bootstrap, topic, 6))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.tsv"
        generate.write_file(path, events, 200, days, datetime.now(UTC) - timedelta(hours=1))
        generate.produce_file(bootstrap, topic, path)


async def _done(
    bootstrap: str, run_id: str, topic: str, workers: list[Worker], events: int
) -> float:
    lag = Lag(bootstrap)
    await lag.start()
    try:
        topics = [topic, f"{run_id}.events.by-crossing", f"{run_id}.buckets.by-border"]
        deadline = time.time() + 120 + events / 200
        while time.time() < deadline:
            total = sum([settled(await asyncio.to_thread(w.metrics)) for w in workers])
            if total >= events and await lag.lag(run_id, topics) == 0:
                return time.time()
            await asyncio.sleep(0.3)
    finally:
        await lag.stop()
    raise TimeoutError(f"{len(workers)} workers did not finish")


def one(bootstrap: str, topic: str, stamp: str, n: int, events: int) -> dict[str, float]:
    run_id = f"bench-scale{n}-{stamp}"
    tmp = Path(tempfile.mkdtemp(prefix=f"{run_id}-"))
    workers = [Worker(bootstrap, run_id, topic, tmp / str(i)) for i in range(n)]
    try:
        for w in workers:
            w.start()
        # Ready together: each /readyz is 200 only once the group's rebalance is over.
        t0 = max(w.wait_ready(240) for w in workers)
        cpu0 = sum(cpu_seconds(w.pid) for w in workers)
        t1 = asyncio.run(_done(bootstrap, run_id, topic, workers, events))
        cpu1 = sum(cpu_seconds(w.pid) for w in workers)
    finally:
        for w in workers:
            w.stop()
        asyncio.run(delete_topics(bootstrap, run_id))
    shutil.rmtree(tmp, ignore_errors=True)
    res = {
        "workers": n,
        "events": events,
        "seconds": round(t1 - t0, 2),
        "events_per_s": round(events / (t1 - t0), 1),
        "cpu_s_per_million": round((cpu1 - cpu0) / events * 1e6, 1),
        "load_average_1m": round(load_average()[0], 2),
    }
    print(f"  scaling: {res}", file=sys.stderr)
    return res


def measure(bootstrap: str, stamp: str) -> dict[str, object]:
    events = int(os.environ.get("BENCH_SCALING_EVENTS", "100000"))
    days = max(1, round(14 * events / 1_000_000))  # the throughput bench's density of events
    topic = f"bench-scaling-input-{stamp}"
    _load(bootstrap, topic, events, days)
    return {"days": days, "runs": [one(bootstrap, topic, stamp, n, events) for n in (1, 2, 3)]}
