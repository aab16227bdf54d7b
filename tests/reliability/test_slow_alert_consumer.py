"""A consumer that reads border.alerts very slowly, and one that stopped reading, do not slow
counting: the same replay is counted within the time it takes without them."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer

from schemas.event import parse_event
from streams.count.windows import to_rfc3339
from streams.kafka.admin import ensure_topics
from tests.reliability.replay import wait_counts_exact
from tests.support import (
    WorkerProcess,
    produce,
    read_topic,
    reference_counts,
    settings_from,
    synthetic_events,
)

pytestmark = [pytest.mark.integration, pytest.mark.reliability]

# Every post expects 5 travellers an hour from day one, so the replay's traffic fires alerts.
CONFIG = "[defaults]\nstatic_baseline = 5\n"


class SlowReaders(threading.Thread):
    """Two consumer groups on the alert topic: one takes a record a second, one joins and then
    never polls again (a hung client)."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        super().__init__(daemon=True)
        self.bootstrap, self.topic = bootstrap, topic
        self.read = 0
        self.joined = threading.Event()
        self.stop = threading.Event()

    def run(self) -> None:
        asyncio.run(self._run())

    async def _run(self) -> None:
        def consumer(group: str) -> AIOKafkaConsumer:
            return AIOKafkaConsumer(
                self.topic,
                bootstrap_servers=self.bootstrap,
                group_id=group,
                auto_offset_reset="earliest",
                isolation_level="read_committed",
                max_poll_records=1,
            )

        slow, hung = consumer(f"{self.topic}-slow"), consumer(f"{self.topic}-hung")
        await slow.start()
        await hung.start()
        await hung.getmany(timeout_ms=2000)  # joins its group, then never again
        self.joined.set()
        try:
            while not self.stop.is_set():
                batch = await slow.getmany(timeout_ms=500, max_records=1)
                self.read += sum(len(records) for records in batch.values())
                await asyncio.sleep(1.0)
        finally:
            await slow.stop()
            await hung.stop()


def count_replay(env: dict[str, str], tmp_path: Path, name: str, slow: bool) -> tuple[float, int]:
    """Seconds from the first send until every closed bucket is exact; alert messages."""
    env = {**env, "BORDER_SURGE_TOPIC_PREFIX": name, "BORDER_SURGE_APP_ID": name}
    settings = settings_from(env)
    bootstrap = settings.bootstrap_servers
    asyncio.run(ensure_topics(settings))
    messages = synthetic_events(30_000, 12, seed=31, span_ms=86_400_000)
    reference = reference_counts(v for _, v in messages)
    last_ms = max(parse_event(v).event_time_ms for _, v in messages[-100:])
    must_have = {k for k in reference if k[3] < to_rfc3339(last_ms - 3_600_000)}
    readers = SlowReaders(bootstrap, settings.alerts_topic)
    worker = WorkerProcess(env, tmp_path / f"{name}.log").start()
    try:
        worker.wait_ready(timeout=120)
        if slow:
            readers.start()
            assert readers.joined.wait(60)
        started = time.monotonic()
        asyncio.run(produce(bootstrap, settings.events_topic, messages))
        wait_counts_exact(
            bootstrap, settings.counts_topic, reference, must_have, [worker], 240, settings=settings
        )
        seconds = time.monotonic() - started
    finally:
        readers.stop.set()
        worker.stop()
    if slow:
        readers.join(30)
        print(f"the slow reader took {readers.read} alert messages meanwhile")
    alerts = asyncio.run(read_topic(bootstrap, settings.alerts_topic, committed_only=True))
    return seconds, len(alerts)


def test_slow_and_hung_alert_consumers_do_not_slow_counting(
    service_env, unique_name, tmp_path
) -> None:
    config = tmp_path / "crossings.toml"
    config.write_text(CONFIG)
    env = {**service_env, "BORDER_SURGE_CONFIG": str(config)}
    alone, alerts_alone = count_replay(env, tmp_path, f"{unique_name}a", slow=False)
    beside, alerts_beside = count_replay(env, tmp_path, f"{unique_name}b", slow=True)
    print(
        f"counted in {alone:.1f}s alone ({alerts_alone} alerts), {beside:.1f}s beside the slow"
        f" and hung readers ({alerts_beside} alerts)"
    )
    assert alerts_alone > 0 and alerts_beside > 0, "the replay must fire alerts to read"
    # Generous: the machine is shared; a coupling would stall counting, not cost seconds.
    assert beside <= max(1.5 * alone, alone + 20), (alone, beside)
