"""The foundation against the real broker: round trip, topic admin, a worker forwarding."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from streams.errors import TopicMismatchError
from streams.ingest import watermarks
from streams.kafka.admin import ensure_topics
from streams.kafka.topics import topic_specs
from tests.support import WorkerProcess, produce, read_topic, settings_from, wait_until

pytestmark = pytest.mark.integration


async def test_aiokafka_round_trip_is_byte_exact(kafka: str, unique_name: str) -> None:
    settings = settings_from({"BORDER_SURGE_TOPIC_PREFIX": unique_name})
    await ensure_topics(settings)
    payloads = [os.urandom(n) for n in (0, 1, 100, 70_000)] + [b"\xff\xfe\x00"]
    producer = AIOKafkaProducer(bootstrap_servers=kafka, max_request_size=2_000_000)
    await producer.start()
    try:
        for i, p in enumerate(payloads):
            await producer.send_and_wait(
                settings.events_topic,
                p,
                key=f"k{i}".encode(),
                partition=0,
                headers=[("h", bytes([i]))],
            )
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        settings.events_topic,
        bootstrap_servers=kafka,
        group_id=unique_name,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        got = []
        deadline = asyncio.get_running_loop().time() + 60
        while len(got) < len(payloads):
            assert asyncio.get_running_loop().time() < deadline, f"only {len(got)} records back"
            batch = await asyncio.wait_for(consumer.getmany(timeout_ms=1000), 30)
            for records in batch.values():
                got.extend(records)
    finally:
        await consumer.stop()
    got.sort(key=lambda r: r.offset)
    assert [r.value for r in got] == payloads
    assert [r.key for r in got] == [f"k{i}".encode() for i in range(len(payloads))]
    assert [dict(r.headers)["h"] for r in got] == [bytes([i]) for i in range(len(payloads))]


async def test_topics_create_twice_changes_nothing_and_reports_mismatch(
    kafka: str, unique_name: str
) -> None:
    settings = settings_from(
        {"BORDER_SURGE_TOPIC_PREFIX": unique_name, "BORDER_SURGE_APP_ID": unique_name}
    )
    first = await ensure_topics(settings)
    assert settings.events_topic in first.created
    assert sorted(first.created) == sorted(s.name for s in topic_specs(settings))
    second = await ensure_topics(settings)
    assert second.created == [] and set(second.existing) == set(first.created)
    wrong = settings_from(
        {
            "BORDER_SURGE_TOPIC_PREFIX": unique_name,
            "BORDER_SURGE_APP_ID": unique_name,
            "BORDER_SURGE_PARTITIONS": "2",
        }
    )
    with pytest.raises(TopicMismatchError, match=rf"{settings.events_topic}.*6 partitions.*2"):
        await ensure_topics(wrong)


def test_worker_forwards_valid_events_and_dead_letters_bad_ones(service_env, tmp_path) -> None:
    settings = settings_from(service_env)
    asyncio.run(ensure_topics(settings))
    worker = WorkerProcess(service_env, tmp_path / "worker.log").start()
    try:
        worker.wait_ready()
        assert health(service_env) == 0
        good = (
            b'{"event_id":"a1","crossing_id":"vaalimaa","occurred_at":"2022-09-24T10:00:00Z",'
            b'"from_country":"RU","to_country":"FI","travellers":3}'
        )
        bad = b'{"event_id":"a2","crossing_id":"vaalimaa","travellers":0}'
        # wrong key on purpose: the service must re-key by crossing_id
        asyncio.run(produce(kafka_of(settings), settings.events_topic, [(b"x", good), (None, bad)]))
        keyed = settings.topic("events.by-crossing")

        def forwarded() -> bool:
            return len(asyncio.run(read_topic(kafka_of(settings), keyed))) == 1

        wait_until(forwarded, 30, message=worker.tail())
        [fwd] = asyncio.run(read_topic(kafka_of(settings), keyed))
        assert fwd.key == b"vaalimaa" and fwd.value == good
        [dead] = asyncio.run(read_topic(kafka_of(settings), settings.dlq_topic))
        assert dead.value == bad
        assert dead.headers["x-source-topic"] == settings.events_topic.encode()
        assert b"occurred_at" in dead.headers["x-error"]
        assert json.loads(dead.value)["travellers"] == 0
    finally:
        worker.stop()
    assert health(service_env) == 1
    # A clean stop closes every client it opened (detection keeps a producer per partition).
    assert worker.proc is not None and worker.proc.returncode == 0
    assert "Unclosed" not in worker.log_path.read_text(errors="replace"), worker.tail()


async def sources_reported(bootstrap: str, topic: str, partition: int) -> set[int]:
    """The input partitions ingest has reported to one keyed partition (its watermark records)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        end = (await consumer.end_offsets([tp]))[tp]
        sources: set[int] = set()
        while await consumer.position(tp) < end:
            for records in (await consumer.getmany(tp, timeout_ms=1000)).values():
                sources |= {
                    watermarks.decode(r.value).source
                    for r in records
                    if watermarks.is_watermark(r.key)
                }
        return sources
    finally:
        await consumer.stop()


