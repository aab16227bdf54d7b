"""The reliability suite's shared pieces: the surge replay, its references, and the checks."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streams.count.windows import to_rfc3339
from streams.detect.offline import run_scenario
from streams.detect.outcome import OfflineResult
from streams.simulate import SimMessage, generate, load_scenario
from streams.simulate.sender import send_scenario
from tests.support import (
    WorkerProcess,
    drained,
    latest_counts,
    read_topic,
    reference_counts,
    wait_until,
)

SCENARIO = Path(__file__).with_name("surges.toml")
Bucket = tuple[str, str, str, str]
# One alert message as the checks compare it: every field the detector decides.
AlertKey = tuple[str, str, str, str]  # alert_id, status, severity, window_end


@dataclass
class Replay:
    """The scenario's messages and what an independent computation expects from them."""

    messages: list[SimMessage]
    counts: Counter[Bucket]  # tests/support.reference_counts: shares no code with the worker
    closed: set[Bucket]  # the buckets event time closes (the rest close by the idle clock)
    alerts: list[AlertKey]  # streams.detect.offline on the same messages, without Kafka
    offline: OfflineResult


def load_replay(partitions: int = 6) -> Replay:
    scenario = load_scenario(SCENARIO)
    messages = list(generate(scenario))
    offline = run_scenario(scenario, partitions=partitions)
    alerts = [
        (
            a.transition.alert_id,
            a.transition.status.value,
            a.transition.severity.value,
            to_rfc3339(a.transition.window_end_ms),
        )
        for a in offline.alerts
    ]
    counts = reference_counts(m.value for m in messages)
    # Every partition's watermark reaches the last event time less the lateness (10 min); half
    # an hour more leaves room for a partition whose last event came a little earlier.
    horizon = to_rfc3339(max(m.event_time_ms for m in messages) - 40 * 60_000)
    closed = {k for k in counts if k[3] < horizon}
    return Replay(messages, counts, closed, alerts, offline)


def alert_keys(values: list[bytes | None]) -> list[AlertKey]:
    out = []
    for v in values:
        assert v is not None
        a = json.loads(v)
        out.append((a["alert_id"], a["status"], a["severity"], a["window_end"]))
    return out


class Sender(threading.Thread):
    """Replays the messages to the events topic in the background, as fast as the broker takes
    them, so the test can crash the worker while it counts."""

    def __init__(self, bootstrap: str, topic: str, messages: list[SimMessage]) -> None:
        super().__init__(daemon=True)
        self.bootstrap, self.topic, self.messages = bootstrap, topic, messages
        self.error: BaseException | None = None
        self.seconds = 0.0

    def run(self) -> None:
        started = time.monotonic()
        try:
            asyncio.run(send_scenario(self.bootstrap, self.topic, self.messages, mode="replay"))
        except BaseException as exc:  # reported by join_checked
            self.error = exc
        self.seconds = time.monotonic() - started

    def join_checked(self, timeout: float = 300) -> None:
        self.join(timeout)
        assert not self.is_alive(), "the sender did not finish"
        if self.error is not None:
            raise self.error


def wait_counts_exact(
    bootstrap: str,
    topic: str,
    reference: Counter[Bucket],
    must_have: set[Bucket],
    workers: list[WorkerProcess],
    timeout: float,
    *,
    settings: Any,
) -> dict[Bucket, int]:
    """Until the workers have drained their input and every bucket of `must_have` is published
    with its exact count; then every published bucket (latest revision) must equal the
    reference (zeros included). Drained first: before that a bucket may still get a late
    correction, and comparing it then fails a test on a count that was not wrong."""
    published: dict[Bucket, int] = {}
    records: list[Any] = []
    inputs = [settings.events_topic, settings.topic("events.by-crossing")]

    def done() -> bool:
        nonlocal published, records
        for w in workers:
            assert w.proc is not None and w.proc.poll() is None, f"a worker died:\n{w.tail()}"
        if not drained(bootstrap, settings.app_id, inputs):
            return False
        records = asyncio.run(read_topic(bootstrap, topic))
        latest = latest_counts(records)
        published = {k: c["travellers"] for k, c in latest.items()}
        return all(published.get(k) == reference[k] for k in must_have)

    try:
        wait_until(done, timeout, interval=3)
    except AssertionError:
        missing = {
            k: (published.get(k), reference[k])
            for k in must_have
            if published.get(k) != reference[k]
        }
        report = write_mismatch_report(missing, records, workers)
        raise AssertionError(
            f"{len(missing)} of {len(must_have)} buckets not (yet) equal, e.g. "
            f"{sorted(missing.items())[:5]}\n{report}\n" + "\n".join(w.tail(30) for w in workers)
        ) from None
    wrong = {k: v for k, v in published.items() if v != reference.get(k, 0)}
    assert wrong == {}, f"{len(wrong)} published buckets not in the reference: {list(wrong)[:5]}"
    return published


