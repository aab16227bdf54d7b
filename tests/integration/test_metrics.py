"""/metrics of a running worker fed with known input: every counter and gauge as sent."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections import defaultdict
from datetime import datetime
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from streams.count.windows import bucket_start, to_rfc3339
from streams.kafka.admin import ensure_topics
from tests.support import WorkerProcess, produce, read_topic, settings_from, wait_until

pytestmark = pytest.mark.integration

BUCKET_MS = 300_000
LATENESS_MS = 600_000
DIRECTIONS = [("post-a", "RU", "GE"), ("post-b", "GE", "RU")]
STATIC_PER_HOUR = 100.0


def scrape(worker: WorkerProcess) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics, keyed by (name, sorted labels)."""
    with urllib.request.urlopen(worker.url("/metrics"), timeout=5) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain; version=")
        text = r.read().decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), float("nan"))


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def event(event_id: str, d: tuple[str, str, str], t_ms: int, travellers: int) -> bytes:
    return json.dumps(
        {
            "event_id": event_id,
            "crossing_id": d[0],
            "occurred_at": to_rfc3339(t_ms),
            "from_country": d[1],
            "to_country": d[2],
            "travellers": travellers,
        }
    ).encode()


def test_metrics_equal_what_was_sent(service_env: dict[str, str], tmp_path: Path) -> None:
    config = tmp_path / "crossings.toml"
    config.write_text(
        "".join(
            f'[crossings."{c}:{f}-{t}"]\nstatic_baseline = {STATIC_PER_HOUR}\n\n'
            for c, f, t in DIRECTIONS
        )
    )
    # No idle closing: buckets close by event time only, so the window end is deterministic.
    env = {
        **service_env,
        "BORDER_SURGE_LOG_FORMAT": "json",
        "BORDER_SURGE_IDLE_CLOSE_SECONDS": "3600",
        "BORDER_SURGE_CONFIG": str(config),
    }
    settings = settings_from(env)
    asyncio.run(ensure_topics(settings))
    bootstrap = settings.bootstrap_servers

    t0 = bucket_start(int(time.time() * 1000) - 3 * 3_600_000, BUCKET_MS)
    valid: list[tuple[bytes, bytes]] = []
    sent_events: list[tuple[tuple[str, str, str], int, int]] = []  # direction, time, travellers
    for i in range(40):
        for j, d in enumerate(DIRECTIONS):
            t = t0 + i * 135_000 + j * 7_000  # 90 minutes of traffic
            travellers = 1 + (i * 7 + j) % 4
            valid.append((d[0].encode(), event(f"e{i}", d, t, travellers)))
            sent_events.append((d, t, travellers))
    duplicates = [valid[k] for k in (3, 10, 11, 40, 41, 60, 79)]
    future = event("f1", DIRECTIONS[0], int(time.time() * 1000) + 3_600_000, 1)
    invalid: list[tuple[bytes | None, bytes]] = [
        (None, b"{not json"),
        (None, b'{"event_id": '),
        (b"post-a", b"\x80\x81 not utf-8"),  # bad_encoding
        (None, event("z1", DIRECTIONS[0], t0, 1).replace(b'"travellers": 1', b'"travellers": 0')),
        (None, event("z2", DIRECTIONS[1], t0, 1).replace(b'"RU"', b'"XX"')),
        (None, b"[1, 2, 3]"),
        (b"post-a", future),
    ]
    expected_dead = {
        "bad_json": 2,
        "bad_encoding": 1,
        "invalid_field": 2,
        "not_object": 1,
        "future_event": 1,
    }
    # Originals first, then the duplicates (same key: same partition, so they come after).
    first_batch = valid + duplicates + invalid
    late_t = t0 + 10 * 60_000  # long closed by the time these arrive
    late = [(d[0].encode(), event(f"late-{d[0]}", d, late_t, 2)) for d in DIRECTIONS]

    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    try:
        worker.wait_ready()
        asyncio.run(produce(bootstrap, settings.events_topic, first_batch))

        def counted(n: int) -> bool:
            return value(scrape(worker), "border_events_counted_total") == n

        wait_until(lambda: counted(80), 60, message=worker.tail())
        asyncio.run(produce(bootstrap, settings.events_topic, late))
        wait_until(lambda: counted(82), 60, message=worker.tail())
        sent_events += [(d, late_t, 2) for d in DIRECTIONS]

        inputs = {settings.events_topic, settings.topic("events.by-crossing")}

        def caught_up() -> bool:
            lags = {
                k: v for k, v in scrape(worker).items() if k[0] == "border_consumer_lag_records"
            }
            topics = {dict(labels)["topic"] for _, labels in lags}
            return inputs <= topics and all(v == 0 for v in lags.values())

        # Offsets are committed every few seconds: lag 0 means committed, not just read.
        wait_until(caught_up, 60, message=worker.tail())

        crossings = worker.get_json("/crossings")[1]["directions"]
        m = scrape(worker)
        assert worker.get_json("/crossings")[1]["directions"] == crossings  # nothing moved
        counts = asyncio.run(read_topic(bootstrap, settings.counts_topic))
        keyed = asyncio.run(read_topic(bootstrap, settings.topic("events.by-crossing")))
    finally:
        worker.stop()

    # The worker's whole output, Faust's and aiokafka's included, is JSON lines.
    lines = (tmp_path / "worker.log").read_text().splitlines()
    assert len(lines) > 5
    for line in lines:
        doc = json.loads(line)
        assert {"time", "level", "logger", "message"} <= doc.keys(), line

    total = len(first_batch) + len(late)
    assert value(m, "border_messages_consumed_total") == total
    assert value(m, "border_events_counted_total") == 82
    assert value(m, "border_events_duplicate_total") == len(duplicates)
    assert value(m, "border_events_late_total") == 2
    for reason in ("too_large", "unsupported_version", "expired", "unreadable_batch"):
        expected_dead.setdefault(reason, 0)
    dead = {
        dict(labels)["reason"]: v
        for (name, labels), v in m.items()
        if name == "border_events_dead_lettered_total"
    }
    assert dead == expected_dead
    assert value(m, "border_buckets_closed_total") == len(counts) > 0

    # Latency: one observation per record the counter saved, all of them seconds, not hours.
    assert value(m, "border_event_latency_seconds_count") == len(keyed) == 80 + 7 + 2
    assert 0 < value(m, "border_event_latency_seconds_sum") < 60 * len(keyed)
    assert value(m, "border_event_latency_seconds_bucket", le="+Inf") == len(keyed)

    # Watermark per keyed partition: its latest event time minus the lateness.
    latest: dict[int, int] = defaultdict(int)
    for r in keyed:
        ev = json.loads(r.value or b"{}")
        t_ms = _ms(ev["occurred_at"])
        latest[r.partition] = max(latest[r.partition], t_ms)
    for p, t_ms in latest.items():
        watermark = (t_ms - LATENESS_MS) / 1000
        assert value(m, "border_watermark_timestamp_seconds", partition=str(p)) == watermark
        lag = value(m, "border_watermark_lag_seconds", partition=str(p))
        assert time.time() - watermark - 120 < lag <= time.time() - watermark

    # Rolling and expected per direction: the window ends where the worker says it closed.
    assert len(crossings) == len(DIRECTIONS)
    for view in crossings:
        d = (view["crossing_id"], view["from_country"], view["to_country"])
        end_ms = _ms(view["last_bucket_end"])
        window = sum(n for dd, t, n in sent_events if dd == d and end_ms - 3_600_000 <= t < end_ms)
        labels = {"crossing_id": d[0], "from_country": d[1], "to_country": d[2]}
        assert window > 30
        assert value(m, "border_rolling_travellers", **labels) == window
        assert view["windows"]["60m"]["travellers"] == window
        assert value(m, "border_expected_travellers", **labels) == pytest.approx(STATIC_PER_HOUR)
