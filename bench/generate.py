"""Fast generator of valid border events (schemas/event.py) and the loader of the bench topic.

The events are written as `key<TAB>json` lines and produced with kcat (librdkafka), which
loads a million records in seconds; the topic is complete before any contender starts.
Keys are the direction (`crossing|from|to`), so the peers' per-direction windows need no
repartition; border-surge re-keys by crossing in its ingest stage whatever the input key.
"""

from __future__ import annotations

import random
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

DAY_S = 86_400
# Neighbouring pairs, only to make the data look like borders; any assigned codes would do.
PAIRS = [
    ("FI", "RU"), ("EE", "RU"), ("RU", "KZ"), ("RU", "GE"), ("PL", "BY"), ("PL", "UA"),
    ("LT", "BY"), ("LV", "RU"), ("NO", "RU"), ("CN", "KZ"), ("MX", "US"), ("CA", "US"),
    ("TR", "GE"), ("AM", "GE"), ("AZ", "GE"), ("DE", "PL"), ("HU", "RS"), ("RO", "MD"),
]  # fmt: skip


def directions(n: int) -> list[tuple[str, str, str]]:
    """n directions: posts with both directions of their border, named post-000, post-001..."""
    out: list[tuple[str, str, str]] = []
    post = 0
    while len(out) < n:
        a, b = PAIRS[post % len(PAIRS)]
        crossing = f"post-{post:03d}"
        out.append((crossing, a, b))
        if len(out) < n:
            out.append((crossing, b, a))
        post += 1
    return out


def events(
    n: int, n_directions: int, days: int, end: datetime, seed: int = 9
) -> Iterator[tuple[str, str]]:
    """(key, json) of n events spread evenly over `days` of event time ending at `end`."""
    rng = random.Random(seed)
    dirs = directions(n_directions)
    start = int(end.timestamp()) - days * DAY_S
    span = days * DAY_S
    base = datetime.fromtimestamp(start, UTC)
    stamps: dict[int, str] = {}
    for i in range(n):
        second = i * span // n
        stamp = stamps.get(second)
        if stamp is None:
            stamps.clear()  # seconds only grow: keep one
            stamp = stamps[second] = (base + timedelta(seconds=second)).strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            )
        crossing, frm, to = dirs[rng.randrange(len(dirs))]
        travellers = rng.randint(1, 6)
        yield (
            f"{crossing}|{frm}|{to}",
            f'{{"event_id":"b-{i}","crossing_id":"{crossing}","occurred_at":"{stamp}",'
            f'"from_country":"{frm}","to_country":"{to}","travellers":{travellers},'
            f'"mode":"car","schema_version":1}}',
        )


def write_file(path: Path, n: int, n_directions: int, days: int, end: datetime) -> int:
    """Write the events as key<TAB>value lines; returns the total travellers (a checksum)."""
    total = 0
    with path.open("w") as f:
        for key, value in events(n, n_directions, days, end):
            f.write(f"{key}\t{value}\n")
    with path.open() as f:
        for line in f:
            i = line.rindex('"travellers":') + 13
            total += int(line[i : line.index(",", i)])
    return total


def produce_file(bootstrap: str, topic: str, path: Path) -> None:
    """Produce the file with kcat, Java's murmur2 partitioner, acks=all, no compression."""
    subprocess.run(
        [
            "kcat", "-P", "-b", bootstrap, "-t", topic, "-K", "\t",
            "-X", "partitioner=murmur2_random", "-X", "acks=all",
            "-X", "linger.ms=20", "-X", "batch.num.messages=10000",
            "-l", str(path),
        ],
        check=True,
    )  # fmt: skip
