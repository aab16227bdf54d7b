"""Counting's save path alone: changelog bytes and CPU per event, no broker (docs/benchmarks.md).

One partition's counter is fed batches exactly as the counting agent feeds it, and each batch's
state entries are encoded with streams/count/state.py as `Counting._save` does (changed entries,
then the meta). Reported per event: the bytes sent to the changelog (keys and values, tombstones
included), the CPU of counting plus encoding, and what a restore reads once the changelog is
compacted (live keys, bytes, seconds).

    .venv/bin/python bench/save_path.py

Traffic: 34 directions (200 over 6 partitions) on 17 posts, 36-character event ids (UUIDs, as
terminals send), event time in order. Three profiles: the bench's rate (~420 events per
direction and day over 14 days) replayed in full batches of 2000 and live in batches of 50;
and the latency bench's 1,000 events/s (167/s on one of 6 partitions) live, in batches of
0.2 s (33 events), where a crossing's current bucket holds ~3,000 ids.
"""

from __future__ import annotations

import random
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from streams.count import state
from streams.count.counter import PartitionCounter
from streams.count.model import CountedEvent, CounterConfig
from streams.count.windows import DAY_MS

DIRECTIONS = [(f"post-{i // 2:03d}", *(("FI", "RU") if i % 2 else ("RU", "FI"))) for i in range(34)]
PROFILES = [  # name, events, event-time span (ms), batch size
    ("bench rate, replay", 200_000, 14 * DAY_MS, 2000),
    ("bench rate, live", 200_000, 14 * DAY_MS, 50),
    ("1,000 events/s, live", 50_000, 300_000, 33),
]
T0 = 1_788_220_800_000  # 2026-09-01 UTC


def events(n: int, span: int) -> list[CountedEvent]:
    rng = random.Random(19)
    return [
        CountedEvent(
            DIRECTIONS[rng.randrange(len(DIRECTIONS))],
            str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            T0 + i * span // n,
            rng.randint(1, 6),
            i,
        )
        for i in range(n)
    ]


def run(evs: list[CountedEvent], batch: int) -> dict[str, float]:
    counter = PartitionCounter(CounterConfig())
    log: dict[str, bytes] = {}  # the compacted changelog: last value of each key
    sent = records = 0
    cpu = 0.0
    for i in range(0, len(evs), batch):
        todo = evs[i : i + batch]
        t = time.process_time()
        result = counter.apply_batch(todo)
        counter.next_offset = todo[-1].offset + 1
        entries = state.changed_entries(0, counter, result).all
        entries.append(state.meta_entry(0, counter, todo[-1].offset))
        cpu += time.process_time() - t
        for key, value in entries:
            sent += len(key.encode()) + (0 if value is None else len(value))
            records += 1
            if value is None:
                log.pop(key, None)
            else:
                log[key] = value
    t = time.process_time()
    again = PartitionCounter(CounterConfig())
    state.restore(0, again, log.items())
    restore_s = time.process_time() - t
    assert again.seen_ids == counter.seen_ids, "restore must rebuild the same dedupe memory"
    assert again.days == counter.days, "restore must rebuild the same buckets"
    assert again.chunk_offsets == counter.chunk_offsets
    n = len(evs)
    return {
        "changelog_bytes_per_event": sent / n,
        "changelog_records_per_event": records / n,
        "cpu_us_per_event": cpu / n * 1e6,
        "compacted_keys": len(log),
        "compacted_mb": sum(len(k) + len(v) for k, v in log.items()) / 1e6,
        "restore_s": restore_s,
    }


def main() -> None:
    for name, n, span, batch in PROFILES:
        r = run(events(n, span), batch)
        print(
            f"{name:<21} {n:>7,} events, batch {batch:>4}: "
            f"{r['changelog_bytes_per_event']:8.1f} changelog B/event "
            f"({r['changelog_records_per_event']:.3f} records), "
            f"{r['cpu_us_per_event']:6.1f} µs CPU/event (count + encode); compacted "
            f"{r['compacted_keys']:,} keys, {r['compacted_mb']:.1f} MB, "
            f"restore {r['restore_s']:.2f} s"
        )


if __name__ == "__main__":
    main()
