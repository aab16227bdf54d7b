"""Holds a batch channel's handler to records that continue their partitions' offsets.

streams/kafka/continuity.py finds the gaps; this decides them with the broker's help
(streams/kafka/hole_probe.py): a genuine hole is stepped over, anything else is fetched again by
seeking the consumer back, and the records behind the gap wait for that. So a channel never
commits past a record its handler did not see, whatever the fetch loop dropped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from streams.kafka import continuity
from streams.kafka.continuity import Gap
from streams.kafka.hole_probe import HoleProbe

logger = logging.getLogger(__name__)

SEEK_AGAIN_SECONDS = 5.0  # records fetched before a seek may still arrive meanwhile


class OffsetGuard:
    def __init__(self, consumer: Callable[[], Any], probe: HoleProbe | None) -> None:
        self._consumer = consumer  # the app's consumer (it is replaced on restart)
        self._probe = probe
        # tp -> (offset, the first record from it, when asked): a fact of the log, but trusted
        # for a while only, as compaction may remove that record later
        self._holes: dict[Any, tuple[int, int, float]] = {}
        self._seeks: dict[Any, tuple[int, float]] = {}  # tp -> (offset, when) asked
        self.refetched: set[Any] = set()  # partitions sought back by the last call

    async def continuous(self, batch: list[Any], expected: dict[Any, int | None]) -> list[Any]:
        """The records of batch the handler may take now, in offset order per partition.

        `expected` holds, per partition, the offset after the last record finished (None if
        unknown). Partitions sought back are in `refetched` afterwards: the caller drops their
        buffered records, which come again.
        """
        self.refetched = set()
        todo, rest, gaps = continuity.split(batch, expected)
        while gaps:
            stepped = {}
            for gap in gaps:
                if await self._is_hole(gap):
                    stepped[gap.tp] = gap.first
                else:
                    await self._fetch_again(gap)
            more, rest, gaps = continuity.split([m for m in rest if m.tp in stepped], stepped)
            todo.extend(more)
        return todo

    def forget(self, tps: set[Any]) -> None:
        for tp in tps:
            self._holes.pop(tp, None)
            self._seeks.pop(tp, None)

    async def _is_hole(self, gap: Gap) -> bool:
        known = self._holes.get(gap.tp)
        now = time.monotonic()
        if known is None or known[0] != gap.expected or now - known[2] > SEEK_AGAIN_SECONDS:
            if self._probe is None:
                return False
            first = await self._probe.first_offset_from(
                gap.tp.topic, gap.tp.partition, gap.expected
            )
            if first is None:
                return False  # no answer: fetch again, and ask again next time
            known = self._holes[gap.tp] = (gap.expected, first, now)
        if known[1] < gap.first:
            return False
        logger.debug(
            "no records in %s[%d] between offsets %d and %d (a transaction marker, compaction "
            "or retention)",
            gap.tp.topic,
            gap.tp.partition,
            gap.expected,
            gap.first,
        )
        return True

    async def _fetch_again(self, gap: Gap) -> None:
        tp = gap.tp
        self.refetched.add(tp)
        asked, when = self._seeks.get(tp, (-1, 0.0))
        if asked == gap.expected and time.monotonic() - when < SEEK_AGAIN_SECONDS:
            return
        self._seeks[tp] = (gap.expected, time.monotonic())
        logger.warning(
            "%s[%d]: offsets %d to %d were not delivered; fetching them again",
            tp.topic,
            tp.partition,
            gap.expected,
            gap.first - 1,
            extra={"topic": tp.topic, "partition": tp.partition, "offset": gap.expected},
        )
        await self._consumer().seek(tp, gap.expected)
