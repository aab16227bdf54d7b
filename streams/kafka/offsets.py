"""Which offset a batch channel may commit per partition: pure bookkeeping, no Kafka."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class Progress:
    """The offset to commit per partition: the one after the last record a handler finished.

    Only moves forward, and never past a record the handler left for later: the records of
    a partition before the first one left are done, the rest come again.
    """

    def __init__(self) -> None:
        self._next: dict[Any, int] = {}
        self._dirty: set[Any] = set()

    def done(self, batch: Iterable[Any], left: Iterable[Any] = ()) -> None:
        first_left: dict[Any, int] = {}
        for m in left:
            first_left[m.tp] = min(first_left.get(m.tp, m.offset), m.offset)
        for m in batch:
            limit = first_left.get(m.tp)
            if limit is not None and m.offset >= limit:
                continue
            if m.offset + 1 > self._next.get(m.tp, -1):
                self._next[m.tp] = m.offset + 1
                self._dirty.add(m.tp)

    def next_offset(self, tp: Any) -> int | None:
        """The offset after the last record of tp finished (None: none since assignment)."""
        return self._next.get(tp)

    def take(self) -> dict[Any, int]:
        """The offsets that moved since the last take."""
        moved = {tp: self._next[tp] for tp in self._dirty}
        self._dirty.clear()
        return moved

    def again(self, offsets: dict[Any, int]) -> None:
        """A commit of these offsets failed: they are taken again next time."""
        self._dirty.update(tp for tp, o in offsets.items() if self._next.get(tp) == o)

    def forget(self, tps: Iterable[Any]) -> None:
        """Partitions that left: a later owner (maybe us again) starts from what Kafka has."""
        for tp in tps:
            self._next.pop(tp, None)
            self._dirty.discard(tp)
