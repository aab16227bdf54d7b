"""Evidence from a subject's history beyond the evaluated window: bursts capped, longer windows.

Pure functions over a `BucketHistory`; `SubjectDetector` decides what the evidence means.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

from streams.detect.baseline import Baseline, Interval, baseline
from streams.detect.history import BucketHistory

# Longer windows, in multiples of window_minutes, whose groups may carry the evidence for a
# window that has reached the warning ratio: a ramp builds its case over hours.
EVIDENCE_SPANS = (2, 4, 8)
# A burst bucket counts at most this many Poisson deviations above the other buckets' mean.
BURST_SD = 3.0
# Below one expected group per window the "expected" level is noise; floor it so ratios and
# p-values stay finite where a post is usually empty.
MIN_EXPECTED = 1.0


@dataclass(frozen=True, slots=True)
class LongerWindow:
    """A window longer than the evaluated one, ending with it, and its own baseline."""

    events: int
    capped: float  # events with its bursts capped (see capped_events)
    expected: float  # expected events, scaled for missing buckets
    baseline: Baseline


def capped_events(history: BucketHistory, end: int, length: int, burst_buckets: int) -> float:
    """Events of a window whose busiest `burst_buckets` buckets are capped at BURST_SD Poisson
    deviations above the mean of the other buckets (a burst adds at most that)."""
    counts = sorted(n for _, n in history.window_buckets(end, length))
    k = min(burst_buckets, len(counts) - 1)
    if k <= 0:
        return float(sum(counts))
    rest = counts[:-k]
    mean = sum(rest) / len(rest)
    cap = mean + BURST_SD * math.sqrt(mean) + 1.0
    return sum(rest) + sum(min(float(x), cap) for x in counts[-k:])


def longer_windows(
    history: BucketHistory,
    end: int,
    window_ms: int,
    *,
    since: int | None,
    episodes: list[Interval],
    prior_cv2: float,
    burst_buckets: int,
) -> Iterator[LongerWindow]:
    """Each longer window (EVIDENCE_SPANS) ending at `end` that starts at or after `since` and
    whose sample weeks are complete, shortest first.

    `since` is the subject's first bucket or the end of its last alert episode, whichever is
    later: a flood resolved at dusk would otherwise still be "evidence" for the first noisy
    hour of the night.
    """
    for span in EVIDENCE_SPANS:
        length = span * window_ms
        if since is None or end - length < since:
            return
        found = baseline(history, end, length, exclude=episodes, prior_cv2=prior_cv2, min_cover=1.0)
        if found is None:
            return
        _, events, present = history.window_sum(end, length)
        cover = present * history.bucket_ms / length
        expected = max(found.events * cover, MIN_EXPECTED)
        capped = capped_events(history, end, length, burst_buckets)
        yield LongerWindow(events, capped, expected, found)


def trimmed(history: BucketHistory, end: int, window_ms: int, drop: int) -> tuple[int, int, float]:
    """(travellers, events, fraction of the window) without its `drop` busiest buckets."""
    buckets = history.window_buckets(end, window_ms)
    drop = min(drop, len(buckets) - 1)
    kept = sorted(buckets)[: len(buckets) - drop]
    frac = len(kept) * history.bucket_ms / window_ms
    return sum(t for t, _ in kept), sum(n for _, n in kept), frac
