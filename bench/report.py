"""Markdown tables from a results file: `python bench/report.py bench/results/FILE.json`."""

from __future__ import annotations

import json
import sys

NAMES = {
    "raw_limit": "1. limit: aiokafka + json.loads",
    "quix": "2. Quix Streams hopping sum",
    "faust_textbook": "3. textbook Faust hopping table",
    "border_surge": "4. border-surge, full pipeline",
}


def throughput(t: dict) -> str:
    rows = [
        "| contender | events/s (median) | runs (events/s) | CPU s per M events | peak RSS MB |",
        "| --- | ---: | --- | ---: | ---: |",
    ]
    for key, name in NAMES.items():
        if key not in t:
            continue
        c = t[key]
        runs = ", ".join(f"{r['events_per_s']:,.0f}" for r in c["runs"])
        rows.append(
            f"| {name} | {c['events_per_s']:,.0f} | {runs} | {c['cpu_s_per_million']:,.1f} "
            f"| {c['peak_rss_mb']:.0f} |"
        )
    ratios = t.get("ratios", {})
    rows.append("")
    rows.append(
        "Ratios (events/s): "
        + ", ".join(f"{k.replace('border_surge/', '4/')} = {v:.3g}" for k, v in ratios.items())
    )
    return "\n".join(rows)


def main(path: str) -> None:
    data = json.loads(open(path).read())
    if "throughput" in data:
        print(throughput(data["throughput"]))
    for part in ("latency", "recovery", "memory", "scaling"):
        if part in data:
            print(f"\n{part}: {json.dumps(data[part], indent=1)}")


if __name__ == "__main__":
    main(sys.argv[1])
