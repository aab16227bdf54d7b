"""Shared fixtures: the real local Kafka broker, per-test settings and topics."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import WorkerProcess, worker_env

REPO = Path(__file__).resolve().parent.parent
KAFKA_SH = REPO / "deploy" / "local" / "kafka.sh"
BOOTSTRAP = f"127.0.0.1:{os.environ.get('KAFKA_PORT', '9092')}"


@pytest.fixture(scope="session")
def kafka() -> str:
    """The local broker, started if it is not up. Missing Kafka is an error, never a skip."""
    proc = subprocess.run(
        [str(KAFKA_SH), "up"], capture_output=True, text=True, timeout=300, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"could not start the local Kafka broker:\n{proc.stderr}")
    return BOOTSTRAP


@pytest.fixture(scope="session", autouse=True)
def no_worker_outlives_the_session() -> Iterator[None]:
    """A test that fails before its own cleanup must not leave a worker running on."""
    yield
    for worker in WorkerProcess.started:
        worker.stop()


def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> None:
    """On an integration test failure, attach the broker log tail to the report."""
    if call.when == "call" and call.excinfo is not None and "kafka" in item.fixturenames:
        proc = subprocess.run(
            [str(KAFKA_SH), "logs"],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "LINES": "40"},
        )
        item.add_report_section("call", "broker log (tail)", proc.stdout)


@pytest.fixture
def unique_name() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def service_env(kafka: str, unique_name: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    """Environment for a worker with its own topics, consumer group and state."""
    env = worker_env({"BORDER_SURGE_BROKER": f"kafka://{kafka}"}, unique_name, tmp_path)
    yield env
