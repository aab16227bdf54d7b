"""Faust's `getmany`, split in two: its own topics' records one by one, in its round robin;
the batch channels' a fetch at a time.

Faust's getmany yields each fetched record to its fetch loop, which awaits a callback per
record inside `wait_first` (four tasks a record); even the async generator's step per record
was 7% of the worker under the bench. The batch channels' topics never need either: their
records go to their channel in one call (`deliver`). The checks are Faust's: nothing is handed
over once flow has stopped or the generation has changed, nor for a partition no longer active.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

# Takes a fetch's records of its topics, in order; returns those it did not take (Faust's flow
# stopped meanwhile).
BulkDelivery = Callable[[list[Any]], Awaitable[list[Any]]]

Records = Mapping[Any, list[Any]]  # aiokafka's fetch: records per partition


def split_by_delivery(
    records: Records, bulk: Mapping[str, BulkDelivery]
) -> tuple[dict[BulkDelivery, dict[Any, list[Any]]], dict[Any, list[Any]]]:
    """The records for each bulk delivery (per partition), and the rest, for Faust's loop."""
    in_bulk: dict[BulkDelivery, dict[Any, list[Any]]] = {}
    one_by_one: dict[Any, list[Any]] = {}
    for tp, batch in records.items():
        deliver = bulk.get(tp.topic)
        if deliver is None:
            one_by_one[tp] = batch
        else:
            in_bulk.setdefault(deliver, {})[tp] = batch
    return in_bulk, one_by_one


def _flowing(consumer: Any, generation: int) -> bool:
    """Faust's test before each record: flow has not stopped, the generation is the fetch's."""
    return bool(consumer.flow_active) and consumer.app.consumer_generation_id == generation


def _handed_over(consumer: Any, tp: Any, active: set[Any] | None) -> bool:
    """Faust's test of the partition, noting its end offset as Faust's getmany does."""
    if active is None or tp in active or tp in consumer._buffered_partitions:
        consumer.app.monitor.track_tp_end_offset(tp, consumer.highwater(tp))
        return True
    return False


async def one_by_one(
    consumer: Any, records: Records, active: set[Any] | None, generation: int
) -> AsyncIterator[tuple[Any, Any]]:
    """What Faust's getmany yields of these records: round robin over the partitions, until
    flow stops or the generation changes."""
    to_message = consumer._to_message
    for tp, record in consumer.scheduler.iterate(records):
        if not _flowing(consumer, generation):
            return
        if _handed_over(consumer, tp, active):
            yield tp, to_message(tp, record)


async def in_bulk(
    consumer: Any,
    deliveries: Mapping[BulkDelivery, Mapping[Any, list[Any]]],
    active: set[Any] | None,
    generation: int,
    handed: dict[Any, int],
) -> None:
    """Hands each delivery its records, a call each; notes in `handed` the last offset per
    partition that it took."""
    to_message = consumer._to_message
    for deliver, by_partition in deliveries.items():
        if not _flowing(consumer, generation):
            return  # the rest is left over: fetched again
        messages: list[Any] = []
        for tp, batch in by_partition.items():
            if _handed_over(consumer, tp, active):
                messages.extend(to_message(tp, record) for record in batch)
                handed[tp] = batch[-1].offset
        if not messages:
            continue
        for m in await deliver(messages):  # not taken (flow stopped): a suffix per partition
            handed[m.tp] = min(handed[m.tp], m.offset - 1)
