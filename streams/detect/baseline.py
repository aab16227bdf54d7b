"""The seasonal baseline of a window (same hour of past weeks) and the learned rate dispersion."""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from streams.detect.history import _MISSING, WEEK_MS, BucketHistory

__all__ = ["Baseline", "BucketHistory", "DispersionEstimate", "Interval", "baseline"]

# Never assume the hourly rate is steadier than 5% (CV^2 = 0.0025): real traffic never is.
MIN_RATE_CV2 = 0.0025
# A past week further than this many predictive deviations from the median week is left out.
OUTLIER_SD = 3.0
# Variance of the mean of n agreeing weeks, relative to one week's, is this / n.
MEAN_VARIANCE_FACTOR = 1.0
# Weight, in groups, of the subject's long-run mean group size against the sample weeks' own.
GROUP_PRIOR_EVENTS = 200.0

Interval = tuple[int, int | None]
"""[start_ms, end_ms) of an alert episode; end None while it is still open."""


@dataclass(frozen=True, slots=True)
class Baseline:
    """What a window is expected to hold, and how sure we are of it."""

    travellers: float
    events: float
    rate_cv2: float  # extra-Poisson variance of the rate, relative (negative binomial 1/r)
    inflation: float  # relative variance of the estimate itself; 0 for a static baseline
    n_samples: int  # sample windows used
    n_weeks: int  # distinct past weeks among them (the independent ones); 0 if static
    source: str  # "history" or "static"
    # The CV^2 that the spread between the clean sample weeks implies (Poisson removed), for
    # DispersionEstimate; None with fewer than two clean weeks or a static baseline.
    spread_cv2: float | None = None
    spread_weeks: int = 0  # the weeks that spread is measured over


def _overlaps(start: int, end: int, intervals: list[Interval]) -> bool:
    return any(end > s and (e is None or start < e) for s, e in intervals) if intervals else False


def _sliding_sums(
    trav: array[int], evts: array[int], n: int, min_cover: float = 0.5
) -> list[tuple[int, float, float]]:
    """(offset, travellers, events) of each run of n buckets with at least `min_cover` of them
    present, scaled up for the missing ones."""
    width = len(trav) - n + 1
    out: list[tuple[int, float, float]] = []
    if trav.count(_MISSING) < len(trav):
        for j in range(width):
            run = zip(trav[j : j + n], evts[j : j + n], strict=True)
            pairs = [(x, y) for x, y in run if x != _MISSING]
            if len(pairs) >= min_cover * n:
                scale = n / len(pairs)
                t, e = sum(x for x, _ in pairs), sum(y for _, y in pairs)
                out.append((j, t * scale, e * scale))
    return out


def _median(values: list[float]) -> float:
    v = sorted(values)
    mid = len(v) // 2
    return v[mid] if len(v) % 2 else (v[mid - 1] + v[mid]) / 2.0


