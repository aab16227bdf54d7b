"""How far one day's traffic may lie from a subject's long-run level, learned from its days.

Days differ (weather, weekdays, holidays, a holiday's eve): the sequential test
(streams/detect/sequential.py) judges each day against its own level, learned from the day's
first hours, but only within the band that the subject's day-to-day variation allows. A day
beyond the band is a surge's foot, not a busy day: a night at 1.5x, learned as the day's normal,
hid Finland's +80% and Georgia's doubling for days (2022 scenario). Pure functions over the
sums the test keeps in its state.
"""

from __future__ import annotations

import math

# A 14% day-to-day CV until the subject's days say otherwise, with a week's weight: a variance
# learned from a few days is a guess (from six days, 0.7% let a busy day at a border post be
# called a surge).
PRIOR_VARIANCE = 0.02
PRIOR_DAYS = 7.0
_FLOOR = 0.0004  # 2%
DECAY = 0.5 ** (1 / 28)  # a month of days
MIN_DAY_EVENTS = 20.0  # a day's estimate needs this many expected groups to count
# The band: this many day-to-day standard deviations (log scale) above the long-run level,
# and this many below. Below, only one: a night that looks quiet against a baseline of two or
# three weeks is as often the baseline's error, and a morning judged against it built a case
# (narva, a control post, on one seed).
Z_UP = 2.0
Z_DOWN = 1.0
# A day counts towards the variance with at most this many standard deviations (of the
# prior's, or the learned one's if larger): one surge day must not teach the subject that days
# differ by 60%.
_CLIP_Z = 3.0


def variance(sums: list[float]) -> float:
    """Relative variance of a day's level around the long-run one, Poisson noise taken out;
    `sums` are the decayed sum of days' squared deviations and the decayed count of days."""
    num, den = sums
    return max(_FLOOR, (num + PRIOR_DAYS * PRIOR_VARIANCE) / (den + PRIOR_DAYS))


def add_day(sums: list[float], got: float, expected: float, long_level: float) -> None:
    """Count a finished day (`got` groups where the seasonal baseline expected `expected`)."""
    if expected < MIN_DAY_EVENTS:
        return
    rel = got / expected / long_level - 1.0
    top = _CLIP_Z**2 * max(variance(sums), PRIOR_VARIANCE)
    sums[0] = DECAY * sums[0] + min(rel * rel - 1.0 / expected, top)
    sums[1] = DECAY * sums[1] + 1.0


def own_level(got: float, expected: float, long_level: float, var: float) -> float:
    """The day's groups over expected, shrunk towards the long-run level as much as the
    subject's days agree with it (a gamma prior of 1 / var expected groups)."""
    weight = 1.0 / var
    return (got + weight * long_level) / (expected + weight)


def band(long_level: float, var: float) -> tuple[float, float]:
    """The lowest and highest level a day plausibly has."""
    sd = math.sqrt(math.log1p(var))
    return long_level * math.exp(-Z_DOWN * sd), long_level * math.exp(Z_UP * sd)
