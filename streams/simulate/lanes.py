"""A scenario resolved into lanes: each post direction's per-minute arrival rates and mixes."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import timedelta

from streams.simulate.scenario import (
    Direction,
    DirectionKey,
    GroupMix,
    Mode,
    Scenario,
)


@dataclass(frozen=True)
class Lane:
    """One direction at one post, resolved: everything the generator needs, defaults applied."""

    key: DirectionKey
    groups: list[tuple[Mode, int, float]]
    """(mode, size, probability) of every possible group."""
    nationalities: list[tuple[str | None, float]]
    """(code or None for "not given", probability)."""
    rates: list[float]
    """Mean number of groups arriving in each minute of the scenario."""

    @property
    def mean_size(self) -> float:
        return sum(size * p for _, size, p in self.groups)

    @property
    def mean_size_squared(self) -> float:
        return sum(size * size * p for _, size, p in self.groups)


def lanes(scenario: Scenario) -> list[Lane]:
    """Resolve every direction of every post, with its arrival rate for each minute."""
    result = []
    surge_factors: dict[tuple[int, ...], list[float]] = {}
    for post in scenario.posts:
        groups = _group_outcomes(post.groups or scenario.groups)
        mean_size = sum(size * p for _, size, p in groups)
        week = _hour_of_week_weights(
            post.hour_profile or scenario.hour_profile,
            post.weekday_profile or scenario.weekday_profile,
        )
        for direction in post.directions:
            key = (post.crossing_id, direction.from_country, direction.to_country)
            nationalities = _nationality_outcomes(
                direction.nationalities or scenario.nationalities,
                direction,
                scenario.nationality_missing,
            )
            base = direction.daily_volume / mean_size / 1440
            rates = _minute_rates(scenario, post.utc_offset_hours, week, base)
            growth = direction.growth_per_month
            if growth is None:
                growth = post.growth_per_month
            if growth is None:
                growth = scenario.growth_per_month
            if growth or scenario.day_level_cv:
                rates = _levels(scenario, key, post.utc_offset_hours, growth, rates)
            applying = tuple(i for i, s in enumerate(scenario.surges) if s.applies_to(key))
            if applying:
                if applying not in surge_factors:
                    surge_factors[applying] = _surge_factors(scenario, applying)
                rates = [r * f for r, f in zip(rates, surge_factors[applying], strict=True)]
            result.append(Lane(key, groups, nationalities, rates))
    return result


def _group_outcomes(mixes: list[GroupMix]) -> list[tuple[Mode, int, float]]:
    total = sum(m.weight for m in mixes)
    return [
        (m.mode, size, m.weight / total / (m.max_size - m.min_size + 1))
        for m in mixes
        for size in range(m.min_size, m.max_size + 1)
    ]


def _nationality_outcomes(
    mix: dict[str, float], direction: Direction, missing: float
) -> list[tuple[str | None, float]]:
    merged: dict[str, float] = {}
    for code, weight in mix.items():
        code = {"from": direction.from_country, "to": direction.to_country}.get(code, code)
        merged[code] = merged.get(code, 0.0) + weight
    total = sum(merged.values())
    outcomes: list[tuple[str | None, float]] = [
        (code, (1 - missing) * w / total) for code, w in merged.items() if w > 0
    ]
    if missing > 0:
        outcomes.append((None, missing))
    return outcomes


def _hour_of_week_weights(hours: list[float], weekdays: list[float]) -> list[float]:
    # Normalised so the mean over a week is 1: daily_volume stays the weekly average per day.
    hour_sum, day_sum = sum(hours), sum(weekdays)
    return [24 * hours[h % 24] / hour_sum * 7 * weekdays[h // 24] / day_sum for h in range(168)]


def _minute_rates(
    scenario: Scenario, utc_offset_hours: float, week: list[float], base: float
) -> list[float]:
    local = scenario.start + timedelta(hours=utc_offset_hours)
    first = local.weekday() * 1440 + local.hour * 60 + local.minute
    return [base * week[(first + m) // 60 % 168] for m in range(scenario.minutes)]


def _levels(
    scenario: Scenario,
    key: DirectionKey,
    utc_offset_hours: float,
    growth: float,
    rates: list[float],
) -> list[float]:
    """Rates with the direction's slow growth and its day-to-day level (normal traffic: the
    truth's "without surges" has them too)."""
    per_minute = math.log1p(growth) / (30 * 1440)
    cv = scenario.day_level_cv
    sigma = math.sqrt(math.log1p(cv * cv))
    # A per-direction stream, the same whatever other posts the scenario has.
    rnd = random.Random(f"{scenario.seed}:day-level:{':'.join(key)}")
    offset = round(utc_offset_hours * 60)
    first_day = (scenario.start.hour * 60 + scenario.start.minute + offset) // 1440
    days = (scenario.minutes + 2880) // 1440 + 1
    level = [math.exp(sigma * rnd.gauss() - sigma * sigma / 2) if cv else 1.0 for _ in range(days)]
    start = scenario.start.hour * 60 + scenario.start.minute + offset
    return [
        r * level[(start + m) // 1440 - first_day] * math.exp(per_minute * m)
        for m, r in enumerate(rates)
    ]


def _surge_factors(scenario: Scenario, applying: tuple[int, ...]) -> list[float]:
    # Evaluated mid-minute: the generator holds the rate constant within each minute.
    factors = [1.0] * scenario.minutes
    for i in applying:
        surge = scenario.surges[i]
        onset_hours = (surge.onset - scenario.start).total_seconds() / 3600
        for m in range(scenario.minutes):
            factors[m] *= surge.factor_at((m + 0.5) / 60 - onset_hours)
    return factors
