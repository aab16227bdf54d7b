"""The 2022 scenario end to end through Kafka: the alerts operators needed, and no others."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest

from streams.detect.config import load_config
from streams.detect.offline import run_scenario
from streams.kafka.admin import ensure_topics
from streams.simulate import generate, load_scenario
from streams.simulate.sender import send_scenario
from tests.support import WorkerProcess, read_topic, settings_from, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ONSET = datetime(2022, 9, 21, tzinfo=UTC)
HOUR_MS = 3_600_000


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def _subject(a: dict[str, str]) -> str:
    pair = f"{a['from_country']}-{a['to_country']}"
    return pair if a["scope"] == "border" else f"{a['crossing_id']}:{pair}"


@pytest.mark.parametrize("detector", ["window", "sequential"])
def test_mobilization_2022_fires_in_time_and_nowhere_else(
    service_env, tmp_path, detector: str
) -> None:
    config = tmp_path / "crossings.toml"
    config.write_text(f'[defaults]\ndetector = "{detector}"\n', encoding="utf-8")
    env = {**service_env, "BORDER_SURGE_PARTITIONS": "6", "BORDER_SURGE_CONFIG": str(config)}
    settings = settings_from(env)
    asyncio.run(ensure_topics(settings))
    scenario = load_scenario("mobilization-2022")
    messages = list(generate(scenario))
    last_event_ms = max(m.event_time_ms for m in messages)
    # The same messages through the pure pipeline: the true ratios and the expected alerts.
    truth = run_scenario(scenario, load_config(str(config)))

    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    try:
        worker.wait_ready()
        asyncio.run(
            send_scenario(
                settings.bootstrap_servers, settings.events_topic, messages, mode="replay"
            )
        )

        def borders_done() -> bool:
            status, body = worker.get_json("/borders")
            ends = [
                b["detection"] and b["detection"]["window_end"] for b in body.get("borders", [])
            ]
            return (
                status == 200
                and len(ends) == 8
                and all(e and _ms(e) >= last_event_ms - 2 * HOUR_MS for e in ends)
            )

        wait_until(borders_done, 900, interval=3, message=worker.tail())
        records = asyncio.run(
            read_topic(settings.bootstrap_servers, settings.alerts_topic, committed_only=True)
        )
    finally:
        worker.stop()

    alerts = [json.loads(r.value) for r in records if r.value is not None]
    firing = [a for a in alerts if a["status"] == "firing"]
    first: dict[str, dict[str, str]] = {}
    for a in sorted(firing, key=lambda a: a["window_end"]):
        first.setdefault(_subject(a), a)

    # The alerts operators needed in September 2022.
    def severities(subject: str) -> set[str]:
        return {a["severity"] for a in firing if _subject(a) == subject}

    assert "critical" in severities("kazbegi-upper-lars:RU-GE")
    assert severities("RU-FI"), "the Finnish border's +80% went unnoticed"
    assert "critical" in severities("RU-KZ")
    # Through Kafka the service fires exactly when the pure pipeline on the same input does
    # (same buckets, same detectors): the timeliness itself is pinned by the offline tests.
    for subject in ("kazbegi-upper-lars:RU-GE", "RU-FI", "RU-KZ"):
        expected = truth.outcome(subject).first_alert
        assert expected is not None
        assert _ms(first[subject]["window_end"]) == expected.transition.window_end_ms, subject
        assert first[subject]["alert_id"] == expected.transition.alert_id

    # Every message, not only the first: the same transitions in the same order per subject.
    def transitions(
        pairs: list[tuple[str, str, str, int]],
    ) -> dict[str, list[tuple[str, str, int]]]:
        out: dict[str, list[tuple[str, str, int]]] = {}
        for subject, status, severity, end in pairs:
            out.setdefault(subject, []).append((status, severity, end))
        return out

    through_kafka = transitions(
        [(_subject(a), a["status"], a["severity"], _ms(a["window_end"])) for a in alerts]
    )
    offline = transitions(
        [
            (
                a.transition.subject,
                a.transition.status.value,
                a.transition.severity.value,
                a.transition.window_end_ms,
            )
            for a in truth.alerts
        ]
    )
    assert through_kafka == offline

    # No alert before the announcement, nor on a direction no surge touches.
    touched = {o.subject for o in truth.outcomes if o.alert_required}
    assert [a for a in firing if _ms(a["window_end"]) < ONSET.timestamp() * 1000] == []
    assert sorted({_subject(a) for a in firing} - touched) == []
