"""The Alertmanager bridge against a real Alertmanager: firing with its labels, kept firing,
resolved; an Alertmanager outage during a surge loses nothing; a restart rebuilds the firing set.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from streams.count.windows import bucket_start, to_rfc3339
from streams.kafka.admin import ensure_topics
from tests.am_support import AlertmanagerProcess, Webhook
from tests.support import (
    WorkerProcess,
    free_port,
    produce,
    read_topic,
    settings_from,
    wait_until,
)

pytestmark = pytest.mark.integration

POST = ("surge-post", "RU", "GE")
MINUTE_MS = 60_000
# 120 travellers an hour expected; groups of 2, so 60 groups an hour is normal.
CONFIG = """
[crossings."surge-post:RU-GE"]
static_baseline = 120

[borders."RU-GE"]
enabled = false
"""


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.close()


@pytest.fixture
def alertmanager(tmp_path: Path, webhook: Webhook) -> Iterator[AlertmanagerProcess]:
    am = AlertmanagerProcess(tmp_path / "alertmanager", free_port(), webhook.url)
    am.start()
    yield am
    am.stop()


def traffic(start_ms: int, minutes: int, every_ms: int, tag: str) -> list[tuple[bytes, bytes]]:
    """Groups of two at a steady pace: deterministic counts, so detection is too."""
    out = []
    for i, t in enumerate(range(start_ms, start_ms + minutes * MINUTE_MS, every_ms)):
        value = {
            "event_id": f"{tag}-{i}",
            "crossing_id": POST[0],
            "occurred_at": to_rfc3339(t),
            "from_country": POST[1],
            "to_country": POST[2],
            "travellers": 2,
        }
        out.append((POST[0].encode(), json.dumps(value).encode()))
    return out


def phases() -> tuple[list[tuple[bytes, bytes]], list[tuple[bytes, bytes]]]:
    """An hour normal then an hour at x4 (fires); then two hours at half (resolves)."""
    t0 = bucket_start(int(time.time() * 1000) - 6 * 3_600_000, 300_000)
    surge = traffic(t0, 60, MINUTE_MS, "n") + traffic(t0 + 60 * MINUTE_MS, 60, 15_000, "s")
    calm = traffic(t0 + 120 * MINUTE_MS, 140, 2 * MINUTE_MS, "c")
    return surge, calm


# Re-posts every REPOST_S carry endsAt 4 intervals ahead. Short, so the test sees Alertmanager
# keep the alert past one lead; not so short that a busy machine (the worker's event loop
# also counts) lets it lapse between two re-posts, which at 2 s (8 s lead) happened once.
REPOST_S = 4
LEAD_S = 4 * REPOST_S


def bridge_env(
    service_env: dict[str, str], tmp_path: Path, am: AlertmanagerProcess
) -> dict[str, str]:
    config = tmp_path / "crossings.toml"
    config.write_text(CONFIG)
    return {
        **service_env,
        "BORDER_SURGE_CONFIG": str(config),
        "BORDER_SURGE_IDLE_CLOSE_SECONDS": "3600",  # buckets close by event time only
        "BORDER_SURGE_ALERTMANAGER_URL": am.url,
        "BORDER_SURGE_ALERTMANAGER_REPOST_SECONDS": str(REPOST_S),
        "BORDER_SURGE_ALERTMANAGER_BACKOFF_MAX_SECONDS": "2",
    }


def start_bridged_worker(
    service_env: dict[str, str], tmp_path: Path, am: AlertmanagerProcess
) -> tuple[dict[str, str], Any, WorkerProcess]:
    """Topics made and a worker started with the bridge pointed at `am`."""
    env = bridge_env(service_env, tmp_path, am)
    settings = settings_from(env)
    asyncio.run(ensure_topics(settings))
    return env, settings, WorkerProcess(env, tmp_path / "worker.log").start()


def alert_messages(settings: Any) -> list[dict[str, Any]]:
    records = asyncio.run(
        read_topic(settings.bootstrap_servers, settings.alerts_topic, committed_only=True)
    )
    return [json.loads(r.value) for r in records if r.value is not None]


def wait_for_message(settings: Any, status: str, worker: WorkerProcess) -> dict[str, Any]:
    found: list[dict[str, Any]] = []

    def seen() -> bool:
        found[:] = [a for a in alert_messages(settings) if a["status"] == status]
        return bool(found)

    wait_until(seen, 120, interval=1, message=f"no {status} alert message\n{worker.tail()}")
    return found[-1]


def active(am: AlertmanagerProcess, alert_id: str) -> list[dict[str, Any]]:
    return [a for a in am.alerts() if a["annotations"].get("alert_id") == alert_id]


def expected_labels(message: dict[str, Any]) -> dict[str, str]:
    return {
        "alertname": "BorderSurge",
        "scope": "crossing",
        "crossing_id": POST[0],
        "border": "RU-GE",
        "from_country": "RU",
        "to_country": "GE",
        "severity": message["severity"],
    }


def metric(worker: WorkerProcess, name: str, **labels: str) -> float:
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(worker.url("/metrics"), timeout=5) as r:
        text = r.read().decode()
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and s.labels == labels:
                return float(s.value)
    return float("nan")


def test_surge_fires_in_alertmanager_stays_firing_then_resolves(
    service_env: dict[str, str],
    tmp_path: Path,
    alertmanager: AlertmanagerProcess,
    webhook: Webhook,
) -> None:
    _, settings, worker = start_bridged_worker(service_env, tmp_path, alertmanager)
    surge, calm = phases()
    try:
        worker.wait_ready()
        asyncio.run(produce(settings.bootstrap_servers, settings.events_topic, surge))
        fired = wait_for_message(settings, "firing", worker)
        alert_id = fired["alert_id"]

        def shown() -> bool:
            now = active(alertmanager, alert_id)
            return bool(now) and now[0]["labels"] == expected_labels(fired)

        wait_until(shown, 60, interval=0.5, message=f"{alertmanager.tail()}\n{worker.tail()}")
        [am_alert] = active(alertmanager, alert_id)
        assert am_alert["status"]["state"] == "active"
        notes = am_alert["annotations"]
        assert notes["observed"] == str(fired["observed"])
        assert float(notes["expected"]) == pytest.approx(fired["expected"])
        assert float(notes["ratio"]) == pytest.approx(fired["ratio"])
        assert fired["ratio"] >= 1.5
        wait_until(lambda: webhook.notified("firing", alert_id), 30, message=str(webhook.received))

        # Posted with endsAt 4 re-post intervals ahead: still there well after that.
        time.sleep(LEAD_S + 4)
        assert [a["labels"] for a in active(alertmanager, alert_id)] == [expected_labels(fired)]

        asyncio.run(produce(settings.bootstrap_servers, settings.events_topic, calm))
        resolved = wait_for_message(settings, "resolved", worker)
        assert resolved["alert_id"] == alert_id
        wait_until(lambda: not active(alertmanager, alert_id), 60, message=alertmanager.tail())
        # Every severity Alertmanager notified as firing is notified resolved. (A severity
        # that began and ended in one batch of the detector, as when an episode de-escalates
        # and resolves together, never fired there and is not notified at all.)
        wait_until(lambda: all_ended(webhook, alert_id), 30, message=str(webhook.received))
        assert metric(worker, "border_alertmanager_firing_alerts") == 0
        assert metric(worker, "border_alertmanager_posts_total", result="ok") > 0
    finally:
        worker.stop()
    # Each label set ends when the message that ended it was emitted: the resolution for the
    # last severity; a severity change for an earlier one (the episode may de-escalate first).
    ends = {
        a["labels"]["severity"]: a["endsAt"]
        for n in webhook.received
        for a in n["alerts"]
        if a["status"] == "resolved" and a["annotations"]["alert_id"] == alert_id
    }
    assert ends
    changes = [m for m in alert_messages(settings) if m["alert_id"] == alert_id]
    for severity, end in ends.items():
        assert any(
            end.startswith(m["emitted_at"][:19])
            and (m["status"] == "resolved" or m["severity"] != severity)
            for m in changes
        ), (severity, end, changes)


def all_ended(webhook: Webhook, alert_id: str) -> bool:
    fired = {
        a["labels"]["severity"]
        for n in webhook.received
        for a in n["alerts"]
        if a["status"] == "firing" and a["annotations"].get("alert_id") == alert_id
    }
    return bool(fired) and all(webhook.notified("resolved", alert_id, sev) for sev in fired)


def test_alertmanager_outage_delays_the_alert_and_never_the_counts(
    service_env: dict[str, str],
    tmp_path: Path,
    alertmanager: AlertmanagerProcess,
    webhook: Webhook,
) -> None:
    env, settings, worker = start_bridged_worker(service_env, tmp_path, alertmanager)
    surge, _ = phases()
    try:
        worker.wait_ready()
        alertmanager.stop()
        asyncio.run(produce(settings.bootstrap_servers, settings.events_topic, surge))
        fired = wait_for_message(settings, "firing", worker)
        alert_id = fired["alert_id"]

        # Counting went on: every event counted and the buckets closed up to the watermark.
        wait_until(
            lambda: metric(worker, "border_events_counted_total") == len(surge),
            60,
            message=worker.tail(),
        )
        last_event = json.loads(surge[-1][1])["occurred_at"]
        [view] = worker.get_json("/crossings")[1]["directions"]
        watermark_end = bucket_start(_ms(last_event) - 600_000, 300_000)
        assert view["last_bucket_end"] == to_rfc3339(watermark_end)
        # ... and the bridge kept trying.
        wait_until(
            lambda: metric(worker, "border_alertmanager_posts_total", result="error") >= 2,
            30,
            message=worker.tail(),
        )
        assert metric(worker, "border_alertmanager_posts_total", result="ok") == 0
        assert worker.get_json("/readyz")[0] == 200
        # Down for longer than a firing alert's endsAt lead: the retried post must carry fresh
        # times, or it would arrive already expired.
        time.sleep(LEAD_S + 2)

        alertmanager.start()
        wait_until(lambda: bool(active(alertmanager, alert_id)), 60, message=worker.tail())
        [am_alert] = active(alertmanager, alert_id)
        assert am_alert["labels"] == expected_labels(fired)
        wait_until(lambda: webhook.notified("firing", alert_id), 30, message=str(webhook.received))

        # A restart of the worker and a fresh Alertmanager: the bridge rebuilds its firing
        # set from the alerts topic and posts the alert again, with no new alert message.
        messages = len(alert_messages(settings))
        worker.stop()
        alertmanager.stop()
        alertmanager.start(fresh=True)
        assert active(alertmanager, alert_id) == []
        worker = WorkerProcess(env, tmp_path / "worker2.log").start()
        worker.wait_ready()
        wait_until(lambda: bool(active(alertmanager, alert_id)), 60, message=worker.tail())
        assert [a["labels"] for a in active(alertmanager, alert_id)] == [expected_labels(fired)]
        assert len(alert_messages(settings)) == messages
    finally:
        worker.stop()


def _ms(text: str) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)
