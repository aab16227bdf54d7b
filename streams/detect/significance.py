"""Tail probabilities of overdispersed count models (Poisson, negative binomial), in log space."""

from __future__ import annotations

import math

# The median of n weekly samples has about pi/2 times the variance of their mean.
MEDIAN_VARIANCE_FACTOR = math.pi / 2

_EPS = 1e-15
_TINY = 1e-300
_MAX_ITER = 200_000
# Beyond this shape the negative binomial is a Poisson to double precision.
_MAX_SHAPE = 1e12


def _log_gamma_p_series(a: float, x: float) -> float:
    """log P(a, x) by its power series; converges fast for x < a + 1."""
    term = 1.0 / a
    total = term
    ap = a
    for _ in range(_MAX_ITER):
        ap += 1.0
        term *= x / ap
        total += term
        if term < total * _EPS:
            break
    return math.log(total) - x + a * math.log(x) - math.lgamma(a)


def _log_gamma_q_fraction(a: float, x: float) -> float:
    """log Q(a, x) by Lentz's continued fraction; converges fast for x >= a + 1."""
    b = x + 1.0 - a
    c = 1.0 / _TINY
    d = 1.0 / b
    h = d
    for i in range(1, _MAX_ITER):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = _TINY if abs(d) < _TINY else d
        c = b + an / c
        c = _TINY if abs(c) < _TINY else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            break
    return math.log(h) - x + a * math.log(x) - math.lgamma(a)


def _log1mexp(log_v: float) -> float:
    """log(1 - exp(log_v)) without cancellation."""
    if log_v > -math.log(2.0):
        return math.log(-math.expm1(log_v))
    return math.log1p(-math.exp(log_v))


def log_gamma_p(a: float, x: float) -> float:
    """log of the regularized lower incomplete gamma function P(a, x), a > 0."""
    if x <= 0.0:
        return -math.inf
    if x < a + 1.0:
        return _log_gamma_p_series(a, x)
    return _log1mexp(_log_gamma_q_fraction(a, x))


def log_gamma_q(a: float, x: float) -> float:
    """log of the regularized upper incomplete gamma function Q(a, x), a > 0."""
    if x <= 0.0:
        return 0.0
    if x < a + 1.0:
        return _log1mexp(_log_gamma_p_series(a, x))
    return _log_gamma_q_fraction(a, x)


def _beta_fraction(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c = 1.0
    d = 1.0 - qab * x / qap
    d = _TINY if abs(d) < _TINY else d
    d = 1.0 / d
    h = d
    for m in range(1, _MAX_ITER):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = _TINY if abs(d) < _TINY else d
        c = 1.0 + aa / c
        c = _TINY if abs(c) < _TINY else c
        d = 1.0 / d
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = _TINY if abs(d) < _TINY else d
        c = 1.0 + aa / c
        c = _TINY if abs(c) < _TINY else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            break
    return h


def log_beta_inc(a: float, b: float, x: float) -> float:
    """log of the regularized incomplete beta function I_x(a, b), a, b > 0."""
    if x <= 0.0:
        return -math.inf
    if x >= 1.0:
        return 0.0
    front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    # Evaluate the fraction on the side where it converges and is not a difference of near-ones,
    # so far tails keep their relative precision.
    if x < (a + 1.0) / (a + b + 2.0):
        return front + math.log(_beta_fraction(a, b, x)) - math.log(a)
    return _log1mexp(front + math.log(_beta_fraction(b, a, 1.0 - x)) - math.log(b))


def _shape(mean: float, var: float) -> float | None:
    """Negative binomial shape r for this mean and variance, or None when it is a Poisson."""
    if var <= mean * (1.0 + 1e-12):
        return None
    r = mean * mean / (var - mean)
    return None if r > _MAX_SHAPE else r


def log_sf(x: float, mean: float, var: float) -> float:
    """log P(X >= x) for a count X with this mean and variance (NB, or Poisson if var <= mean).

    x may be fractional (counts measured in units of a group size): the incomplete gamma and
    beta functions interpolate the integer tails continuously.
    """
    if x <= 0.0:
        return 0.0
    if mean <= 0.0:
        return -math.inf
    r = _shape(mean, var)
    if r is None:
        return log_gamma_p(x, mean)
    return log_beta_inc(x, r, mean / (r + mean))


def log_cdf(x: float, mean: float, var: float) -> float:
    """log P(X <= x) for the same model as :func:`log_sf`."""
    if x < 0.0:
        return -math.inf
    if mean <= 0.0:
        return 0.0
    r = _shape(mean, var)
    if r is None:
        return log_gamma_q(x + 1.0, mean)
    return log_beta_inc(r, x + 1.0, r / (r + mean))


def predictive_variance(mean: float, rate_cv2: float, inflation: float) -> float:
    """Variance of a new count around an estimated mean.

    Poisson noise plus rate variation (variance rate_cv2 * mean**2, the negative binomial), times
    (1 + inflation) for the uncertainty of the estimated mean itself (about pi/2 / n_samples).
    """
    return (mean + rate_cv2 * mean * mean) * (1.0 + inflation)


def excess_p(
    observed: float, expected: float, *, unit: float, rate_cv2: float, inflation: float
) -> float:
    """P(count >= observed) when the count arrives in clumps of about `unit` (quasi-Poisson).

    Counting in units of `unit` = E[G^2]/E[G] turns a compound Poisson count into one whose
    variance equals its mean; unit=1 is a plain negative binomial.
    """
    mean = expected / unit
    return math.exp(log_sf(observed / unit, mean, predictive_variance(mean, rate_cv2, inflation)))


def shortfall_p(
    observed: float, expected: float, *, unit: float, rate_cv2: float, inflation: float
) -> float:
    """P(count <= observed) for the model of :func:`excess_p`."""
    mean = expected / unit
    return math.exp(log_cdf(observed / unit, mean, predictive_variance(mean, rate_cv2, inflation)))
