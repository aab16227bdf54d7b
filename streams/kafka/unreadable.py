"""Record batches that cannot be decoded are skipped and reported instead of crashing a consumer.

aiokafka decodes a fetched batch while handing out its records; a batch it cannot decode (a
codec it lacks, a CRC that does not match, a body that does not parse) raises out of the fetch
and, in Faust's fetcher, takes the whole worker down. The worker then dies on the same batch at
every start: a crash loop that only deleting data ends.

`install()` wraps aiokafka's per-partition record iterator, process-wide and once: when a batch
fails to decode, its offsets are reported, the consumer's position moves past it, and the
records after it are handed out as usual. Reports go to the log and to every listener (the
worker counts them in a metric). On a topic a batch channel has claimed, a marker record takes
the batch's place among the records, in offset order: the channel dead-letters it, naming the
skipped offsets, and commits past it like any record (streams/kafka/batch_channel.py). The
records the batch held are not recoverable by this consumer: the dead letter says where they are.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class UnreadableBatch:
    """Offsets first..last of one partition were skipped because they could not be decoded."""

    topic: str
    partition: int
    first_offset: int
    last_offset: int
    reason: str

    @property
    def records(self) -> int:
        """Offsets skipped (an upper bound on records: compaction and markers leave holes)."""
        return self.last_offset - self.first_offset + 1


@dataclass(frozen=True, slots=True)
class SkippedBatch:
    """Stands in a batch for offsets first_offset..offset that could not be decoded."""

    tp: Any
    first_offset: int
    offset: int  # the last skipped offset: committing after it moves past the whole range
    reason: str
    key: None = None
    value: None = None
    headers: list[tuple[str, bytes]] = field(default_factory=list)
    timestamp: float = 0.0

    @property
    def topic(self) -> str:
        return str(self.tp.topic)

    @property
    def partition(self) -> int:
        return int(self.tp.partition)


def is_skipped(message: Any) -> bool:
    return type(message) is SkippedBatch


Listener = Callable[[UnreadableBatch], None]

_listeners: list[Listener] = []
_claimed: set[str] = set()  # topics whose consumers get a marker record in the batch's place
_lock = threading.Lock()
_installed = False

# A marker record has no key or value and this header first, with the first skipped offset;
# its own offset is the last skipped one.
MARKER_HEADER = "x-border-surge-skipped-from"
MARKER_REASON_HEADER = "x-border-surge-skip-reason"


def claim(topics: set[str]) -> None:
    """Consumers of these topics get marker records for skipped batches (a batch channel)."""
    with _lock:
        _claimed.update(topics)


def marker_record(batch: UnreadableBatch) -> Any:
    """An aiokafka ConsumerRecord standing for the skipped batch, at its last offset."""
    from aiokafka.structs import ConsumerRecord

    headers = (
        (MARKER_HEADER, str(batch.first_offset).encode()),
        (MARKER_REASON_HEADER, batch.reason.encode("utf-8", "replace")),
    )
    now_ms = int(time.time() * 1000)
    return ConsumerRecord(
        batch.topic,
        batch.partition,
        batch.last_offset,
        now_ms,
        0,
        None,
        None,
        None,
        -1,
        -1,
        headers,
    )


def marker_of(message: Any) -> tuple[int, str] | None:
    """(first skipped offset, reason) when message is a marker record, else None."""
    if message.value is not None or message.key is not None:
        return None
    headers = message.headers
    if not headers or headers[0][0] != MARKER_HEADER:
        return None
    reason = headers[1][1].decode("utf-8", "replace") if len(headers) > 1 else ""
    return int(headers[0][1]), reason


def add_listener(listener: Listener) -> None:
    """Call listener for every skipped batch; it may run on the consumer's thread."""
    with _lock:
        _listeners.append(listener)


def remove_listener(listener: Listener) -> None:
    with _lock:
        if listener in _listeners:
            _listeners.remove(listener)


def report(batch: UnreadableBatch) -> None:
    logger.error(
        "unreadable record batch in %s[%d], offsets %d-%d, skipped: %s",
        batch.topic,
        batch.partition,
        batch.first_offset,
        batch.last_offset,
        batch.reason,
        extra={"topic": batch.topic, "partition": batch.partition, "offset": batch.first_offset},
    )
    with _lock:
        listeners = list(_listeners)
    for listener in listeners:
        try:
            listener(batch)
        except Exception:
            logger.exception("a listener for unreadable batches failed")


class _BatchTracker:
    """Stands in for aiokafka's MemoryRecords and remembers the batch it handed out last, whose
    header (base and next offset) is readable even when its body is not."""

    __slots__ = ("last", "records")

    def __init__(self, records: Any) -> None:
        self.records = records
        self.last: Any = None

    def has_next(self) -> bool:
        return bool(self.records.has_next())

    def next_batch(self) -> Any:
        self.last = self.records.next_batch()
        return self.last

    def size_in_bytes(self) -> int:
        return int(self.records.size_in_bytes())


def skip_failed_batch(tp: Any, partition_records: Any, error: BaseException) -> UnreadableBatch:
    """Move partition_records past the batch that just failed to decode; say what was skipped.

    When the failing batch is unknown (its header itself did not parse), one offset is skipped:
    the next fetch starts after it, so even then the consumer moves on.
    """
    first = int(partition_records.next_fetch_offset)
    tracker = partition_records._records
    batch = tracker.last if isinstance(tracker, _BatchTracker) else None
    end = int(batch.next_offset) if batch is not None else first + 1
    if end <= first:
        end = first + 1
    partition_records.next_fetch_offset = end
    # The generator died with the error; a new one goes on with the batches after this one.
    partition_records._records_iterator = partition_records._unpack_records()
    reason = f"{type(error).__name__}: {error}"[:500]
    return UnreadableBatch(tp.topic, tp.partition, first, end - 1, reason)


def install() -> None:
    """Guard every aiokafka consumer of this process (idempotent)."""
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
    from aiokafka.consumer import fetcher

    init = fetcher.PartitionRecords.__init__

    def tracked_init(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        # Read lazily by the record generator on its first step, so it iterates the tracker.
        self._records = _BatchTracker(self._records)

    def getall(self: Any, max_records: int | None = None) -> list[Any]:
        tp = self._topic_partition
        if not self.check_assignment(tp) or not self.has_more():
            return []
        records = self._partition_records
        out: list[Any] = []
        while True:
            try:
                for message in records:
                    out.append(message)
                    if max_records is not None and len(out) >= max_records:
                        self._update_position()
                        return out
                break
            except Exception as exc:  # whatever decoding raised: the batch is unreadable
                skipped = skip_failed_batch(tp, records, exc)
                report(skipped)
                if skipped.topic in _claimed:
                    out.append(marker_record(skipped))
        self._update_position()
        self._partition_records = None
        return out

    def getone(self: Any) -> Any:
        tp = self._topic_partition
        if not self.check_assignment(tp) or not self.has_more():
            return None
        records = self._partition_records
        while True:
            try:
                message = next(records, None)
                break
            except Exception as exc:
                skipped = skip_failed_batch(tp, records, exc)
                report(skipped)
                if skipped.topic in _claimed:
                    message = marker_record(skipped)
                    break
        self._update_position()
        if message is None:
            self._partition_records = None
        return message

    fetcher.PartitionRecords.__init__ = tracked_init
    fetcher.FetchResult.getall = getall
    fetcher.FetchResult.getone = getone
