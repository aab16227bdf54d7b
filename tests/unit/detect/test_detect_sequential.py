"""The sequential test (streams/detect/sequential.py): calibration to the false-alarm budget,
time to alert and to escalate, the evidence in alerts, and its state."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest

from streams.detect import Severity, Status, SubjectDetector, Thresholds
from streams.detect.sequential import YEAR_MS, Sequential, llr, threshold
from tests.unit.detect.test_detect_sim import (
    BUCKET_MS,
    DAY_MS,
    HOUR_MS,
    PROFILE,
    START_MS,
    Post,
    feed,
    hour_of_week,
    poisson,
)

DEFAULTS = Thresholds(detector="sequential")
WARM_DAYS = 29
S = START_MS + WARM_DAYS * DAY_MS  # Tuesday 2022-09-20 00:00 UTC
STEP = S + 38 * HOUR_MS  # Wednesday 14:00 UTC, a weekday afternoon


def test_threshold_is_the_log_of_the_evaluations_in_the_budget() -> None:
    per_year = YEAR_MS / BUCKET_MS
    assert threshold(100, BUCKET_MS, 1) == pytest.approx(math.log(100 * per_year))
    # Two designs share the budget: each gets half of it.
    assert threshold(100, BUCKET_MS, 2) == pytest.approx(math.log(200 * per_year))
    assert DEFAULTS.sequential_threshold(BUCKET_MS) == pytest.approx(
        math.log(100 * per_year * len(DEFAULTS.sequential_ratios))
    )


def test_llr_is_positive_only_above_the_break_even_ratio() -> None:
    # The 1.5 design gains evidence only where the rate is above 0.5 / ln 1.5 = 1.233.
    assert llr(1.2 * 100, 100, 1.0, 1.5) < 0 < llr(1.25 * 100, 100, 1.0, 1.5)


def _normal_run(years: float, budget_years: float, seed: int) -> int:
    """Alarms of the sequential test on Poisson counts at their true rate (the oracle's
    setting: the model holds), restarting after each alarm as a resolved episode would."""
    th = Thresholds(detector="sequential", false_alarm_years=budget_years)
    h = th.sequential_threshold(BUCKET_MS)
    rng = random.Random(seed)
    seq = Sequential(len(th.sequential_ratios))
    alarms = 0
    for i in range(int(years * YEAR_MS / BUCKET_MS)):
        t = START_MS + i * BUCKET_MS
        mu = 0.5 + 6.0 * PROFILE[hour_of_week(t)]  # 0.5 to 6.5 groups a bucket
        v = seq.step(
            t,
            poisson(rng, mu),
            mu,
            ratios=th.sequential_ratios,
            h=h,
            low=th.deescalate_ratio,
            high=th.critical_ratio,
            h_severity=7.0,
            learn=False,
            level_decay=1.0,
            level_bounds=(1.0, 1.0),
        )
        if v.alarm:
            alarms += 1
            seq.reset()
    return alarms


def test_false_alarm_rate_on_long_normal_series_is_within_its_budget() -> None:
    # A budget of one false alert per 0.1 direction-years, over 2 direction-years: at most 20
    # allowed. Lorden's bound makes the real rate lower still.
    alarms = _normal_run(years=2.0, budget_years=0.1, seed=3)
    assert alarms <= 20
    # ... and the budget is what sets it: a ten times looser one gives more alarms.
    assert _normal_run(years=2.0, budget_years=0.01, seed=3) > alarms


def _day_levels(seed: int, days: int, cv: float) -> list[float]:
    rng = random.Random(seed)
    sigma = math.sqrt(math.log1p(cv * cv))
    return [math.exp(sigma * rng.gauss() - sigma * sigma / 2) for _ in range(days)]


_NOT_MET = pytest.mark.xfail(
    reason="issue #18 target not met: a day 45-65% above its past weeks (2.5-3.5 sigma at 12% "
    "CV) or a midnight jump of +60% still fires; see docs/detection.md",
    strict=True,  # once it stays quiet, this fails: take the mark off
)


@pytest.mark.parametrize("seed", [11, pytest.param(12, marks=_NOT_MET)])
def test_detector_on_normal_weeks_with_day_to_day_variation_stays_quiet(seed: int) -> None:
    # Every day has its own level, 12% CV, and the post grows 15% a month: eight weeks.
    days = 56
    levels = _day_levels(seed, days + 1, 0.12)

    def factor(t: int) -> float:
        return levels[(t - START_MS) // DAY_MS] * (1 + 0.15 * (t - START_MS) / (30 * DAY_MS))

    for peak in (150.0, 1500.0):
        det = SubjectDetector("post:RU-GE", DEFAULTS)
        out = feed(det, Post(peak), random.Random(seed), START_MS, days * 288, factor)
        assert out == [], peak


def _warm(post: Post, seed: int = 1) -> dict[str, Any]:
    det = SubjectDetector("kazbegi-upper-lars:RU-GE", DEFAULTS)
    assert feed(det, post, random.Random(seed), START_MS, WARM_DAYS * 288) == []
    return det.to_dict()


@pytest.fixture(scope="module")
def warm() -> dict[str, Any]:
    return _warm(Post(600.0))


@pytest.mark.parametrize(("factor", "fire_min", "critical_min"), [(2.0, 45, 120), (3.0, 30, 60)])
def test_time_to_alert_and_to_escalate_after_a_step(
    warm: dict[str, Any], factor: float, fire_min: int, critical_min: int
) -> None:
    for seed in (7, 8, 9):
        det = SubjectDetector.from_dict(warm, DEFAULTS)
        out = feed(
            det, Post(600.0), random.Random(seed), S, 48 * 12, lambda t: factor if t >= STEP else 1
        )
        assert out and out[0].status is Status.FIRING
        assert STEP < out[0].window_end_ms <= STEP + fire_min * 60_000, seed
        critical = [a for a in out if a.severity is Severity.CRITICAL]
        assert critical and critical[0].window_end_ms <= STEP + critical_min * 60_000, seed
        assert {a.alert_id for a in out} == {out[0].alert_id}  # one episode, no flapping


def test_a_slow_ramp_still_rising_at_night_is_not_learned_as_the_days_level() -> None:
    # Finland in 2022: +80% over 24 hours from a weekday afternoon, so the next night, from
    # which the day's level is learned, is already 1.4-1.5x. On a post whose days differ by
    # 5%, that night is a surge's foot, not a busy day: the day's level stays within two
    # day-to-day deviations of the long-run one (before, it learned the foot, and the ramp
    # went unnoticed for days).
    levels = _day_levels(5, WARM_DAYS, 0.05)
    det = SubjectDetector("vaalimaa:RU-FI", DEFAULTS)
    varied = feed(
        det,
        Post(600.0),
        random.Random(5),
        START_MS,
        WARM_DAYS * 288,
        lambda t: levels[(t - START_MS) // DAY_MS],
    )
    assert varied == []
    warm = det.to_dict()

    def ramp(t: int) -> float:
        return 1.0 + 0.8 * min(1.0, max(0.0, (t - STEP) / (24 * HOUR_MS)))

    reaches_1_5 = STEP + 15 * HOUR_MS
    for seed in (7, 8, 9):
        det = SubjectDetector.from_dict(warm, DEFAULTS)
        out = feed(det, Post(600.0), random.Random(seed), S, 72 * 12, ramp)
        assert out and out[0].status is Status.FIRING, seed
        assert out[0].window_end_ms <= reaches_1_5 + 6 * HOUR_MS, seed  # before: 11-13 h
        assert {a.alert_id for a in out} == {out[0].alert_id}


def test_a_surge_at_one_and_a_half_stays_warning(warm: dict[str, Any]) -> None:
    det = SubjectDetector.from_dict(warm, DEFAULTS)
    out = feed(det, Post(600.0), random.Random(5), S, 60 * 12, lambda t: 1.6 if t >= STEP else 1)
    assert out and out[0].severity is Severity.WARNING
    assert all(a.severity is Severity.WARNING for a in out)


def test_the_alert_states_its_evidence(warm: dict[str, Any]) -> None:
    det = SubjectDetector.from_dict(warm, DEFAULTS)
    out = feed(det, Post(600.0), random.Random(7), S, 40 * 12, lambda t: 2.5 if t >= STEP else 1)
    first = out[0]
    assert first.change_point_ms is not None and first.episode_ratio is not None
    # The change point is found within an hour of the step, before the window that fired.
    assert STEP - HOUR_MS <= first.change_point_ms < first.window_end_ms
    assert first.episode_ratio_low is not None
    assert 1.5 < first.episode_ratio_low < first.episode_ratio < 4.0
    assert first.to_dict()["change_point_ms"] == first.change_point_ms


def test_state_round_trips_mid_episode_and_a_version_1_state_still_loads(
    warm: dict[str, Any],
) -> None:
    det = SubjectDetector.from_dict(warm, DEFAULTS)
    feed(det, Post(600.0), random.Random(7), S, 40 * 12, lambda t: 2.5 if t >= STEP else 1)
    saved = det.to_dict()
    assert saved["version"] == 3 and "sequential" in saved
    again = SubjectDetector.from_dict(saved, DEFAULTS)
    assert again.sequential.to_dict() == det.sequential.to_dict()
    rng_a, rng_b = random.Random(9), random.Random(9)
    t0 = S + 40 * HOUR_MS
    assert feed(det, Post(600.0), rng_a, t0, 24) == feed(again, Post(600.0), rng_b, t0, 24)
    old = {k: v for k, v in warm.items() if k not in ("sequential", "judged")} | {"version": 1}
    restored = SubjectDetector.from_dict(old, DEFAULTS)
    assert restored.sequential.s == [0.0] * len(DEFAULTS.sequential_ratios)
