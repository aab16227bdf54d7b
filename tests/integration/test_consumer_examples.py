"""docs/consumers.md's commands run as written against the broker: kcat and jq, Kafka's console
tools and the standalone Python consumer read and write the topics as the contract says."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.partitioner import murmur2

from schemas.alert import Alert
from schemas.counts import CountRecord
from schemas.event import event_to_json, parse_event
from tests.conftest import KAFKA_SH, REPO
from tests.support import read_topic

pytestmark = pytest.mark.integration

DOC = REPO / "docs" / "consumers.md"
EXAMPLE = re.compile(r"<!-- example: ([a-z0-9-]+) -->\n```sh\n(.*?)```", re.DOTALL)
PARTITIONS = 3
T = datetime(2022, 9, 21, 19, 0, tzinfo=UTC)


def run_example(name: str, prefix: str, bootstrap: str, cwd: Path) -> subprocess.CompletedProcess:
    """One shell block of the doc, on this test's topics and broker, with the repository's files
    and the virtualenv's Python (which has the packages its `pip install` line names)."""
    for tool in ("bash", "kcat", "jq", "java"):
        assert shutil.which(tool), f"{tool} is not installed (deploy/local/system-deps.sh)"
    script = dict(EXAMPLE.findall(DOC.read_text(encoding="utf-8")))[name]
    script = script.replace("127.0.0.1:9092", bootstrap)
    script = re.sub(r"\bborder\.(alerts|counts|events)\b", rf"{prefix}.\1", script)
    for path in ("deploy/local/kafka.sh", "docs/examples/", "schemas/json/"):
        script = script.replace(path, f"{REPO}/{path}")
    script = re.sub(r"^pip install .*\n", "", script, flags=re.MULTILINE)
    script = re.sub(r"^python ", f"{sys.executable} ", script, flags=re.MULTILINE)
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def alert(alert_id: str, crossing: str | None, to: str, severity: str, status: str) -> Alert:
    return Alert(
        alert_id=alert_id,
        status=status,
        severity=severity,
        scope="crossing" if crossing else "border",
        crossing_id=crossing,
        from_country="RU",
        to_country=to,
        window_start=T,
        window_end=T.replace(hour=20),
        observed=92,
        expected=15.3,
        ratio=6.0,
        emitted_at=T.replace(hour=20, minute=1),
    )


COMMITTED = [
    alert("syrym:RU-KZ:1", "syrym", "KZ", "critical", "firing"),
    alert("RU-KZ:1", None, "KZ", "warning", "firing"),
    alert("kazbegi-upper-lars:RU-GE:1", "kazbegi-upper-lars", "GE", "critical", "firing"),
    alert("RU-KZ:1", None, "KZ", "critical", "firing"),
    alert("syrym:RU-KZ:1", "syrym", "KZ", "critical", "resolved"),
]
ABORTED = alert("zhana-zhol:RU-KZ:1", "zhana-zhol", "KZ", "critical", "firing")
INVALID = b'{"alert_id":"bad","severity":"catastrophic"}'


async def create_topic(bootstrap: str, name: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, PARTITIONS, 1)])
    finally:
        await admin.close()


async def write_alerts(bootstrap: str, topic: str) -> None:
    """As the service writes them: in transactions, lz4; one aborted, one invalid committed."""
    await create_topic(bootstrap, topic)
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, transactional_id=f"{topic}-tx", compression_type="lz4"
    )
    await producer.start()
    try:
        async with producer.transaction():
            for a in COMMITTED:
                await producer.send(topic, a.model_dump_json().encode(), key=a.subject.encode())
            await producer.send(topic, INVALID, key=b"bad")
        await producer.begin_transaction()
        await producer.send(topic, ABORTED.model_dump_json().encode(), key=b"zhana-zhol")
        await producer.flush()
        await producer.abort_transaction()
    finally:
        await producer.stop()


@pytest.fixture(scope="module")
def alerts_prefix(kafka: str) -> Iterator[str]:
    prefix = f"t{uuid.uuid4().hex[:10]}"
    asyncio.run(write_alerts(kafka, f"{prefix}.alerts"))
    # The aborted alert is in the log: only read_committed keeps it out.
    everything = asyncio.run(read_topic(kafka, f"{prefix}.alerts"))
    assert b"zhana-zhol" in [r.key for r in everything]
    yield prefix


def test_kcat_and_jq_show_the_committed_critical_alerts_of_one_border(
    kafka: str, alerts_prefix: str, tmp_path: Path
) -> None:
    proc = run_example("kcat-critical-alerts", alerts_prefix, kafka, tmp_path)
    assert proc.returncode == 0, proc.stderr
    shown = [json.loads(line) for line in proc.stdout.splitlines()]
    assert sorted((a["alert_id"], a["status"]) for a in shown) == [
        ("RU-KZ:1", "firing"),
        ("syrym:RU-KZ:1", "firing"),
        ("syrym:RU-KZ:1", "resolved"),
    ]
    assert all(a["severity"] == "critical" and a["to_country"] == "KZ" for a in shown)


