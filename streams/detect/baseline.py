"""Per-subject ring buffer of closed 5-minute buckets, and the seasonal baseline learned from it."""

from __future__ import annotations

import base64
import math
import sys
import zlib
from array import array
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

BUCKET_MS = 300_000
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
WEEK_MS = 7 * DAY_MS
# 35 days: four weeks of lookback plus the window and neighbours, with a week to spare.
DEFAULT_CAPACITY = 35 * DAY_MS // BUCKET_MS
_MISSING = 0xFFFFFFFF  # a slot never filled (or expired); zero-traffic buckets are stored as 0
_MAX_VALUE = _MISSING - 1

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


def _pack(values: array[int]) -> str:
    data = array("I", values)
    if sys.byteorder == "big":  # the encoding is little-endian whatever the host
        data.byteswap()
    return base64.b64encode(zlib.compress(data.tobytes(), 6)).decode("ascii")


def _unpack(text: str) -> array[int]:
    data = array("I")
    data.frombytes(zlib.decompress(base64.b64decode(text)))
    if sys.byteorder == "big":
        data.byteswap()
    return data


class BucketHistory:
    """Travellers and events per closed bucket for the last `capacity` buckets of event time.

    Two uint32 ring buffers (80 KB for 35 days); slot = bucket index % capacity. Writing a bucket
    newer than the latest expires the slots it skips; a bucket older than the ring is ignored.
    Running sums of T^2, TN and N^2 give the group-size dispersion in O(1).
    """

    __slots__ = ("_bucket_ms", "_cap", "_evts", "_latest", "_sums", "_trav")

    def __init__(self, capacity: int = DEFAULT_CAPACITY, bucket_ms: int = BUCKET_MS) -> None:
        self._cap = capacity
        self._bucket_ms = bucket_ms
        self._trav = array("I", [_MISSING]) * capacity
        self._evts = array("I", [0]) * capacity
        self._latest: int | None = None
        self._sums = [0, 0, 0, 0, 0]  # sum T, N, T*T, T*N, N*N over present buckets

    @property
    def bucket_ms(self) -> int:
        return self._bucket_ms

    @property
    def capacity_ms(self) -> int:
        return self._cap * self._bucket_ms

    @property
    def latest_bucket_ms(self) -> int | None:
        return None if self._latest is None else self._latest * self._bucket_ms

    @property
    def nbytes(self) -> int:
        """Bytes held by the ring buffers, the bulk of a subject's memory."""
        return self._trav.itemsize * len(self._trav) + self._evts.itemsize * len(self._evts)

    def _account(self, t: int, n: int, sign: int) -> None:
        s = self._sums
        s[0] += sign * t
        s[1] += sign * n
        s[2] += sign * t * t
        s[3] += sign * t * n
        s[4] += sign * n * n

    def _clear(self, slot: int) -> None:
        t = self._trav[slot]
        if t != _MISSING:
            self._account(t, self._evts[slot], -1)
            self._trav[slot] = _MISSING
            self._evts[slot] = 0

    def set(self, bucket_start_ms: int, travellers: int, events: int) -> bool:
        """Store one bucket's counts, replacing any earlier value (a correction is a set).

        Returns False when the bucket is older than the ring and was dropped.
        """
        if travellers < 0 or events < 0:
            raise ValueError("travellers and events must be non-negative")
        idx = bucket_start_ms // self._bucket_ms
        if self._latest is None:
            self._latest = idx
        elif idx > self._latest:
            if idx - self._latest >= self._cap:
                for slot in range(self._cap):
                    self._clear(slot)
            else:
                for i in range(self._latest + 1, idx + 1):
                    self._clear(i % self._cap)
            self._latest = idx
        elif idx <= self._latest - self._cap:
            return False
        slot = idx % self._cap
        self._clear(slot)
        t, n = min(travellers, _MAX_VALUE), min(events, _MAX_VALUE)
        self._trav[slot] = t
        self._evts[slot] = n
        self._account(t, n, 1)
        return True

    def get(self, bucket_start_ms: int) -> tuple[int, int] | None:
        """(travellers, events) of one bucket, or None if it was never closed or has expired."""
        t, n = self._fetch(bucket_start_ms // self._bucket_ms, 1)
        return None if t[0] == _MISSING else (t[0], n[0])

    def _fetch(self, first: int, count: int) -> tuple[array[int], array[int]]:
        """Slots for bucket indices first..first+count-1, _MISSING where absent."""
        latest = self._latest
        cap = self._cap
        if latest is not None and first > latest - cap and first + count - 1 <= latest:
            lo = first % cap
            hi = lo + count
            if hi <= cap:
                return self._trav[lo:hi], self._evts[lo:hi]
            return (
                self._trav[lo:] + self._trav[: hi - cap],
                self._evts[lo:] + self._evts[: hi - cap],
            )
        trav = array("I", [_MISSING]) * count
        evts = array("I", [0]) * count
        if latest is not None:
            for k in range(max(first, latest - cap + 1), min(first + count - 1, latest) + 1):
                trav[k - first] = self._trav[k % cap]
                evts[k - first] = self._evts[k % cap]
        return trav, evts

    def window_buckets(self, end_ms: int, length_ms: int) -> list[tuple[int, int]]:
        """(travellers, events) of the present buckets of the window [end - length, end)."""
        first = (end_ms - length_ms) // self._bucket_ms
        trav, evts = self._fetch(first, length_ms // self._bucket_ms)
        return [(t, n) for t, n in zip(trav, evts, strict=True) if t != _MISSING]

    def window_sum(self, end_ms: int, length_ms: int) -> tuple[int, int, int]:
        """(travellers, events, buckets present) over the window [end - length, end)."""
        first = (end_ms - length_ms) // self._bucket_ms
        trav, evts = self._fetch(first, length_ms // self._bucket_ms)
        if _MISSING not in trav:
            return sum(trav), sum(evts), len(trav)
        t = n = present = 0
        for tv, nv in zip(trav, evts, strict=True):
            if tv != _MISSING:
                t, n, present = t + tv, n + nv, present + 1
        return t, n, present

    def group_size(self) -> tuple[float, float, int]:
        """(mean group size, E[G^2]/E[G], events seen) estimated from all stored buckets.

        Given N_b groups in bucket b, T_b - m*N_b has variance N_b*Var(G), so the pooled
        residual gives Var(G) without ever seeing a single group.
        """
        st, sn, stt, stn, snn = self._sums
        if sn == 0:
            return 1.0, 1.0, 0
        m = st / sn
        var_g = max(0.0, (stt - 2.0 * m * stn + m * m * snn) / sn)
        return m, max(1.0, (var_g + m * m) / m), sn

    def to_dict(self) -> dict[str, Any]:
        """Compact JSON-able form: zlib+base64 of the ring buffers (about 10-30 KB)."""
        return {
            "capacity": self._cap,
            "bucket_ms": self._bucket_ms,
            "latest": self._latest,
            "travellers": _pack(self._trav),
            "events": _pack(self._evts),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BucketHistory:
        hist = cls(int(data["capacity"]), int(data["bucket_ms"]))
        hist._latest = None if data["latest"] is None else int(data["latest"])
        hist._trav = _unpack(data["travellers"])
        hist._evts = _unpack(data["events"])
        if len(hist._trav) != hist._cap or len(hist._evts) != hist._cap:
            raise ValueError("history buffers do not match the capacity")
        for t, n in zip(hist._trav, hist._evts, strict=True):
            if t != _MISSING:
                hist._account(t, n, 1)
        return hist


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
