"""Batch delivery of raw Kafka messages to our handlers, beside Faust's per-event streams.

Faust turns every record into an Event and moves it through a queue and a stream iterator:
about 150 µs a record on this machine, most of the service's cost (see docs/benchmarks.md).
For our raw-bytes topics we keep everything else Faust does (consumer group, assignment,
offset commits, table recovery, rebalancing, flow control) and replace only the delivery:
a lean per-partition callback appends the message to a buffer, and one task hands whole
batches to the handler, then acknowledges them so Faust may commit their offsets.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from mode import Service

logger = logging.getLogger(__name__)

# Bytes of record values a channel buffers before it stops the fetcher, so that a stream of
# huge (dead-lettered) values cannot pile up in memory: a batch is cut at this size too.
MAX_BUFFERED_BYTES = 16 * 1024 * 1024

# The handler returns the records it left unprocessed (not acknowledged), or None for none.
Handler = Callable[[list[Any]], Awaitable[list[Any] | None]]


class BatchChannel(Service):
    """Collects messages of one Faust topic and feeds them to a handler in batches."""

    def __init__(
        self,
        app: Any,
        topic: Any,
        handler: Handler,
        *,
        batch_size: int,
        batch_seconds: float,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.app = app
        self.topic = topic
        self.handler = handler
        self.batch_size = batch_size
        self.batch_seconds = batch_seconds
        self.max_buffered = batch_size * 4
        self._buffer: list[Any] = []
        self._buffered_bytes = 0
        self._ready = asyncio.Event()
        self._space = asyncio.Event()
        self._space.set()

    def install(self) -> None:
        """Subscribe the topic and route its partitions' records to this channel."""
        app = self.app
        app.topics.add(self.topic)
        # Not handed to app.flow_control: it clears its queues when flow resumes, which can
        # come after recovery seeked to the committed offsets; records fetched in between
        # would be dropped while later ones were processed. We drop records only on revoke,
        # before that seek (see revoke).
        conductor = app.topics
        names = set(self.topic.topics)
        original = conductor._build_handler

        def build_handler(tp: Any, channels: Any) -> Any:
            if tp.topic in names:
                return self._deliver
            return original(tp, channels)

        conductor._build_handler = build_handler

    async def _deliver(self, message: Any) -> None:
        await self.app.flow_control.acquire()
        message.incref(1)
        self._buffer.append(message)
        self._buffered_bytes += len(message.value or b"")
        full = self._buffered_bytes >= MAX_BUFFERED_BYTES
        if full or len(self._buffer) >= self.batch_size:
            self._ready.set()
        if full or len(self._buffer) >= self.max_buffered:
            self._space.clear()
            await self._space.wait()  # back-pressure on the fetcher, as Faust's queues do

    def revoke(self, tps: set[Any]) -> None:
        """Forget buffered records of revoked partitions; the next owner fetches them again."""
        if tps:
            self._buffer = [m for m in self._buffer if m.tp not in tps]
            self._buffered_bytes = sum(len(m.value or b"") for m in self._buffer)
            self._space.set()

    @Service.task
    async def _run(self) -> None:
        while not self.should_stop:
            if not self._buffer:
                self._ready.clear()
                try:
                    await asyncio.wait_for(self._ready.wait(), timeout=self.batch_seconds)
                except TimeoutError:
                    continue
            elif len(self._buffer) < self.batch_size and self._buffered_bytes < MAX_BUFFERED_BYTES:
                # A partial batch: give it a moment to fill, never longer than batch_seconds.
                self._ready.clear()
                try:
                    await asyncio.wait_for(self._ready.wait(), timeout=self.batch_seconds)
                except TimeoutError:
                    pass
            batch, self._buffer = self._buffer, []
            self._buffered_bytes = 0
            self._space.set()
            if not batch:
                continue
            assigned = self.app.consumer.assignment()
            batch = [m for m in batch if m.tp in assigned]
            try:
                left = await self.handler(batch)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # Unacknowledged, the batch is fetched again after the restart: nothing is lost.
                logger.exception("handler for %s failed; restarting the worker", self.topic)
                await self.app.crash(exc)
                return
            consumer = self.app.consumer
            skip = {id(m) for m in left} if left else set()
            for message in batch:
                if id(message) not in skip:
                    message.ack(consumer)

    @property
    def label(self) -> str:
        return f"BatchChannel({','.join(self.topic.topics)})"
