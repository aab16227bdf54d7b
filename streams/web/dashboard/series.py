"""A subject's rolling count over the last hours of event time, with expected value and band.

Pure, read-only over a `SubjectDetector`: the observed count of every window end comes from
its bucket history, the expected value from the same baseline the detector evaluates with
(`SubjectDetector.baseline_at`, asked for past window ends in hindsight: episodes known now are
left out of the weeks it samples), and the band from the detector's own count model.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from streams.count.windows import to_rfc3339
from streams.detect.detector import SubjectDetector
from streams.detect.evidence import MIN_EXPECTED
from streams.web.dashboard.band import event_band

Band = tuple[float, float, float] | None
"""(expected, lower, upper) travellers of one window end; None without a baseline."""


@dataclass
class _Cached:
    episodes: tuple[tuple[int, int | None], ...]
    points: dict[int, Band]


class SeriesCache:
    """Bands already computed, per subject (LRU over subjects, a window of ends each).

    A band depends on weeks-old buckets and on the alert episodes (kept out of the baseline),
    so it is computed once per window end, again only when the episodes change.
    """

    def __init__(self, max_subjects: int = 64) -> None:
        self.max_subjects = max_subjects
        self._data: OrderedDict[str, _Cached] = OrderedDict()

    def points(self, det: SubjectDetector) -> dict[int, Band]:
        episodes = tuple(det.episodes)
        entry = self._data.get(det.subject)
        if entry is None or entry.episodes != episodes:
            entry = _Cached(episodes, {})
            self._data[det.subject] = entry
        self._data.move_to_end(det.subject)
        while len(self._data) > self.max_subjects:
            self._data.popitem(last=False)
        return entry.points


def band_at(det: SubjectDetector, end_ms: int) -> Band:
    """Expected travellers of the window ending at end_ms and its significance band.

    upper is where the window starts to count as a surge: at least warning_ratio x expected,
    and groups significant at max_p_value (converted to travellers at the baseline's mean group
    size). lower is the count significantly below expected at the same level (0 if none).
    """
    base = det.baseline_at(end_ms)
    if base is None:
        return None
    th = det.thresholds
    history = det.history
    _, _, present = history.window_sum(end_ms, th.window_ms)
    if not present:
        return None
    cover = present / (th.window_ms // history.bucket_ms)
    expected = base.travellers * cover
    events = max(base.events * cover, MIN_EXPECTED)
    group = base.travellers / base.events if base.events > 0 else 1.0
    lo_e, hi_e = event_band(
        round(events, 3), round(base.rate_cv2, 6), round(base.inflation, 6), th.max_p_value
    )
    upper = max(th.warning_ratio * max(expected, MIN_EXPECTED), hi_e * group)
    return expected, lo_e * group, upper


def _r(x: float) -> float:
    return round(x, 1)


def series(
    det: SubjectDetector, hours: int = 48, cache: SeriesCache | None = None
) -> dict[str, Any] | None:
    """Columns of one value per window end (every bucket) over the last `hours` of event time,
    ending at the subject's last evaluated window; None before its first evaluation."""
    last = det.last_window_end_ms
    if last is None:
        return None
    step = det.history.bucket_ms
    th = det.thresholds
    oldest = last - step if det.first_bucket_ms is None else det.first_bucket_ms
    first = max(last - hours * 3_600_000, oldest) + step
    first = last - (last - first) // step * step
    points = cache.points(det) if cache is not None else {}
    observed: list[int | None] = []
    expected: list[float | None] = []
    lower: list[float | None] = []
    upper: list[float | None] = []
    for end in range(first, last + step, step):
        travellers, _, present = det.history.window_sum(end, th.window_ms)
        observed.append(travellers if present else None)
        if end not in points:
            points[end] = band_at(det, end)
        band = points[end]
        expected.append(None if band is None else _r(band[0]))
        lower.append(None if band is None else _r(band[1]))
        upper.append(None if band is None else _r(band[2]))
    for end in [e for e in points if e < first]:
        del points[end]
    return {
        "subject": det.subject,
        "window_minutes": th.window_minutes,
        "step_minutes": step // 60_000,
        "first_end": to_rfc3339(first),
        "last_end": to_rfc3339(last),
        "warning_ratio": th.warning_ratio,
        "critical_ratio": th.critical_ratio,
        "observed": observed,
        "expected": expected,
        "lower": lower,
        "upper": upper,
    }