def health(env: dict[str, str]) -> int:
    """`border-surge health` against the worker of env: its exit code."""
    proc = subprocess.run(
        [sys.executable, "-m", "streams.cli", "health", "--timeout", "2"],
        env={**os.environ, **env},
        capture_output=True,
        timeout=30,
        check=False,
    )
    return proc.returncode


def kafka_of(settings) -> str:
    return settings.bootstrap_servers


def test_an_expired_event_is_dead_lettered_pointing_at_its_original_record(
    service_env: dict[str, str], tmp_path: Path
) -> None:
    # Counting, not ingest, finds an event older than the kept history (the partition's
    # watermark decides); its dead letter must still name the record the producer wrote.
    settings = settings_from(service_env)
    asyncio.run(ensure_topics(settings))
    worker = WorkerProcess(service_env, tmp_path / "worker.log").start()
    recent = (
        b'{"event_id":"e1","crossing_id":"vaalimaa","occurred_at":"2022-09-24T10:00:00Z",'
        b'"from_country":"RU","to_country":"FI","travellers":1}'
    )
    ancient = recent.replace(b"e1", b"e2").replace(b"2022-09-24", b"2022-08-01")
    bootstrap = kafka_of(settings)
    try:
        worker.wait_ready()
        asyncio.run(produce(bootstrap, settings.events_topic, [(b"vaalimaa", recent)]))
        keyed = settings.topic("events.by-crossing")
        wait_until(
            lambda: len(asyncio.run(read_topic(bootstrap, keyed))) == 1, 30, message=worker.tail()
        )
        # Expiry goes by the partition's clock, which is known once every input partition has
        # reported to it (until then an event may be anything but late): wait for that, or
        # under load the ancient event can be counted before the clock exists.
        [recent_fwd] = asyncio.run(read_topic(bootstrap, keyed))
        sources = set(range(settings.partitions))
        wait_until(
            lambda: (
                asyncio.run(sources_reported(bootstrap, keyed, recent_fwd.partition)) >= sources
            ),
            60,
            message=worker.tail(),
        )
        asyncio.run(produce(bootstrap, settings.events_topic, [(b"vaalimaa", ancient)]))
        wait_until(
            lambda: len(asyncio.run(read_topic(bootstrap, settings.dlq_topic))) == 1,
            30,
            message=worker.tail(),
        )
    finally:
        worker.stop()
    [original] = [
        r for r in asyncio.run(read_topic(bootstrap, settings.events_topic)) if r.value == ancient
    ]
    [dead] = asyncio.run(read_topic(bootstrap, settings.dlq_topic))
    assert dead.value == ancient
    assert dead.headers["x-error-reason"] == b"expired"
    assert dead.headers["x-source-topic"] == settings.events_topic.encode()
    assert int(dead.headers["x-source-partition"]) == original.partition
    assert int(dead.headers["x-source-offset"]) == original.offset
