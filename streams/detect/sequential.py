"""Sequential evidence of a surge: CUSUMs of groups per bucket against the seasonal baseline.

Page's CUSUM on Poisson counts (Lorden 1971; the count-data charts of Hoehle and Paul 2008,
R `surveillance::algo.glrnb`): each closed 5-minute bucket adds the log-likelihood ratio of
"the rate is `r` times normal" against "normal", and the sum, floored at zero, alarms at `h`.
Evidence from every bucket since the change point counts, so a ramp that crosses 1.5x at night
has already built most of its case in the evening, and no window length has to be chosen.

- **Normal** is the seasonal (hour-of-week) expectation of the bucket times the subject's
  *level*: today's, learned from the day's first hours within the band its day-to-day
  variation allows (streams/detect/day_level.py), around a long-run level learned with a
  half-life of `level_half_life_hours` while no evidence is building, so busy days and slow
  growth are normal, and frozen while the statistic is raised or an episode is open.
- **Several designs** (`sequential_ratios`, 1.5 and 3 by default) run side by side, each an
  optimal test for its own ratio; the threshold carries their union.
- **The threshold** comes from the false-alarm budget: one false alert per `false_alarm_years`
  direction-years. A CUSUM whose model holds has an average run length to a false alarm of at
  least e^h evaluations (Lorden), so h = ln(evaluations in the budget) + ln(designs); the unit
  tests measure the real rate on long normal series, day-to-day variation included.
- **Severity**: a second pair of CUSUMs compares `deescalate_ratio` (1.6) with `critical_ratio`
  (2.0), so critical comes once the evidence for "nearer 2x than 1.6x" reaches
  `severity_evidence` (a likelihood ratio of 1/1e-3) and goes back the same way.
- **The estimate**: groups observed over expected since the change point of the strongest
  design (the last time its statistic was zero: the maximum-likelihood start of the change),
  with a 95% interval; the alert messages carry it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from streams.detect import day_level

YEAR_MS = 365.25 * 24 * 3_600_000
# A burst in one bucket counts at most this many times the expectation (plus Poisson room):
# a 12x spike of one bucket must not carry a case on its own.
_BURST_RATIO = 2.0
_BURST_SD = 3.0
_LEVEL_PRIOR_EVENTS = 50.0  # the long-run level's pull towards 1, in expected groups
_FREEZE_FRACTION = 0.25  # it stops learning once a statistic passes this share of h
_Z95 = 1.96
_HOUR_MS = 3_600_000
_DAY_LEARN_FRACTION = 0.35  # of a typical day's groups, counted from its quietest hour
_HOURS_DECAY = 0.5 ** (1 / (7 * 12))  # the hour profile's memory: a week of that hour's buckets


def threshold(false_alarm_years: float, bucket_ms: int, designs: int) -> float:
    """Alarm level of each CUSUM for one false alert per `false_alarm_years` of evaluations."""
    evaluations = false_alarm_years * YEAR_MS / bucket_ms
    return math.log(evaluations) + math.log(max(1, designs))


def llr(x: float, mu: float, r0: float, r1: float) -> float:
    """Poisson log-likelihood ratio of `x` events at rate r1*mu against rate r0*mu."""
    return x * math.log(r1 / r0) - (r1 - r0) * mu


def capped(x: float, mu: float) -> float:
    top = _BURST_RATIO * mu
    return min(x, top + _BURST_SD * math.sqrt(top) + 1.0)


def ratio_interval(x: float, m: float) -> tuple[float, float, float]:
    """Observed over expected, with an approximate 95% interval (Poisson, square-root scale)."""
    if m <= 0:
        return 1.0, 0.0, math.inf
    root = math.sqrt(x)
    low = max(0.0, root - _Z95 / 2) ** 2 / m
    high = (root + _Z95 / 2) ** 2 / m
    return x / m, low, high


@dataclass(frozen=True, slots=True)
class Verdict:
    """What one step says: whether an alarm stands, and the evidence behind it."""

    alarm: bool  # a warning design's statistic is at or above its threshold
    critical: bool  # evidence for critical_ratio over deescalate_ratio
    below_critical: bool  # evidence for deescalate_ratio over critical_ratio
    score: float  # the strongest statistic over its threshold (1.0 = alarm)
    change_point_ms: int | None  # start of the strongest design's excursion
    ratio: float  # groups observed / expected since then
    ratio_low: float
    ratio_high: float
    events: float = 0.0  # groups since the change point
    expected: float = 0.0  # what the test expected of them


class Sequential:
    """The CUSUM state of one subject; pure, JSON-able, O(designs) per bucket."""

    __slots__ = (
        "crit_down",
        "crit_up",
        "day",
        "dvar",
        "hours",
        "level_den",
        "level_num",
        "m",
        "s",
        "since",
        "x",
    )

    def __init__(self, designs: int) -> None:
        self.s = [0.0] * designs
        self.since: list[int | None] = [None] * designs
        self.x = [0.0] * designs  # groups since the change point
        self.m = [0.0] * designs  # expected groups since the change point
        self.crit_up = 0.0
        self.crit_down = 0.0
        self.level_num = 0.0  # the long-run level: decayed groups ...
        self.level_den = 0.0  # ... and the seasonal baseline's expectation of them
        self.day = [0.0, 0.0]  # the same since the day began (its quietest hour)
        self.hours = [0.0] * 24  # expected groups by UTC hour, decayed: where the day begins
        self.dvar = [0.0, 0.0]  # decayed sums: days' squared deviations from the long level

    @property
    def long_level(self) -> float:
        return (self.level_num + _LEVEL_PRIOR_EVENTS) / (self.level_den + _LEVEL_PRIOR_EVENTS)

    @property
    def day_variance(self) -> float:
        """How much a day's level varies around the long-run one (streams/detect/day_level.py)."""
        return day_level.variance(self.dvar)

    @property
    def level(self) -> float:
        """Today's level: the day's own, learned from its first hours and kept within the band
        the subject's day-to-day variation allows (streams/detect/day_level.py)."""
        got, expected = self.day
        var = self.day_variance
        bottom, top = day_level.band(self.long_level, var)
        return min(top, max(bottom, day_level.own_level(got, expected, self.long_level, var)))

    def _new_day(self, bucket_start_ms: int, expected: float) -> None:
        hour = bucket_start_ms // _HOUR_MS % 24
        self.hours[hour] = _HOURS_DECAY * self.hours[hour] + expected
        if bucket_start_ms % _HOUR_MS == 0 and hour == min(range(24), key=self.hours.__getitem__):
            got, expected = self.day
            day_level.add_day(self.dvar, got, expected, self.long_level)
            self.day = [0.0, 0.0]

    def reset(self) -> None:
        """Forget the evidence (an episode ended); the level is kept."""
        n = len(self.s)
        self.s, self.since, self.x, self.m = [0.0] * n, [None] * n, [0.0] * n, [0.0] * n
        self.crit_up = self.crit_down = 0.0

    def step(
        self,
        bucket_start_ms: int,
        events: float,
        expected: float,
        *,
        extra: float = 0.0,
        ratios: tuple[float, ...],
        h: float,
        low: float,
        high: float,
        h_severity: float,
        learn: bool,
        level_decay: float,
        level_bounds: tuple[float, float],
    ) -> Verdict:
        """Add one bucket: `events` seen where the seasonal baseline expects `expected`
        (judged against expected x level + `extra`)."""
        self._new_day(bucket_start_ms, expected)
        lo_b, hi_b = level_bounds
        mu = max(expected, 1e-6) * min(hi_b, max(lo_b, self.level)) + extra
        x = capped(events, mu)
        best, best_i = -1.0, 0
        for i, r in enumerate(ratios):
            s = self.s[i] + llr(x, mu, 1.0, r)
            if s <= 0.0:
                self.s[i], self.since[i], self.x[i], self.m[i] = 0.0, None, 0.0, 0.0
            else:
                if self.since[i] is None:
                    self.since[i] = bucket_start_ms
                self.s[i], self.x[i], self.m[i] = s, self.x[i] + x, self.m[i] + mu
            if self.s[i] > best:
                best, best_i = self.s[i], i
        self.crit_up = max(0.0, self.crit_up + llr(x, mu, low, high))
        self.crit_down = max(0.0, self.crit_down + llr(x, mu, high, low))
        score = best / h
        # Today's level learns from the day's first part whatever the evidence (a busy day
        # starts at night and must be learned before it builds a case; measured: freezing it
        # at half the threshold tripled the false alerts on days 10-15% apart); the long-run
        # level only from buckets that build almost none.
        if learn:
            self.learn(events, expected, level_decay, long_run=score < _FREEZE_FRACTION)
        est, r_low, r_high = ratio_interval(self.x[best_i], self.m[best_i])
        return Verdict(
            alarm=score >= 1.0,
            critical=self.crit_up >= h_severity,
            below_critical=self.crit_down >= h_severity,
            score=score,
            change_point_ms=self.since[best_i],
            ratio=est,
            ratio_low=r_low,
            ratio_high=r_high,
            events=self.x[best_i],
            expected=self.m[best_i],
        )

    def warm_up(self, bucket_start_ms: int, events: float, expected: float, decay: float) -> None:
        """Learn from a bucket that is not judged (too little history to judge against)."""
        self._new_day(bucket_start_ms, expected)
        self.learn(events, expected, decay)

    def learn(self, events: float, expected: float, decay: float, long_run: bool = True) -> None:
        """Move the levels towards `events` over `expected` (the seasonal baseline's)."""
        got, expected = capped(events, expected), max(expected, 0.0)
        if long_run:
            self.level_num = decay * self.level_num + got
            self.level_den = decay * self.level_den + expected
        # Today's level is learned from the day's first part only: a surge that starts later
        # in the day is measured against the morning, not absorbed by the afternoon.
        typical_day = 12 * (1 - _HOURS_DECAY) * sum(self.hours)
        if self.day[1] < _DAY_LEARN_FRACTION * typical_day:
            self.day[0] += got
            self.day[1] += expected

    def episode_moved(self, *, resolved: bool, opened: bool, critical: bool | None) -> None:
        """The alert lifecycle moved: an episode resolved or opened, or its severity changed
        (critical: True up, False down, None unchanged)."""
        if resolved:
            self.reset()
        elif opened:
            self.day = [0.0, 0.0]  # today's level may have learned the surge's foot
        elif critical is True:
            self.crit_down = 0.0
        elif critical is False:
            self.crit_up = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "s": list(self.s),
            "since": list(self.since),
            "x": list(self.x),
            "m": list(self.m),
            "crit": [self.crit_up, self.crit_down],
            "level": [self.level_num, self.level_den],
            "day": list(self.day),
            "hours": list(self.hours),
            "dvar": list(self.dvar),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], designs: int) -> Sequential:
        seq = cls(designs)
        if len(data["s"]) == designs:  # else the designs changed: start the evidence afresh
            seq.s = [float(v) for v in data["s"]]
            seq.since = [None if v is None else int(v) for v in data["since"]]
            seq.x = [float(v) for v in data["x"]]
            seq.m = [float(v) for v in data["m"]]
            seq.crit_up, seq.crit_down = (float(v) for v in data["crit"])
        seq.level_num, seq.level_den = (float(v) for v in data["level"])
        seq.day = [float(v) for v in data["day"]]
        seq.hours = [float(v) for v in data["hours"]]
        seq.dvar = [float(v) for v in data["dvar"]]
        return seq
