"""Ingest never commits past a record it did not forward (issue #15, the scale-out loss).

Faust's fetch loop can drop records that aiokafka already counts as consumed (after a takeover,
a survivor was handed offset 9937 of a partition committed at 3942 and committed past the rest).
The first test drops records on delivery at a failpoint, deterministically, as Faust did; the
channel must notice the jump in offsets and fetch them again. The second feeds the input from a
transactional producer, whose commit markers are genuine holes in the offsets that no consumer
ever sees: those must be stepped over, not fetched again forever.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from aiokafka import AIOKafkaProducer

from streams.count.windows import MINUTE_MS, to_rfc3339
from streams.failpoints import LOSS_COUNT
from streams.kafka.admin import ensure_topics
from tests.kcat import kcat_produce
from tests.support import (
    WorkerProcess,
    latest_counts,
    read_topic,
    reference_counts,
    settings_from,
    wait_until,
)

pytestmark = pytest.mark.integration

T0 = 1_663_754_400_000  # 2022-09-21T10:00:00Z
N = 600


def events(crossing: str, n: int = N) -> list[bytes]:
    return [
        json.dumps(
            {
                "event_id": f"{crossing}-{i}",
                "crossing_id": crossing,
                "occurred_at": to_rfc3339(T0 + i * 20_000 + (i * 7919) % 19_000),
                "from_country": "RU",
                "to_country": "FI",
                "travellers": 1 + (i * 31) % 5,
                "mode": "car",
            }
        ).encode()
        for i in range(n)
    ]


def wait_exact(
    worker: WorkerProcess,
    bootstrap: str,
    topic: str,
    sent: list[bytes],
    *,
    to_the_end: bool = False,
) -> None:
    """Every bucket the event time closes is exact; with to_the_end, also the one that closes
    only once the input has been idle for a minute (the idle clock moves event time on at the
    pace of the wall clock after BORDER_SURGE_IDLE_CLOSE_SECONDS, and a bucket closes 10
    minutes of lateness after its end)."""
    reference = reference_counts(sent)
    end = T0 + N * 20_000 - 15 * MINUTE_MS + (MINUTE_MS if to_the_end else 0)
    closed = {k for k in reference if k[3] < to_rfc3339(end)}
    published: dict[tuple[str, str, str, str], int] = {}

    def exact() -> bool:
        nonlocal published
        latest = latest_counts(asyncio.run(read_topic(bootstrap, topic)))
        published = {k: c["travellers"] for k, c in latest.items()}
        return all(published.get(k) == reference[k] for k in closed) and all(
            n == reference.get(k, 0) for k, n in published.items()
        )

    def report() -> str:
        wrong = {
            k: (published.get(k), reference[k]) for k in closed if published.get(k) != reference[k]
        }
        return f"{len(wrong)} buckets differ (published, reference): {list(wrong.items())[:5]}"

    try:
        wait_until(exact, 120, interval=1)
    except AssertionError:
        raise AssertionError(f"{report()}\n{worker.tail()}") from None


def test_records_lost_on_delivery_are_fetched_again(service_env, tmp_path) -> None:
    env = {**service_env, "BORDER_SURGE_FAILPOINTS": "ingest.deliver"}
    settings = settings_from(env)
    bootstrap = settings.bootstrap_servers
    asyncio.run(ensure_topics(settings))
    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    try:
        worker.wait_ready()
        sent = events("gap-post")
        for i in range(0, N, 100):  # several fetches, so the loss falls after a commit
            kcat_produce(bootstrap, settings.events_topic, "lz4", "gap-post", sent[i : i + 100])
        wait_exact(worker, bootstrap, settings.counts_topic, sent)
        log = (tmp_path / "worker.log").read_text()
        assert f"dropping {LOSS_COUNT} records" in log, "the failpoint never fired"
        assert "were not delivered; fetching them again" in log
    finally:
        worker.stop()


async def produce_in_transactions(
    bootstrap: str, topic: str, values: list[bytes], size: int, aborted: list[bytes]
) -> None:
    """values in transactions of `size`; `aborted` sent in one transaction that is aborted,
    in the middle of the stream."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, transactional_id=f"{topic}-upstream")
    await producer.start()
    try:
        for i in range(0, len(values), size):
            if i <= len(values) // 2 < i + size:
                await producer.begin_transaction()
                for v in aborted:
                    await producer.send(topic, v, key=b"txn-post")
                await producer.abort_transaction()
            async with producer.transaction():
                for v in values[i : i + size]:
                    await producer.send(topic, v, key=b"txn-post")
    finally:
        await producer.stop()


def test_transactional_input_is_counted_exactly(service_env, tmp_path) -> None:
    """Commit markers are stepped over, an aborted transaction is not counted, and the last
    buckets close once the input is idle although its log ends with a marker."""
    settings = settings_from(service_env)
    bootstrap = settings.bootstrap_servers
    asyncio.run(ensure_topics(settings))
    worker = WorkerProcess(service_env, tmp_path / "worker.log").start()
    try:
        worker.wait_ready()
        sent = events("txn-post")
        # Same post and times, other ids: counted, they would add to every bucket.
        aborted = [v.replace(b'"txn-post-', b'"aborted-') for v in events("txn-post", 200)]
        assert aborted[0] != sent[0]
        # 15 transactions: each commit marker takes an offset of the partition.
        asyncio.run(produce_in_transactions(bootstrap, settings.events_topic, sent, 40, aborted))
        wait_exact(worker, bootstrap, settings.counts_topic, sent, to_the_end=True)
        log = (tmp_path / "worker.log").read_text()
        assert "fetching them again" not in log, "a commit marker was taken for lost records"
    finally:
        worker.stop()
