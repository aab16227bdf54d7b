"""The dashboard in headless Chromium against a worker fed by the simulator: rows appear live,
a surge turns its border critical without a reload, the timeline shows it; a screenshot."""

from __future__ import annotations

import asyncio
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from streams.kafka.admin import ensure_topics
from streams.simulate import generate
from streams.simulate.sender import send_scenario
from tests.dashboard_support import chromium, dashboard_scenario, requested_urls, static_config
from tests.support import REPO, WorkerProcess, settings_from, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ONSET = datetime(2022, 9, 21, 16, tzinfo=UTC)
SCREENSHOT = REPO / "docs" / "dashboard.png"


def _rows(driver: Any) -> dict[str, str]:
    """subject -> data-state of every row the page shows."""
    got = driver.execute_script(
        "return [...document.querySelectorAll('li.row')]"
        ".map(li => [li.dataset.subject, li.dataset.state, li.querySelector('.word').textContent])"
    )
    out = {}
    for subject, state, word in got:
        assert state == word, f"{subject}: colour state {state!r} but word {word!r}"
        out[subject] = state
    return out


def _check_api(worker: WorkerProcess) -> None:
    """The JSON the page polls: validation, unknown subjects, conditional requests."""
    assert worker.get_json("/dashboard/series/Bad:subject")[0] == 400
    assert worker.get_json("/dashboard/series/RU-GE?hours=0")[0] == 400
    assert worker.get_json("/dashboard/series/RU-GE?hours=x")[0] == 400
    assert worker.get_json("/dashboard/series/nowhere:RU-GE")[0] == 404
    assert worker.get_json("/dashboard/alerts?limit=-1")[0] == 400
    status, body = worker.get_json("/dashboard/series/RU-GE?hours=6")
    assert status == 200 and len(body["observed"]) == 72 and body["expected"][-1] > 0
    status, body = worker.get_json("/dashboard/alerts?limit=0")
    assert status == 200 and body["resolved"] == [] and body["open"]
    with urllib.request.urlopen(worker.url("/dashboard/overview"), timeout=10) as r:
        tag = r.headers["ETag"]
    request = urllib.request.Request(
        worker.url("/dashboard/overview"), headers={"If-None-Match": tag}
    )
    try:
        urllib.request.urlopen(request, timeout=10)
        raise AssertionError("an unchanged overview was sent again")
    except urllib.error.HTTPError as e:
        assert e.code == 304
    with urllib.request.urlopen(worker.url("/"), timeout=10) as r:
        assert "default-src 'none'" in r.headers["Content-Security-Policy"]
    for path in ("/static/nothing.js", "/static/%2e%2e%2fweb.py"):
        try:
            urllib.request.urlopen(worker.url(path), timeout=10)
            raise AssertionError(f"{path} was served")
        except urllib.error.HTTPError as e:
            assert e.code == 404


def _send(settings: Any, messages: list[Any]) -> None:
    asyncio.run(
        send_scenario(settings.bootstrap_servers, settings.events_topic, messages, mode="replay")
    )


def _prepare(
    service_env: dict[str, str], tmp_path: Path, scenario: Any
) -> tuple[dict[str, str], Any]:
    """The worker's env (static baselines of `scenario`, 3 partitions, 1 s page refresh) and
    settings, with its topics made."""
    config = tmp_path / "crossings.toml"
    config.write_text(static_config(scenario))
    env = {
        **service_env,
        "BORDER_SURGE_CONFIG": str(config),
        "BORDER_SURGE_PARTITIONS": "3",
        "BORDER_SURGE_DASHBOARD_REFRESH_SECONDS": "1",
    }
    settings = settings_from(env)
    asyncio.run(ensure_topics(settings))
    return env, settings


