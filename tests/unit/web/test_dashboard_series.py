"""The overview and the per-subject series the dashboard draws, from real detectors."""

from __future__ import annotations

import json
import time

from streams.count.records import BucketReport
from streams.detect.config import parse_config
from streams.detect.partition import DetectPartition
from streams.web.dashboard.overview import find_detector, overview
from streams.web.dashboard.series import SeriesCache, series

START = 1_663_632_000_000  # 2022-09-20 00:00 UTC
BUCKET = 300_000
CONFIG = """
[defaults]
static_baseline = 120
"""


def feed(part: DetectPartition, posts: list[tuple[str, str, str]], buckets: int, surge_from: int):
    for i in range(buckets):
        reports = []
        for c, f, t in posts:
            travellers = 10 * (4 if i >= surge_from and c == "upper-lars" else 1)
            reports.append(BucketReport((c, f, t), START + i * BUCKET, travellers, travellers, 0))
        part.apply(reports)


def partition() -> DetectPartition:
    part = DetectPartition(parse_config(CONFIG))
    posts = [("upper-lars", "RU", "GE"), ("sarpi", "TR", "GE"), ("vaalimaa", "RU", "FI")]
    feed(part, posts, 3 * 288, surge_from=3 * 288 - 24)
    return part


def test_overview_lists_borders_with_posts_and_state_words() -> None:
    borders = overview([partition()])
    assert [b["border"] for b in borders] == ["RU-FI", "RU-GE", "TR-GE"]
    ru_ge = borders[1]
    assert ru_ge["state"] == "critical" and ru_ge["alert_id"].startswith("RU-GE:")
    assert [p["crossing_id"] for p in ru_ge["posts"]] == ["upper-lars"]
    assert ru_ge["posts"][0]["state"] == "critical"
    calm = borders[0]
    assert calm["state"] == "ok" and calm["ratio"] == 1.0 and calm["expected"] == 120.0
    assert calm["window_end"] == "2022-09-23T00:00:00Z"


def test_series_covers_48_hours_with_expected_and_band() -> None:
    part = partition()
    det = find_detector([part], "upper-lars:RU-GE")
    assert det is not None
    s = series(det, 48, SeriesCache())
    assert s is not None
    assert len(s["observed"]) == 48 * 12 == len(s["expected"]) == len(s["upper"])
    assert s["last_end"] == "2022-09-23T00:00:00Z"
    assert s["first_end"] == "2022-09-21T00:05:00Z"
    assert s["observed"][0] == 120 and s["observed"][-1] == 480
    assert set(s["expected"]) == {120.0}
    for lo, exp, up in zip(s["lower"], s["expected"], s["upper"], strict=True):
        assert lo < exp and up >= 1.5 * exp  # the detector's warning ratio
    # The surge is above the band, the calm is inside it.
    assert s["observed"][-1] > s["upper"][-1] and s["lower"][0] < s["observed"][0] < s["upper"][0]


def test_series_without_a_baseline_has_no_expected_values() -> None:
    part = DetectPartition(parse_config(""))
    feed(part, [("narva", "RU", "EE")], 24, surge_from=99)
    det = find_detector([part], "narva:RU-EE")
    assert det is not None and det.snapshot().state.value == "learning"
    s = series(det)
    assert s is not None and len(s["observed"]) == 24
    assert set(s["expected"]) == {None} and s["observed"][-1] == 120
    assert overview([part])[0]["posts"][0]["state"] == "learning"


def test_five_hundred_directions_give_a_compact_overview() -> None:
    part = DetectPartition(parse_config(CONFIG))
    posts = [(f"post-{i:03d}", "RU", f"{chr(65 + i % 25)}Z") for i in range(500)]
    feed(part, posts, 14, surge_from=99)
    started = time.perf_counter()
    borders = overview([part])
    body = json.dumps({"borders": borders}, separators=(",", ":")).encode()
    elapsed = time.perf_counter() - started
    print(f"overview of 500 directions: {len(body):,} bytes in {elapsed * 1000:.1f} ms")
    assert len(borders) == 25 and sum(len(b["posts"]) for b in borders) == 500
    assert len(body) < 200 * 500  # bytes per direction, generously
