"""Latency in live mode: append -> counted for every event, append -> alert for every alert.

One fresh worker with the service's defaults, except the detection config and the lateness:

* Detection config (written per run): every post direction and every border has a static
  baseline equal to its calm rate, so alerts can fire in a live run of minutes instead of
  after weeks of learning. Static baselines are a production feature (docs/detection.md).
* Lateness (BENCH_LATENESS_SECONDS, default 60 s instead of 600 s): an event-time alert is
  decidable only when its bucket closes, lateness after the bucket's end; a shorter lateness
  shortens the run by 9 minutes and does not change the work done after the close.

Traffic: 200 directions (bench/generate.py), `occurred_at` = now. Calm until the next
5-minute boundary S after the worker is ready, then the directions of 9 borders (54 posts)
send 3x their calm rate, and the total is BENCH_LATENCY_RATE (1,000) events/s. The 60-minute
window still holds calm buckets at first, so the ratio passes 2 on the second surge window;
with two evaluations needed (pending_evaluations) the alerts fire for the window ending at
S + 15 min, decidable at S + 15 min + lateness; sending stops 30 s after that.

* append -> counted: the worker's own `border_event_latency_seconds` histogram (append to the
  count being saved), from S + 10 s to the end; p50 and p99 as the bucket holding them.
  (Reading the state changelog's meta records afterwards does not work for long runs: the
  topic is compacted while the run goes on.)
* append -> alert: from the append of the input record that made the alert's window decidable
  (bench/decidable.py) to the alert record's append (its timestamp) and to a read_committed
  reader receiving it (the transaction committed: what a subscriber sees).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from decidable import AlertSeen, PartitionClock, decidable_ms, percentile
from generate import PAIRS, directions
from kafka_util import Lag, delete_topics
from worker import Worker

from streams.count.windows import to_rfc3339
from streams.ingest import watermarks

BUCKET_S = 300
SURGE_FACTOR = 3
N_DIRECTIONS = 200
MEAN_TRAVELLERS = 2.5  # travellers are 1, 2, 3, 4 in turn
TAIL_S = 30.0
LATENCY_METRIC = "border_event_latency_seconds"


def surging(direction: tuple[str, str, str]) -> bool:
    """The directions of the first 9 border pairs, in the order PAIRS names them."""
    crossing, a, b = direction
    return (a, b) in PAIRS[:9] and int(crossing.split("-")[1]) % len(PAIRS) < 9


def _surging_subject(a: AlertSeen) -> bool:
    if a.scope == "border":
        return (a.from_country, a.to_country) in PAIRS[:9]
    assert a.crossing_id is not None
    return surging((a.crossing_id, a.from_country, a.to_country))


def detection_config(calm_per_s: float) -> str:
    """Static baselines at the calm rate: every direction and every border's sum of posts."""
    per_hour = calm_per_s * MEAN_TRAVELLERS * 3600
    posts: dict[str, int] = defaultdict(int)
    for _, a, b in directions(N_DIRECTIONS):
        posts[f"{a}-{b}"] += 1
    lines = ["[defaults]", f"static_baseline = {per_hour:.1f}", ""]
    for border, n in sorted(posts.items()):
        lines += [f'[borders."{border}"]', f"static_baseline = {per_hour * n:.1f}", ""]
    return "\n".join(lines)


