"""`border-surge emit FILE.jsonl` against the real broker: good lines sent keyed by crossing,
bad lines named by number, exit code 1 when any line was bad."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from schemas.event import InvalidEvent, parse_event
from streams.kafka.admin import ensure_topics
from tests.samples import event_line as line
from tests.support import REPO, read_topic, settings_from

pytestmark = pytest.mark.integration

CLI = Path(sys.executable).parent / "border-surge"


def emit(env: dict[str, str], path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CLI), "emit", str(path)],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def error_line(path: Path, number: int, raw: bytes) -> str:
    try:
        parse_event(raw)
    except InvalidEvent as exc:
        return f"{path}:{number}: {exc.reason.value}: {exc.detail}"
    raise AssertionError(f"line {number} is valid")


@pytest.fixture
def env(kafka: str, unique_name: str) -> dict[str, str]:
    env = {"BORDER_SURGE_BROKER": f"kafka://{kafka}", "BORDER_SURGE_TOPIC_PREFIX": unique_name}
    asyncio.run(ensure_topics(settings_from(env)))
    return env


def test_emit_sends_good_lines_keyed_by_crossing_and_names_bad_lines(
    env: dict[str, str], tmp_path: Path
) -> None:
    good = {
        1: line("a-1"),
        4: line("a-2", "kazbegi-upper-lars", occurred_at="2022-09-21T13:05:00+03:00", x=[1]),
        7: line("a-3", "nuijamaa", mode="bus", travellers=40),
        10: line("a-4"),  # the last line, without a newline at the end
    }
    bad = {
        2: b'{"event_id": "b-1", "crossing_id":',
        5: line("b-2", travellers=0),
        8: line("b-3").replace(b'"b-3"', b'"b-\xff3"'),
        9: line("b-4", notes="x" * 70_000),
    }
    lines = {**good, **bad, 3: b"", 6: b"   \t"}
    path = tmp_path / "events.jsonl"
    path.write_bytes(
        b"".join(lines[n] + (b"\r\n" if n == 4 else b"\n") for n in range(1, 10)) + lines[10]
    )

    proc = emit(env, path)

    assert proc.returncode == 1, proc.stderr
    reported = [e for e in proc.stderr.splitlines() if e.startswith(f"{path}:")]
    assert reported == [error_line(path, n, raw) for n, raw in sorted(bad.items())]
    assert proc.stdout.strip().splitlines()[-1] == "sent 4 events, rejected 4 lines"
    settings = settings_from(env)
    records = asyncio.run(read_topic(settings.bootstrap_servers, settings.events_topic))
    sent = {parse_event(r.value).event_id: r for r in records if r.value is not None}
    assert sorted(sent) == ["a-1", "a-2", "a-3", "a-4"]
    for raw in good.values():
        expected = parse_event(raw)
        record = sent[expected.event_id]
        assert parse_event(record.value) == expected
        assert record.key == expected.crossing_id.encode()
    # keyed: one crossing's events share a partition, in file order
    assert sent["a-1"].partition == sent["a-4"].partition
    assert sent["a-1"].offset < sent["a-4"].offset


def test_emit_of_a_clean_file_sends_everything_and_exits_0(
    env: dict[str, str], tmp_path: Path
) -> None:
    path = tmp_path / "clean.jsonl"
    path.write_bytes(b"\n".join(line(f"c-{i}", f"post-{i % 3}") for i in range(50)) + b"\n\n")

    proc = emit(env, path)

    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "sent 50 events, rejected 0 lines"
    settings = settings_from(env)
    records = asyncio.run(read_topic(settings.bootstrap_servers, settings.events_topic))
    assert sorted(r.key for r in records) == sorted(f"post-{i % 3}".encode() for i in range(50))


def test_emit_fails_when_the_broker_refuses_the_events(
    kafka: str, unique_name: str, tmp_path: Path
) -> None:
    env = {"BORDER_SURGE_BROKER": f"kafka://{kafka}", "BORDER_SURGE_TOPIC_PREFIX": unique_name}
    settings = settings_from(env)

    async def tiny_events_topic() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
        await admin.start()
        try:
            config = {"max.message.bytes": "100"}  # smaller than any event
            await admin.create_topics([NewTopic(settings.events_topic, 1, 1, topic_configs=config)])
        finally:
            await admin.close()

    asyncio.run(tiny_events_topic())
    path = tmp_path / "one.jsonl"
    path.write_bytes(line("refused") + b"\n")

    proc = emit(env, path)

    assert not asyncio.run(read_topic(settings.bootstrap_servers, settings.events_topic))
    assert proc.returncode != 0, proc.stdout
    assert f"{path}:1: not sent" in proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "sent 0 events, rejected 1 lines"
