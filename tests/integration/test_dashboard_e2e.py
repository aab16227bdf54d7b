"""The dashboard in headless Chromium against a worker fed by the simulator: rows appear live,
a surge turns its border critical without a reload, the timeline shows it; a screenshot."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from streams.admin import ensure_topics
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


def _send(settings: Any, messages: list[Any]) -> None:
    asyncio.run(
        send_scenario(settings.bootstrap_servers, settings.events_topic, messages, mode="replay")
    )


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
    config = tmp_path / "crossings.toml"
    config.write_text(static_config(scenario))
    env = {**service_env, "BORDER_SURGE_CONFIG": str(config), "BORDER_SURGE_PARTITIONS": "3"}
    env["BORDER_SURGE_DASHBOARD_REFRESH_SECONDS"] = "1"
    settings = settings_from(env)
    asyncio.run(ensure_topics(settings))
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

        SCREENSHOT.parent.mkdir(exist_ok=True)
        driver.save_screenshot(str(SCREENSHOT))
        assert SCREENSHOT.stat().st_size > 10_000
    finally:
        if driver is not None:
            driver.quit()
        worker.stop()
