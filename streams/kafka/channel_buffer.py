"""A batch channel's buffer: the records it was handed and has not yet taken as a batch.

Bounded in records (`batch_size` x 4) and in bytes (`MAX_BUFFERED_BYTES`); when full, the
fetcher waits for `space`, as Faust's own queues hold it back. `ready` tells the channel's
loop that a whole batch is waiting.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

# Bytes of values a channel buffers before it stops the fetcher (and cuts a batch there).
MAX_BUFFERED_BYTES = 16 * 1024 * 1024


def _size(records: Iterable[Any]) -> int:
    return sum(len(m.value or b"") for m in records)


class ChannelBuffer:
    def __init__(self, batch_size: int) -> None:
        self.batch_size = batch_size
        self.max_records = batch_size * 4
        self.records: list[Any] = []
        self.bytes = 0
        self.ready = asyncio.Event()
        self.space = asyncio.Event()
        self.space.set()

    def add(self, message: Any) -> bool:
        """Buffer one record; whether the buffer is now full (the fetcher must wait)."""
        self.records.append(message)
        self.bytes += len(message.value or b"")
        full = self.bytes >= MAX_BUFFERED_BYTES
        if full or len(self.records) >= self.batch_size:
            self.ready.set()
        if full or len(self.records) >= self.max_records:
            self.space.clear()
            return True
        return False

    def has_batch(self) -> bool:
        """Whether a whole batch (in records or in bytes) is waiting."""
        return len(self.records) >= self.batch_size or self.bytes >= MAX_BUFFERED_BYTES

    def take(self) -> list[Any]:
        """Everything buffered, as the next batch; the fetcher may go on."""
        batch, self.records = self.records, []
        self.bytes = 0
        self.space.set()
        return batch

    def put_back(self, records: list[Any]) -> None:
        """Records a handler left, ahead of the newer ones."""
        self.records[:0] = records
        self.bytes += _size(records)

    def drop(self, tps: set[Any]) -> None:
        """Forget these partitions' records (revoked, or sought back: they come again)."""
        self.records = [m for m in self.records if m.tp not in tps]
        self.bytes = _size(self.records)
        self.space.set()

    def holds(self, tp: Any) -> bool:
        return any(m.tp == tp for m in self.records)
