"""The outbox's batches land where a `send` per record would have put them: a keyed record in
the partition of Kafka's default partitioner (Java's murmur2, here as librdkafka's
`murmur2_random` in kcat, a client that is not ours), in order, once, headers and all."""

from __future__ import annotations

import asyncio
import shutil
import subprocess

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streams.kafka.outbox import Outbox, Record
from tests.support import read_topic

pytestmark = pytest.mark.integration

PARTITIONS = 6
KEYS = [f"crossing-{i}".encode() for i in range(60)]


class Started:
    """Faust's producer, as far as the outbox sees it: the aiokafka producer underneath."""

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self.producer = producer

    def _ensure_producer(self) -> AIOKafkaProducer:
        return self.producer


async def create(bootstrap: str, *names: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(n, PARTITIONS, 1) for n in names])
    finally:
        await admin.close()


async def write(bootstrap: str, records: list[Record]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", max_batch_size=1024)
    await producer.start()
    try:
        await Outbox(Started(producer)).write(records)
    finally:
        await producer.stop()


def test_keyed_records_land_as_javas_partitioner_puts_them(kafka: str, unique_name: str) -> None:
    ours, theirs = f"{unique_name}-outbox", f"{unique_name}-kcat"
    asyncio.run(create(kafka, ours, theirs))
    records = [
        Record(ours, key, f"{key.decode()}#{n}".encode(), headers=[("n", str(n).encode())])
        for n in range(3)
        for key in KEYS
    ]
    records.append(Record(ours, b"pinned", b"pinned#0", partition=5))
    asyncio.run(write(kafka, records))

    kcat = shutil.which("kcat")
    assert kcat, "kcat is not installed (deploy/local/system-deps.sh installs it)"
    lines = b"".join(k + b"\t" + k + b"\n" for k in KEYS)
    subprocess.run(
        [kcat, "-P", "-b", kafka, "-t", theirs, "-K", "\t", "-X", "partitioner=murmur2_random"],
        input=lines,
        check=True,
        timeout=60,
    )

    got = asyncio.run(read_topic(kafka, ours))
    reference = {r.key: r.partition for r in asyncio.run(read_topic(kafka, theirs))}
    assert len(reference) == len(KEYS)
    assert len({p for p in reference.values()}) > 1  # the keys do spread
    assert sorted(r.value for r in got) == sorted(r.value for r in records)  # each once
    for r in got:
        if r.key == b"pinned":
            assert r.partition == 5
            continue
        assert r.partition == reference[r.key], r.key
        assert r.headers == {"n": r.value.split(b"#")[1]}  # type: ignore[union-attr]
    by_key: dict[bytes | None, list[bytes | None]] = {}
    for r in sorted(got, key=lambda r: (r.partition, r.offset)):
        by_key.setdefault(r.key, []).append(r.value)
    for key in KEYS:
        assert by_key[key] == [f"{key.decode()}#{n}".encode() for n in range(3)]  # in order