def test_dashboard_shows_borders_posts_and_a_surge_turning_critical_live(
    service_env: dict[str, str], tmp_path: Path
) -> None:
    scenario = dashboard_scenario(
        [
            {
                "name": "upper-lars",
                "onset": ONSET.isoformat(),
                "ramp_hours": 1,
                "factor": 4.0,
                "crossings": ["kazbegi-upper-lars"],
                "from_country": "RU",
                "to_country": "GE",
            }
        ]
    )
    env, settings = _prepare(service_env, tmp_path, scenario)
    messages = list(generate(scenario))
    onset_ms = int(ONSET.timestamp() * 1000)
    calm = [m for m in messages if m.event_time_ms < onset_ms]
    surge = [m for m in messages if m.event_time_ms >= onset_ms]

    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    driver = None
    try:
        worker.wait_ready()
        driver = chromium(tmp_path / "chrome")
        driver.set_window_size(1400, 1100)
        driver.get(worker.url("/"))
        loaded_at = driver.execute_script("return window.borderSurgeLoadedAt")
        assert loaded_at, "the page script did not run"
        assert "No borders yet" in driver.find_element("id", "empty").text

        # Calm traffic: every border and post appears, none alerting.
        _send(settings, calm)
        borders = {"RU-GE", "GE-RU", "RU-FI", "FI-RU", "RU-EE", "EE-RU"}
        posts = {
            f"{c}:{p}"
            for c, p in [
                ("kazbegi-upper-lars", "RU-GE"),
                ("kazbegi-upper-lars", "GE-RU"),
                ("vaalimaa", "RU-FI"),
                ("vaalimaa", "FI-RU"),
                ("nuijamaa", "RU-FI"),
                ("nuijamaa", "FI-RU"),
                ("narva", "RU-EE"),
                ("narva", "EE-RU"),
            ]
        }

        def all_rows_evaluated() -> bool:
            rows = _rows(driver)
            return set(rows) == borders | posts and all(s == "ok" for s in rows.values())

        wait_until(all_rows_evaluated, 180, interval=1, message=f"rows: {_rows(driver)}")
        assert driver.find_element("id", "empty").is_displayed() is False

        # The surge, while the page stays open.
        started = time.monotonic()
        _send(settings, surge)

        def critical() -> bool:
            return _rows(driver).get("RU-GE") == "critical"

        wait_until(critical, 240, interval=1, message=f"rows: {_rows(driver)}\n{worker.tail()}")
        print(f"RU-GE critical on the page {time.monotonic() - started:.1f} s after the send")
        assert driver.execute_script("return window.borderSurgeLoadedAt") == loaded_at
        rows = _rows(driver)
        assert rows["kazbegi-upper-lars:RU-GE"] in ("warning", "critical")
        assert rows["GE-RU"] == "ok" and rows["RU-FI"] == "ok"
        # Alerting borders sort first.
        first = driver.find_element("css selector", "#borders > li.row")
        assert first.get_attribute("data-subject") == "RU-GE"

        # The alert timeline lists the open episode with its severity history.
        def timeline_open() -> bool:
            items = driver.find_elements("css selector", "#open-alerts > li")
            texts = [i.text.replace("\u00a0", " ") for i in items]
            return any("border RU → GE" in t and "critical" in t for t in texts)

        wait_until(
            timeline_open, 60, interval=1, message=driver.find_element("id", "open-alerts").text
        )

        # Keyboard: Enter on the border's button expands it, with a chart for the border.
        button = driver.find_element("css selector", "#row-RU-GE .toggle")
        assert button.get_attribute("aria-expanded") == "false"
        button.send_keys("\n")
        assert button.get_attribute("aria-expanded") == "true"
        wait_until(
            lambda: driver.find_elements("css selector", "#row-RU-GE > .detail svg path.observed"),
            30,
            message="no chart for RU-GE",
        )
        post = driver.find_element("css selector", "#row-kazbegi-upper-lars_RU-GE .toggle")
        post.click()
        wait_until(
            lambda: driver.find_elements(
                "css selector", "#row-kazbegi-upper-lars_RU-GE svg path.band"
            ),
            30,
            message="no chart for the post",
        )
        label = driver.find_element("css selector", "#row-RU-GE > .detail svg").get_attribute(
            "aria-labelledby"
        )
        assert label and len(label.split()) == 2

        # Nothing but the worker was asked for anything (chrome:// is the browser's own tab).
        urls = [u for u in requested_urls(driver) if not u.startswith(("chrome:", "data:"))]
        assert urls and [u for u in urls if not u.startswith(worker.url("/"))] == []
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert errors == []

        _check_api(worker)

        SCREENSHOT.parent.mkdir(exist_ok=True)
        driver.save_screenshot(str(SCREENSHOT))
        assert SCREENSHOT.stat().st_size > 10_000

        # A restarted worker rebuilds the timeline from the alerts topic (within its lookback).
        worker.stop()
        worker = WorkerProcess(env, tmp_path / "worker2.log").start()
        worker.wait_ready()

        def rebuilt() -> bool:
            status, body = worker.get_json("/dashboard/alerts")
            return status == 200 and {e["subject"] for e in body["open"]} == {
                "RU-GE",
                "kazbegi-upper-lars:RU-GE",
            }

        wait_until(rebuilt, 60, interval=1, message=str(worker.get_json("/dashboard/alerts")))
        _, body = worker.get_json("/dashboard/alerts")
        for episode in body["open"]:
            assert [h["severity"] for h in episode["history"]] == ["warning", "critical"]
            assert episode["started"] == "2022-09-21T17:00:00Z"
    finally:
        if driver is not None:
            driver.quit()
        worker.stop()


