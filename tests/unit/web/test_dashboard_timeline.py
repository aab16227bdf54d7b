"""Alert episodes for the dashboard timeline: ordering, severity history, peaks, bounds."""

from __future__ import annotations

from typing import Any

from streams.web.dashboard.timeline import Timeline, fired_at


def alert(
    alert_id: str, status: str, severity: str, end: str, ratio: float, crossing: str | None = None
) -> dict[str, Any]:
    return {
        "alert_id": alert_id,
        "status": status,
        "severity": severity,
        "scope": "crossing" if crossing else "border",
        "crossing_id": crossing,
        "from_country": "RU",
        "to_country": "GE",
        "window_start": end,
        "window_end": end,
        "observed": 100,
        "expected": 40.0,
        "ratio": ratio,
        "emitted_at": end,
    }


A = "RU-GE:20220921T1700Z"


def test_one_episode_from_firing_escalation_and_resolution() -> None:
    t = Timeline()
    t.add(alert(A, "firing", "warning", "2022-09-21T17:00:00Z", 1.8))
    t.add(alert(A, "firing", "critical", "2022-09-21T17:05:00+00:00", 2.9))
    t.add(alert(A, "firing", "critical", "2022-09-21T17:05:00Z", 2.9))  # a replay
    view = t.view()
    assert [e["alert_id"] for e in view["open"]] == [A]
    ep = view["open"][0]
    assert ep["started"] == "2022-09-21T17:00:00Z" == fired_at(A)
    assert ep["severity"] == "critical" and ep["peak_ratio"] == 2.9
    assert [(h["severity"], h["at"]) for h in ep["history"]] == [
        ("warning", "2022-09-21T17:00:00Z"),
        ("critical", "2022-09-21T17:05:00Z"),
    ]
    t.add(alert(A, "resolved", "critical", "2022-09-22T02:00:00Z", 1.1))
    view = t.view()
    assert view["open"] == [] and view["resolved"][0]["resolved"] == "2022-09-22T02:00:00Z"
    assert view["resolved"][0]["peak_ratio"] == 2.9 and view["resolved"][0]["ratio"] == 1.1


def test_open_episodes_first_latest_first_and_resolved_limited() -> None:
    t = Timeline()
    for h in range(10, 15):
        aid = f"p{h}:RU-GE:20220921T{h}00Z"
        t.add(alert(aid, "firing", "warning", f"2022-09-21T{h}:00:00Z", 2.0, crossing=f"p{h}"))
        if h % 2:
            t.add(
                alert(aid, "resolved", "warning", f"2022-09-21T{h}:30:00Z", 1.0, crossing=f"p{h}")
            )
    view = t.view(limit=1)
    assert [e["crossing_id"] for e in view["open"]] == ["p14", "p12", "p10"]
    assert [e["crossing_id"] for e in view["resolved"]] == ["p13"]
    assert view["resolved_total"] == 2


def test_live_ratio_raises_the_peak_of_open_episodes_only() -> None:
    t = Timeline()
    t.add(alert(A, "firing", "warning", "2022-09-21T17:00:00Z", 1.8))
    t.observe(A, 3.5)
    t.observe(A, 2.0)
    t.observe("unknown", 9.0)
    assert t.view()["open"][0]["peak_ratio"] == 3.5
    t.add(alert(A, "resolved", "warning", "2022-09-21T19:00:00Z", 1.0))
    t.observe(A, 7.0)
    assert t.view()["resolved"][0]["peak_ratio"] == 3.5


def test_memory_is_bounded_and_resolved_episodes_go_first() -> None:
    t = Timeline(max_episodes=10, max_history=3)
    t.add(
        alert("open:RU-GE:20220901T0000Z", "firing", "warning", "2022-09-01T00:00:00Z", 2, "open")
    )
    for i in range(20):
        aid = f"x{i}:RU-GE:20220902T0000Z"
        t.add(alert(aid, "firing", "warning", "2022-09-02T00:00:00Z", 2.0, crossing=f"x{i}"))
        t.add(alert(aid, "resolved", "warning", "2022-09-02T01:00:00Z", 1.0, crossing=f"x{i}"))
    assert len(t) == 10
    assert [e["crossing_id"] for e in t.view()["open"]] == ["open"]
    for minute in range(10):
        end = f"2022-09-01T01:{minute:02d}:00Z"
        severity = "critical" if minute % 2 else "warning"
        t.add(alert("open:RU-GE:20220901T0000Z", "firing", severity, end, 2, "open"))
    history = t.view()["open"][0]["history"]
    assert len(history) == 3 and history[0]["at"] == "2022-09-01T00:00:00Z"