async def _follow(
    bootstrap: str, topic: str, seen: dict[bytes, float], stop: asyncio.Event
) -> None:
    """Note when each alert record becomes visible to a read_committed subscriber."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        isolation_level="read_committed",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=100)
            now = time.time()
            for records in batch.values():
                for r in records:
                    seen.setdefault(r.value, now)
    finally:
        await consumer.stop()


async def _live(
    bootstrap: str, run_id: str, calm_per_s: float, surge_at: float, until: float, expected: int
) -> tuple[int, dict[bytes, float]]:
    """Send calm then surge traffic until `until`; returns events sent and alert visibility."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0, acks="all")
    await producer.start()
    seen: dict[bytes, float] = {}
    stop = asyncio.Event()
    follower = asyncio.create_task(_follow(bootstrap, f"{run_id}.alerts", seen, stop))
    dirs = directions(N_DIRECTIONS)
    calm = dirs
    surge = [d for d in dirs for _ in range(SURGE_FACTOR if surging(d) else 1)]
    rng = random.Random(1)
    topic = f"{run_id}.events"
    n = 0
    try:
        t0 = time.time()
        while (now := time.time()) < until:
            # Events due by now at the rate of each phase (integrated, so bursts catch up).
            calm_s = min(now, surge_at) - t0
            surge_s = max(0.0, now - surge_at)
            due = int(calm_s * calm_per_s * len(calm) + surge_s * calm_per_s * len(surge)) + 1
            pool = surge if now >= surge_at else calm
            stamp = to_rfc3339(int(now * 1000))
            while n < due:
                c, a, b = pool[rng.randrange(len(pool))]
                value = json.dumps(
                    {"event_id": f"l-{n}", "crossing_id": c, "occurred_at": stamp,
                     "from_country": a, "to_country": b, "travellers": 1 + n % 4}
                ).encode()  # fmt: skip
                await producer.send(topic, value, c.encode())
                n += 1
            await asyncio.sleep(0.01)
        await producer.flush()
        for _ in range(int(TAIL_S / 0.2)):  # the last alerts may still be on their way
            if len(seen) >= expected:
                break
            await asyncio.sleep(0.2)
    finally:
        stop.set()
        await follower
        await producer.stop()
    return n, seen


async def _scan(bootstrap: str, topic: str, isolation: str = "read_uncommitted") -> list:
    """Every record of a topic, from the beginning to its end offsets as of now."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, isolation_level=isolation
    )
    await consumer.start()
    out = []
    try:
        lag = Lag(bootstrap)
        await lag.start()
        ends = await lag.end_offsets([topic])
        await lag.stop()
        consumer.assign(list(ends))
        await consumer.seek_to_beginning(*ends)
        # The position, unlike the last record, also passes transaction markers.
        behind = dict(ends)
        while behind:
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                out.extend(records)
            behind = {tp: end for tp, end in behind.items() if await consumer.position(tp) < end}
    finally:
        await consumer.stop()
    return out


def _ms(stamp: str) -> int:
    return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() * 1000)


def _summary(name: str, values: list[float]) -> dict[str, float | int]:
    if not values:
        return {f"{name}_samples": 0}
    return {
        f"{name}_samples": len(values),
        f"{name}_p50_s": round(percentile(values, 0.5), 3),
        f"{name}_p99_s": round(percentile(values, 0.99), 3),
        f"{name}_max_s": round(max(values), 3),
        f"{name}_mean_s": round(statistics.fmean(values), 3),
    }


def measure(bootstrap: str, stamp: str) -> dict[str, object]:
    rate = int(os.environ.get("BENCH_LATENCY_RATE", "1000"))
    lateness = int(os.environ.get("BENCH_LATENESS_SECONDS", "60"))
    n_surge = sum(1 for d in directions(N_DIRECTIONS) if surging(d))
    calm_per_s = rate / (N_DIRECTIONS + (SURGE_FACTOR - 1) * n_surge)
    expected_alerts = n_surge + 9  # every surging direction and its 9 borders, firing
    run_id = f"bench-latency-{stamp}"
    work = Path(tempfile.mkdtemp(prefix=run_id))
    config = work / "crossings.toml"
    config.write_text(detection_config(calm_per_s))
    w = Worker(
        bootstrap,
        run_id,
        f"{run_id}.events",
        work,
        BORDER_SURGE_CONFIG=str(config),
        BORDER_SURGE_LATENESS_SECONDS=str(lateness),
    )
    w.start()
    try:
        w.wait_ready(180)
        # At least 20 s of calm traffic first; the surge starts on a bucket boundary.
        surge_at = (int(time.time() + 20) // BUCKET_S + 1) * BUCKET_S
        until = surge_at + 3 * BUCKET_S + lateness + TAIL_S
        # The worker's own append -> counted histogram, from 10 s into the surge to the end.
        since: dict[float, float] = {}
        timer = threading.Timer(surge_at + 10 - time.time(), lambda: since.update(_histogram(w)))
        timer.start()
        print(
            f"  latency: surge at {to_rfc3339(surge_at * 1000)}, "
            f"sending until {to_rfc3339(int(until * 1000))} "
            f"({(until - time.time()) / 60:.1f} min)",
            file=sys.stderr,
        )
        sent, visible = asyncio.run(
            _live(bootstrap, run_id, calm_per_s, surge_at, until, expected_alerts)
        )
        timer.join()
        counted = _histogram_delta(since, _histogram(w))
        keyed = asyncio.run(_scan(bootstrap, f"{run_id}.events.by-crossing"))
        alerts = asyncio.run(_scan(bootstrap, f"{run_id}.alerts", "read_committed"))
    finally:
        w.stop()
        asyncio.run(delete_topics(bootstrap, run_id))
    res: dict[str, object] = {
        "rate_asked": rate,
        "lateness_s": lateness,
        "events_sent": sent,
        "surge_directions": n_surge,
    }
    res.update(counted)
    res.update(_alerted(keyed, alerts, visible, lateness * 1000, surge_at, expected_alerts))
    print(f"  latency: {res}", file=sys.stderr)
    return res


def _histogram(w: Worker) -> dict[float, float]:
    """Cumulative counts of the worker's border_event_latency_seconds, by upper bound."""
    out: dict[float, float] = {}
    for line in w.get("/metrics")[1].decode().splitlines():
        if line.startswith(f"{LATENCY_METRIC}_bucket{{"):
            le = line.split('le="', 1)[1].split('"', 1)[0]
            out[float(le)] = float(line.rsplit(" ", 1)[1])
        elif line.startswith(f"{LATENCY_METRIC}_sum "):
            out[-1.0] = float(line.rsplit(" ", 1)[1])
    return out


