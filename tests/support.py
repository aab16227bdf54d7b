"""Helpers for integration tests: worker processes, reading topics, reference counts."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from aiokafka import AIOKafkaConsumer, TopicPartition

REPO = Path(__file__).resolve().parent.parent
WATERMARK_KEY = b"\x00watermark"  # streams.ingest.watermarks.KEY, spelled out: tests share no code


def reliability_seed(default: int) -> int:
    """The seed of a reliability test's data or fault moments: RELIABILITY_SEED when set
    (`make soak` draws one per run), else the test's own."""
    return int(os.environ.get("RELIABILITY_SEED", default))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def settings_from(env: dict[str, str]) -> Any:
    from streams.settings import Settings
    from tests.conftest import BOOTSTRAP

    fields = {"broker": f"kafka://{BOOTSTRAP}"}  # the test broker, whatever its port
    fields.update({k.removeprefix("BORDER_SURGE_").lower(): v for k, v in env.items()})
    return Settings(**fields)


def worker_env(broker: dict[str, str], name: str, tmp_path: Path) -> dict[str, str]:
    """Environment for a worker with its own topics, consumer group, state and web port."""
    return {
        **broker,
        "BORDER_SURGE_TOPIC_PREFIX": name,
        "BORDER_SURGE_APP_ID": name,
        "BORDER_SURGE_DATA_DIR": str(tmp_path / "data"),
        "BORDER_SURGE_WEB_PORT": str(free_port()),
        "BORDER_SURGE_PARTITIONS": "3",
        "BORDER_SURGE_IDLE_CLOSE_SECONDS": "3",
    }


