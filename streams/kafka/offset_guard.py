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
from streams.kafka.hole_probe import HoleProbe, ProbeFailed

logger = logging.getLogger(__name__)

SEEK_AGAIN_SECONDS = 5.0  # records fetched before a seek may still arrive meanwhile
TAIL_PROBE_MS = 1_000  # how long to wait for a record behind the high watermark's markers


class OffsetGuard:
    def __init__(self, consumer: Callable[[], Any], probe: HoleProbe | None) -> None:
        self._consumer = consumer  # the app's consumer (it is replaced on restart)
        self._probe = probe
        # tp -> (offset, the first record from it, when asked): a fact of the log, but trusted
        # for a while only, as compaction may remove that record later
        self._holes: dict[Any, tuple[int, int, float]] = {}
        self._seeks: dict[Any, tuple[int, float]] = {}  # tp -> (offset, when) asked
        self.refetched: set[Any] = set()  # partitions sought back by the last call
        self._tails: dict[Any, tuple[int, int]] = {}  # tp -> (finished, high watermark) empty
        self._stuck: dict[Any, int] = {}  # tp -> finished offset with a record fetched past

    async def continuous(self, batch: list[Any], expected: dict[Any, int | None]) -> list[Any]:
        """The records of batch the handler may take now, in offset order per partition.

        `expected` holds, per partition, the offset after the last record finished (None if
        unknown). Partitions sought back now are in `refetched` afterwards: the caller drops
        their buffered records, fetched before the seek; they come again.
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

    async def nothing_left(self, tp: Any, finished: int, highwater: int) -> bool:
        """Whether no committed record lies between the finished offset and the high watermark.

        The consumer has fetched up to the high watermark, yet the handler finished less: what
        is left are transaction markers or aborted records (a transactional producer's log
        ends with a marker), or records lost on delivery, which are fetched again.
        """
        if self._tails.get(tp) == (finished, highwater):
            return True
        if self._probe is None:
            return False
        try:
            first = await self._probe.first_offset_from(
                tp.topic, tp.partition, finished, timeout_ms=TAIL_PROBE_MS
            )
        except ProbeFailed:
            return False
        if first is None or first >= highwater:
            self._tails[tp] = (finished, highwater)
            return True
        # Fetched past, yet not delivered: maybe still on its way through the fetch loop. Still
        # so at the next look (a second later), it was lost.
        if self._stuck.get(tp) == finished:
            await self._fetch_again(Gap(tp, finished, first + 1))
        self._stuck[tp] = finished
        return False

    def forget(self, tps: set[Any]) -> None:
        for tp in tps:
            self._holes.pop(tp, None)
            self._seeks.pop(tp, None)
            self._tails.pop(tp, None)
            self._stuck.pop(tp, None)

    async def _is_hole(self, gap: Gap) -> bool:
        known = self._holes.get(gap.tp)
        now = time.monotonic()
        if known is None or known[0] != gap.expected or now - known[2] > SEEK_AGAIN_SECONDS:
            if self._probe is None:
                return False
            try:
                first = await self._probe.first_offset_from(
                    gap.tp.topic, gap.tp.partition, gap.expected
                )
            except ProbeFailed:
                return False  # no answer: fetch again, and ask again next time
            if first is None:
                return False
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
        asked, when = self._seeks.get(tp, (-1, 0.0))
        if asked == gap.expected and time.monotonic() - when < SEEK_AGAIN_SECONDS:
            return  # sought already: what is buffered may be what that seek fetched
        self.refetched.add(tp)
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
