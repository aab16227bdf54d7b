"""Batch delivery of raw Kafka messages to our handlers, beside Faust's per-event streams.

Faust turns every record into an Event and moves it through a queue and a stream iterator:
about 150 µs a record (docs/benchmarks.md). For our raw-bytes topics we keep everything else
Faust does (group, assignment, table recovery, rebalancing, flow control) and replace only
the delivery: a fetch's records of our topics come to the channel in one call
(streams/kafka/fetch_again.py, `deliver_in_bulk`; Faust's per-record callback stays for any
that reach its loop), they wait in a buffer, and one task hands whole batches to the handler.

Offsets of these topics are ours to commit, not Faust's (its ack bookkeeping can stop
committing a partition for good after a rebalance: faust-streaming#318). Per partition the
channel commits the offset after the last record its handler finished, every `batch_size`
records or `broker_commit_interval` (or after every batch: `commit_every_batch`, then
`after_commit`; streams/kafka/channel_commits.py), before partitions are revoked, and at
shutdown. It never commits past a record the handler did not see: each batch must continue its
partitions' offsets (streams/kafka/offset_guard.py), as Faust's fetch loop can drop records. A
partition with no committed offset is read from its beginning (streams/kafka/faust_hooks.py).

An undecodable record batch reaches the channel as a marker (streams/kafka/unreadable.py): a
`SkippedBatch`, passed to `on_unreadable` (which dead-letters it) and committed past like any
record; a handler with its own offset bookkeeping (counting) sees them too (`with_skips`).
See docs/exactly-once.md.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from mode import Service

from streams import failpoints
from streams.kafka import faust_hooks, fetch_again, unreadable
from streams.kafka.channel_buffer import ChannelBuffer
from streams.kafka.channel_commits import ChannelCommits, CommitHandler
from streams.kafka.hole_probe import HoleProbe
from streams.kafka.offset_guard import OffsetGuard
from streams.kafka.unreadable import SkippedBatch, is_skipped

logger = logging.getLogger(__name__)

# The handler returns the records it left unprocessed (not acknowledged), or None.
Handler = Callable[[list[Any]], Awaitable[list[Any] | None]]

# How often a revocation or shutdown that waits for the batch in hand says so in the log.
IDLE_WAIT_SECONDS = 10.0

SkipHandler = Callable[[list[SkippedBatch]], Awaitable[None]]
# Given the revoked partitions before the batch in hand is awaited: the handler fences them.
RevokeHandler = Callable[[set[Any]], Awaitable[None]]


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
        on_unreadable: SkipHandler | None = None,
        with_skips: bool = False,
        on_revoke: RevokeHandler | None = None,
        probe: HoleProbe | None = None,
        loss_point: str | None = None,
        commit_point: str | None = None,
        commit_every_batch: bool = False,
        after_commit: CommitHandler | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.app = app
        self.topic = topic
        self.handler = handler
        self.on_unreadable = on_unreadable
        self.with_skips = with_skips
        self.on_revoke = on_revoke

        self.batch_size = batch_size
        self.batch_seconds = batch_seconds
        self.buffer = ChannelBuffer(batch_size)
        self._idle = asyncio.Event()
        self._idle.set()
        self._in_hand: set[Any] = set()  # partitions of the batch being handled
        self.commits = ChannelCommits(
            app, batch_size, every_batch=commit_every_batch, after_commit=after_commit
        )
        self.guard = OffsetGuard(lambda: app.consumer, probe)
        self._probe = probe
        # A test's failpoint: records of one partition lost on delivery (failpoints.lost).
        self._loss_point = loss_point if loss_point and failpoints.armed(loss_point) else None
        # A test's failpoint: a pause with a batch handled and its offsets not yet committed.
        self._commit_point = commit_point

    async def on_start(self) -> None:
        faust_hooks.seek_uncommitted_to_beginning(self.app.consumer, set(self.topic.topics))
        faust_hooks.deliver_everything_fetched(self.app.consumer, set(self.topic.topics))
        # Records Faust drops are fetched again (the table's changelog needs it most), and this
        # channel's records come to it a fetch at a time, not through Faust's per-record loop.
        fetch_again.deliver_in_bulk(self.app.consumer, set(self.topic.topics), self._deliver_all)

    def install(self) -> None:
        """Subscribe the topic and route its partitions' records to this channel."""
        app = self.app
        if self.topic.acks:
            raise ValueError(f"{self.label}: the topic must be declared with acks=False")
        app.topics.add(self.topic)
        unreadable.install()
        unreadable.claim(set(self.topic.topics))
        app.on_partitions_revoked.connect(self._on_revoked, weak=False)
        app.on_before_shutdown.connect(self._on_shutdown, weak=False)
        faust_hooks.route_to(app, set(self.topic.topics), self._deliver)

    async def _deliver(self, message: Any) -> None:
        """One record, from Faust's fetch loop (a record the bulk path did not take)."""
        await self.app.flow_control.acquire()
        if self._buffered(message):
            await self.buffer.space.wait()  # back-pressure on the fetcher

    async def _deliver_all(self, messages: list[Any]) -> list[Any]:
        """A fetch's records of this channel, in order; returns those not taken because
        Faust's flow stopped (a rebalance) meanwhile: they are fetched again."""
        consumer = self.app.consumer
        for i, message in enumerate(messages):
            if not (consumer.flow_active and self.app.flow_control.is_active()):
                return messages[i:]
            if self._buffered(message) and not await self._space_or_stop(consumer):
                return messages[i + 1 :]
        return []

    def _buffered(self, message: Any) -> bool:
        """Buffer one record; whether the buffer is full (the fetcher must wait for space)."""
        if self._loss_point and failpoints.lost(self._loss_point, message.tp, message.offset):
            return False
        if message.value is None:
            marker = unreadable.marker_of(message)
            if marker is not None:
                message = SkippedBatch(message.tp, marker[0], message.offset, marker[1])
        return self.buffer.add(message)

    async def _space_or_stop(self, consumer: Any) -> bool:
        """Wait for buffer space; False if Faust's flow stopped first (as its loop gives up a
        record whose delivery waits when flow stops)."""
        space = asyncio.ensure_future(self.buffer.space.wait())
        stop = asyncio.ensure_future(consumer.suspend_flow.wait())
        try:
            await asyncio.wait({space, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            space.cancel()
            stop.cancel()
        return self.buffer.space.is_set()

    def revoke(self, tps: set[Any]) -> None:
        """Forget buffered records of revoked partitions; the next owner fetches them again."""
        if tps:
            self.buffer.drop(tps)
            self.commits.forget(tps)
            self.guard.forget(tps)

    async def _settle(self) -> None:
        """Let the batch in hand finish, then commit what is done.

        Not bounded: a batch that went on writing after its partitions moved to another
        worker would overwrite the new owner's state with older state (a zombie write). The
        group waits for this member's rejoin meanwhile, as Kafka Streams' does.
        """
        while True:
            try:
                await asyncio.wait_for(self._idle.wait(), timeout=IDLE_WAIT_SECONDS)
                break
            except TimeoutError:
                logger.warning("%s: waiting for the batch in hand before revoking", self.label)
        await self.commits.commit()

    async def _on_revoked(self, sender: Any, revoked: set[Any], **_: Any) -> None:
        mine = {tp for tp in revoked if tp.topic in self.topic.topics}
        if mine:
            if self.on_revoke is not None:
                await self.on_revoke(mine)
            await self._settle()
            self.commits.forget(mine)
            self.guard.forget(mine)

    async def _on_shutdown(self, sender: Any, **_: Any) -> None:
        await self._settle()
        if self._probe is not None:
            await self._probe.close()

    @Service.task
    async def _run(self) -> None:
        # The app stops its producer before this service: once it is stopping (after _settle
        # has let the batch in hand finish), no new batch is started; it is fetched again.
        while not self.should_stop and not self.app.should_stop:
            buffer = self.buffer
            if not buffer.records:
                buffer.ready.clear()
                try:
                    await asyncio.wait_for(buffer.ready.wait(), timeout=self.batch_seconds)
                except TimeoutError:
                    await self.commits.maybe_commit()
                    continue
            elif not buffer.has_batch():
                # A partial batch: give it a moment to fill, never longer than batch_seconds.
                buffer.ready.clear()
                try:
                    await asyncio.wait_for(buffer.ready.wait(), timeout=self.batch_seconds)
                except TimeoutError:
                    pass
            batch = buffer.take()
            if not batch:
                continue
            assigned = self.app.consumer.assignment()
            batch = await self._continuous([m for m in batch if m.tp in assigned])
            if not batch:
                await self.commits.maybe_commit()
                continue
            self._idle.clear()
            self._in_hand = {m.tp for m in batch}
            try:
                left = await self._handle(batch)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # Not committed, the batch is fetched again after the restart: nothing is lost.
                logger.exception("handler for %s failed; restarting the worker", self.topic)
                await self.app.crash(exc)
                return
            finally:
                self._in_hand = set()
                self._idle.set()
            # A partition revoked meanwhile is another worker's now: not ours to commit.
            assigned = self.app.consumer.assignment()
            self.commits.finished([m for m in batch if m.tp in assigned], left or ())
            if self._commit_point is not None:
                await failpoints.reached(self._commit_point)
            if left:
                await self._keep(left, assigned, stalled=len(left) == len(batch))
            await self.commits.maybe_commit()

    async def _keep(self, left: list[Any], assigned: set[Any], *, stalled: bool) -> None:
        """Offer the records the handler left again, ahead of newer ones (not fetched again:
        Faust drops what lies behind its read offset). A partition revoked meanwhile is dropped
        here (and from the buffer by revoke): its next owner reads it from Kafka."""
        kept = [m for m in left if m.tp in assigned]
        if not kept:
            return
        self.buffer.put_back(kept)
        if stalled:
            # Nothing moved (a fenced partition, a gap being fetched again): do not spin.
            await asyncio.sleep(min(self.batch_seconds, 0.2))

    async def _continuous(self, batch: list[Any]) -> list[Any]:
        """The records that continue their partitions' offsets (streams/kafka/offset_guard.py);
        buffered records of a partition sought back are dropped: they are fetched again."""
        expected = {tp: self.commits.finished_offset(tp) for tp in {m.tp for m in batch}}
        batch = await self.guard.continuous(batch, expected)
        again = self.guard.refetched
        if again:
            self.buffer.drop(again)
        return batch

    def holds(self, tp: Any) -> bool:
        """Whether a record of tp is buffered or being handled."""
        return tp in self._in_hand or self.buffer.holds(tp)

    async def _handle(self, batch: list[Any]) -> list[Any] | None:
        skipped = [m for m in batch if is_skipped(m)]
        if not skipped:
            return await self.handler(batch)
        if self.on_unreadable is not None:
            await self.on_unreadable(skipped)
        if not self.with_skips:
            batch = [m for m in batch if not is_skipped(m)]
        return await self.handler(batch) if batch else None

    @property
    def label(self) -> str:
        return f"BatchChannel({','.join(self.topic.topics)})"
