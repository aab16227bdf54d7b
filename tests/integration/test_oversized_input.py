"""Records over the input topic's 2 MiB limit are refused at the producer with a clear error,
by the broker for any client (kcat here) and before sending by `border-surge emit`; nothing of
them reaches the topic."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys

import pytest

from streams.kafka.admin import ensure_topics
from streams.kafka.topics import MAX_INPUT_BYTES
from tests.support import REPO, read_topic, settings_from

pytestmark = pytest.mark.integration


def oversized_event() -> bytes:
    padding = "x" * (MAX_INPUT_BYTES + 512 * 1024)
    return json.dumps(
        {
            "event_id": "too-big",
            "crossing_id": "vaalimaa",
            "occurred_at": "2022-09-21T10:00:00Z",
            "from_country": "RU",
            "to_country": "FI",
            "travellers": 1,
            "note": padding,
        }
    ).encode()


def test_kcat_gets_the_brokers_refusal_for_a_record_over_2_mib(service_env) -> None:
    settings = settings_from(service_env)
    asyncio.run(ensure_topics(settings))
    kcat = shutil.which("kcat")
    assert kcat, "kcat is not installed (deploy/local/system-deps.sh installs it)"
    done = subprocess.run(
        [kcat, "-P", "-b", settings.bootstrap_servers, "-t", settings.events_topic, "-k",
         "vaalimaa", "-X", "message.max.bytes=10000000"],
        input=oversized_event(), capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode != 0
    assert b"too large" in done.stderr.lower(), done.stderr
    assert asyncio.run(read_topic(settings.bootstrap_servers, settings.events_topic)) == []


def test_emit_refuses_a_record_over_the_limit_before_sending(service_env, tmp_path) -> None:
    settings = settings_from(service_env)
    asyncio.run(ensure_topics(settings))
    path = tmp_path / "events.jsonl"
    path.write_bytes(oversized_event() + b"\n")
    done = subprocess.run(
        [sys.executable, "-m", "streams.cli", "emit", str(path)],
        cwd=REPO, env={**service_env, "PATH": "/usr/bin:/bin"}, capture_output=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode != 0
    assert b"too_large" in done.stdout + done.stderr, done.stdout + done.stderr
    assert asyncio.run(read_topic(settings.bootstrap_servers, settings.events_topic)) == []
