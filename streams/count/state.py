"""How a partition's counter is saved as table entries and rebuilt from them (pure codec).

Keys, all prefixed with the partition (`P|`):

* `P|m`: the meta (watermark, close point, source clocks, last source offset), written last;
* `P|c|...` and `P|u|...`: day chunks, whole or the buckets a batch changed
  (`chunk_records.py`);
* `P|e|...` (and `P|d|...` from the layout before): the dedupe memory, as the ids each batch
  newly remembered (`dedupe_records.py`).

A batch's writes (`BatchWrites`) come in two steps: `state` (chunks, dedupe), and `replaced`,
the deletions of chunk updates a whole chunk in `state` now holds, sent only once `state` is
acknowledged; the meta goes with or after them.
"""

from __future__ import annotations

import json
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from streams.count import chunk_records, dedupe_records
from streams.count.chunk_records import OFFSET, Entry, chunk_key, chunk_update_key
from streams.count.counter import PartitionCounter
from streams.count.dedupe_records import dedupe_key, legacy_dedupe_key
from streams.count.model import BatchResult, Direction, SourceClock

__all__ = ["Entry", "chunk_key", "chunk_update_key", "dedupe_key", "legacy_dedupe_key"]


@dataclass(frozen=True, slots=True)
class BatchWrites:
    state: list[Entry]  # written and acknowledged first
    replaced: list[Entry]  # deletions of what `state` replaces: only after it

    @property
    def all(self) -> list[Entry]:
        return [*self.state, *self.replaced]


def partition_prefix(partition: int) -> str:
    return f"{partition}|"


def meta_key(partition: int) -> str:
    return f"{partition}|m"


def changed_entries(partition: int, counter: PartitionCounter, result: BatchResult) -> BatchWrites:
    """What a batch writes (the meta goes after it). Call it once per batch result: it records
    in the counter which update and dedupe records are saved, to delete them when replaced."""
    chunks, replaced_updates = chunk_records.chunk_entries(partition, counter, result)
    dedupe, replaced_deltas = dedupe_records.dedupe_entries(partition, counter, result)
    return BatchWrites([*chunks, *dedupe], [*replaced_updates, *replaced_deltas])


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
    updates: dict[tuple[Direction, int], list[tuple[int, str, bytes]]] = {}
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
            chunk.frombytes(value[OFFSET.size :])
            direction = (crossing, src, dst)
            counter.days.setdefault(day, {})[direction] = chunk
            counter.chunk_offsets[(direction, day)] = OFFSET.unpack_from(value)[0]
        elif kind == "u":  # applied once every whole chunk is in
            _, _, crossing, src, dst, day_text, offset_text = key.split("|")
            chunk_id = ((crossing, src, dst), int(day_text))
            updates.setdefault(chunk_id, []).append((int(offset_text), key, value))
        elif kind in ("e", "d"):
            dedupe_records.restore_record(counter, key, value)
    chunk_records.restore_updates(counter, updates)
    return offset


def keys_of(partition: int, keys: Iterable[str]) -> Iterator[str]:
    prefix = partition_prefix(partition)
    return (k for k in keys if k.startswith(prefix))
