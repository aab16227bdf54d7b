"""Ingest forwards a batch and is killed before it commits it, while another worker's ingest
moves event time two days on. The next owner forwards the batch again: each event counts once.

After a crash ingest sends again what it had not committed, and counting's dedupe memory
(a day of event time) must still hold those ids when the second copy comes. So a watermark
never covers a record that may be sent again: ingest announces an input partition's progress
only once it is committed, and announces the partition active again before it forwards from
it after it was idle (streams/ingest/watermarks.py). Before, the killed worker had announced
its partition idle with the batch forwarded and not committed; the other partition's
watermark moved the clock two days on, the ids were forgotten and the second copy counted
again (the scale-out soak, seed 592731: 38 buckets at twice their count).

Deterministic: the killed worker pauses at `ingest.commit` (streams/failpoints.py), a batch
handled and its offsets not committed, and is killed there."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from pathlib import Path

import pytest

from streams.count.windows import to_rfc3339
from streams.kafka.admin import ensure_topics
from streams.kafka.topics import keyed_events_topic
from tests.reliability.replay import wait_counts_exact
from tests.support import (
    WATERMARK_KEY,
    WorkerProcess,
    free_port,
    group_lag,
    produce,
    read_topic,
    reference_counts,
    settings_from,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.reliability]

DAY_MS = 86_400_000
FIRST_MS = 1_662_026_400_000  # 2022-09-01T10:00Z
LATER_MS = FIRST_MS + 2 * DAY_MS  # past the dedupe memory (24 h) of the first batch
CROSSING = "post-w"


def crossings(prefix: str, start_ms: int, n: int) -> list[tuple[bytes, bytes]]:
    """n crossings of one post a minute apart, ids `prefix-i`."""
    return [
        (
            CROSSING.encode(),
            json.dumps(
                {
                    "event_id": f"{prefix}-{i}",
                    "crossing_id": CROSSING,
                    "occurred_at": to_rfc3339(start_ms + i * 60_000),
                    "from_country": "RU",
                    "to_country": "GE",
                    "travellers": 1 + i % 4,
                    "mode": "car",
                }
            ).encode(),
        )
        for i in range(n)
    ]


async def group_members(bootstrap: str, group: str) -> tuple[str, int]:
    """(state, number of members) of a consumer group."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        (response,) = await admin.describe_consumer_groups([group])
        _, _, state, _, _, members = response.groups[0][:6]
        return state, len(members)
    finally:
        await admin.close()


def test_a_batch_forwarded_again_after_a_crash_counts_once(service_env, tmp_path: Path) -> None:
    env = {**service_env, "BORDER_SURGE_PARTITIONS": "2"}
    settings = settings_from(env)
    bootstrap = settings.bootstrap_servers
    asyncio.run(ensure_topics(settings))

    def worker(name: str, **more: str) -> WorkerProcess:
        own = {
            **env,
            "BORDER_SURGE_WEB_PORT": str(free_port()),
            "BORDER_SURGE_DATA_DIR": str(tmp_path / name),
            **more,
        }
        return WorkerProcess(own, tmp_path / f"{name}.log")

    killed = worker("killed", BORDER_SURGE_FAILPOINTS="ingest.commit").start()
    survivor = worker("survivor").start()
    workers = [killed, survivor]
    try:
        for w in workers:
            w.wait_ready(timeout=120)
        wait_until(
            lambda: asyncio.run(group_members(bootstrap, settings.app_id)) == ("Stable", 2),
            120,
            message="the two workers never formed a stable group",
        )
        first = {p: crossings(f"first{p}", FIRST_MS, 30) for p in (0, 1)}
        for p, messages in first.items():
            asyncio.run(produce(bootstrap, settings.events_topic, messages, partition=p))

        reached = tmp_path / "killed" / "failpoints" / "ingest.commit.reached"
        wait_until(reached.exists, 120, message=f"ingest.commit never reached\n{killed.tail()}")

        # The killed worker holds one input partition, its batch forwarded and not committed;
        # the survivor has committed the other.
        def split() -> tuple[int, int] | None:
            lag = asyncio.run(group_lag(bootstrap, settings.app_id, settings.events_topic))
            done = [p for p, (committed, end) in lag.items() if committed == end]
            return (1 - done[0], done[0]) if len(done) == 1 else None

        wait_until(lambda: split() is not None, 60, message="no partition committed by one worker")
        paused, survivors = split() or (0, 0)
        later = crossings("later", LATER_MS, 120)
        asyncio.run(produce(bootstrap, settings.events_topic, later, partition=survivors))

        def announced_later() -> bool:
            records = asyncio.run(
                read_topic(bootstrap, keyed_events_topic(settings), watermarks=True)
            )
            marks = [json.loads(r.value or b"{}") for r in records if r.key == WATERMARK_KEY]
            return any(m["source"] == survivors and m["event_ms"] >= LATER_MS for m in marks)

        wait_until(announced_later, 120, message=f"no watermark two days on\n{survivor.tail()}")
        time.sleep(3)  # the paused worker's idle announcements (once a second) are written
        killed.kill9()
        workers.remove(killed)

        reference = reference_counts(v for _, v in [*first[0], *first[1], *later])
        # The last hour closes with the wall clock once all is idle (lateness, 10 minutes).
        must_have = {k for k in reference if k[3] < to_rfc3339(LATER_MS + 3_600_000)}
        wait_counts_exact(
            bootstrap,
            settings.counts_topic,
            reference,
            must_have,
            workers,
            240,
            settings=settings,
        )
        # The scenario happened: the paused batch reached the keyed topic twice.
        keyed = asyncio.run(read_topic(bootstrap, keyed_events_topic(settings)))
        copies = Counter(json.loads(r.value or b"{}")["event_id"] for r in keyed)
        assert {copies[f"first{paused}-{i}"] for i in range(30)} == {2}, copies
    finally:
        for w in workers:
            w.stop()
