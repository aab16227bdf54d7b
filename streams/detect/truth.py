"""A scenario's ground truth: its subjects, their true rates, and how early a surge is detectable.

The truth is the scenario's own rates with and without its surges (`Truth`). `detection_limit`
answers how early *any* detector held to the service's false-alarm level could follow a surge:
see its docstring and docs/detection.md ("How early is possible").
"""

from __future__ import annotations

from array import array
from itertools import accumulate

from streams.count.model import Direction
from streams.detect.config import Thresholds, border_key, crossing_key
from streams.detect.significance import excess_p
from streams.simulate.lanes import lanes
from streams.simulate.scenario import Scenario

MINUTE_MS = 60_000
_BUCKET_MIN = 5
_LIMIT_STEP_MIN = 15  # window lengths the ideal detector tries, in minutes
_LIMIT_MAX_MIN = 24 * 60


def subjects_of(scenario: Scenario) -> dict[str, tuple[str, list[Direction]]]:
    """Every subject the service would detect on: subject -> (scope, directions it sums)."""
    subjects: dict[str, tuple[str, list[Direction]]] = {}
    for post in scenario.posts:
        for d in post.directions:
            key = (post.crossing_id, d.from_country, d.to_country)
            subjects[crossing_key(*key)] = ("crossing", [key])
            subjects.setdefault(border_key(d.from_country, d.to_country), ("border", []))[1].append(
                key
            )
    return subjects


class Truth:
    """The scenario's own rates, with and without its surges: what the detector should see."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.subjects = subjects_of(scenario)
        self._surged = {lane.key: lane for lane in lanes(scenario)}
        self._normal = {
            lane.key: lane for lane in lanes(scenario.model_copy(update={"surges": []}))
        }
        self._cache: dict[str, tuple[array[float], array[float]]] = {}

    def rates(self, subject: str) -> tuple[array[float], array[float]]:
        """Travellers per minute the subject expects with the surges, and without them."""
        got = self._cache.get(subject)
        if got is None:
            n = self.scenario.minutes
            surged, normal = array("d", bytes(8 * n)), array("d", bytes(8 * n))
            for key in self.subjects[subject][1]:
                size = self._surged[key].mean_size
                pairs = zip(self._surged[key].rates, self._normal[key].rates, strict=True)
                for i, (a, b) in enumerate(pairs):
                    surged[i] += a * size
                    normal[i] += b * size
            got = self._cache[subject] = (surged, normal)
        return got

    def instant_ratio(self, subject: str) -> list[float]:
        """Per minute: the subject's travellers with the surges over those without them."""
        surged, normal = self.rates(subject)
        return [a / b if b > 1e-9 else 1.0 for a, b in zip(surged, normal, strict=True)]

    def window_ratio(self, subject: str, window_minutes: int) -> list[float]:
        """Per minute: the same over the `window_minutes` ending with that minute."""
        surged, normal = self.rates(subject)
        out: list[float] = []
        s = n = 0.0
        for i in range(len(surged)):
            s += surged[i]
            n += normal[i]
            if i >= window_minutes:
                s -= surged[i - window_minutes]
                n -= normal[i - window_minutes]
            out.append(s / n if n > 1e-9 else 1.0)
        return out

    def groups(self, subject: str) -> tuple[array[float], array[float]]:
        """Groups (events) per minute the subject expects with the surges, and without them."""
        n = self.scenario.minutes
        surged, normal = array("d", bytes(8 * n)), array("d", bytes(8 * n))
        for key in self.subjects[subject][1]:
            pairs = zip(self._surged[key].rates, self._normal[key].rates, strict=True)
            for i, (a, b) in enumerate(pairs):
                surged[i] += a
                normal[i] += b
        return surged, normal


def detection_limit(
    truth: Truth, subject: str, from_minute: int, thresholds: Thresholds, weeks: int
) -> int | None:
    """The first minute (a window end on the 5-minute grid, from `from_minute`) at which an ideal
    detector could fire, or None within a day.

    The ideal detector knows the true normal rate up to the error of a `weeks`-week baseline
    (no extra-Poisson variation at all), sees the expected number of groups (the median
    realization), may pick the best window length from one hour to a day ending now, and is held
    to the service's rules: the true ratio over the rolling window reaches the warning ratio,
    p < max_p_value, and `pending_evaluations` evaluations in a row. Real traffic has rate
    variation and a real detector sees noisy counts, so this bounds every detector from below.
    """
    surged, normal = truth.groups(subject)
    s_sum = [0.0, *accumulate(surged)]
    n_sum = [0.0, *accumulate(normal)]
    window = thresholds.window_minutes
    step = _BUCKET_MIN
    inflation = 1.0 / max(1, weeks)
    streak = 0
    first = -(-from_minute // step) * step
    for t in range(first, min(len(surged), from_minute + _LIMIT_MAX_MIN) + 1, step):
        ratio_ok = False
        if t >= window and n_sum[t] - n_sum[t - window] > 1e-9:
            ratio_ok = (s_sum[t] - s_sum[t - window]) / (
                n_sum[t] - n_sum[t - window]
            ) >= thresholds.warning_ratio
        significant = False
        if ratio_ok:
            for length in range(window, min(t, _LIMIT_MAX_MIN) + 1, _LIMIT_STEP_MIN):
                mu = n_sum[t] - n_sum[t - length]
                seen = s_sum[t] - s_sum[t - length]
                if mu > 0 and seen > mu:
                    p = excess_p(seen, mu, unit=1.0, rate_cv2=0.0, inflation=inflation)
                    if p < thresholds.max_p_value:
                        significant = True
                        break
        streak = streak + 1 if significant else 0
        if streak >= thresholds.pending_evaluations:
            return t
    return None
