"""How a partition's counter is saved as table entries and rebuilt from them (pure codec).

Keys, all prefixed with the partition (`P|`):

* `P|m`: the meta (watermark, close point, source clocks, last source offset), written last;
* `P|c|CROSSING|FROM|TO|DAY`: one direction's day chunk, written whole when it changes;
* `P|e|START|FIRST`: the event ids one batch newly remembered in the dedupe bucket START,
  `{crossing_id: {event_id: offset - FIRST}}`, FIRST being the least of their offsets. A batch
  writes only what it added; a bucket's ids are the union of its records, and when the bucket
  leaves the dedupe memory every one of its records is deleted (a tombstone), so the compacted
  changelog holds the ids of the dedupe horizon and no more. FIRST makes the key unique: an
  offset is counted, and its id remembered, once; after a restart the ids already saved are
  known, so a replayed batch's records start at an offset no saved record starts at.
* `P|d|START|CROSSING`: the layout before, each crossing's whole id list of one bucket
  (`{event_id: offset}`). Still read, never written: such a record stays until its bucket
  leaves the dedupe memory and is then deleted like the new ones, so an upgraded worker
  remembers the ids saved before the upgrade and the old records drain away within
  `DEDUPE_HOURS`.
"""

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


def dedupe_key(partition: int, start: int, first_offset: int) -> str:
    return f"{partition}|e|{start}|{first_offset}"


def legacy_dedupe_key(partition: int, crossing: str, start: int) -> str:
    """The key of a crossing's whole id list in the layout before (read, never written)."""
    return f"{partition}|d|{start}|{crossing}"


def encode_remembered(ids: list[tuple[str, str, int]]) -> tuple[int, bytes]:
    """(first offset, value) of one batch's newly remembered ids of one dedupe bucket."""
    first = min(offset for _, _, offset in ids)
    by_crossing: dict[str, dict[str, int]] = {}
    for crossing, event_id, offset in ids:
        by_crossing.setdefault(crossing, {})[event_id] = offset - first
    return first, json.dumps(by_crossing, separators=(",", ":")).encode()


def _dedupe_entries(partition: int, counter: PartitionCounter, result: BatchResult) -> list[Entry]:
    entries: list[Entry] = []
    for start in sorted(result.dropped_dedupe):
        entries.extend((key, None) for key in sorted(counter.dedupe_keys.pop(start, ())))
    for start, ids in sorted(result.remembered.items()):
        first, value = encode_remembered(ids)
        key = dedupe_key(partition, start, first)
        counter.dedupe_keys.setdefault(start, set()).add(key)
        entries.append((key, value))
    return entries


def changed_entries(partition: int, counter: PartitionCounter, result: BatchResult) -> list[Entry]:
    """The table entries a batch changed (chunks, dedupe); the meta goes after them.

    Call it once per batch result: it records the dedupe keys it writes in the counter.
    """
    entries: list[Entry] = []
    for direction, day in sorted(result.dirty_chunks):
        chunk = counter.days[day][direction]
        offset = counter.chunk_offsets.get((direction, day), -1)
        entries.append(
            (chunk_key(partition, direction, day), _OFFSET.pack(offset) + chunk.tobytes())
        )
    for direction, day in sorted(result.dropped_chunks):
        entries.append((chunk_key(partition, direction, day), None))
    entries.extend(_dedupe_entries(partition, counter, result))
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
        elif kind == "e":
            _, _, start_text, first_text = key.split("|")
            start, first = int(start_text), int(first_text)
            counter.dedupe.setdefault(start, {})  # so that forgetting the bucket deletes the key
            for crossing, ids in json.loads(value).items():
                _remember(counter, start, crossing, {i: first + rel for i, rel in ids.items()})
            counter.dedupe_keys.setdefault(start, set()).add(key)
        elif kind == "d":
            _, _, start_text, crossing = key.split("|")
            start = int(start_text)
            _remember(counter, start, crossing, json.loads(value))
            counter.dedupe_keys.setdefault(start, set()).add(key)
    return offset


def _remember(counter: PartitionCounter, start: int, crossing: str, ids: dict[str, int]) -> None:
    counter.dedupe.setdefault(start, {}).setdefault(crossing, {}).update(ids)
    counter.seen_ids.update((f"{crossing}|{i}", off) for i, off in ids.items())


def keys_of(partition: int, keys: Iterable[str]) -> Iterator[str]:
    prefix = partition_prefix(partition)
    return (k for k in keys if k.startswith(prefix))
