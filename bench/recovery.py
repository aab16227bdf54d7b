"""Recovery: kill -9 a worker holding 35 days of buckets for 200 directions; time to ready.

The state is written to the worker's changelog as counting would have saved it (fixture.py),
a first worker recovers it, is killed with SIGKILL, and a second one is started at once: the
figure is from the kill to /readyz answering 200, and to /crossings showing every direction
with the complete 24-hour counts.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import fixture
from aiokafka import AIOKafkaProducer
from kafka_util import delete_topics
from proc import rss_mb
from worker import WORKER, Worker

DIRECTIONS = 200
DAYS = 35
PER_DAY = 357  # the throughput bench's traffic per direction and day


async def _write(
    bootstrap: str, topic: str, entries: dict[int, list[tuple[str, bytes | None]]]
) -> int:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, max_batch_size=1 << 20)
    await producer.start()
    n = 0
    try:
        futures = []
        for p, items in entries.items():
            for key, value in items:
                futures.append(await producer.send(topic, value, key.encode(), partition=p))
                n += 1
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return n


def _complete(w: Worker, expected: int) -> bool:
    status, body = w.get("/crossings", timeout=10)
    if status != 200:
        return False
    items = json.loads(body)["directions"]
    total = sum(d["windows"]["1440m"]["travellers"] for d in items)
    return len(items) == DIRECTIONS and total == expected


def _wait_complete(w: Worker, expected: int, timeout: float = 120) -> float:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if _complete(w, expected):
            return time.time()
        time.sleep(0.1)
    raise TimeoutError("counts never complete")


def one(
    bootstrap: str, stamp: str, session_timeout: int, static: bool = False
) -> dict[str, object]:
    run_id = f"bench-recovery-{stamp}-{session_timeout}{'-static' if static else ''}"
    tmp = Path(tempfile.mkdtemp(prefix=f"{run_id}-"))
    extra = {"BORDER_SURGE_SESSION_TIMEOUT_SECONDS": str(session_timeout)}
    if static:  # the restarted worker comes back as the same group member
        extra["BORDER_SURGE_GROUP_INSTANCE_ID"] = "worker-0"
    a = Worker(bootstrap, run_id, f"{run_id}.events", tmp, **extra)
    subprocess.run([str(WORKER), "topics", "create"], env=a.env, check=True, capture_output=True)
    end_ms = int(time.time() * 1000) - 3_600_000
    built = fixture.build(DIRECTIONS, DAYS, PER_DAY, end_ms, 6)
    expected = sum(
        c.window_sum(d, c.closed_until or 0, 86_400_000)[0]
        for c, _ in built.values()
        for d in c.directions()
    )
    entries = fixture.changelog_entries(built)
    n = asyncio.run(_write(bootstrap, f"{run_id}-state-changelog", entries))
    del built, entries
    try:
        t = time.time()
        a.start()
        a.wait_ready(180)
        cold_ready = time.time() - t
        _wait_complete(a, expected)
        cold_complete = time.time() - t
        rss_a = rss_mb(a.pid)
        a.kill9()
        t_kill = time.time()
        b = Worker(bootstrap, run_id, f"{run_id}.events", tmp, **extra)
        b.port = a.port
        b.env["BORDER_SURGE_WEB_PORT"] = str(a.port)
        b.start()
        ready = b.wait_ready(180, interval=0.05) - t_kill
        complete = _wait_complete(b, expected) - t_kill
        rss_b = rss_mb(b.pid)
        b.stop()
    finally:
        for w in (a,):
            if w.proc and w.proc.poll() is None:
                w.stop()
        asyncio.run(delete_topics(bootstrap, run_id))
    return {
        "directions": DIRECTIONS,
        "days": DAYS,
        "changelog_records": n,
        "session_timeout_s": session_timeout,
        "static_membership": static,
        "cold_start_to_ready_s": round(cold_ready, 2),
        "cold_start_to_complete_s": round(cold_complete, 2),
        "kill9_to_ready_s": round(ready, 2),
        "kill9_to_counts_complete_s": round(complete, 2),
        "worker_rss_mb_after_recovery": round(max(rss_a, rss_b), 1),
    }


def baseline_rss(bootstrap: str, stamp: str) -> float:
    """RSS of a ready worker with no state: what the per-direction figure is net of."""
    run_id = f"bench-empty-{stamp}"
    w = Worker(bootstrap, run_id, f"{run_id}.events", Path(tempfile.mkdtemp(prefix=run_id)))
    w.start()
    try:
        w.wait_ready(180)
        time.sleep(2)
        return rss_mb(w.pid)
    finally:
        w.stop()
        asyncio.run(delete_topics(bootstrap, run_id))


def measure(bootstrap: str, stamp: str) -> dict[str, object]:
    out: dict[str, object] = {"runs": []}
    # The production default, the lowest timeout the setting allows, and the default with
    # static membership (BORDER_SURGE_GROUP_INSTANCE_ID).
    for timeout, static in ((10, False), (6, False), (10, True)):
        res = one(bootstrap, stamp, timeout, static)
        print(f"  recovery: {res}", file=sys.stderr)
        out["runs"].append(res)  # type: ignore[union-attr]
    empty = baseline_rss(bootstrap, stamp)
    held = max(r["worker_rss_mb_after_recovery"] for r in out["runs"])  # type: ignore[union-attr]
    out["empty_worker_rss_mb"] = round(empty, 1)
    out["worker_rss_mb_per_1000_directions"] = round((held - empty) * 1000 / DIRECTIONS, 1)
    return out


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(__file__))
    print(
        json.dumps(
            measure(f"127.0.0.1:{os.environ.get('KAFKA_PORT', '9092')}", time.strftime("%H%M%S"))
        )
    )
