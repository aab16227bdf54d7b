"""Latency in live mode: events at a steady rate, from the input record's append to counted.

`counted` is the moment the worker's state changelog received the partition's meta record
covering the event (written after its counts and outputs, see docs/exactly-once.md): the event
is then counted durably. The input append time travels with the re-keyed record (header
x-source-timestamp); the meta record's timestamp is set by the worker's producer when sent.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from generate import directions
from kafka_util import Lag, delete_topics
from worker import Worker

WARMUP_S = 10.0


async def _send(bootstrap: str, topic: str, rate: int, seconds: float) -> int:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0, acks="all")
    await producer.start()
    rng = random.Random(1)
    dirs = directions(200)
    n = 0
    try:
        t0 = time.monotonic()
        tick = 0.01
        while (elapsed := time.monotonic() - t0) < seconds:
            due = int(elapsed * rate) + 1
            while n < due:
                c, a, b = dirs[rng.randrange(len(dirs))]
                now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
                value = json.dumps(
                    {"event_id": f"l-{n}", "crossing_id": c, "occurred_at": now,
                     "from_country": a, "to_country": b, "travellers": 1 + n % 4}
                ).encode()  # fmt: skip
                await producer.send(topic, value, c.encode())
                n += 1
            await asyncio.sleep(tick)
        await producer.flush()
    finally:
        await producer.stop()
    return n


async def _read(bootstrap: str, topic: str) -> list:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    out = []
    try:
        lag = Lag(bootstrap)
        await lag.start()
        ends = await lag.end_offsets([topic])
        await lag.stop()
        consumer.assign(list(ends))
        await consumer.seek_to_beginning(*ends)
        remaining = {tp: end for tp, end in ends.items() if end > 0}
        while remaining:
            batch = await consumer.getmany(timeout_ms=1000)
            for tp, records in batch.items():
                out.extend(records)
                if records and records[-1].offset + 1 >= remaining.get(tp, 0):
                    remaining.pop(tp, None)
    finally:
        await consumer.stop()
    return out


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def measure(bootstrap: str, stamp: str) -> dict[str, object]:
    rate = int(os.environ.get("BENCH_LATENCY_RATE", "1000"))
    seconds = float(os.environ.get("BENCH_LATENCY_SECONDS", "60"))
    run_id = f"bench-latency-{stamp}"
    w = Worker(bootstrap, run_id, f"{run_id}.events", Path(tempfile.mkdtemp(prefix=run_id)))
    w.start()
    try:
        w.wait_ready(180)
        t0 = time.time()
        sent = asyncio.run(_send(bootstrap, f"{run_id}.events", rate, seconds))
        achieved = sent / (time.time() - t0)
        time.sleep(5)
        keyed = asyncio.run(_read(bootstrap, f"{run_id}.events.by-crossing"))
        meta = asyncio.run(_read(bootstrap, f"{run_id}-state-changelog"))
    finally:
        w.stop()
        asyncio.run(delete_topics(bootstrap, run_id))
    saved: dict[int, list[tuple[int, int]]] = defaultdict(list)  # partition -> (offset, ts)
    for m in meta:
        if m.key and m.key.endswith(b"|m"):
            saved[m.partition].append((json.loads(m.value)["offset"], m.timestamp))
    lat: list[float] = []
    for r in keyed:
        src = int(dict(r.headers)["x-source-timestamp"])
        if src < (t0 + WARMUP_S) * 1000:
            continue
        marks = sorted(saved[r.partition])
        i = bisect.bisect_left(marks, (r.offset, -1))
        if i < len(marks):
            lat.append((marks[i][1] - src) / 1000)
    res = {
        "rate_asked": rate,
        "rate_sent": round(achieved, 1),
        "seconds": seconds,
        "warmup_s": WARMUP_S,
        "events_measured": len(lat),
        "append_to_counted_p50_s": round(_pct(lat, 0.5), 3),
        "append_to_counted_p99_s": round(_pct(lat, 0.99), 3),
        "append_to_counted_max_s": round(max(lat), 3),
        "append_to_counted_mean_s": round(statistics.fmean(lat), 3),
    }
    print(f"  latency: {res}", file=sys.stderr)
    return res
