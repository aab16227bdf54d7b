"""`make soak`: the reliability suite N times in a row, new seeds each run, and a summary.

    python -m tests.reliability.soak --runs 5
    python -m tests.reliability.soak --runs 20 tests/reliability/test_scale_out.py

Each run is a separate pytest process with RELIABILITY_SEED drawn anew (the tests that draw
data or fault moments read it), so a failure names the seed that reproduces it. The summary
goes to stdout and to .soak/summary-<time>.json; the exit status is 1 if any run failed.
Not part of `make test`: one run of the suite takes minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.reliability.soak", description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("tests", nargs="*", default=["tests/reliability"])
    args = parser.parse_args(argv)
    out_dir = REPO / ".soak"
    out_dir.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    results = []
    for run in range(1, args.runs + 1):
        seed = random.SystemRandom().randrange(1, 1_000_000)
        log = out_dir / f"run-{stamp}-{run}.log"
        # Each run keeps its own pytest directory (workers' and broker's logs) until it passes:
        # pytest's default keeps only the last three, which a long soak would lose.
        basetemp = out_dir / f"tmp-{stamp}-{run}"
        started = time.monotonic()
        with log.open("wb") as f:
            done = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pytest",
                    "-p",
                    "no:cacheprovider",
                    "-q",
                    f"--basetemp={basetemp}",
                    *args.tests,
                ],
                cwd=REPO,
                env={**os.environ, "RELIABILITY_SEED": str(seed)},
                stdout=f,
                stderr=subprocess.STDOUT,
                check=False,
            )
        seconds = time.monotonic() - started
        if done.returncode == 0:
            shutil.rmtree(basetemp, ignore_errors=True)
        tail = log.read_text(errors="replace").strip().splitlines()[-1:] or [""]
        results.append(
            {"run": run, "seed": seed, "passed": done.returncode == 0, "seconds": round(seconds),
             "summary": tail[0], "log": str(log.relative_to(REPO))}
        )  # fmt: skip
        status = "ok  " if done.returncode == 0 else "FAIL"
        print(f"run {run}/{args.runs} {status} seed={seed} {seconds:6.0f}s  {tail[0]}", flush=True)
    failed = [r for r in results if not r["passed"]]
    green = len(results) - len(failed)
    print(f"\nsoak: {green} of {len(results)} runs green ({' '.join(args.tests)})")
    for r in failed:
        print(f"  failed: run {r['run']} RELIABILITY_SEED={r['seed']} log {r['log']}")
        print(f"          workers' logs: .soak/tmp-{stamp}-{r['run']}/")
    summary = out_dir / f"summary-{stamp}.json"
    summary.write_text(json.dumps({"tests": args.tests, "runs": results}, indent=2) + "\n")
    print(f"summary: {summary.relative_to(REPO)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
