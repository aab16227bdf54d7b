"""The broker restarts mid-stream: the worker recovers by itself (nobody restarts it), and every
published bucket still equals the independent reference: nothing lost or doubled."""

from __future__ import annotations

import subprocess
import time

import pytest

from tests.conftest import KAFKA_SH
from tests.integration.test_counting_exact import run_and_compare
from tests.support import WorkerProcess

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
        service_env, tmp_path, seed=3, chunks=3, between_chunks=restart_broker
    )
    assert worker.proc is not None and worker.proc.poll() is None, "the worker died"
    worker.stop()
