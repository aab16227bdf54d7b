"""A surge known only through late events, on the real broker: re-judging raises its alerts."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from streams.count.windows import MINUTE_MS, to_rfc3339
from streams.detect import Status, SubjectDetector, Thresholds
from streams.kafka.admin import ensure_topics
from tests.support import WorkerProcess, produce, read_topic, settings_from, wait_until

pytestmark = pytest.mark.integration

CROSSING = "late-post"
T0 = 1_663_754_400_000  # 2022-09-21T10:00Z
SURGE = (T0 + 120 * MINUTE_MS, T0 + 180 * MINUTE_MS)  # 12:00-13:00Z, three times normal
END = T0 + 240 * MINUTE_MS
HELD_UNTIL = T0 + 200 * MINUTE_MS  # the surge's extra events are sent after 13:20Z's
STATIC = 120.0  # travellers an hour: one group of two a minute


def event(event_id: str, t_ms: int) -> tuple[bytes, bytes]:
    value = {
        "event_id": event_id,
        "crossing_id": CROSSING,
        "occurred_at": to_rfc3339(t_ms),
        "from_country": "RU",
        "to_country": "GE",
        "travellers": 2,
    }
    return CROSSING.encode(), json.dumps(value).encode()


def normal(first: int, last: int) -> list[tuple[bytes, bytes]]:
    return [event(f"n{t}", t) for t in range(first, last, MINUTE_MS)]


def extra() -> list[tuple[bytes, bytes]]:
    """Two more groups a minute through the surge: all of them late by 20 to 80 minutes."""
    return [event(f"x{t}-{k}", t + k * 20_000) for t in range(*SURGE, MINUTE_MS) for k in (1, 2)]


def on_time_firings(subject: str) -> list[tuple[str, str, str]]:
    """The firings the same counts give a detector that sees every event on time."""
    det = SubjectDetector(subject, Thresholds(static_baseline=STATIC))
    out = []
    for start in range(T0, END, 5 * MINUTE_MS):
        groups = 5 + (10 if SURGE[0] <= start < SURGE[1] else 0)
        out += det.on_bucket_closed(start, 2 * groups, groups)
    return [
        (t.alert_id, t.severity.value, to_rfc3339(t.window_end_ms))
        for t in out
        if t.status is Status.FIRING
    ]


def test_a_late_event_that_completes_a_surge_window_raises_its_alert(
    service_env: dict[str, str], tmp_path: Path
) -> None:
    config = tmp_path / "crossings.toml"
    config.write_text(f"[defaults]\nstatic_baseline = {STATIC}\n")
    env = {**service_env, "BORDER_SURGE_CONFIG": str(config)}
    settings = settings_from(env)
    asyncio.run(ensure_topics(settings))
    worker = WorkerProcess(env, tmp_path / "worker.log").start()

    def send(records: list[tuple[bytes, bytes]]) -> None:
        asyncio.run(produce(settings.bootstrap_servers, settings.events_topic, records))

    def alerts() -> list[dict[str, Any]]:
        records = asyncio.run(
            read_topic(settings.bootstrap_servers, settings.alerts_topic, committed_only=True)
        )
        return [json.loads(r.value) for r in records if r.value is not None]

    def judged_until(ms: int) -> bool:
        status, body = worker.get_json("/borders")
        ends = [b["detection"] and b["detection"]["window_end"] for b in body.get("borders", [])]
        return status == 200 and bool(ends) and all(e and e >= to_rfc3339(ms) for e in ends)

    try:
        worker.wait_ready()
        send(normal(T0, HELD_UNTIL))  # the surge hour holds only its normal third
        wait_until(lambda: judged_until(HELD_UNTIL - 15 * MINUTE_MS), 120, message=worker.tail())
        assert alerts() == [], "the normal third of the surge alone must not alert"

        send(extra() + normal(HELD_UNTIL, END))

        def both_fired() -> bool:
            return {a["scope"] for a in alerts() if a["status"] == "firing"} >= {
                "crossing",
                "border",
            }

        wait_until(both_fired, 120, message=worker.tail())
        wait_until(lambda: judged_until(END - 15 * MINUTE_MS), 120, message=worker.tail())
        got = alerts()
    finally:
        worker.stop()

    def firings(scope: str) -> list[tuple[str, str, str]]:
        return [
            (a["alert_id"], a["severity"], a["window_end"].replace("+00:00", "Z"))
            for a in got
            if a["scope"] == scope and a["status"] == "firing"
        ]

    crossing = firings("crossing")
    assert crossing, got
    # The id and window of the alert are those of the surge on time, long before the late
    # events came (the window ends before 13:20Z, when they were sent).
    assert crossing == on_time_firings(f"{CROSSING}:RU-GE")
    assert firings("border") == on_time_firings("RU-GE")
    assert all(a["window_end"] < to_rfc3339(HELD_UNTIL) for a in got)
    assert len({(a["alert_id"], a["status"], a["severity"]) for a in got}) == len(got)
