"""`border-surge alerts` as a subprocess against a real alerts topic: JSON, lines, following."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
from typing import Any

import pytest

from streams.kafka.admin import ensure_topics
from tests.samples import sample_alert
from tests.support import REPO, produce, settings_from

pytestmark = pytest.mark.integration


def alert(alert_id: str, **changes: Any) -> dict[str, Any]:
    return sample_alert(alert_id=alert_id, **changes)


VALID = [
    alert("post-1"),
    alert("post-1", status="resolved", window_end="2022-09-22T09:00:00Z", ratio=1.05),
    alert("border-1", scope="border", crossing_id=None, to_country="FI", severity="warning"),
]


def key(a: dict[str, Any]) -> bytes:
    return (a["crossing_id"] or f"{a['from_country']}-{a['to_country']}").encode()


async def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "streams.cli", "alerts", *args],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
async def alerts_env(service_env: dict[str, str]) -> dict[str, str]:
    """A fresh alerts topic holding three valid alerts and one invalid record."""
    settings = settings_from(service_env)
    await ensure_topics(settings)
    records = [(key(a), json.dumps(a).encode()) for a in VALID]
    records.insert(1, (b"kazbegi-upper-lars", b'{"alert_id": "broken"'))
    await produce(f"{settings.bootstrap_servers}", settings.alerts_topic, records)
    return service_env


async def test_json_prints_every_valid_record_raw_and_warns_about_the_invalid_one(
    alerts_env: dict[str, str],
) -> None:
    done = await cli(alerts_env, "--json", "--from-beginning")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert sorted(lines) == sorted(json.dumps(a) for a in VALID)
    warnings = [line for line in done.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1
    assert "invalid alert record at partition" in warnings[0]
    assert "Invalid JSON" in warnings[0]


async def test_lines_show_each_alert_readably_in_topic_order_per_subject(
    alerts_env: dict[str, str],
) -> None:
    done = await cli(alerts_env)  # without --follow: what is there, then exit
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 4
    assert "\x1b[" not in done.stdout  # not a terminal: no colours
    post = [line for line in lines if "kazbegi-upper-lars RU→GE" in line]
    assert [line.split()[2] for line in post] == ["firing", "resolved"]
    assert post[0].startswith("2022-09-21 14:05Z  firing   critical crossing")
    assert "1,234 vs     579.6 expected  \u00d72.13  post-1" in post[0]
    (border,) = [line for line in lines if "border RU→FI" in line]
    assert border.split()[2:5] == ["firing", "warning", "border"]
    (warning,) = [line for line in lines if line.startswith("warning:")]
    assert "invalid alert record" in warning


async def test_follow_prints_only_alerts_written_after_it_started(
    alerts_env: dict[str, str],
) -> None:
    settings = settings_from(alerts_env)
    proc = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "streams.cli", "alerts", "--follow", "--json"),
        cwd=REPO,
        env={**os.environ, **alerts_env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    try:
        # The follower starts at the end offsets at some unknown moment: keep writing new
        # alerts until one shows up, then check it is new and that no history came before it.
        first = None
        for n in range(60):
            fresh = alert(f"new-{n}", window_end=f"2022-09-23T10:{n:02d}:00Z")
            await produce(
                settings.bootstrap_servers,
                settings.alerts_topic,
                [(key(fresh), json.dumps(fresh).encode())],
            )
            with contextlib.suppress(TimeoutError):
                first = json.loads(await asyncio.wait_for(proc.stdout.readline(), 1.0))
                break
            assert proc.returncode is None, "the follower exited"
        assert first is not None, "the follower printed nothing within a minute"
        assert first["alert_id"].startswith("new-")
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 30)
