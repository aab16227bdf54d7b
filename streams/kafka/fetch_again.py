"""Our wrapper of Faust's fetch: records it dropped are fetched again, and the batch channels'
records go to them a fetch at a time.

Faust's fetch loop asks aiokafka (in the consumer's thread) for the records of its active
partitions and passes the live set, which a rebalance empties while the request waits for
data; aiokafka then hands over the records of every partition. Faust's `getmany` drops what
it fetched when flow has stopped, the generation has changed or the partition is paused, but
aiokafka has already moved those partitions' positions past the records. A seek that follows
puts most partitions right (recovery seeks the changelogs, `perform_seek` the streams); a
changelog partition whose records arrive between recovery's seek and its resuming flow is not
sought again: recovery then waits for ever for records it will never receive. CI saw it on
2026-12-08: a worker kept its changelog partition across a rebalance and its recovery waited
for offset 0 until the test gave up ("No event received for active tp ... since recovery
start").

So, per fetch: the hook notes where each partition returned stands afterwards (in the
consumer's thread), and after our `getmany` (Faust's, split by streams/kafka/faust_fetch.py)
has handed over what it kept, it seeks each partition with records left over back to the
first of them, if nothing has moved the partition since (a seek by recovery or by
`perform_seek` wins). The choice is pure: `left_over`.

The batch channels' topics (`deliver_in_bulk`) are not yielded to Faust's loop at all: it
awaits a callback per record inside `wait_first`, four tasks a record, 16% of the worker's CPU
under the bench (docs/benchmarks.md). Their records go to the channel in one call per fetch,
without a step of an async generator each; what it does not take because flow stopped
meanwhile counts as dropped and is fetched again.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any

from streams import failpoints
from streams.kafka import faust_fetch
from streams.kafka.faust_fetch import BulkDelivery

logger = logging.getLogger(__name__)

WITHHOLD_POINT = "fetch.changelog"

# Per partition: the offsets of the records a fetch returned, and the position aiokafka was at
# right after it (its state object too: a rebalance replaces it, so a new assignment that
# happens to stand at the same offset is not taken for the same one).
Fetched = dict[Any, tuple[list[int], Any, int]]


def left_over(fetched: Fetched, yielded: Mapping[Any, int]) -> dict[Any, int]:
    """Per partition, the first fetched offset after the last one Faust yielded (none: all)."""
    first: dict[Any, int] = {}
    for tp, (offsets, _, _) in fetched.items():
        last = yielded.get(tp)
        rest = [o for o in offsets if last is None or o > last]
        if rest:
            first[tp] = min(rest)
    return first


def _position(aio_consumer: Any, tp: Any) -> tuple[Any, int] | None:
    assignment = aio_consumer._subscription.subscription
    assignment = assignment.assignment if assignment is not None else None
    state = assignment.state_value(tp) if assignment is not None else None
    if state is None or not state.has_valid_position:
        return None
    return state, state.position


async def seek_back(
    aio_consumer: Any, first: Mapping[Any, int], noted: Fetched
) -> list[tuple[Any, int, int]]:
    """In the consumer's thread: seek each partition back to its first record left over,
    unless it has moved since the fetch. Returns (partition, offset, position it was at)."""
    moved_back = []
    for tp, offset in first.items():
        _, state, position = noted[tp]
        now = _position(aio_consumer, tp)
        if now is not None and now[0] is state and now[1] == position:
            aio_consumer.seek(tp, offset)
            moved_back.append((tp, offset, position))
    return moved_back


def deliver_in_bulk(consumer: Any, topics: set[str], deliver: BulkDelivery) -> None:
    """Hand these topics' records to `deliver`, a fetch at a time, instead of yielding them to
    Faust's fetch loop (which awaits a callback per record, with a task for each of its waits:
    16% of the worker's CPU under the bench). Installs the wrapper."""
    install(consumer)
    consumer._bulk_deliveries.update(dict.fromkeys(topics, deliver))


def install(consumer: Any) -> None:
    """Wrap the Faust consumer's fetch and replace its getmany (streams/kafka/faust_fetch.py,
    Faust's checks kept); before its fetch loop starts (it binds them then). Installing twice
    is a no-op."""
    if getattr(consumer, "_fetches_again", False):
        return
    consumer._fetches_again = True
    thread = consumer._thread
    fetch_records = thread._fetch_records
    fetched: Fetched = {}
    withholding = failpoints.armed(WITHHOLD_POINT)  # a test's; once
    bulk: dict[str, BulkDelivery] = {}
    consumer._bulk_deliveries = bulk

    async def fetch_and_note(aio_consumer: Any, *args: Any, **kwargs: Any) -> Any:
        records = await fetch_records(aio_consumer, *args, **kwargs)
        for tp, batch in (records or {}).items():
            at = _position(aio_consumer, tp)
            if batch and at is not None:
                fetched[tp] = ([r.offset for r in batch], *at)
        return records

    async def getmany_fetching_again(timeout: float) -> AsyncIterator[Any]:  # noqa: ASYNC109 (Faust's signature)
        nonlocal withholding
        fetched.clear()
        yielded: dict[Any, int] = {}
        records, active = await consumer._wait_next_records(timeout)
        generation = consumer.app.consumer_generation_id
        if records is None or consumer.should_stop:
            return
        if not consumer.flow_active:
            try:  # as Faust's getmany does; what was fetched is left over
                await consumer.perform_seek()
            except Exception as exc:
                logger.warning("exception performing seek when flow not active %r", exc)
        else:
            by_delivery, rest = faust_fetch.split_by_delivery(records, bulk)
            withheld = None  # a test's failpoint: a changelog's records dropped, as Faust does
            async for tp, message in faust_fetch.one_by_one(consumer, rest, active, generation):
                if withholding and (
                    tp == withheld
                    or (
                        withheld is None
                        and tp.topic in consumer.app.tables.changelog_topics
                        and failpoints.fire(
                            WITHHOLD_POINT, f"withholding the records fetched of {tp}"
                        )
                    )
                ):
                    withheld = tp
                    continue
                yielded[tp] = message.offset
                yield tp, message
            if withheld is not None:
                withholding = False
            await faust_fetch.in_bulk(consumer, by_delivery, active, generation, yielded)
        first = left_over(fetched, yielded)
        if not first:
            return
        noted = dict(fetched)
        try:
            moved = await thread.call_thread(seek_back, thread._ensure_consumer(), first, noted)
        except Exception:  # the consumer stopping; never the fetch loop's end
            logger.warning("could not fetch again records Faust dropped: %s", first, exc_info=True)
            return
        for tp, offset, position in moved:
            logger.info(
                "%s[%d]: records %d..%d dropped by Faust's fetch loop (a rebalance, a recovery): "
                "fetching them again",
                tp.topic,
                tp.partition,
                offset,
                position - 1,
            )

    thread._fetch_records = fetch_and_note
    consumer.getmany = getmany_fetching_again
