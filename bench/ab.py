"""border-surge under two settings, side by side: one loaded topic, runs interleaved (A, B, A, B).

    BENCH_AB="BORDER_SURGE_LZ4_LEVEL=9 BORDER_SURGE_LZ4_LEVEL=1" python bench/ab.py

Each side is a space-free list of VAR=VALUE pairs joined by commas. Environment as bench/run.py
(BENCH_EVENTS, default 200,000 here; BENCH_DIRECTIONS; BENCH_DAYS; BENCH_RUNS, default 3;
KAFKA_PORT). Writes bench/results/<date>-ab-<commit>.json with every run and the medians.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from proc import load_average
from run import HERE, env_int, load_topic, machine
from throughput import run_one


def parse_side(text: str) -> dict[str, str]:
    return dict(pair.split("=", 1) for pair in text.split(",") if pair)


def main() -> int:
    bootstrap = f"127.0.0.1:{os.environ.get('KAFKA_PORT', '9092')}"
    sides = [parse_side(s) for s in os.environ["BENCH_AB"].split()]
    events = env_int("BENCH_EVENTS", 200_000)
    runs = env_int("BENCH_RUNS", 3)
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    topic, _ = load_topic(
        bootstrap, events, env_int("BENCH_DIRECTIONS", 200), env_int("BENCH_DAYS", 14), stamp
    )
    results: list[list[dict]] = [[] for _ in sides]
    for i in range(runs):
        for j, side in enumerate(sides):
            os.environ.update(side)
            print(f"run {i + 1}/{runs} {side} (load {load_average()[0]:.2f})", file=sys.stderr)
            run_id = f"bench-ab{j}-{stamp}-{i}"
            tmp = Path(tempfile.mkdtemp(prefix=f"{run_id}-"))
            out = run_one("border_surge", bootstrap, topic, events, run_id, tmp, events)
            out["load_average_1m"] = round(load_average()[0], 2)
            results[j].append(out)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE
    ).stdout.strip()
    summary = {
        "commit": commit,
        "machine": machine(),
        "events": events,
        "sides": [
            {
                "settings": side,
                "events_per_s": statistics.median(r["events_per_s"] for r in rs),
                "cpu_s_per_million": statistics.median(r["cpu_s_per_million"] for r in rs),
                "runs": rs,
            }
            for side, rs in zip(sides, results, strict=True)
        ],
    }
    path = HERE / "results" / f"{datetime.now(UTC):%Y-%m-%d}-ab-{commit}.json"
    path.write_text(json.dumps(summary, indent=2) + "\n")
    for s in summary["sides"]:
        print(
            f"{s['settings']}: {s['events_per_s']:,.0f} ev/s, {s['cpu_s_per_million']:.1f} CPU s/M"
        )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
