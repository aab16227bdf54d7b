"""The broker restarts mid-stream: the worker recovers by itself (nobody restarts it), and every
published bucket still equals the independent reference: nothing lost or doubled."""

from __future__ import annotations

import asyncio
import subprocess
import time

import pytest

from streams.kafka.admin import ensure_topics
from streams.simulate.sender import send_scenario
from tests.conftest import KAFKA_SH
from tests.integration.test_counting_exact import run_and_compare
from tests.reliability.replay import assert_replay_exact, load_replay
from tests.support import WorkerProcess, reliability_seed, settings_from, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.reliability]


def test_broker_restart_mid_stream_recovers_without_restarting_worker(
    service_env, tmp_path
) -> None:
    def restart_broker(i: int, worker: WorkerProcess) -> None:
        if i == 1:
            time.sleep(1)
            subprocess.run([str(KAFKA_SH), "down"], check=True, timeout=120)
            subprocess.run([str(KAFKA_SH), "up"], check=True, timeout=300)

    worker, _ = run_and_compare(
        service_env, tmp_path, seed=reliability_seed(3), chunks=3, between_chunks=restart_broker
    )
    assert worker.proc is not None and worker.proc.poll() is None, "the worker died"
    worker.stop()


# Where the broker goes down: with a validated batch about to be written to the keyed topic,
# with bucket records written and the counter's state not yet, with a transaction of
# detection begun and nothing sent in it (its sends meet the outage: aiokafka's transaction
# manager ends in a fatal state, once a crash), and with its alerts and state sent but not
# yet committed.
FAILPOINTS = ("ingest.write", "count.save", "detect.begin", "detect.commit")


def test_broker_restart_in_the_middle_of_writes_and_of_a_transaction(service_env, tmp_path) -> None:
    """Deterministic: the worker pauses at each failpoint (streams/failpoints.py), the broker is
    stopped, the worker goes on against the stopped broker, and the broker comes back. Counts
    and alerts afterwards equal the references; the worker was never restarted."""
    replay = load_replay(partitions=6)
    env = {
        **service_env,
        "BORDER_SURGE_PARTITIONS": "6",
        "BORDER_SURGE_FAILPOINTS": ",".join(FAILPOINTS),
    }
    settings = settings_from(env)
    bootstrap = settings.bootstrap_servers
    asyncio.run(ensure_topics(settings))
    # The whole replay is a backlog before the worker starts: the test producer never meets
    # the outage, only the worker does.
    asyncio.run(send_scenario(bootstrap, settings.events_topic, replay.messages, mode="replay"))
    points = settings.data_dir / "failpoints"
    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    try:
        for name in FAILPOINTS:
            reached = points / f"{name}.reached"
            wait_until(reached.exists, 180, message=f"{name} never reached\n{worker.tail()}")
            subprocess.run([str(KAFKA_SH), "down"], check=True, timeout=120)
            (points / f"{name}.release").write_text("")
            time.sleep(2)  # the worker writes (or commits) into the stopped broker
            subprocess.run([str(KAFKA_SH), "up"], check=True, timeout=300)
            assert worker.proc is not None and worker.proc.poll() is None, worker.tail()
        assert_replay_exact(replay, [worker], settings, 300)
        assert worker.proc.poll() is None, "the worker died"
        assert worker.log_path.read_text().count("failpoint") >= 2 * len(FAILPOINTS)
    finally:
        worker.stop()
