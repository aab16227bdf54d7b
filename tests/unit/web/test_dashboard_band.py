"""The significance band: the counts where the detector's tail probabilities cross its level."""

from __future__ import annotations

import math

import pytest

from streams.detect.significance import log_cdf, log_sf, predictive_variance
from streams.web.dashboard.band import event_band, lower_quantile, upper_quantile

P = 1e-6


@pytest.mark.parametrize("mean", [0.5, 3.0, 20.0, 74.0, 800.0, 20_000.0])
@pytest.mark.parametrize(("cv2", "inflation"), [(0.0, 0.0), (0.0025, 0.33), (0.05, 0.0)])
def test_upper_edge_is_where_the_excess_becomes_significant(
    mean: float, cv2: float, inflation: float
) -> None:
    var = predictive_variance(mean, cv2, inflation)
    upper = upper_quantile(mean, var, P)
    assert upper > mean
    assert log_sf(upper, mean, var) <= math.log(P)
    assert log_sf(upper * 0.99, mean, var) > math.log(P)


@pytest.mark.parametrize("mean", [40.0, 74.0, 800.0, 20_000.0])
def test_lower_edge_is_where_the_shortfall_becomes_significant(mean: float) -> None:
    var = predictive_variance(mean, 0.0025, 0.25)
    lower = lower_quantile(mean, var, P)
    assert 0 < lower < mean
    assert log_cdf(lower, mean, var) <= math.log(P)
    assert log_cdf(lower * 1.01 + 0.01, mean, var) > math.log(P)


def test_small_expectations_have_no_lower_edge() -> None:
    assert lower_quantile(3.0, 3.0, P) == 0.0
    assert event_band(0.0, 0.01, 0.0, P) == (0.0, 0.0)


def test_band_widens_with_dispersion_and_uncertainty() -> None:
    tight = event_band(100.0, 0.0025, 0.0, P)
    wide = event_band(100.0, 0.05, 0.5, P)
    assert wide[0] < tight[0] < 100.0 < tight[1] < wide[1]
