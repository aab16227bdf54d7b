"""How the dedupe memory is saved: each batch's newly remembered ids, deleted with their bucket.

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

from streams.count.counter import PartitionCounter
from streams.count.model import BatchResult

Entry = tuple[str, bytes | None]  # key, value (None deletes the key)


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


def dedupe_entries(partition: int, counter: PartitionCounter, result: BatchResult) -> list[Entry]:
    """The records of the ids a batch remembered, and the deletions of forgotten buckets'."""
    entries: list[Entry] = []
    for start in sorted(result.dropped_dedupe):
        entries.extend((key, None) for key in sorted(counter.dedupe_keys.pop(start, ())))
    for start, ids in sorted(result.remembered.items()):
        first, value = encode_remembered(ids)
        key = dedupe_key(partition, start, first)
        counter.dedupe_keys.setdefault(start, set()).add(key)
        entries.append((key, value))
    return entries


def restore_record(counter: PartitionCounter, key: str, value: bytes) -> None:
    """Remember the ids of one saved record, of either layout (`P|e|...` or `P|d|...`)."""
    _, kind, start_text, last = key.split("|")
    start = int(start_text)
    counter.dedupe.setdefault(start, {})  # so that forgetting the bucket deletes the key
    if kind == "e":
        first = int(last)
        for crossing, ids in json.loads(value).items():
            _remember(counter, start, crossing, {i: first + rel for i, rel in ids.items()})
    else:
        _remember(counter, start, last, json.loads(value))
    counter.dedupe_keys.setdefault(start, set()).add(key)


def _remember(counter: PartitionCounter, start: int, crossing: str, ids: dict[str, int]) -> None:
    counter.dedupe.setdefault(start, {}).setdefault(crossing, {}).update(ids)
    counter.seen_ids.update((f"{crossing}|{i}", off) for i, off in ids.items())
