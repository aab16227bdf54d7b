"""Counts on the real broker equal an independent reference: replay, kill -9. (The broker
restart is in tests/reliability/test_broker_restart.py.)"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from streams.kafka.admin import ensure_topics
from tests.support import (
    WorkerProcess,
    drained,
    latest_counts,
    produce,
    read_topic,
    reference_counts,
    settings_from,
    synthetic_events,
    wait_until,
)

pytestmark = pytest.mark.integration

N_EVENTS = 100_000
LATENESS_MS = 600_000


def run_and_compare(
    env: dict[str, str],
    tmp_path: Path,
    *,
    seed: int,
    chunks: int = 1,
    between_chunks: Callable[[int, WorkerProcess], None] | None = None,
) -> tuple[WorkerProcess, dict[tuple[str, str, str, str], int]]:
    """Send the events in chunks (calling between_chunks after each), then compare every
    published bucket with the reference."""
    settings = settings_from(env)
    bootstrap = settings.bootstrap_servers
    asyncio.run(ensure_topics(settings))
    messages = synthetic_events(N_EVENTS, 20, seed=seed)
    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    worker.wait_ready()
    size = len(messages) // chunks + 1
    for i in range(chunks):
        asyncio.run(produce(bootstrap, settings.events_topic, messages[i * size : (i + 1) * size]))
        if between_chunks is not None:
            between_chunks(i, worker)
    reference = reference_counts(v for _, v in messages)
    # Every partition's watermark ends within minutes of the last event; buckets ending an hour
    # before the last event must all be published, and every published bucket must be exact.
    from schemas.event import parse_event

    last_ms = max(parse_event(v).event_time_ms for _, v in messages[-200:])
    from streams.count.windows import to_rfc3339

    must_have = {k for k in reference if k[3] <= to_rfc3339(last_ms - LATENESS_MS - 3_600_000)}
    published: dict[tuple[str, str, str, str], int] = {}

    inputs = [settings.events_topic, settings.topic("events.by-crossing")]

    def all_published() -> bool:
        # Drained first: until the worker has committed all its input, a published bucket may
        # still get a late correction (a broker restart once made a test compare one too soon).
        nonlocal published
        if not drained(bootstrap, settings.app_id, inputs):
            return False
        latest = latest_counts(asyncio.run(read_topic(bootstrap, settings.counts_topic)))
        published = {k: v["travellers"] for k, v in latest.items()}
        return must_have <= set(published) and all(published[k] == reference[k] for k in must_have)

    try:
        wait_until(all_published, 240, interval=2, message=f"counts incomplete\n{worker.tail()}")
        wrong = {
            k: (v, reference.get(k, 0)) for k, v in published.items() if v != reference.get(k, 0)
        }
        assert wrong == {}, (
            f"{len(wrong)} buckets differ from the reference, e.g. {list(wrong.items())[:5]}"
        )
        assert sum(reference[k] for k in must_have) > 0
    except BaseException:
        worker.stop()  # the caller only stops the worker it gets back
        raise
    return worker, reference


def test_replay_of_100k_events_matches_reference_per_bucket(service_env, tmp_path) -> None:
    worker, reference = run_and_compare(service_env, tmp_path, seed=1)
    try:
        status, body = worker.get_json("/crossings")
        assert status == 200
        assert len(body["directions"]) == 20
        # The API's rolling 60 minutes equal the reference summed over the same 12 buckets.
        d = body["directions"][0]
        from datetime import datetime, timedelta

        end = datetime.fromisoformat(d["last_bucket_end"].replace("Z", "+00:00"))
        starts = {
            (end - timedelta(minutes=5 * i)).strftime("%Y-%m-%dT%H:%M:%SZ") for i in range(1, 13)
        }
        expected = sum(
            v
            for k, v in reference.items()
            if k[:3] == (d["crossing_id"], d["from_country"], d["to_country"]) and k[3] in starts
        )
        assert d["windows"]["60m"]["travellers"] == expected
        status, one = worker.get_json(f"/crossings/{d['crossing_id']}")
        assert status == 200 and one["crossing_id"] == d["crossing_id"]
        assert worker.get_json("/crossings/no-such-post")[0] == 404
    finally:
        worker.stop()


def test_worker_killed_twice_mid_stream_still_matches_reference(service_env, tmp_path) -> None:
    def crash(i: int, worker: WorkerProcess) -> None:
        if i in (1, 3):
            time.sleep(1.5)  # let it get into the middle of the chunk
            worker.kill9()
            worker.start()
            worker.wait_ready()

    worker, _ = run_and_compare(service_env, tmp_path, seed=2, chunks=5, between_chunks=crash)
    worker.stop()
    # The restarts really resumed from saved state mid-stream, not from an empty table.
    restored = [
        int(line.rsplit("last offset", 1)[1].split()[0])
        for line in worker.tail(100_000).splitlines()
        if "restored:" in line and "last offset" in line
    ]
    assert any(offset > 0 for offset in restored), restored
