"""Changelog records Faust's fetch loop drops are fetched again (streams/kafka/fetch_again.py).

CI, 2026-12-08: a worker kept its changelog partition across a rebalance; aiokafka handed the
partition's one record to Faust's getmany while flow was stopped, Faust dropped it, and
recovery waited for it until the test gave up. Here the failpoint `fetch.changelog` drops the
first changelog records a restarted worker fetches, deterministically, as Faust did: recovery
must still finish, with all the state (the dedupe memory proves it).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from streams.count.windows import HOUR_MS, MINUTE_MS, to_rfc3339
from streams.kafka.admin import ensure_topics
from streams.kafka.fetch_again import WITHHOLD_POINT
from tests.integration.test_dedupe_restart import BUCKET, CROSSING, T0
from tests.integration.test_dedupe_restart import event as crossing_event
from tests.support import (
    WorkerProcess,
    latest_counts,
    produce,
    read_topic,
    settings_from,
    wait_until,
)

pytestmark = pytest.mark.integration


def event(event_id: str, t_ms: int, travellers: int) -> tuple[bytes, bytes]:
    return CROSSING.encode(), crossing_event(event_id, t_ms, travellers)


def test_changelog_records_dropped_on_fetch_are_fetched_again(service_env, tmp_path: Path) -> None:
    env = {**service_env, "BORDER_SURGE_PARTITIONS": "1"}
    settings = settings_from(env)
    bootstrap = settings.bootstrap_servers
    asyncio.run(ensure_topics(settings))

    def send(*events: tuple[bytes, bytes]) -> None:
        asyncio.run(produce(bootstrap, settings.events_topic, list(events)))

    def bucket(start: str) -> int | None:
        counts = latest_counts(asyncio.run(read_topic(bootstrap, settings.counts_topic)))
        found = counts.get((CROSSING, "RU", "FI", start))
        return None if found is None else int(found["travellers"])

    first = WorkerProcess(env, tmp_path / "first.log").start()
    try:
        first.wait_ready()
        send(event("gate-1/0001", T0, 7), event("gate-1/0002", T0 + 1000, 2))
        send(event("close-1", T0 + HOUR_MS, 1))
        wait_until(lambda: bucket(BUCKET) == 9, 60, message=f"not counted\n{first.tail()}")
    finally:
        first.stop()  # a clean stop: its state is all in the changelog

    restarted = WorkerProcess(
        {**env, "BORDER_SURGE_FAILPOINTS": WITHHOLD_POINT}, tmp_path / "restarted.log"
    ).start()
    try:
        restarted.wait_ready(timeout=60)  # without the fix recovery waits for ever
        log = restarted.log_path.read_text()
        assert f"failpoint {WITHHOLD_POINT}: withholding" in log
        assert "dropped by Faust's fetch loop" in log

        # A duplicate of a counted event, then one that closes a later bucket: once that is
        # published the duplicate has been through the counter, which must still remember it.
        send(event("gate-1/0001", T0, 7), event("close-2", T0 + 2 * HOUR_MS, 1))
        closed = to_rfc3339(T0 - T0 % (5 * MINUTE_MS) + HOUR_MS)
        wait_until(lambda: bucket(closed) == 1, 60, message=f"not counted\n{restarted.tail()}")
        assert bucket(BUCKET) == 9
    finally:
        restarted.stop()
