"""Bucket history ring buffer and the same-hour-of-week baseline learned from it."""

from __future__ import annotations

import json
import random

import pytest

from streams.detect.baseline import MIN_RATE_CV2, DispersionEstimate, baseline
from streams.detect.history import DEFAULT_CAPACITY, BucketHistory
from tests.unit.detect.test_detect_sim import BUCKET_MS, HOUR_MS, START_MS, WEEK_MS, poisson

T0 = START_MS


def test_set_replaces_and_window_sum_counts_present_buckets() -> None:
    hist = BucketHistory()
    for i in range(12):
        hist.set(T0 + i * BUCKET_MS, 10 + i, 5)
    hist.set(T0 + 3 * BUCKET_MS, 100, 1)  # a correction replaces, never adds
    assert hist.get(T0 + 3 * BUCKET_MS) == (100, 1)
    travellers = sum(10 + i for i in range(12)) - 13 + 100
    assert hist.window_sum(T0 + 12 * BUCKET_MS, HOUR_MS) == (travellers, 56, 12)
    # A window reaching before the first bucket only counts what exists.
    assert hist.window_sum(T0 + 6 * BUCKET_MS, HOUR_MS)[2] == 6
    assert hist.get(T0 - BUCKET_MS) is None


def test_old_buckets_expire_by_event_time_and_too_old_ones_are_dropped() -> None:
    hist = BucketHistory(capacity=10)
    for i in range(10):
        hist.set(T0 + i * BUCKET_MS, 1, 1)
    hist.set(T0 + 14 * BUCKET_MS, 7, 7)  # skips 10..13: 0..4 expire, 10..13 stay absent
    assert hist.get(T0 + 4 * BUCKET_MS) is None
    assert hist.get(T0 + 5 * BUCKET_MS) == (1, 1)
    assert hist.get(T0 + 12 * BUCKET_MS) is None
    assert hist.set(T0 + 2 * BUCKET_MS, 9, 9) is False
    assert hist.window_sum(T0 + 15 * BUCKET_MS, 10 * BUCKET_MS) == (12, 12, 6)
    hist.set(T0 + 100 * BUCKET_MS, 3, 2)  # a jump past the whole ring clears it
    assert hist.window_sum(T0 + 101 * BUCKET_MS, 10 * BUCKET_MS) == (3, 2, 1)
    assert hist.group_size() == (1.5, 1.5, 2)


def test_group_size_dispersion_is_estimated_from_buckets_alone() -> None:
    rng = random.Random(3)
    hist = BucketHistory()
    for i in range(5_000):
        groups = poisson(rng, 6.0)
        sizes = [rng.choice((1, 2, 3, 4)) for _ in range(groups)]
        hist.set(T0 + i * BUCKET_MS, sum(sizes), groups)
    mean, dispersion, seen = hist.group_size()
    assert mean == pytest.approx(2.5, rel=0.02)
    assert dispersion == pytest.approx(7.5 / 2.5, rel=0.05)  # E[G^2] / E[G]
    assert seen > 25_000


def test_memory_and_round_trip() -> None:
    rng = random.Random(4)
    hist = BucketHistory()
    for i in range(DEFAULT_CAPACITY + 500):
        hist.set(T0 + i * BUCKET_MS, poisson(rng, 20), poisson(rng, 8))
    assert hist.nbytes < 100_000
    data = json.loads(json.dumps(hist.to_dict()))
    copy = BucketHistory.from_dict(data)
    assert copy.to_dict() == hist.to_dict()
    assert copy.group_size() == hist.group_size()
    end = T0 + (DEFAULT_CAPACITY + 500) * BUCKET_MS
    assert copy.window_sum(end, HOUR_MS) == hist.window_sum(end, HOUR_MS)