def _histogram_delta(before: dict[float, float], after: dict[float, float]) -> dict[str, object]:
    """p50 and p99 as the histogram bucket that holds them (an upper bound), and the mean."""
    bounds = sorted(b for b in after if b >= 0)
    counts = [after[b] - before.get(b, 0.0) for b in bounds]
    total = counts[-1] if counts else 0.0
    if total <= 0:
        return {"append_to_counted_samples": 0}

    def bound(q: float) -> float:
        return next(b for b, c in zip(bounds, counts, strict=True) if c >= q * total)

    return {
        "append_to_counted_samples": int(total),
        "append_to_counted_p50_at_most_s": bound(0.5),
        "append_to_counted_p99_at_most_s": bound(0.99),
        "append_to_counted_mean_s": round((after[-1.0] - before.get(-1.0, 0.0)) / total, 3),
    }


def _alerted(
    keyed: list,
    alerts: list,
    visible: dict[bytes, float],
    lateness_ms: int,
    surge_at: float,
    expected: int,
) -> dict[str, object]:
    clocks: dict[int, PartitionClock] = defaultdict(PartitionClock)
    partition_of: dict[str, int] = {}
    posts: dict[tuple[str, str], set[str]] = defaultdict(set)
    for r in sorted(keyed, key=lambda r: (r.partition, r.offset)):
        if watermarks.is_watermark(r.key):
            # Ingest's progress reports (#16). Live, every input partition carries events every
            # few ms, so the first event record reaching a threshold marks the close to within
            # that spacing; counting closes at the reports that follow it (part of the path).
            continue
        ev = json.loads(r.value)
        partition_of[ev["crossing_id"]] = r.partition
        posts[(ev["from_country"], ev["to_country"])].add(ev["crossing_id"])
        clocks[r.partition].add(_ms(ev["occurred_at"]), int(dict(r.headers)["x-source-timestamp"]))
    to_append: list[float] = []
    to_visible: list[float] = []
    undecided = 0
    calm_alerts = 0
    firing = 0
    for r in alerts:
        a = json.loads(r.value)
        if a["status"] != "firing":
            continue
        firing += 1
        seen = AlertSeen(
            a["scope"],
            a["crossing_id"],
            a["from_country"],
            a["to_country"],
            _ms(a["window_end"]),
            r.timestamp,
            int(visible[r.value] * 1000) if r.value in visible else None,
        )
        if not _surging_subject(seen):
            calm_alerts += 1
        decided = decidable_ms(seen, lateness_ms, clocks, partition_of, posts)
        if decided is None:
            undecided += 1
            continue
        to_append.append((seen.append_ms - decided) / 1000)
        if seen.visible_ms is not None:
            to_visible.append((seen.visible_ms - decided) / 1000)
    return {
        "alerts_expected": expected,
        "alerts_firing": firing,
        "alerts_on_calm_directions": calm_alerts,
        "alerts_not_decidable_from_input": undecided,
        "first_alert_after_surge_s": round(min(r.timestamp for r in alerts) / 1000 - surge_at, 1)
        if alerts
        else None,
        **_summary("decidable_to_alert_appended", to_append),
        **_summary("decidable_to_alert_visible", to_visible),
    }