def wait_alerts(
    bootstrap: str, topic: str, expected: list[AlertKey], timeout: float
) -> list[AlertKey]:
    """The committed alert messages once there are as many as expected (and a moment more, so
    a late duplicate would be seen too)."""
    got: list[AlertKey] = []

    def enough() -> bool:
        nonlocal got
        got = alert_keys(
            [r.value for r in asyncio.run(read_topic(bootstrap, topic, committed_only=True))]
        )
        return len(got) >= len(expected)

    try:
        wait_until(enough, timeout, interval=3)
    except AssertionError:
        pass  # the comparison below says what is missing
    time.sleep(5)
    got = alert_keys(
        [r.value for r in asyncio.run(read_topic(bootstrap, topic, committed_only=True))]
    )
    return got


def assert_same_alerts(got: list[AlertKey], expected: list[AlertKey]) -> None:
    dupes = [k for k, n in Counter(got).items() if n > 1]
    assert dupes == [], f"duplicate alert messages: {dupes}"
    missing = sorted(set(expected) - set(got))
    extra = sorted(set(got) - set(expected))
    assert (missing, extra) == ([], []), f"missing {missing}\nunexpected {extra}"
    assert len(got) == len(expected)


def assert_replay_exact(
    replay: Replay, workers: list[WorkerProcess], settings: Any, timeout: float
) -> dict[Bucket, int]:
    """The replay's counts, once drained, and its alert messages, as the references have them."""
    published = wait_counts_exact(
        settings.bootstrap_servers,
        settings.counts_topic,
        replay.counts,
        replay.closed,
        workers,
        timeout,
        settings=settings,
    )
    got = wait_alerts(settings.bootstrap_servers, settings.alerts_topic, replay.alerts, 120)
    assert_same_alerts(got, replay.alerts)
    return published


def api_buckets(worker: WorkerProcess, crossing_id: str) -> dict[Bucket, int]:
    status, body = worker.get_json(f"/crossings/{crossing_id}")
    assert status == 200, body
    out: dict[Bucket, int] = {}
    for d in body["directions"]:
        for b in d["buckets"]:
            key = (crossing_id, d["from_country"], d["to_country"], b["bucket_start"])
            out[key] = b["travellers"]
    return out


def any_json(worker: WorkerProcess, path: str) -> Any:
    status, body = worker.get_json(path)
    assert status == 200, (path, body)
    return body


def write_mismatch_report(
    missing: dict[Bucket, tuple[int | None, int]], records: list[Any], workers: list[WorkerProcess]
) -> str:
    """Per direction, the wrong buckets' range and deficit (returned), and every record
    published for them, with partition, offset and revision (written beside the workers' logs):
    what tells a lost input range from a late republication with stale counts."""
    by_direction: dict[tuple[str, str, str], list[Bucket]] = {}
    for k in sorted(missing):
        by_direction.setdefault(k[:3], []).append(k)
    lines = []
    for direction, keys in by_direction.items():
        got = sum(missing[k][0] or 0 for k in keys)
        want = sum(missing[k][1] for k in keys)
        lines.append(
            f"  {'/'.join(direction)}: {len(keys)} buckets {keys[0][3]} .. {keys[-1][3]}, "
            f"published {got} travellers of {want}"
        )
    summary = "wrong buckets by direction:\n" + "\n".join(lines)
    if workers:
        history = []
        for r in records:
            c = json.loads(r.value)
            key = (c["crossing_id"], c["from_country"], c["to_country"], c["bucket_start"])
            if key in missing:
                history.append(f"{r.partition}@{r.offset} {r.value.decode()}")
        path = workers[0].log_path.parent / "count-mismatch.txt"
        path.write_text(summary + "\n\nevery record published for them:\n" + "\n".join(history))
        summary += f"\n(every record published for them: {path})"
    return summary
