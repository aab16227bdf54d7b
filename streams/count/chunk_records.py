"""How day chunks are saved: changed buckets while the day is open, the whole chunk after.

A chunk (one direction's UTC day, 288 buckets of travellers, events, revision) changes a few
buckets per batch, but a record that held the whole chunk was 3.5 KB each time. So:

* `P|c|CROSSING|FROM|TO|DAY`: the whole chunk, after the source offset it contains;
* `P|u|CROSSING|FROM|TO|DAY|OFFSET`: the buckets one batch changed, with their new values
  (not increments), OFFSET being the chunk's offset after that batch. Offsets only grow for a
  chunk and a record counted before a restart is not counted again, so no two updates of one
  chunk share a key. The chunk is its whole record, then its updates in offset order, those at
  or below the whole record's offset skipped (already in it).

A chunk is written whole, and its updates deleted, once its day is closed (late events to it
are rare) or once it has `MAX_UPDATES` updates: the records a restore reads per chunk stay few.
The updates are deleted only after the whole chunk is acknowledged (`replaced_entries`): were
they deleted first, a crash in between would lose the counts they held.
"""

from __future__ import annotations

import struct
from array import array

from streams.count.counter import PartitionCounter
from streams.count.model import BatchResult, Direction
from streams.count.windows import DAY_MS

MAX_UPDATES = 16

OFFSET = struct.Struct(">q")
_SLOT = 3  # travellers, events, revision per bucket

Entry = tuple[str, bytes | None]  # key, value (None deletes the key)


def chunk_key(partition: int, direction: Direction, day: int) -> str:
    crossing, src, dst = direction
    return f"{partition}|c|{crossing}|{src}|{dst}|{day}"


def chunk_update_key(partition: int, direction: Direction, day: int, offset: int) -> str:
    crossing, src, dst = direction
    return f"{partition}|u|{crossing}|{src}|{dst}|{day}|{offset}"


def encode_whole(chunk: array[int], offset: int) -> bytes:
    return OFFSET.pack(offset) + chunk.tobytes()


def encode_update(chunk: array[int], buckets: set[int]) -> bytes:
    """The changed buckets' values: (bucket index, travellers, events, revision) each."""
    out = array("I")
    for b in sorted(buckets):
        i = _SLOT * b
        out.extend((b, chunk[i], chunk[i + 1], chunk[i + 2]))
    return out.tobytes()


def apply_update(chunk: array[int], value: bytes) -> None:
    values = array("I")
    values.frombytes(value)
    for j in range(0, len(values), 4):
        i = _SLOT * values[j]
        chunk[i : i + _SLOT] = values[j + 1 : j + 4]


def chunk_entries(
    partition: int, counter: PartitionCounter, result: BatchResult
) -> tuple[list[Entry], list[Entry]]:
    """(the chunk records a batch writes, the update records they replace: deleted after)."""
    entries: list[Entry] = []
    replaced: list[Entry] = []
    closed_until = counter.closed_until

    def whole(key: tuple[Direction, int]) -> None:
        direction, day = key
        chunk = counter.days[day][direction]
        offset = counter.chunk_offsets.get(key, -1)
        entries.append((chunk_key(partition, *key), encode_whole(chunk, offset)))
        replaced.extend((k, None) for k in counter.chunk_updates.pop(key, ()))

    for key in sorted(result.dropped_chunks):  # past the history: the chunk and its updates
        entries.append((chunk_key(partition, *key), None))
        entries.extend((k, None) for k in counter.chunk_updates.pop(key, ()))
    for key in sorted(result.dirty_chunks):
        buckets = result.changed_buckets.get(key)
        updates = counter.chunk_updates.get(key, ())
        day_closed = closed_until is not None and key[1] + DAY_MS <= closed_until
        if buckets is None or day_closed or len(updates) >= MAX_UPDATES:
            whole(key)
            continue
        direction, day = key
        offset = counter.chunk_offsets[key]
        k = chunk_update_key(partition, direction, day, offset)
        entries.append((k, encode_update(counter.days[day][direction], buckets)))
        counter.chunk_updates.setdefault(key, []).append(k)
    if closed_until is not None:  # days closed since their last update: consolidated now
        for key in sorted(k for k in counter.chunk_updates if k[1] + DAY_MS <= closed_until):
            whole(key)
    return entries, replaced


def restore_updates(
    counter: PartitionCounter, updates: dict[tuple[Direction, int], list[tuple[int, str, bytes]]]
) -> None:
    """Apply the update records found (after every whole chunk was read) in offset order."""
    per_day = DAY_MS // counter.config.bucket_ms
    for (direction, day), found in updates.items():
        key = (direction, day)
        chunks = counter.days.setdefault(day, {})
        chunk = chunks.get(direction)
        if chunk is None:
            chunk = chunks[direction] = array("I", bytes(4 * _SLOT * per_day))
        saved = counter.chunk_offsets.get(key, -1)
        for offset, k, value in sorted(found):
            if offset > saved:  # at or below: already in the whole chunk (not yet deleted)
                apply_update(chunk, value)
                counter.chunk_offsets[key] = offset
            counter.chunk_updates.setdefault(key, []).append(k)