def test_console_consumer_reads_committed_alerts_with_their_keys(
    kafka: str, alerts_prefix: str, tmp_path: Path
) -> None:
    proc = run_example("console-consumer-alerts", alerts_prefix, kafka, tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = [line.split("\t", 1) for line in proc.stdout.splitlines()]
    assert sorted(key for key, _ in lines) == sorted(
        [a.subject for a in COMMITTED] + ["bad"]
    )  # not zhana-zhol: its transaction was aborted
    for key, value in lines:
        if key != "bad":
            assert Alert.model_validate_json(value).subject == key
    assert "Processed a total of 6 messages" in proc.stderr


def test_python_consumer_validates_alerts_against_the_json_schema(
    kafka: str, alerts_prefix: str, tmp_path: Path
) -> None:
    source = (REPO / "docs" / "examples" / "alert_consumer.py").read_text(encoding="utf-8")
    imported = re.findall(r"^(?:from|import) (\w+)", source, flags=re.MULTILINE)
    assert set(imported) <= {"__future__", "argparse", "asyncio", "json", "sys", "time",
                             "pathlib", "aiokafka", "jsonschema"}  # fmt: skip
    proc = run_example("python-alert-consumer", alerts_prefix, kafka, tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == len(COMMITTED)
    assert sorted(line.split()[-1] for line in lines) == sorted(a.alert_id for a in COMMITTED)
    assert (
        "2022-09-21T20:01:00Z  firing   critical syrym RU->KZ  92 vs 15.3 expected  x6.00  "
        "syrym:RU-KZ:1"
    ) in lines
    assert not any("zhana-zhol" in line for line in lines)
    assert f"invalid alert at {alerts_prefix}.alerts[" in proc.stderr
    assert "severity: 'catastrophic' is not one of ['warning', 'critical']" in proc.stderr
    assert "5 valid alerts, 1 invalid" in proc.stderr


def test_kcat_and_jq_keep_the_highest_revision_of_each_bucket(kafka: str, tmp_path: Path) -> None:
    prefix = f"t{uuid.uuid4().hex[:10]}"

    def count(crossing: str, travellers: int, revision: int) -> CountRecord:
        return CountRecord(
            crossing_id=crossing, from_country="RU", to_country="KZ", bucket_start=T,
            bucket_end=T.replace(minute=5), travellers=travellers, events=travellers,
            revision=revision,
        )  # fmt: skip

    async def write() -> None:
        await create_topic(kafka, f"{prefix}.counts")
        producer = AIOKafkaProducer(bootstrap_servers=kafka, compression_type="lz4")
        await producer.start()
        try:
            for c in (count("syrym", 10, 0), count("kairak", 3, 0), count("syrym", 12, 1)):
                await producer.send_and_wait(
                    f"{prefix}.counts", c.model_dump_json().encode(), key=c.crossing_id.encode()
                )
        finally:
            await producer.stop()

    asyncio.run(write())
    proc = run_example("kcat-latest-counts", prefix, kafka, tmp_path)
    assert proc.returncode == 0, proc.stderr
    latest = sorted((c["crossing_id"], c["revision"], c["travellers"])
                    for c in map(json.loads, proc.stdout.splitlines()))  # fmt: skip
    assert latest == [("kairak", 0, 3), ("syrym", 1, 12)]


def codecs(topic: str) -> dict[int, list[str]]:
    """The compression codec of every record batch, per partition, as the broker stored them."""
    node = subprocess.run(
        [str(KAFKA_SH), "path"], capture_output=True, text=True, check=True
    ).stdout.strip()
    logs = [f"{node}/data/{topic}-{p}/00000000000000000000.log" for p in range(PARTITIONS)]
    proc = subprocess.run(
        [str(KAFKA_SH), "tool", "kafka.tools.DumpLogSegments", "--files", ",".join(logs)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    found: dict[int, list[str]] = {}
    for part in proc.stdout.split("Dumping ")[1:]:
        partition = int(re.match(rf"\S*{re.escape(topic)}-(\d+)/", part).group(1))
        found[partition] = re.findall(r"compresscodec: (\w+)", part)
    return found


def test_kcat_and_console_producer_send_keyed_compressed_events_to_murmur2_partitions(
    kafka: str, tmp_path: Path
) -> None:
    prefix = f"t{uuid.uuid4().hex[:10]}"
    asyncio.run(create_topic(kafka, f"{prefix}.events"))
    proc = run_example("events-file", prefix, kafka, tmp_path)
    assert proc.returncode == 0, proc.stderr
    events = tmp_path / "events.jsonl"
    examples = [parse_event(line.encode()) for line in events.read_text().splitlines()]
    # More of the same, so that every batch is worth compressing: librdkafka sends a batch
    # uncompressed when the codec would not make it smaller (one 150-byte event).
    more = [
        e.model_copy(update={"event_id": f"{e.event_id}-{i}"}) for e in examples for i in range(9)
    ]
    with events.open("ab") as f:
        f.writelines(event_to_json(e) + b"\n" for e in more)
    for name in ("kcat-produce", "console-producer"):
        proc = run_example(name, prefix, kafka, tmp_path)
        assert proc.returncode == 0, f"{name}: {proc.stderr}"
    sent = events.read_bytes().splitlines()
    assert len(sent) == 30

    records = asyncio.run(read_topic(kafka, f"{prefix}.events"))
    assert sorted(r.value for r in records) == sorted(sent * 2)  # kcat's and the console's
    for r in records:
        event = parse_event(r.value)  # valid as sent: no dead letter
        assert r.key == event.crossing_id.encode()
        assert r.partition == (murmur2(r.key) & 0x7FFFFFFF) % PARTITIONS  # the Java client's
    used = {r.partition for r in records}
    assert len(used) == len(examples)  # the three crossings land on three partitions
    # In each partition kcat's batches (lz4), then the console producer's (zstd).
    stored = codecs(f"{prefix}.events")
    for p in used:
        assert set(stored[p]) == {"lz4", "zstd"}, stored
        assert stored[p] == sorted(stored[p], key=["lz4", "zstd"].index), stored
