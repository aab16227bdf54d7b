"""How the dedupe memory is saved: each batch's new ids, folded once the bucket is closed.

* `P|e|START|FIRST`: the event ids one batch newly remembered in the dedupe bucket START,
  `{crossing_id: {event_id: offset - FIRST}}`, FIRST being the least of their offsets. A batch
  writes only what it added; a bucket's ids are the union of its records, and when the bucket
  leaves the dedupe memory every one of its records is deleted (a tombstone), so the compacted
  changelog holds the ids of the dedupe horizon and no more. FIRST makes the key unique: an
  offset is counted, and its id remembered, once; after a restart the ids already saved are
  known, so a replayed batch's records start at an offset no saved record starts at.
* `P|d|START|CROSSING`: one crossing's whole id list of one bucket (`{event_id: offset}`).
  Once a bucket is closed and has more than `FOLD_FACTOR` records per crossing they hold, the
  crossings of its delta records are saved this way and the deltas deleted (after the whole
  lists are acknowledged): the changelog holds at most ~2 records per crossing and closed
  bucket, so a restore reads few records however many batches a bucket had. The layout before wrote
  these on every batch; such records are read the same way, so an upgraded worker remembers
  the ids saved before the upgrade.
"""

from __future__ import annotations

import json

from streams.count.counter import PartitionCounter
from streams.count.model import BatchResult

Entry = tuple[str, bytes | None]  # key, value (None deletes the key)

# A closed bucket is folded once it has more than this many records per crossing they hold:
# folding rewrites its ids once more, worth it only where it saves many records (busy posts,
# many batches a bucket); at a few records a bucket the deltas cost less as they are.
FOLD_FACTOR = 2


def dedupe_key(partition: int, start: int, first_offset: int) -> str:
    return f"{partition}|e|{start}|{first_offset}"


def legacy_dedupe_key(partition: int, crossing: str, start: int) -> str:
    """The key of a crossing's whole id list of a bucket (a closed bucket's, or the layout
    before's)."""
    return f"{partition}|d|{start}|{crossing}"


def encode_remembered(ids: list[tuple[str, str, int]]) -> tuple[int, bytes]:
    """(first offset, value) of one batch's newly remembered ids of one dedupe bucket."""
    first = min(offset for _, _, offset in ids)
    by_crossing: dict[str, dict[str, int]] = {}
    for crossing, event_id, offset in ids:
        by_crossing.setdefault(crossing, {})[event_id] = offset - first
    return first, json.dumps(by_crossing, separators=(",", ":")).encode()


def dedupe_entries(
    partition: int, counter: PartitionCounter, result: BatchResult
) -> tuple[list[Entry], list[Entry]]:
    """(the records of the ids a batch remembered, of closed buckets folded, and the deletions
    of forgotten buckets'; the deletions of the deltas folded: to send only after)."""
    entries: list[Entry] = []
    for start in sorted(result.dropped_dedupe):
        entries.extend((key, None) for key in sorted(counter.dedupe_keys.pop(start, ())))
        counter.dedupe_deltas.pop(start, None)
    for start, ids in sorted(result.remembered.items()):
        first, value = encode_remembered(ids)
        key = dedupe_key(partition, start, first)
        counter.dedupe_keys.setdefault(start, set()).add(key)
        counter.dedupe_deltas.setdefault(start, set()).update(c for c, _, _ in ids)
        entries.append((key, value))
    replaced: list[Entry] = []
    closed_until = counter.closed_until
    if closed_until is not None:
        step = counter.config.bucket_ms
        keys, deltas = counter.dedupe_keys, counter.dedupe_deltas
        for start in sorted(
            s
            for s, crossings in deltas.items()
            if s + step <= closed_until and len(keys[s]) > FOLD_FACTOR * len(crossings)
        ):
            folded, deleted = _fold(partition, counter, start)
            entries.extend(folded)
            replaced.extend(deleted)
    return entries, replaced


def _fold(partition: int, counter: PartitionCounter, start: int) -> tuple[list[Entry], list[Entry]]:
    """A closed bucket's delta records folded into one record per crossing (`P|d|...`).

    An open bucket gets a delta record per batch (1,500 a bucket at 5 batches a second);
    a closed one gets few more (late events), so its ids are saved once more, whole, and the
    restore reads one record per crossing and bucket, as before the deltas.
    """
    ids = counter.dedupe.get(start, {})
    folded: list[Entry] = []
    for crossing in sorted(counter.dedupe_deltas.pop(start)):
        key = legacy_dedupe_key(partition, crossing, start)
        folded.append((key, json.dumps(ids.get(crossing, {}), separators=(",", ":")).encode()))
        counter.dedupe_keys.setdefault(start, set()).add(key)
    keys = counter.dedupe_keys[start]
    deltas = sorted(k for k in keys if k.startswith(f"{partition}|e|"))
    keys.difference_update(deltas)
    return folded, [(k, None) for k in deltas]


def restore_record(counter: PartitionCounter, key: str, value: bytes) -> None:
    """Remember the ids of one saved record, of either layout (`P|e|...` or `P|d|...`)."""
    _, kind, start_text, last = key.split("|")
    start = int(start_text)
    counter.dedupe.setdefault(start, {})  # so that forgetting the bucket deletes the key
    if kind == "e":
        first = int(last)
        for crossing, ids in json.loads(value).items():
            _remember(counter, start, crossing, {i: first + rel for i, rel in ids.items()})
            counter.dedupe_deltas.setdefault(start, set()).add(crossing)
    else:
        _remember(counter, start, last, json.loads(value))
    counter.dedupe_keys.setdefault(start, set()).add(key)


def _remember(counter: PartitionCounter, start: int, crossing: str, ids: dict[str, int]) -> None:
    counter.dedupe.setdefault(start, {}).setdefault(crossing, {}).update(ids)
    counter.seen_ids.update((f"{crossing}|{i}", off) for i, off in ids.items())
