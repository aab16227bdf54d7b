"""Thousands of hostile records through the real worker: it survives, and every record is
counted once, recognised as a duplicate, or dead-lettered with its original bytes."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from schemas.dead_letter import (
    HEADER_ERROR,
    HEADER_ERROR_REASON,
    HEADER_SOURCE_OFFSET,
    HEADER_SOURCE_PARTITION,
    HEADER_SOURCE_TOPIC,
)
from schemas.event import MAX_EVENT_BYTES, parse_event
from streams.count.windows import to_rfc3339
from streams.kafka.admin import ensure_topics
from tests.hostile_plan import MEGABYTE, Input, build_plan, with_megabytes
from tests.hostile_specs import WINDOW_END, draw_specs
from tests.support import (
    WorkerProcess,
    drained,
    latest_counts,
    read_topic,
    reference_counts,
    settings_from,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.reliability]

MIN_INPUTS = 10_000
PEAK_RSS_MB = 400  # the worker's resident memory, huge values or not


async def send_all(bootstrap: str, topic: str, items: list[Input]) -> None:
    """Send in order, remembering where each record landed (the DLQ points back there)."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        max_request_size=2_000_000,
    )
    await producer.start()
    try:
        futures = [await producer.send(topic, i.value, key=i.key) for i in items]
        for item, meta in zip(items, await asyncio.gather(*futures), strict=True):
            item.partition, item.offset = meta.partition, meta.offset
    finally:
        await producer.stop()


# -- the test ----------------------------------------------------------------------------------


def test_hostile_inputs_are_counted_once_or_dead_lettered_with_their_bytes(
    service_env: dict[str, str], tmp_path
) -> None:
    plan = build_plan(with_megabytes(draw_specs()), now_ms=int(time.time() * 1000))
    kinds = Counter(i.kind for i in plan.inputs)
    assert len(plan.inputs) >= MIN_INPUTS, (len(plan.inputs), plan.skipped)
    invalid = [i for i in plan.inputs if not i.valid]
    valid = [i for i in plan.inputs if i.valid]
    assert len(valid) > 1000 and len(invalid) > 1000, kinds
    assert sum(1 for i in plan.inputs if i.kind.startswith("duplicate")) > 300, kinds
    assert any(i.value is not None and len(i.value) > MAX_EVENT_BYTES for i in invalid)
    assert kinds["1 MiB value"] == 20 and all(
        len(i.value or b"") >= MEGABYTE for i in plan.inputs if i.kind == "1 MiB value"
    )
    reference = reference_counts(i.value for i in valid if i.value is not None)

    settings = settings_from(service_env)
    bootstrap = settings.bootstrap_servers
    keyed_topic = settings.topic("events.by-crossing")
    asyncio.run(ensure_topics(settings))
    worker = WorkerProcess(service_env, tmp_path / "worker.log").start()
    try:
        worker.wait_ready()
        asyncio.run(send_all(bootstrap, settings.events_topic, plan.inputs))

        def alive() -> None:
            assert worker.proc is not None
            if worker.proc.poll() is not None:
                raise AssertionError(
                    f"the worker died ({worker.proc.returncode}):\n{worker.tail()}"
                )

        def ingested() -> bool:
            # Ingest commits its input only after writing it on: everything is forwarded or
            # dead-lettered once it has committed every input record.
            alive()
            return drained(bootstrap, settings.app_id, [settings.events_topic])

        wait_until(ingested, 90, interval=1, message=f"ingest incomplete\n{worker.tail()}")
        dead = asyncio.run(read_topic(bootstrap, settings.dlq_topic))
        forwarded = asyncio.run(read_topic(bootstrap, keyed_topic))

        # Dead letters: exactly the invalid inputs, each with its own bytes, key and reason.
        by_position = {(i.partition, i.offset): i for i in plan.inputs}
        wrong: list[str] = []
        positions: set[tuple[int, int]] = set()
        for d in dead:
            h = d.headers
            if HEADER_SOURCE_PARTITION not in h or HEADER_SOURCE_OFFSET not in h:
                wrong.append(f"dead letter without its source: {h}")
                continue
            pos = (int(h[HEADER_SOURCE_PARTITION]), int(h[HEADER_SOURCE_OFFSET]))
            positions.add(pos)
            item = by_position.get(pos)
            if item is None or item.valid:
                wrong.append(f"{pos} dead-lettered but valid: {item}")
                continue
            if (d.value, d.key) != (item.value, item.key):
                wrong.append(f"{pos} ({item.kind}): bytes or key changed")
            if h.get(HEADER_SOURCE_TOPIC) != settings.events_topic.encode():
                wrong.append(f"{pos}: x-source-topic {h.get(HEADER_SOURCE_TOPIC)!r}")
            if not h.get(HEADER_ERROR) or h.get(HEADER_ERROR_REASON) != item.reason.encode():
                wrong.append(
                    f"{pos} ({item.kind}): {h.get(HEADER_ERROR_REASON)!r} != {item.reason}"
                )
            elif item.detail is not None and h[HEADER_ERROR] != item.detail.encode(
                "utf-8", "replace"
            ):
                wrong.append(f"{pos} ({item.kind}): x-error {h[HEADER_ERROR][:200]!r}")
        assert wrong == [], f"{len(wrong)} bad dead letters, e.g. {wrong[:5]}"
        assert positions == {(i.partition, i.offset) for i in invalid}
        # Forwarded: every valid input (duplicates too; counting dedupes), keyed by its crossing.
        assert Counter(f.value for f in forwarded) == Counter(i.value for i in valid)
        assert all(f.key == parse_event(f.value).crossing_id.encode() for f in forwarded)

        # Everything is in the keyed topic now, so the closers come after it in every partition.
        asyncio.run(send_all(bootstrap, settings.events_topic, plan.closers))
        published: dict[tuple[str, str, str, str], int] = {}

        def counted() -> bool:
            nonlocal published
            alive()
            latest = latest_counts(asyncio.run(read_topic(bootstrap, settings.counts_topic)))
            published = {k: c["travellers"] for k, c in latest.items() if c["travellers"]}
            return published == dict(reference)

        try:
            wait_until(counted, 60, interval=1)
        except AssertionError:
            diff = {
                k: (published.get(k), reference.get(k))
                for k in set(published) | set(reference)
                if published.get(k) != reference.get(k)
            }
            raise AssertionError(
                f"{len(diff)} buckets (published, expected) differ, e.g. {list(diff.items())[:5]}"
                f"\n{worker.tail()}"
            ) from None
        assert sum(published.values()) == sum(reference.values())
        assert all(k[3] < to_rfc3339(WINDOW_END) for k in published)
        alive()
        # 20 MiB of huge values went through; the worker kept none (kafka/batch_channel.py).
        assert worker.proc is not None
        status = Path(f"/proc/{worker.proc.pid}/status").read_text()
        peak_mb = int(status.split("VmHWM:")[1].split()[0]) // 1024
        print(f"{len(plan.inputs)} inputs; worker peak resident memory {peak_mb} MiB")
        assert peak_mb < PEAK_RSS_MB, f"worker peaked at {peak_mb} MiB"
    finally:
        worker.stop()
    assert plan.parser_crashes == [], (
        f"parse_event raised something other than InvalidEvent: {plan.parser_crashes[:3]}"
    )
