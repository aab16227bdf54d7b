"""Memory: RSS of the counting state per 1,000 directions holding 35 days of 5-minute buckets.

Measured in a fresh process with the service's own counter classes (RSS after building the
state minus RSS before); the recovery part checks the figure against a real worker.
"""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PY = HERE.parent / ".venv" / "bin" / "python"


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def child(n_directions: int, days: int, events_per_day: int) -> dict[str, float]:
    sys.path.insert(0, str(HERE.parent))
    import fixture

    gc.collect()
    before = _rss_mb()
    built = fixture.build(
        n_directions, days, events_per_day, int(time.time() * 1000), 6, with_writes=False
    )
    for _, result in built.values():  # the worker does not keep these
        result.dirty_chunks.clear()
        result.remembered.clear()
    gc.collect()
    after = _rss_mb()
    ids = sum(len(c.seen_ids) for c, _ in built.values())
    return {
        "directions": n_directions,
        "days": days,
        "events_per_direction_day": events_per_day,
        "dedupe_ids": ids,
        "state_rss_mb": round(after - before, 1),
        "rss_mb_per_1000_directions": round((after - before) * 1000 / n_directions, 1),
    }


def measure(bootstrap: str, stamp: str) -> dict[str, object]:
    out = []
    # The bench's traffic (357 events per direction and day) and a 10x busier one: the dedupe
    # ids of the last 24 h grow with traffic, the buckets do not.
    for per_day in (357, 3570):
        res = subprocess.run(
            [str(PY), __file__, "1000", "35", str(per_day)],
            capture_output=True,
            text=True,
            check=True,
            cwd=HERE,
        )
        out.append(json.loads(res.stdout))
        print(f"  memory: {out[-1]}", file=sys.stderr)
    return {"in_process": out}


if __name__ == "__main__":
    print(json.dumps(child(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))))
