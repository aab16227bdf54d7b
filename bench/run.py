"""`make bench`: load the bench topic once, then run the contenders side by side and report.

Environment: BENCH_EVENTS (1,000,000), BENCH_DIRECTIONS (200), BENCH_DAYS (14), BENCH_RUNS (3),
BENCH_FAUST_EVENTS (20,000: textbook Faust reads only this many of the records),
BENCH_PARTS (throughput,latency,recovery,memory,scaling), KAFKA_PORT (9092),
BENCH_RESULTS (bench/results/<date>-<host>.json; parts run the same day are merged into it),
BENCH_CONTENDERS (all four), BENCH_LATENCY_RATE (1,000 events/s in the latency part),
BENCH_LATENESS_SECONDS (60: the latency part's worker lateness, see bench/latency.py).
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from generate import produce_file, write_file
from kafka_util import Lag, create_topic, delete_topics
from proc import load_average
from throughput import CONTENDERS, run_one

HERE = Path(__file__).resolve().parent
PARTITIONS = 6  # as production (BORDER_SURGE_PARTITIONS default)


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, str(default)).replace(",", "").replace("_", ""))


def machine() -> dict[str, object]:
    cpu = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kb = int(f.readline().split()[1])
    return {
        "host": socket.gethostname(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def load_topic(
    bootstrap: str, events: int, directions: int, days: int, stamp: str
) -> tuple[str, int]:
    topic = f"bench-input-{stamp}"
    asyncio.run(create_topic(bootstrap, topic, PARTITIONS))
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        path = Path(tmp) / "events.tsv"
        t = time.time()
        # Event time ends an hour ago: every event is in the past of its append time.
        total = write_file(path, events, directions, days, datetime.now(UTC) - timedelta(hours=1))
        print(f"generated {events:,} events in {time.time() - t:.1f} s", file=sys.stderr)
        t = time.time()
        produce_file(bootstrap, topic, path)

    async def count() -> int:
        lag = Lag(bootstrap)
        await lag.start()
        try:
            return sum((await lag.end_offsets([topic])).values())
        finally:
            await lag.stop()

    loaded = asyncio.run(count())
    if loaded != events:
        raise RuntimeError(f"{topic} holds {loaded} records, expected {events}")
    print(f"loaded {topic} in {time.time() - t:.1f} s", file=sys.stderr)
    return topic, total


def throughput(bootstrap: str, topic: str, events: int, runs: int, stamp: str, cap: int) -> dict:
    chosen = [
        c for c in CONTENDERS if c in os.environ.get("BENCH_CONTENDERS", ",".join(CONTENDERS))
    ]
    out: dict[str, dict] = {c: {"runs": []} for c in chosen}
    for i in range(runs):
        # Interleaved (run i of every contender, then run i + 1): a burst of load from other
        # processes on the machine hits every contender alike rather than one.
        print(f"round {i + 1}/{runs} (load {load_average()[0]:.2f})", file=sys.stderr)
        for c in chosen:
            run_id = f"bench-{c.replace('_', '')}-{stamp}-{i}"
            tmp = Path(tempfile.mkdtemp(prefix=f"{run_id}-"))
            res = run_one(c, bootstrap, topic, events, run_id, tmp, cap)
            res["load_average_1m"] = round(load_average()[0], 2)
            out[c]["runs"].append(res)
    for c in chosen:
        rs = out[c]["runs"]
        out[c]["events_per_s"] = statistics.median(r["events_per_s"] for r in rs)
        out[c]["cpu_s_per_million"] = statistics.median(r["cpu_s_per_million"] for r in rs)
        out[c]["peak_rss_mb"] = max(r["peak_rss_mb"] for r in rs)
    if "border_surge" in out:
        us = out["border_surge"]
        out["ratios"] = {
            f"border_surge/{c}": round(us["events_per_s"] / out[c]["events_per_s"], 3)
            for c in chosen[:-1]
        }
    return out


def main() -> int:
    port = os.environ.get("KAFKA_PORT", "9092")
    bootstrap = f"127.0.0.1:{port}"
    events = env_int("BENCH_EVENTS", 1_000_000)
    directions = env_int("BENCH_DIRECTIONS", 200)
    days = env_int("BENCH_DAYS", 14)
    runs = env_int("BENCH_RUNS", 3)
    # Textbook Faust does ~120 events/s here: a million would take 2 hours a run.
    faust_cap = env_int("BENCH_FAUST_EVENTS", 20_000)
    parts = os.environ.get("BENCH_PARTS", "throughput,latency,recovery,memory,scaling").split(",")
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE
    ).stdout.strip()
    result: dict[str, object] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": commit,
        "machine": machine(),
        "load_average_at_start": [round(x, 2) for x in load_average()],
        "config": {"events": events, "directions": directions, "days": days, "runs": runs,
                   "partitions": PARTITIONS, "parts": parts,
                   "faust_textbook_events": min(events, faust_cap)},
    }  # fmt: skip
    asyncio.run(delete_topics(bootstrap, "bench-"))  # earlier runs' leftovers
    if "throughput" in parts:
        topic, total = load_topic(bootstrap, events, directions, days, stamp)
        result["input"] = {"topic": topic, "travellers": total}
        result["throughput"] = throughput(bootstrap, topic, events, runs, stamp, faust_cap)
        result["throughput"]["config"] = result["config"]
        result["throughput"]["commit"] = commit
    for part in ("latency", "recovery", "memory", "scaling"):
        if part in parts:
            module = __import__(part)
            result[part] = {**module.measure(bootstrap, stamp), "commit": commit}
    result["load_average_at_end"] = [round(x, 2) for x in load_average()]
    result["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    default = out_dir / f"{datetime.now(UTC):%Y-%m-%d}-{socket.gethostname()}.json"
    path = Path(os.environ.get("BENCH_RESULTS", str(default)))
    if path.exists():  # parts measured separately on the same day add up in one file
        earlier = json.loads(path.read_text())
        result = {**earlier, **result, "runs_merged": earlier.get("runs_merged", 1) + 1}
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result.get("throughput", {}), indent=2))
    print(f"results: {path}", file=sys.stderr)
    asyncio.run(delete_topics(bootstrap, "bench-"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
