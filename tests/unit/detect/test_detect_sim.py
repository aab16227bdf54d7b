"""Synthetic border traffic for the detection tests: daily and weekly rhythm, groups and buses."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from streams.detect import AlertTransition, SubjectDetector

BUCKET_MS = 300_000
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
WEEK_MS = 7 * DAY_MS
# A Monday, four weeks before the mobilization announcement (Wednesday 2022-09-21).
START_MS = int(datetime(2022, 8, 22, tzinfo=UTC).timestamp() * 1000)

# Travellers per hour relative to the weekday afternoon (1.0), by hour of day: nights a fifth.
_WEEKDAY = [0.2] * 5 + [0.3, 0.5, 0.7, 0.8, 0.85, 0.9, 0.95] + [1.0] * 5
_WEEKDAY += [0.95, 0.85, 0.7, 0.55, 0.4, 0.3, 0.25]
# Saturdays peak in the morning (leaving), Sundays in the evening (coming back).
_SATURDAY = [0.25] * 5 + [0.4, 0.8, 1.2, 1.4, 1.4, 1.3, 1.1, 0.9, 0.8, 0.7, 0.6, 0.5]
_SATURDAY += [0.45, 0.4, 0.35, 0.3, 0.3, 0.3, 0.25]
_SUNDAY = [0.25] * 5 + [0.25, 0.3, 0.35, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2]
_SUNDAY += [1.3, 1.3, 1.2, 1.0, 0.7, 0.45, 0.3]
PROFILE = _WEEKDAY * 5 + _SATURDAY + _SUNDAY  # 168 hours from Monday 00:00 UTC
assert len(PROFILE) == 168

_CAR_SIZES = (1, 2, 3, 4)
_CAR_CUM = (0.35, 0.65, 0.85, 1.0)
MEAN_CAR_GROUP = 0.35 * 1 + 0.30 * 2 + 0.20 * 3 + 0.15 * 4


def poisson(rng: random.Random, lam: float) -> int:
    """Poisson sample: inversion for small means, PTRS (Hoermann 1993) for large ones."""
    if lam <= 0:
        return 0
    if lam < 30:
        u, k = rng.random(), 0
        p = s = math.exp(-lam)
        while u > s:
            k += 1
            p *= lam / k
            s += p
        return k
    slam, loglam = math.sqrt(lam), math.log(lam)
    b = 0.931 + 2.53 * slam
    a = -0.059 + 0.02483 * b
    inv_alpha = 1.1239 + 1.1328 / (b - 3.4)
    vr = 0.9277 - 3.6224 / (b - 2)
    while True:
        u = rng.random() - 0.5
        v = rng.random()
        us = 0.5 - abs(u)
        k = math.floor((2 * a / us + b) * u + lam + 0.43)
        if us >= 0.07 and v <= vr:
            return k
        if k < 0 or (us < 0.013 and v > us):
            continue
        lhs = math.log(v) + math.log(inv_alpha) - math.log(a / (us * us) + b)
        if lhs <= -lam + k * loglam - math.lgamma(k + 1):
            return k


def hour_of_week(t_ms: int) -> int:
    return (t_ms // HOUR_MS + 72) % 168  # the Unix epoch was a Thursday


@dataclass(frozen=True)
class Post:
    """One crossing direction: its weekday-afternoon volume and its share of buses."""

    peak_per_hour: float
    bus_share: float = 0.003  # fraction of groups that are buses of 30-50 travellers

    def per_hour(self, t_ms: int) -> float:
        return self.peak_per_hour * PROFILE[hour_of_week(t_ms)]

    def bucket(self, rng: random.Random, t_ms: int, factor: float = 1.0) -> tuple[int, int]:
        """(travellers, events) for the bucket starting at t_ms, the rate times `factor`."""
        lam = self.per_hour(t_ms) * factor / 12
        group_mean = (1 - self.bus_share) * MEAN_CAR_GROUP + self.bus_share * 40
        groups = lam / group_mean
        cars = poisson(rng, groups * (1 - self.bus_share))
        buses = poisson(rng, groups * self.bus_share)
        travellers = sum(rng.choices(_CAR_SIZES, cum_weights=_CAR_CUM, k=cars))
        travellers += sum(rng.randint(30, 50) for _ in range(buses))
        return travellers, cars + buses


def feed(
    det: SubjectDetector,
    post: Post,
    rng: random.Random,
    start_ms: int,
    n_buckets: int,
    factor: Callable[[int], float] | None = None,
) -> list[AlertTransition]:
    """Close n_buckets buckets from start_ms into the detector; all transitions it emitted."""
    out: list[AlertTransition] = []
    for i in range(n_buckets):
        t = start_ms + i * BUCKET_MS
        travellers, events = post.bucket(rng, t, 1.0 if factor is None else factor(t))
        out.extend(det.on_bucket_closed(t, travellers, events))
    return out


def test_poisson_sampler_has_poisson_mean_and_variance() -> None:
    rng = random.Random(1)
    for lam in (0.3, 4.0, 29.0, 45.0, 400.0):
        xs = [poisson(rng, lam) for _ in range(20_000)]
        mean = sum(xs) / len(xs)
        var = sum((x - mean) ** 2 for x in xs) / (len(xs) - 1)
        assert abs(mean - lam) < 4 * math.sqrt(lam / len(xs))
        assert abs(var / lam - 1) < 0.06


def test_profile_has_nights_a_fifth_of_afternoons_and_different_weekends() -> None:
    monday = PROFILE[:24]
    assert min(monday) / max(monday) == 0.2
    assert PROFILE[5 * 24 : 6 * 24] != monday
    assert PROFILE[6 * 24 : 7 * 24] != monday
    assert hour_of_week(START_MS) == 0


def test_post_bucket_matches_its_expected_rate() -> None:
    rng = random.Random(2)
    post = Post(600.0)
    t = START_MS + 14 * HOUR_MS  # Monday afternoon
    total = sum(post.bucket(rng, t)[0] for _ in range(4000))
    assert abs(total / 4000 * 12 / 600 - 1) < 0.05
