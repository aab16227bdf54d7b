"""Batches no client can decode, really on the broker, never stop the worker: a batch with a
broken CRC and one in an unknown codec (damaged in the log segment the broker serves), and a
record over the fetch size. The worker dead-letters the skipped offsets, counts everything
around them exactly, and starts again without meeting them twice."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from schemas.dead_letter import DeadLetterReason
from streams.count.windows import to_rfc3339
from streams.kafka.admin import ensure_topics
from tests.conftest import KAFKA_SH
from tests.kcat import kcat_produce
from tests.record_batches import damage_segment
from tests.support import WorkerProcess, read_topic, settings_from, wait_until

pytestmark = pytest.mark.integration

T0 = 1_663_754_400_000  # 2022-09-21T10:00:00Z
CROSSING = "unreadable-post"


def events(batch: str, n: int = 20) -> list[bytes]:
    return [
        json.dumps(
            {
                "event_id": f"{batch}-{i}",
                "crossing_id": CROSSING,
                "occurred_at": to_rfc3339(T0 + i * 60_000),
                "from_country": "RU",
                "to_country": "FI",
                "travellers": 2,
            }
        ).encode()
        for i in range(n)
    ]


def metric(worker: WorkerProcess, line_start: str) -> float:
    with urllib.request.urlopen(worker.url("/metrics"), timeout=5) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(line_start):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_undecodable_batches_are_dead_lettered_and_the_worker_goes_on(
    service_env, tmp_path
) -> None:
    settings = settings_from(service_env)
    bootstrap, topic = settings.bootstrap_servers, settings.events_topic
    asyncio.run(ensure_topics(settings))
    # One kcat run per batch, all into partition 0: a(lz4) b(lz4) c(gzip) d(lz4) big f(zstd).
    for name, codec in (("a", "lz4"), ("b", "lz4"), ("c", "gzip"), ("d", "lz4")):
        kcat_produce(bootstrap, topic, codec, CROSSING, events(name), partition=0)
    huge = b'{"event_id": "huge", "padding": "' + b"x" * 1_500_000 + b'"}'
    kcat_produce(bootstrap, topic, "none", CROSSING, [huge], partition=0)
    kcat_produce(bootstrap, topic, "zstd", CROSSING, events("f"), partition=0)

    node = subprocess.run([str(KAFKA_SH), "path"], capture_output=True, text=True, check=True)
    segment = Path(node.stdout.strip()) / "data" / f"{topic}-0" / "00000000000000000000.log"
    found = damage_segment(segment, crc=[1], codec=[2])
    assert [(b.base_offset, b.last_offset) for b in found] == [
        (0, 19), (20, 39), (40, 59), (60, 79), (80, 80), (81, 100)
    ]  # fmt: skip

    worker = WorkerProcess(service_env, tmp_path / "worker.log").start()
    try:
        worker.wait_ready()

        def dead_letters() -> list[dict[str, str]]:
            return [
                {k: v.decode() for k, v in r.headers.items()}
                for r in asyncio.run(read_topic(bootstrap, settings.dlq_topic))
            ]

        def forwarded() -> set[str]:
            keyed = asyncio.run(read_topic(bootstrap, settings.topic("events.by-crossing")))
            return {json.loads(r.value)["event_id"] for r in keyed if r.value}

        expected_ids = {f"{b}-{i}" for b in "adf" for i in range(20)}
        wait_until(
            lambda: forwarded() == expected_ids and len(dead_letters()) == 3,
            90,
            message=f"{sorted(forwarded())[:5]} {dead_letters()}\n{worker.tail()}",
        )
        unreadable = sorted(  # the dead-letter topic has several partitions: no order
            (d for d in dead_letters() if d["x-error-reason"] == DeadLetterReason.UNREADABLE_BATCH),
            key=lambda d: int(d["x-source-offset"]),
        )
        assert [(d["x-source-offset"], d["x-source-last-offset"]) for d in unreadable] == [
            ("20", "39"), ("40", "59")
        ]  # fmt: skip
        assert {d["x-source-topic"] for d in unreadable} == {topic}
        assert "CorruptRecord" in unreadable[0]["x-error"]
        assert "codec" in unreadable[1]["x-error"]
        too_large = [d for d in dead_letters() if d["x-error-reason"] == "too_large"]
        assert [d["x-source-offset"] for d in too_large] == ["80"]

        events_label = f'topic="{topic}"'
        wait_until(lambda: metric(worker, "border_events_counted_total") == 60, 30)
        assert metric(worker, f"border_unreadable_batches_total{{{events_label}}}") == 2
        assert metric(worker, f"border_unreadable_offsets_total{{{events_label}}}") == 40
        reason = 'border_events_dead_lettered_total{reason="unreadable_batch"}'
        assert metric(worker, reason) == 2
        assert "unreadable record batch in" in worker.tail(400)

        # Started again, it does not meet the damaged batches again: their offsets were
        # committed like any others. No crash loop, no second dead letter.
        worker.stop()
        worker.start()
        worker.wait_ready()
        time.sleep(3)
        assert metric(worker, "border_messages_consumed_total") == 0
        assert worker.proc is not None and worker.proc.poll() is None
        assert len(dead_letters()) == 3
        assert metric(worker, reason) == 0
    finally:
        worker.stop()
