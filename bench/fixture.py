"""Counter state as a worker holds it after weeks of traffic, built directly (no replay).

Replaying 35 days for 200 directions through the pipeline takes minutes; the recovery and
memory figures only need the state itself, so it is built with the service's own pure classes
(PartitionCounter, the state codec) exactly as counting would leave it.
"""

from __future__ import annotations

import random
from array import array

from aiokafka.partitioner import murmur2
from generate import directions

from streams.count.counter import PartitionCounter
from streams.count.model import BatchResult, CounterConfig, Direction
from streams.count.state import changed_entries, meta_entry
from streams.count.windows import DAY_MS

BUCKET_MS = 300_000
PER_DAY = DAY_MS // BUCKET_MS


def partition_of(crossing: str, partitions: int) -> int:
    """The partition Kafka's default (murmur2) partitioner gives a crossing_id key."""
    return (murmur2(crossing.encode()) & 0x7FFFFFFF) % partitions


def build(
    n_directions: int,
    days: int,
    events_per_day: int,
    end_ms: int,
    partitions: int,
    *,
    with_writes: bool = True,
) -> dict[int, tuple[PartitionCounter, BatchResult]]:
    """Counters per partition holding `days` of buckets and 24 h of dedupe ids per direction.

    with_writes: also list the dedupe ids in the BatchResult, as the batch that remembered them
    would (what `changelog_entries` needs). The memory part leaves them out: a list of every id
    freed after the build still holds RSS (the freed tuples are scattered among the kept ids).
    """
    config = CounterConfig()
    rng = random.Random(35)
    out: dict[int, tuple[PartitionCounter, BatchResult]] = {}
    end_day = end_ms - end_ms % DAY_MS
    first_day = end_day - (days - 1) * DAY_MS
    per_bucket = max(1, events_per_day // PER_DAY)
    dedupe_from = end_ms - DAY_MS
    seq = 0
    for d in directions(n_directions):
        p = partition_of(d[0], partitions)
        if p not in out:
            out[p] = (PartitionCounter(config), BatchResult())
        counter, result = out[p]
        _fill(counter, result, d, first_day, end_day, per_bucket, rng)
        counter.first_bucket[d] = first_day
        for start in range(dedupe_from - dedupe_from % BUCKET_MS, end_ms, BUCKET_MS):
            ids = counter.dedupe.setdefault(start, {}).setdefault(d[0], {})
            remembered = result.remembered.setdefault(start, []) if with_writes else None
            for _ in range(per_bucket):
                seq += 1
                ids[f"evt-{seq:012d}"] = seq
                counter.seen_ids[f"{d[0]}|evt-{seq:012d}"] = seq
                if remembered is not None:
                    remembered.append((d[0], f"evt-{seq:012d}", seq))
    for counter, _ in out.values():
        counter.max_event_ms = end_ms
        counter.closed_until = end_ms - end_ms % BUCKET_MS - 2 * BUCKET_MS
    return out


def _fill(
    counter: PartitionCounter,
    result: BatchResult,
    d: Direction,
    first_day: int,
    end_day: int,
    per_bucket: int,
    rng: random.Random,
) -> None:
    for day in range(first_day, end_day + DAY_MS, DAY_MS):
        chunk = array("I", bytes(12 * PER_DAY))
        for i in range(PER_DAY):
            chunk[3 * i] = per_bucket * rng.randint(1, 3)
            chunk[3 * i + 1] = per_bucket
        counter.days.setdefault(day, {})[d] = chunk
        counter.chunk_offsets[(d, day)] = -1
        result.dirty_chunks.add((d, day))


def changelog_entries(
    built: dict[int, tuple[PartitionCounter, BatchResult]],
) -> dict[int, list[tuple[str, bytes | None]]]:
    """The table entries (per partition) a worker saves for this state."""
    return {
        p: [*changed_entries(p, counter, result).all, meta_entry(p, counter, -1)]
        for p, (counter, result) in built.items()
    }
