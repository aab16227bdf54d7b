"""Tail probabilities of the count models against brute-force sums and known limits."""

from __future__ import annotations

import itertools
import math

import pytest

from streams.detect.significance import (
    excess_p,
    log_beta_inc,
    log_cdf,
    log_gamma_p,
    log_sf,
    predictive_variance,
    shortfall_p,
)


def _poisson_pmf(k: int, mean: float) -> float:
    return math.exp(-mean + k * math.log(mean) - math.lgamma(k + 1))


def _nb_pmf(k: int, mean: float, var: float) -> float:
    r = mean * mean / (var - mean)
    p = r / (r + mean)
    log_pmf = math.lgamma(k + r) - math.lgamma(r) - math.lgamma(k + 1)
    return math.exp(log_pmf + r * math.log(p) + k * math.log1p(-p))


@pytest.mark.parametrize("mean", [0.3, 2.0, 9.5, 40.0])
@pytest.mark.parametrize("overdispersion", [0.0, 0.5, 3.0])
def test_tails_match_brute_force_sums(mean: float, overdispersion: float) -> None:
    var = mean * (1 + overdispersion)
    support = range(int(mean * 30) + 200)
    if overdispersion == 0:
        probs = [_poisson_pmf(k, mean) for k in support]
    else:
        probs = [_nb_pmf(k, mean, var) for k in support]
    for k in range(int(mean * 5) + 15):
        upper = sum(probs[k:])
        lower = sum(probs[: k + 1])
        assert math.exp(log_sf(k, mean, var)) == pytest.approx(upper, rel=1e-9, abs=1e-300)
        assert math.exp(log_cdf(k, mean, var)) == pytest.approx(lower, rel=1e-9)


def test_far_tails_keep_relative_precision_in_log_space() -> None:
    # P(X >= 20000 | Poisson 10000) is ~1e-1680: only its log is representable.
    log_p = log_sf(20_000, 10_000.0, 10_000.0)
    assert -4000 < log_p < -3000
    # Against a brute-force log-sum of the first terms of the far tail.
    terms = [-10_000 + k * math.log(10_000) - math.lgamma(k + 1) for k in range(300, 400)]
    top = max(terms)
    brute = top + math.log(sum(math.exp(t - top) for t in terms))
    assert log_sf(300, 10_000.0, 10_000.0) == pytest.approx(0.0, abs=1e-12)
    assert log_cdf(399, 10_000.0, 10_000.0) == pytest.approx(brute, rel=1e-9)


def test_large_means_agree_with_the_normal_approximation() -> None:
    mean = 100_000.0
    for z in (1.0, 2.0, 3.0):
        normal_tail = 0.5 * math.erfc(z / math.sqrt(2))
        x = mean + z * math.sqrt(mean)
        assert math.exp(log_sf(x, mean, mean)) == pytest.approx(normal_tail, rel=0.02)
        assert math.exp(log_cdf(mean - z * math.sqrt(mean), mean, mean)) == pytest.approx(
            normal_tail, rel=0.02
        )


def test_fractional_counts_interpolate_monotonically() -> None:
    values = [math.exp(log_sf(x / 10, 5.0, 9.0)) for x in range(1, 200)]
    assert all(a >= b for a, b in itertools.pairwise(values))
    assert values[0] <= 1.0


def test_special_functions_at_known_points() -> None:
    assert math.exp(log_gamma_p(1.0, 2.0)) == pytest.approx(1 - math.exp(-2.0))
    assert math.exp(log_beta_inc(2.0, 3.0, 0.4)) == pytest.approx(0.5248, abs=1e-4)
    assert log_sf(0, 5.0, 5.0) == 0.0
    assert log_sf(3, 0.0, 0.0) == -math.inf


def test_overdispersion_and_baseline_uncertainty_weaken_significance() -> None:
    poisson = excess_p(200, 100, unit=1.0, rate_cv2=0.0, inflation=0.0)
    dispersed = excess_p(200, 100, unit=1.0, rate_cv2=0.05, inflation=0.0)
    uncertain = excess_p(200, 100, unit=1.0, rate_cv2=0.0, inflation=1.5)
    assert poisson < 1e-15
    assert dispersed > poisson and uncertain > poisson
    assert predictive_variance(100, 0.01, 0.5) == pytest.approx(300.0)


def test_counting_in_group_units_makes_a_bus_insignificant() -> None:
    # 40 expected travellers, a bus of 40 on top: as Poisson travellers it would be 1e-8.
    assert excess_p(80, 40, unit=1.0, rate_cv2=0.0, inflation=0.0) < 1e-6
    assert excess_p(80, 40, unit=50.0, rate_cv2=0.0, inflation=0.0) > 0.1


def test_shortfall_is_the_lower_tail() -> None:
    low = shortfall_p(60, 100, unit=1.0, rate_cv2=0.0, inflation=0.0)
    assert 1e-6 < low < 1e-4
    assert shortfall_p(100, 100, unit=1.0, rate_cv2=0.0, inflation=0.0) > 0.5
