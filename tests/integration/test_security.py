"""The worker against the local SASL_SSL broker (`make kafka-up-secure`): SCRAM-SHA-512 and
PLAIN over TLS with the throw-away CA; a wrong password is refused clearly and quickly; the
password never shows in logs, repr or error messages."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from streams.kafka.admin import ensure_topics
from streams.kafka.clients import client_kwargs, describe_connection
from tests.conftest import KAFKA_SH, REPO
from tests.support import (
    WorkerProcess,
    latest_counts,
    produce,
    read_topic,
    reference_counts,
    settings_from,
    synthetic_events,
    wait_until,
    worker_env,
)

pytestmark = pytest.mark.integration

SECURE_PORT = os.environ.get("KAFKA_SECURE_PORT", "9094")


@pytest.fixture(scope="session")
def secure_kafka() -> dict[str, str]:
    """The SASL_SSL broker, started if it is not up; missing it is an error, never a skip."""
    proc = subprocess.run(
        [str(KAFKA_SH), "up-secure"], capture_output=True, text=True, timeout=300, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"could not start the secure Kafka broker:\n{proc.stderr}")
    node = subprocess.run(
        [str(KAFKA_SH), "path-secure"], capture_output=True, text=True, check=True
    ).stdout.strip()
    tls = Path(node) / "tls"
    return {
        "BORDER_SURGE_BROKER": f"kafka://127.0.0.1:{SECURE_PORT}",
        "BORDER_SURGE_SECURITY_PROTOCOL": "SASL_SSL",
        "BORDER_SURGE_SASL_MECHANISM": "SCRAM-SHA-512",
        "BORDER_SURGE_SASL_USERNAME": "border",
        "BORDER_SURGE_SASL_PASSWORD": (tls / "border.password").read_text().strip(),
        "BORDER_SURGE_SSL_CAFILE": str(tls / "ca.pem"),
    }


@pytest.fixture
def secure_env(secure_kafka, unique_name: str, tmp_path: Path) -> dict[str, str]:
    return worker_env(secure_kafka, unique_name, tmp_path)


def client_options(settings: Any) -> dict[str, Any]:
    options = client_kwargs(settings)
    options.pop("bootstrap_servers")
    return options


def cli(env: dict[str, str], *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", *args],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_worker_counts_exactly_over_tls_with_scram_sha_512(secure_env, tmp_path) -> None:
    settings = settings_from(secure_env)
    password = secure_env["BORDER_SURGE_SASL_PASSWORD"]
    client = client_options(settings)
    asyncio.run(ensure_topics(settings))
    messages = synthetic_events(6000, 6, seed=21, span_ms=86_400_000)
    reference = reference_counts(v for _, v in messages)
    from schemas.event import parse_event
    from streams.count.windows import to_rfc3339

    last_ms = max(parse_event(v).event_time_ms for _, v in messages[-100:])
    must_have = {k for k in reference if k[3] < to_rfc3339(last_ms - 3_600_000)}
    worker = WorkerProcess(secure_env, tmp_path / "worker.log").start()
    try:
        worker.wait_ready(timeout=120)
        asyncio.run(produce(settings.bootstrap_servers, settings.events_topic, messages, client))
        published: dict[Any, int] = {}

        def counted() -> bool:
            nonlocal published
            records = asyncio.run(
                read_topic(settings.bootstrap_servers, settings.counts_topic, client=client)
            )
            published = {k: c["travellers"] for k, c in latest_counts(records).items()}
            return all(published.get(k) == reference[k] for k in must_have)

        wait_until(counted, 180, interval=2, message=worker.tail())
        assert {k: v for k, v in published.items() if v != reference.get(k, 0)} == {}
    finally:
        worker.stop()
    log = worker.log_path.read_text(errors="replace")
    assert "Authenticated as border via SCRAM-SHA-512" in log
    assert password not in log


def test_plain_mechanism_over_tls(secure_env) -> None:
    env = {**secure_env, "BORDER_SURGE_SASL_MECHANISM": "PLAIN"}
    done = cli(env, "topics", "create", timeout=120)
    assert done.returncode == 0, done.stderr
    assert "created  " in done.stdout
    settings = settings_from(env)
    client = client_options(settings)
    value = b'{"probe": 1}'
    asyncio.run(produce(settings.bootstrap_servers, settings.alerts_topic, [(b"k", value)], client))
    got = asyncio.run(read_topic(settings.bootstrap_servers, settings.alerts_topic, client=client))
    assert [r.value for r in got] == [value]
    assert "Authenticated as border via PLAIN" in done.stderr
    assert env["BORDER_SURGE_SASL_PASSWORD"] not in done.stdout + done.stderr


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-512", "PLAIN"])
def test_wrong_password_is_refused_clearly_and_the_worker_exits(secure_env, mechanism) -> None:
    wrong = "not-the-password-" + os.urandom(6).hex()
    env = {
        **secure_env,
        "BORDER_SURGE_SASL_MECHANISM": mechanism,
        "BORDER_SURGE_SASL_PASSWORD": wrong,
    }
    started = time.monotonic()
    done = cli(env, "worker", timeout=90)  # a worker that retried forever would time out here
    elapsed = time.monotonic() - started
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert elapsed < 60, f"took {elapsed:.0f}s to give up"
    assert f"the broker refused the login of user 'border' with {mechanism}" in output, output
    assert "Traceback" not in output
    assert wrong not in output


def test_the_password_is_never_shown(secure_env) -> None:
    settings = settings_from(secure_env)
    password = secure_env["BORDER_SURGE_SASL_PASSWORD"]
    for text in (
        repr(settings),
        str(settings),
        settings.model_dump_json(),
        str(settings.model_dump()),
        describe_connection(settings),
    ):
        assert password not in text
    # The secret is still there for the Kafka clients.
    assert client_kwargs(settings)["sasl_plain_password"] == password


def test_starting_a_secure_broker_puts_no_password_in_the_process_list(tmp_path) -> None:
    """A fresh secure broker (own ports and directory) is prepared and formatted while every
    process's command line is watched: no password of it appears in any."""
    import shutil
    import threading

    env = {**os.environ, "KAFKA_SECURE_PORT": "19094", "KAFKA_SECURE_CONTROLLER_PORT": "19095"}
    node = Path(
        subprocess.run(
            [str(KAFKA_SH), "path-secure"], env=env, capture_output=True, text=True, check=True
        ).stdout.strip()
    )
    shutil.rmtree(node, ignore_errors=True)
    seen: list[bytes] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
                try:
                    seen.append(cmdline.read_bytes())
                except OSError:
                    pass  # the process ended meanwhile

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        started = subprocess.run(
            [str(KAFKA_SH), "up-secure"], env=env, capture_output=True, text=True, timeout=300,
            check=False,
        )  # fmt: skip
        assert started.returncode == 0, started.stderr[-2000:]
    finally:
        done.set()
        watcher.join()
        subprocess.run([str(KAFKA_SH), "down-secure"], env=env, timeout=120, check=False)
    passwords = [(node / "tls" / f"{who}.password").read_bytes().strip() for who in
                 ("admin", "border", "keystore")]  # fmt: skip
    assert len(seen) > 100, "the watcher saw too few command lines to mean anything"
    leaked = [p for p in passwords if any(p in cmdline for cmdline in seen)]
    assert leaked == [], "a password was on a command line"
    shutil.rmtree(node, ignore_errors=True)
