"""Helpers for the dashboard tests: headless Chromium, and a scenario with static baselines."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from streams.simulate import Scenario, parse_scenario
from streams.simulate.lanes import lanes

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROME_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1100",
)


def chromium(profile_dir: Path) -> Any:
    """A headless Chromium driven by the Debian chromedriver. Missing binaries fail the test."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    for binary in (CHROMIUM, CHROMEDRIVER):
        if not os.access(binary, os.X_OK):
            raise AssertionError(f"{binary} is missing: apt-get install chromium chromium-driver")
    # Selenium Manager would otherwise look for drivers on the network.
    os.environ["SE_OFFLINE"] = "true"
    options = Options()
    options.binary_location = CHROMIUM
    for flag in (*CHROME_FLAGS, f"--user-data-dir={profile_dir}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def requested_urls(driver: Any) -> list[str]:
    """Every URL the page asked for since the last call (from the performance log)."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


_HOUR_PROFILE = [2, 1.5, 1, 1, 1.5, 2.5, 4, 5.5, 6.5, 7, 7, 7]
_HOUR_PROFILE += [6.5, 6.5, 6.5, 6.5, 6, 5.5, 5, 4.5, 4, 3.5, 3, 2.5]


def _post(
    crossing: str, utc_offset: int, a: str, b: str, a_to_b: int, b_to_a: int
) -> dict[str, Any]:
    """A post with its two directions and their daily volumes."""
    return {
        "crossing_id": crossing,
        "utc_offset_hours": utc_offset,
        "directions": [
            {"from_country": a, "to_country": b, "daily_volume": a_to_b},
            {"from_country": b, "to_country": a, "daily_volume": b_to_a},
        ],
    }


def dashboard_scenario(
    surges: list[dict[str, Any]], posts: list[dict[str, Any]] | None = None, days: float = 2
) -> Scenario:
    """Posts on three borders for `days` from 2022-09-20, a flat week (so a static baseline by
    hour of day is exact), no faults."""
    if posts is None:
        posts = [
            _post("kazbegi-upper-lars", 4, "RU", "GE", 1600, 1400),
            _post("vaalimaa", 3, "RU", "FI", 1000, 900),
            _post("nuijamaa", 3, "RU", "FI", 600, 500),
            _post("narva", 3, "RU", "EE", 800, 700),
        ]
    return parse_scenario(
        {
            "name": "dashboard",
            "start": "2022-09-20T00:00:00Z",
            "duration_days": days,
            "seed": 7,
            "hour_profile": _HOUR_PROFILE,
            "weekday_profile": [1, 1, 1, 1, 1, 1, 1],
            "groups": [
                {"mode": "car", "weight": 0.8, "min_size": 1, "max_size": 4},
                {"mode": "pedestrian", "weight": 0.2, "min_size": 1, "max_size": 1},
            ],
            "nationalities": {"RU": 0.8, "from": 0.05, "to": 0.15},
            "posts": posts,
            "surges": surges,
        }
    )


def static_config(scenario: Scenario) -> str:
    """A crossings config whose static baselines are the scenario's own hourly means without
    its surges: every post and border can alert from its first hour, no 7 days to learn."""
    calm = parse_scenario({**scenario.model_dump(mode="json"), "surges": []})
    per_direction: dict[tuple[str, str, str], list[float]] = {}
    for lane in lanes(calm):
        hourly = [0.0] * 24
        for minute, rate in enumerate(lane.rates[:1440]):
            hourly[minute // 60] += rate * lane.mean_size
        per_direction[lane.key] = hourly
    borders: dict[str, list[float]] = {}
    lines = []
    for (crossing, src, dst), hourly in sorted(per_direction.items()):
        lines.append(f'[crossings."{crossing}:{src}-{dst}"]')
        lines.append(f"static_baseline = [{', '.join(f'{v:.2f}' for v in hourly)}]")
        total = borders.setdefault(f"{src}-{dst}", [0.0] * 24)
        for h, v in enumerate(hourly):
            total[h] += v
    for border, hourly in sorted(borders.items()):
        lines.append(f'[borders."{border}"]')
        lines.append(f"static_baseline = [{', '.join(f'{v:.2f}' for v in hourly)}]")
    return "\n".join(lines) + "\n"
