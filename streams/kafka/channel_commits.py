"""A batch channel's offsets: what its handler finished, what it committed, and when it
commits (every `batch_size` records, every `broker_commit_interval`, or after every batch).

The offsets are ours to commit, not Faust's: see streams/kafka/batch_channel.py. The pure
bookkeeping of which offset may be committed is streams/kafka/offsets.py.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from streams.kafka.offsets import Progress

# Given the offsets a commit has just stored, per partition.
CommitHandler = Callable[[dict[Any, int]], Awaitable[None]]


class ChannelCommits:
    """Per partition: the offset after the last record the handler finished, and the offset
    this worker committed."""

    def __init__(
        self,
        app: Any,
        batch_size: int,
        *,
        every_batch: bool = False,
        after_commit: CommitHandler | None = None,
    ) -> None:
        self.app = app
        self.batch_size = batch_size
        self.every_batch = every_batch
        self.after_commit = after_commit
        self.progress = Progress()
        self.committed: dict[Any, int] = {}  # what this worker committed, per partition it holds
        self.interval = float(app.conf.broker_commit_interval)
        self._committed_at = float("-inf")  # the first progress is committed at once
        self.done_since_commit = 0

    def finished(self, batch: list[Any], left: Iterable[Any]) -> None:
        """The handler finished this batch but the records it `left`."""
        self.progress.done(batch, left)
        self.done_since_commit += len(batch)

    def forget(self, tps: Iterable[Any]) -> None:
        """Partitions that left this worker."""
        tps = list(tps)
        self.progress.forget(tps)
        for tp in tps:
            self.committed.pop(tp, None)

    async def commit(self) -> None:
        """Commit the offsets that moved, for the partitions this worker still holds."""
        self._committed_at = time.monotonic()
        self.done_since_commit = 0
        if not (moved := self.progress.take()):
            return  # nothing moved (before the consumer thread has started, nothing can)
        consumer = self.app.consumer
        assigned = consumer.assignment()
        offsets = {tp: o for tp, o in moved.items() if tp in assigned}
        if not offsets:
            return
        if not await consumer._commit(offsets):  # Faust's driver: its thread, errors
            self.progress.again(offsets)  # tried again at the next commit, not only on new progress
            return
        self.committed.update(offsets)
        if self.after_commit is not None:
            await self.after_commit(offsets)

    async def maybe_commit(self) -> None:
        """Commit if it is due.

        Every batch_size records, as Faust's commit_every did, besides the interval: after a
        crash, ingest sends again what it had not committed, and counting's dedupe memory
        must still hold those ids (it keeps dedupe_hours of event time, which a fast replay
        crosses in seconds). Ingest commits every batch: its watermarks wait for the commit
        (streams/ingest/watermarks.py).
        """
        due = self.done_since_commit >= self.batch_size
        if self.every_batch and self.done_since_commit:
            due = True
        if due or time.monotonic() - self._committed_at >= self.interval:
            await self.commit()

    def committed_offset(self, tp: Any) -> int | None:
        """The offset committed for tp: by this worker, else the one it started from (None:
        none known)."""
        committed = self.committed.get(tp)
        return committed if committed is not None and committed >= 0 else self._started_from(tp)

    def finished_offset(self, tp: Any) -> int | None:
        """The offset after the last record of tp the handler finished, else the committed
        offset this worker started from (None: not known)."""
        done = self.progress.next_offset(tp)
        return done if done is not None else self._started_from(tp)

    def _started_from(self, tp: Any) -> int | None:
        """The offset committed for tp when this worker was assigned it (Faust's record)."""
        committed = getattr(self.app.consumer, "_committed_offset", {}).get(tp)
        return committed if committed is not None and committed >= 0 else None
