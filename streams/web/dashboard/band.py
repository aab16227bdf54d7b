"""Quantiles of the detector's count model: the significance band drawn around the expected line.

Pure. The detector never inverts its tail probabilities (it only asks "is this count
significant?"); the chart needs the count where the answer changes, so it is found here by
bisection on the same log-space tails (`streams.detect.significance`).
"""

from __future__ import annotations

import math
from functools import lru_cache

from streams.detect.significance import log_cdf, log_sf, predictive_variance

_REL_TOL = 2e-3  # of the band edge: far below a pixel of any chart
_MAX_STEPS = 60


def upper_quantile(mean: float, var: float, p: float) -> float:
    """Smallest count x with P(X >= x) <= p (continuous x, as the detector tests it)."""
    if mean <= 0.0:
        return 0.0
    target = math.log(p)
    lo, hi = mean, mean + 10.0 * math.sqrt(var) + 10.0
    steps = 0
    while log_sf(hi, mean, var) > target and steps < _MAX_STEPS:
        lo, hi = hi, 2.0 * hi
        steps += 1
    while hi - lo > _REL_TOL * hi and steps < _MAX_STEPS:
        mid = (lo + hi) / 2.0
        if log_sf(mid, mean, var) > target:
            lo = mid
        else:
            hi = mid
        steps += 1
    return hi


def lower_quantile(mean: float, var: float, p: float) -> float:
    """Largest count x with P(X <= x) <= p; 0 when even no count at all is that unlikely."""
    target = math.log(p)
    if mean <= 0.0 or log_cdf(0.0, mean, var) > target:
        return 0.0
    lo, hi = 0.0, mean
    steps = 0
    while hi - lo > _REL_TOL * max(hi, 1.0) and steps < _MAX_STEPS:
        mid = (lo + hi) / 2.0
        if log_cdf(mid, mean, var) <= target:
            lo = mid
        else:
            hi = mid
        steps += 1
    return lo


@lru_cache(maxsize=4096)
def event_band(
    expected_events: float, rate_cv2: float, inflation: float, p: float
) -> tuple[float, float]:
    """(lower, upper) groups of a window: outside them, a one-sided p-value below `p`.

    Cached: a static baseline repeats the same few expectations hour after hour.
    """
    var = predictive_variance(expected_events, rate_cv2, inflation)
    return (
        lower_quantile(expected_events, var, p),
        upper_quantile(expected_events, var, p),
    )
