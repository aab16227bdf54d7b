"""The hand-written Poisson sampler: right mean and variance on both of its branches."""

import math
import random

import pytest

from streams.simulate.generator import poisson


@pytest.mark.parametrize("lam", [0.0, 0.05, 1.3, 9.99, 10.0, 37.5, 1000.0, 250_000.0])
def test_poisson_draws_have_mean_and_variance_lam(lam: float) -> None:
    rnd = random.Random(int(lam * 100)).random
    n = 20_000
    draws = [poisson(rnd, lam) for _ in range(n)]
    mean = sum(draws) / n
    variance = sum((d - mean) ** 2 for d in draws) / (n - 1)
    assert all(isinstance(d, int) and d >= 0 for d in draws)
    assert abs(mean - lam) <= 5 * math.sqrt(lam / n)
    # The sample variance of a Poisson has sd about lam * sqrt(2 / n) for large lam.
    assert abs(variance - lam) <= 5 * math.sqrt((2 * lam * lam + lam) / n)


def test_small_lam_probabilities_match_the_pmf() -> None:
    rnd = random.Random(3).random
    n, lam = 50_000, 2.0
    counts = [0] * 8
    for _ in range(n):
        k = poisson(rnd, lam)
        if k < len(counts):
            counts[k] += 1
    for k, count in enumerate(counts):
        p = math.exp(-lam) * lam**k / math.factorial(k)
        assert abs(count - n * p) <= 5 * math.sqrt(n * p * (1 - p)) + 1, k


def test_u_next_to_one_still_ends() -> None:
    assert poisson(lambda: 1 - 2**-53, 5.0) < 100