class WorkerProcess:
    """`border-surge worker` in a subprocess, so tests can kill -9 it like a crash would."""

    started: ClassVar[list[WorkerProcess]] = []  # stopped at the end of the session at last

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = {**os.environ, **env}
        self.port = int(env["BORDER_SURGE_WEB_PORT"])
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "worker"],
            cwd=REPO,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        WorkerProcess.started.append(self)
        return self

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def get_json(self, path: str) -> tuple[int, Any]:
        try:
            with urllib.request.urlopen(self.url(path), timeout=5) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"worker exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                status, _ = self.get_json("/readyz")
                if status == 200:
                    return
            except (OSError, ValueError):
                pass
            time.sleep(0.3)
        raise AssertionError(f"worker not ready after {timeout}s:\n{self.tail()}")

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def tail(self, n: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


@dataclass
class Consumed:
    key: bytes | None
    value: bytes | None
    headers: dict[str, bytes]
    partition: int
    offset: int


async def read_topic(
    bootstrap: str,
    topic: str,
    *,
    idle: float = 1.0,
    committed_only: bool = False,
    client: dict[str, Any] | None = None,
    watermarks: bool = False,
) -> list[Consumed]:
    """Everything currently in a topic, from the beginning (no consumer group), but ingest's
    watermark records (streams/ingest/watermarks.py), which only counting reads, unless
    `watermarks`. `client`: more aiokafka options (security)."""
    consumer = AIOKafkaConsumer(
        **{"bootstrap_servers": bootstrap, **(client or {})},
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed" if committed_only else "read_uncommitted",
    )
    await consumer.start()
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        if not parts:
            await consumer._client.force_metadata_update()
            parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        out: list[Consumed] = []

        async def behind() -> bool:
            for tp in tps:
                if await consumer.position(tp) < ends[tp]:
                    return True
            return False

        while await behind():
            batch = await consumer.getmany(timeout_ms=int(idle * 1000), max_records=10000)
            for tp, records in batch.items():
                out.extend(
                    Consumed(r.key, r.value, dict(r.headers), tp.partition, r.offset)
                    for r in records
                    if watermarks or r.key != WATERMARK_KEY
                )
        return out
    finally:
        await consumer.stop()


def latest_counts(records: Iterable[Consumed]) -> dict[tuple[str, str, str, str], dict[str, Any]]:
    """The newest revision of every bucket published to the counts topic."""
    latest: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for r in records:
        assert r.value is not None
        c = json.loads(r.value)
        key = (c["crossing_id"], c["from_country"], c["to_country"], c["bucket_start"])
        if key not in latest or c["revision"] >= latest[key]["revision"]:
            latest[key] = c
    return latest


def reference_counts(
    values: Iterable[bytes], bucket_ms: int = 300_000
) -> Counter[tuple[str, str, str, str]]:
    """What a careful human computes: valid events, each (crossing, event_id) once, per bucket."""
    from schemas.event import InvalidEvent, parse_event
    from streams.count.windows import bucket_start, to_rfc3339

    seen: set[tuple[str, str]] = set()
    totals: Counter[tuple[str, str, str, str]] = Counter()
    for raw in values:
        try:
            ev = parse_event(raw)
        except InvalidEvent:
            continue
        if (ev.crossing_id, ev.event_id) in seen:
            continue
        seen.add((ev.crossing_id, ev.event_id))
        start = to_rfc3339(bucket_start(ev.event_time_ms, bucket_ms))
        totals[(ev.crossing_id, ev.from_country, ev.to_country, start)] += ev.travellers
    return totals


async def produce(
    bootstrap: str,
    topic: str,
    messages: Iterable[tuple[bytes | None, bytes]],
    client: dict[str, Any] | None = None,
    partition: int | None = None,
) -> int:
    """Send messages (to `partition`, else by key) and wait for every acknowledgement."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(
        **{"bootstrap_servers": bootstrap, **(client or {})},
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        max_request_size=2_000_000,
    )
    await producer.start()
    n = 0
    try:
        futures = []
        for key, value in messages:
            futures.append(await producer.send(topic, value, key=key, partition=partition))
            n += 1
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return n


async def group_lag(bootstrap: str, group: str, topic: str) -> dict[int, tuple[int, int]]:
    """partition -> (committed offset, end offset) of the consumer group on the topic."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await admin.start()
    await consumer.start()
    try:
        (described,) = await admin.describe_topics([topic])
        partitions = sorted(p["partition"] for p in described["partitions"])
        tps = [TopicPartition(topic, p) for p in partitions]
        committed = await admin.list_consumer_group_offsets(group, partitions=tps)
        ends = await consumer.end_offsets(tps)
        return {
            tp.partition: (committed[tp].offset if tp in committed else -1, ends[tp]) for tp in tps
        }
    finally:
        await consumer.stop()
        await admin.close()


def drained(bootstrap: str, group: str, topics: list[str]) -> bool:
    """Whether the group has committed every record of the topics, in pipeline order (ingest's
    input first: its writes to the next topic precede its commit), so that no count can still
    change. Before that, a published bucket may yet get a late correction."""
    for topic in topics:
        lag = asyncio.run(group_lag(bootstrap, group, topic))
        # -1: never committed, which an empty partition never needs.
        if not lag or any(max(committed, 0) < end for committed, end in lag.values()):
            return False
    return True


def wait_until(predicate: Any, timeout: float, interval: float = 0.5, message: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(message or f"condition not met within {timeout}s")


def synthetic_events(
    n: int,
    directions: int,
    *,
    seed: int,
    dup_rate: float = 0.01,
    late_rate: float = 0.005,
    start_ms: int = 1_661_904_000_000,
    span_ms: int = 3 * 86_400_000,
) -> list[tuple[bytes, bytes]]:
    """Keyed raw events in send order, event time rising, with duplicates and late events.

    Independent of the simulator on purpose: the reference must not share code with what it
    checks. Late events are held back and sent 15 to 60 minutes of event time later.
    """
    import random

    from streams.count.windows import to_rfc3339

    rng = random.Random(seed)
    countries = [("RU", "GE"), ("GE", "RU"), ("RU", "FI"), ("FI", "RU"), ("RU", "KZ")]
    dirs = [(f"post-{i // 2}", *countries[i % len(countries)]) for i in range(directions)]
    out: list[tuple[bytes, bytes]] = []
    held: list[tuple[int, bytes, bytes]] = []  # (release event time, key, value)
    t = start_ms
    step = span_ms / n
    for i in range(n):
        t += int(rng.expovariate(1 / step))
        crossing, src, dst = rng.choice(dirs)
        value = (
            f'{{"event_id":"e{seed}-{i}","crossing_id":"{crossing}",'
            f'"occurred_at":"{to_rfc3339(t)}","from_country":"{src}","to_country":"{dst}",'
            f'"travellers":{rng.choice((1, 1, 2, 3, 4, 4, 45))},"mode":"car"}}'
        ).encode()
        key = crossing.encode()
        while held and held[0][0] <= t:
            _, k, v = held.pop(0)
            out.append((k, v))
        if rng.random() < late_rate:
            held.append((t + rng.randint(15, 60) * 60_000, key, value))
            held.sort(key=lambda h: h[0])
            continue
        out.append((key, value))
        if rng.random() < dup_rate:
            # a retry: the same bytes again a little later
            out.insert(len(out) + rng.randint(0, 0), (key, value))
    out.extend((k, v) for _, k, v in held)
    return out