NEIGHBOURS = ["GE", "FI", "EE", "KZ", "LV", "LT", "BY", "UA", "MN", "CN", "NO", "AZ"]


def test_dashboard_with_500_directions_renders_every_row_and_updates_in_place(
    service_env: dict[str, str], tmp_path: Path
) -> None:
    posts = [
        {
            "crossing_id": f"post-{i:03d}",
            "directions": [
                {"from_country": "RU", "to_country": NEIGHBOURS[i % 12], "daily_volume": 300},
                {"from_country": NEIGHBOURS[i % 12], "to_country": "RU", "daily_volume": 300},
            ],
        }
        for i in range(250)
    ]
    scenario = dashboard_scenario([], posts=posts, days=0.25)
    env, settings = _prepare(service_env, tmp_path, scenario)
    messages = list(generate(scenario))
    last_ms = max(m.event_time_ms for m in messages)

    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    driver = None
    try:
        worker.wait_ready()
        _send(settings, messages)

        def evaluated() -> bool:
            status, body = worker.get_json("/dashboard/overview")
            posts = [p for b in body["borders"] for p in b["posts"]] if status == 200 else []
            ends = [p.get("window_end") for p in posts]
            return len(posts) == 500 and all(
                e and datetime.fromisoformat(e).timestamp() * 1000 >= last_ms - 3_600_000
                for e in ends
            )

        wait_until(evaluated, 300, interval=2, message=worker.tail())
        timings = []
        for _ in range(3):
            started = time.perf_counter()
            with urllib.request.urlopen(worker.url("/dashboard/overview"), timeout=10) as r:
                size = len(r.read())
            timings.append(time.perf_counter() - started)
        print(f"overview, 500 directions: {size:,} bytes, {min(timings) * 1000:.0f} ms")
        assert size < 200 * 500 and min(timings) < 5.0

        driver = chromium(tmp_path / "chrome")
        started = time.perf_counter()
        driver.get(worker.url("/"))
        wait_until(
            lambda: (
                driver.execute_script("return document.querySelectorAll('li.post').length") == 500
            ),
            60,
            interval=0.2,
            message="not every post was rendered",
        )
        print(f"page with 500 post rows rendered in {time.perf_counter() - started:.2f} s")
        assert driver.execute_script("return document.querySelectorAll('li.border').length") == 24

        # Unchanged rows are not rebuilt between polls: the same element stays in place.
        driver.execute_script("document.querySelector('li.post').dataset.marker = 'kept'")
        time.sleep(3.5)
        assert (
            driver.execute_script(
                "return document.querySelectorAll('li.post[data-marker=kept]').length"
            )
            == 1
        )
        # Expanding one border draws its chart; the filter narrows 24 borders to two.
        button = driver.find_element("css selector", "li.border .toggle")
        button.click()
        wait_until(
            lambda: driver.find_elements("css selector", "li.border.open svg path.observed"),
            30,
            message="no chart",
        )
        driver.find_element("id", "filter").send_keys("post-007")
        visible = driver.execute_script(
            "return [...document.querySelectorAll('li.border')].filter(b => !b.hidden).length"
        )
        assert visible == 2  # the post's two directions: RU→LV and LV→RU
    finally:
        if driver is not None:
            driver.quit()
        worker.stop()
