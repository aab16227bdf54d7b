"""The hooks a batch channel sets in Faust: its topics' records are delivered to it, all of
them, and its partitions with no committed offset are read from their start."""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

logger = logging.getLogger(__name__)


def seek_uncommitted_to_beginning(consumer: Any, topics: set[str]) -> None:
    """Wrap Faust's seek-to-committed so our partitions with no committed offset start over."""
    ours: set[str] | None = getattr(consumer, "_batch_channel_topics", None)
    if ours is not None:
        ours.update(topics)
        return
    ours = consumer._batch_channel_topics = set(topics)
    original = consumer.perform_seek

    async def perform_seek() -> None:
        await original()
        # Faust set the read offset of every assigned partition from its committed offset,
        # None where there is none; those partitions' positions are wherever fetching got.
        fresh = {
            tp: 0
            for tp in consumer.assignment()
            if tp.topic in ours and consumer._read_offset.get(tp) is None
        }
        if fresh:
            logger.info(
                "no committed offset for %d partitions: reading from the start (%s)",
                len(fresh),
                ", ".join(f"{tp.topic}[{tp.partition}]" for tp in sorted(fresh)),
            )
            # Offset 0, or the log's start if retention removed it (auto_offset_reset).
            await consumer.seek_wait(fresh)

    consumer.perform_seek = perform_seek


def route_to(app: Any, topics: set[str], deliver: Any) -> None:
    """Deliver the records of these topics to `deliver`, not to Faust's streams.

    Not through app.flow_control: it clears its queues when flow resumes, which can come after
    recovery seeked to the committed offsets; records fetched in between would be dropped while
    later ones were processed. The channel drops records only on revoke, before that seek.
    """
    conductor = app.topics
    original = conductor._build_handler

    def build_handler(tp: Any, channels: Any) -> Any:
        if tp.topic in topics:
            return deliver
        return original(tp, channels)

    conductor._build_handler = build_handler


class _ReadOffsets(defaultdict[Any, Any]):
    """Faust's read offsets, blind for the channels' partitions.

    Faust's fetch loop drops a fetched record below the partition's read offset, and raises
    that offset with every record it delivers. A record fetched before a seek and delivered
    after it (the loop was waiting on the channel's back-pressure) raises it past the records
    the seek fetches again, which are then dropped: in the soak a channel's seek back went
    unanswered for 14 s. The channels keep their own books instead (offset_guard.py: records
    below the expected offset are left out, a jump is checked), so for their partitions Faust
    reads no offset and delivers everything it fetches.
    """

    def __init__(self, topics: set[str], offsets: dict[Any, Any]) -> None:
        super().__init__(lambda: None, offsets)
        self.topics = topics

    def __getitem__(self, tp: Any) -> Any:
        if tp.topic in self.topics:
            return None
        return super().__getitem__(tp)


def deliver_everything_fetched(consumer: Any, topics: set[str]) -> None:
    """Replace Faust's read offsets before its fetch loop starts (it binds them then)."""
    current = consumer._read_offset
    if isinstance(current, _ReadOffsets):
        current.topics.update(topics)
        return
    consumer._read_offset = _ReadOffsets(set(topics), dict(current))