def baseline(
    history: BucketHistory,
    window_end_ms: int,
    window_ms: int,
    *,
    weeks: int = 4,
    spread: int = 1,
    exclude: Iterable[Interval] = (),
    prior_cv2: float = 0.01,
    prior_sd: float = 0.01,
    group_mean: float | None = None,
    min_cover: float = 0.5,
) -> Baseline | None:
    """Expected counts for the window ending at window_end_ms, from the same hour of past weeks.

    For each of the last `weeks` weeks, the window ending k weeks earlier and its neighbours
    +-`spread` buckets are summed (scaled up if at least half their buckets are present); a week's
    value is the mean of its usable windows. The weekly lag is the guard band: nothing from the
    last 7 days feeds the baseline. Windows overlapping `exclude` (alert episodes) are skipped,
    so a flood never becomes the normal, unless every candidate is excluded (a flood older than
    the lookback is the new normal).

    Expected events are the mean over the weeks that agree with their median (a week more than
    OUTLIER_SD predictive deviations away is dropped, so one bad week cannot move it; the mean
    of n weeks has 1/n of a week's variance where the median has pi/2/n). Expected travellers
    are those events times a mean group size: the weeks' own, shrunk towards `group_mean` (the
    subject's long-run mean) with GROUP_PRIOR_EVENTS groups of weight, because one bus more or
    less in a past week would otherwise move the expectation by a fifth at a small post.

    A sample window with gaps counts if at least `min_cover` of its buckets are present, scaled
    up for the rest: fine for an hour, wrong for a long window across a daily rhythm (four night
    hours scaled to eight are not a Sunday evening), so long windows ask for 1.0.

    The rate dispersion combines the spread between the weeks with `prior_cv2` (known to about
    `prior_sd`), each weighted by its precision: with a few weeks of small counts the spread is
    mostly Poisson noise and the prior dominates. None when no past week has a usable window.
    """
    bms = history.bucket_ms
    n = window_ms // bms
    intervals = list(exclude)
    # Per usable week: (mean travellers, mean events, windows) over its clean or tainted windows.
    clean: list[tuple[float, float, int]] = []
    tainted: list[tuple[float, float, int]] = []
    width = 2 * spread + 1
    for k in range(1, weeks + 1):
        centre = window_end_ms - k * WEEK_MS
        first = (centre - window_ms) // bms - spread
        trav, evts = history._fetch(first, n + width - 1)
        span = (centre - spread * bms - window_ms, centre + spread * bms)
        if _MISSING not in trav and not _overlaps(*span, intervals):
            # The common case, kept lean: every window present and clean.
            t, e = sum(trav[:n]), sum(evts[:n])
            tot_t, tot_e = t, e
            for j in range(1, width):
                t += trav[j + n - 1] - trav[j - 1]
                e += evts[j + n - 1] - evts[j - 1]
                tot_t, tot_e = tot_t + t, tot_e + e
            clean.append((tot_t / width, tot_e / width, width))
            continue
        ok: list[tuple[int, float, float]] = []
        bad: list[tuple[int, float, float]] = []
        for w in _sliding_sums(trav, evts, n, min_cover):
            end = centre + (w[0] - spread) * bms
            (bad if _overlaps(end - window_ms, end, intervals) else ok).append(w)
        for group, target in ((ok, clean), (bad, tainted)):
            if group:
                count = len(group)
                t_mean = sum(w[1] for w in group) / count
                target.append((t_mean, sum(w[2] for w in group) / count, count))
    used = clean or tainted
    if not used:
        return None
    n_weeks = len(used)
    kept = used
    if n_weeks >= 3:
        centre_e = _median([e for _, e, _ in used])
        cv2_guess = max(prior_cv2, MIN_RATE_CV2)
        limit = OUTLIER_SD * math.sqrt(max(centre_e, 1.0) * (1.0 + cv2_guess * centre_e))
        kept = [w for w in used if abs(w[1] - centre_e) <= limit]
    n_kept = len(kept)
    sum_t = sum(t for t, _, _ in kept)
    sum_e = sum(e for _, e, _ in kept)
    exp_e = sum_e / n_kept
    if group_mean is None:
        exp_t = sum_t / n_kept
    else:
        exp_t = exp_e * (sum_t + GROUP_PRIOR_EVENTS * group_mean) / (sum_e + GROUP_PRIOR_EVENTS)
    cv2 = prior_cv2
    spread_cv2 = None
    if n_weeks >= 2 and exp_e > 0:
        # The spread over every usable week, an outlier included: measured only over the
        # weeks that agree, it would learn a smaller variance, which would make more weeks
        # outliers (day-to-day variation of 10-15% ended up flagged as surges that way).
        mean_e = sum(e for _, e, _ in used) / n_weeks
        var_e = sum((e - mean_e) ** 2 for _, e, _ in used) / (n_weeks - 1)
        local = (var_e - mean_e) / (mean_e * mean_e) if mean_e > 0 else 0.0
        if clean:
            spread_cv2 = local
        # A sample variance from n values has a relative variance of about 2 / (n - 1).
        local_var = 2.0 / (n_weeks - 1) * (1.0 / exp_e + prior_cv2) ** 2
        w_prior, w_local = 1.0 / prior_sd**2, 1.0 / local_var
        cv2 = (w_prior * prior_cv2 + w_local * local) / (w_prior + w_local)
        # Four calm-looking weeks may be luck: they can halve the learned value, no more.
        cv2 = max(MIN_RATE_CV2, prior_cv2 / 2, cv2)
    return Baseline(
        travellers=exp_t,
        events=exp_e,
        rate_cv2=cv2,
        inflation=MEAN_VARIANCE_FACTOR / n_kept,
        n_samples=sum(c for _, _, c in kept),
        n_weeks=n_kept,
        source="history",
        spread_cv2=spread_cv2,
        spread_weeks=n_weeks if spread_cv2 is not None else 0,
    )


class DispersionEstimate:
    """Rate overdispersion (CV^2 of the hourly rate) learned from the past weeks of one subject.

    Every evaluation contributes the spread between the clean sample weeks of its baseline,
    (var - mu) / mu^2 (see `Baseline.spread_cv2`), clipped, with a weight that is ~(n - 1) / 2
    for large windows and ~0 where Poisson noise swamps it; sums decay with a half-life of a week
    of evaluations and are shrunk towards a prior.

    Only data at least a week old enters, and never an alert episode: an undetected surge used
    to be learned as noise (its own residuals against the baseline), which raised the variance
    until the surge could no longer be detected (RU-FI in the 2022 scenario: CV^2 0.0025 to 0.1
    within two days).
    """

    __slots__ = ("den", "num")

    PRIOR = 0.01  # a 10% hour-to-hour variation of the rate when nothing is known
    PRIOR_WEIGHT = 50.0  # about 50 large windows' worth
    CLIP = 0.25
    DECAY = 0.5 ** (1.0 / (7 * 288))

    def __init__(self, num: float = 0.0, den: float = 0.0) -> None:
        self.num = num
        self.den = den

    @property
    def value(self) -> float:
        est = (self.num + self.PRIOR_WEIGHT * self.PRIOR) / (self.den + self.PRIOR_WEIGHT)
        return max(MIN_RATE_CV2, est)

    def update(self, spread_cv2: float, expected: float, weeks: int) -> None:
        """Learn from the week-to-week spread of `weeks` sample weeks around `expected`."""
        if expected <= 0 or weeks < 2:
            return
        resid = min(self.CLIP, max(-self.CLIP, spread_cv2))
        x = self.PRIOR * expected
        # The spread of n values estimates a variance with relative variance 2 / (n - 1).
        weight = (weeks - 1) / 2.0 * (x / (1.0 + x)) ** 2
        self.num = self.DECAY * self.num + weight * resid
        self.den = self.DECAY * self.den + weight

    def to_dict(self) -> dict[str, float]:
        return {"num": self.num, "den": self.den}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DispersionEstimate:
        return cls(float(data["num"]), float(data["den"]))
