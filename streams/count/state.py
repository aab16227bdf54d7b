"""How a partition's counter is saved as table entries and rebuilt from them (pure codec)."""

from __future__ import annotations

import json
import struct
from array import array
from collections.abc import Iterable, Iterator

from streams.count.counter import PartitionCounter
from streams.count.model import BatchResult, Direction, SourceClock

_OFFSET = struct.Struct(">q")

Entry = tuple[str, bytes | None]  # key, value (None deletes the key)


def partition_prefix(partition: int) -> str:
    return f"{partition}|"


def meta_key(partition: int) -> str:
    return f"{partition}|m"


def chunk_key(partition: int, direction: Direction, day: int) -> str:
    crossing, src, dst = direction
    return f"{partition}|c|{crossing}|{src}|{dst}|{day}"


def dedupe_key(partition: int, crossing: str, start: int) -> str:
    return f"{partition}|d|{start}|{crossing}"


def changed_entries(partition: int, counter: PartitionCounter, result: BatchResult) -> list[Entry]:
    """The table entries a batch changed: chunks and dedupe first, the partition meta last."""
    entries: list[Entry] = []
    for direction, day in sorted(result.dirty_chunks):
        chunk = counter.days[day][direction]
        offset = counter.chunk_offsets.get((direction, day), -1)
        entries.append(
            (chunk_key(partition, direction, day), _OFFSET.pack(offset) + chunk.tobytes())
        )
    for direction, day in sorted(result.dropped_chunks):
        entries.append((chunk_key(partition, direction, day), None))
    for crossing, start in sorted(result.dirty_dedupe):
        ids = counter.dedupe[start][crossing]
        entries.append((dedupe_key(partition, crossing, start), json.dumps(ids).encode()))
    for crossing, start in sorted(result.dropped_dedupe):
        entries.append((dedupe_key(partition, crossing, start), None))
    return entries


def meta_entry(partition: int, counter: PartitionCounter, offset: int) -> Entry:
    """The partition's watermark state and the last source offset it reflects (written last)."""
    meta = {
        "max_event_ms": counter.max_event_ms,
        "closed_until": counter.closed_until,
        "first": [[*d, start] for d, start in sorted(counter.first_bucket.items())],
        "offset": offset,
    }
    if counter.source_count is not None:
        meta["source_count"] = counter.source_count
        meta["sources"] = [[s, c.event_ms, c.idle] for s, c in sorted(counter.sources.items())]
    return meta_key(partition), json.dumps(meta).encode()


def restore(partition: int, counter: PartitionCounter, entries: Iterable[tuple[str, bytes]]) -> int:
    """Fill an empty counter from saved entries; returns the last source offset saved (-1)."""
    prefix = partition_prefix(partition)
    offset = -1
    for key, value in entries:
        if not key.startswith(prefix) or value is None:
            continue
        kind = key[len(prefix)]
        if kind == "m":
            meta = json.loads(value)
            counter.max_event_ms = meta["max_event_ms"]
            counter.closed_until = meta["closed_until"]
            counter.first_bucket.update({(c, f, t): s for c, f, t, s in meta["first"]})
            counter.source_count = meta.get("source_count")
            counter.sources = {s: SourceClock(t, idle) for s, t, idle in meta.get("sources", [])}
            offset = meta["offset"]
            counter.next_offset = offset + 1 if offset >= 0 else None
        elif kind == "c":
            _, _, crossing, src, dst, day_text = key.split("|")
            day = int(day_text)
            chunk = array("I")
            chunk.frombytes(value[_OFFSET.size :])
            direction = (crossing, src, dst)
            counter.days.setdefault(day, {})[direction] = chunk
            counter.chunk_offsets[(direction, day)] = _OFFSET.unpack_from(value)[0]
        elif kind == "d":
            _, _, start_text, crossing = key.split("|")
            ids = json.loads(value)
            counter.dedupe.setdefault(int(start_text), {})[crossing] = ids
            counter.seen_ids.update((f"{crossing}|{i}", off) for i, off in ids.items())
    return offset


def keys_of(partition: int, keys: Iterable[str]) -> Iterator[str]:
    prefix = partition_prefix(partition)
    return (k for k in keys if k.startswith(prefix))