def _weekly_history(weeks: int, level: int = 100) -> BucketHistory:
    """Flat traffic: `level` travellers in level/2 groups in every bucket."""
    hist = BucketHistory()
    for i in range(weeks * 2016):
        hist.set(T0 + i * BUCKET_MS, level, level // 2)
    return hist


def test_baseline_is_the_mean_of_agreeing_past_weeks_and_drops_one_outlier_week() -> None:
    hist = _weekly_history(4)
    end = T0 + 4 * WEEK_MS
    for i in range(14):  # the same hour two weeks ago was a flood
        hist.set(end - 2 * WEEK_MS - HOUR_MS - BUCKET_MS + i * BUCKET_MS, 1000, 500)
    base = baseline(hist, end, HOUR_MS)
    assert base is not None
    assert base.travellers == pytest.approx(1200.0) and base.events == pytest.approx(600.0)
    # Week 4 would end before the data; of weeks 1-3 the flooded one is dropped, and the mean
    # of the two that agree has half a week's variance (the median of three had pi/2 / 3).
    assert base.n_weeks == 2 and base.n_samples == 6
    assert base.source == "history" and base.inflation == pytest.approx(1 / 2)
    assert base.rate_cv2 >= MIN_RATE_CV2


def test_baseline_needs_a_past_week_and_skips_alert_episodes() -> None:
    hist = _weekly_history(2)
    assert baseline(hist, T0 + 6 * 86_400_000, HOUR_MS) is None
    end = T0 + 2 * WEEK_MS
    for i in range(-13, 1):
        hist.set(end - WEEK_MS + i * BUCKET_MS - BUCKET_MS, 400, 200)  # last week: a flood
    flooded = baseline(hist, end, HOUR_MS)
    assert flooded is not None and flooded.n_weeks == 1
    assert flooded.travellers > 4_000
    episode = (end - WEEK_MS - 2 * HOUR_MS, end - WEEK_MS + HOUR_MS)
    # The only clean candidate (two weeks back) is not in the data yet, so the episode is used.
    assert baseline(hist, end, HOUR_MS, exclude=[episode]) == flooded
    hist3 = _weekly_history(3)
    end3 = T0 + 3 * WEEK_MS
    for i in range(-14, 2):
        hist3.set(end3 - WEEK_MS + i * BUCKET_MS, 400, 200)
    clean = baseline(hist3, end3, HOUR_MS, exclude=[(end3 - WEEK_MS - 2 * HOUR_MS, None)])
    assert clean is not None and clean.travellers == pytest.approx(1200.0)
    assert clean.n_weeks == 1


def test_partly_missing_sample_windows_are_scaled_up() -> None:
    hist = BucketHistory()
    for i in range(2016 + 12):
        if not (2016 - 12 + 2 <= i < 2016 - 12 + 6):  # a 20-minute outage a week ago
            hist.set(T0 + i * BUCKET_MS, 10, 5)
    base = baseline(hist, T0 + WEEK_MS + 12 * BUCKET_MS, HOUR_MS, spread=0)
    assert base is not None and base.travellers == pytest.approx(120.0)


def test_dispersion_estimate_learns_extra_variance_from_the_weeks_and_round_trips() -> None:
    rng = random.Random(5)
    est = DispersionEstimate()
    assert est.value == pytest.approx(DispersionEstimate.PRIOR)
    for _ in range(5_000):
        # Four sample weeks of one window whose rate varies 20% (lognormal) from week to week.
        weeks = [poisson(rng, 400 * rng.lognormvariate(0, 0.2)) for _ in range(4)]
        mean = sum(weeks) / 4
        var = sum((x - mean) ** 2 for x in weeks) / 3
        est.update((var - mean) / mean**2, mean, 4)
    assert 0.025 < est.value < 0.06  # CV^2 of a 20% lognormal is ~0.04
    assert DispersionEstimate.from_dict(json.loads(json.dumps(est.to_dict()))).value == est.value


def test_baseline_reports_the_spread_of_its_clean_weeks_only() -> None:
    hist = _weekly_history(3)
    end = T0 + 3 * WEEK_MS
    clean = baseline(hist, end, HOUR_MS)
    assert clean is not None and clean.spread_cv2 is not None
    assert clean.spread_cv2 < 0  # identical weeks: less spread than Poisson
    tainted = baseline(hist, end, HOUR_MS, exclude=[(T0, None)])
    assert tainted is not None and tainted.spread_cv2 is None


def test_long_windows_can_require_complete_sample_weeks() -> None:
    hist = BucketHistory()
    for i in range(2016 + 96):
        hist.set(T0 + 48 * BUCKET_MS + i * BUCKET_MS, 10, 5)  # starts 4 hours in
    end = T0 + WEEK_MS + 96 * BUCKET_MS
    assert baseline(hist, end, 8 * HOUR_MS) is not None  # half present: scaled up
    assert baseline(hist, end, 8 * HOUR_MS, min_cover=1.0) is None


def test_an_episode_touching_only_a_neighbour_window_drops_just_that_window() -> None:
    hist = _weekly_history(2)
    end = T0 + 2 * WEEK_MS
    first_start = end - WEEK_MS - BUCKET_MS - HOUR_MS  # start of the -1 bucket neighbour
    full = baseline(hist, end, HOUR_MS)
    touched = baseline(hist, end, HOUR_MS, exclude=[(T0, first_start + 1)])
    assert full is not None and full.n_samples == 3
    assert touched is not None and touched.n_samples == 2
    assert touched.travellers == pytest.approx(1200.0)
