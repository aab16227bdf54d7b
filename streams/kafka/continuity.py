"""Which records of a batch continue their partitions' offsets: pure bookkeeping, no Kafka.

A batch channel commits the offset after the last record its handler finished, so a record
that never reached the handler must not lie below a committed offset. Faust's fetch loop can
lose records that aiokafka already counts as consumed: `Consumer.getmany` stops iterating a
fetched batch when its flow is suspended or the group generation changes, and skips records of
a partition that is not in its active set at that moment, without seeking back. The next record
it delivers then lies beyond a hole, and committing it would lose the ones in between (the
scale-out failure of issue #15: a survivor took over a partition at committed offset 3942 and
was handed 9937 first). Each batch is therefore checked against the offset the partition must
continue from; what follows a gap is held back until the broker says whether the gap is a
genuine hole in the log (a transaction marker, compaction, retention) or records to fetch again.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Gap:
    """The partition should continue at `expected`, but the next record delivered starts at
    `first` (a skipped, undecodable batch starts at its first offset)."""

    tp: Any
    expected: int
    first: int


def first_offset(record: Any) -> int:
    """Where a record starts: an undecodable batch's marker covers first_offset..offset."""
    return int(getattr(record, "first_offset", record.offset))


def split(
    batch: list[Any], expected: Mapping[Any, int | None]
) -> tuple[list[Any], list[Any], list[Gap]]:
    """Split a batch into the records that continue their partitions, the rest, and the gaps.

    Per partition, in offset order: a record below the expected offset was finished already
    (delivered again after a seek, or a second copy) and is left out; records are taken while
    each starts where the previous one ended; at the first that starts later, it and everything
    after it of that partition go to the rest, and the gap is reported. A partition with no
    expected offset (None: nothing known since assignment) takes its first record as given.
    """
    by_tp: dict[Any, list[Any]] = defaultdict(list)
    for m in batch:
        by_tp[m.tp].append(m)
    todo: list[Any] = []
    rest: list[Any] = []
    gaps: list[Gap] = []
    for tp, records in by_tp.items():
        records.sort(key=lambda m: m.offset)
        nxt = expected.get(tp)
        for i, m in enumerate(records):
            if nxt is not None and m.offset < nxt:
                continue
            start = first_offset(m)
            if nxt is not None and start > nxt:
                rest.extend(records[i:])
                gaps.append(Gap(tp, nxt, start))
                break
            todo.append(m)
            nxt = m.offset + 1
    return todo, rest, gaps
