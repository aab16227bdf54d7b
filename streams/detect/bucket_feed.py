"""One closed bucket into the sequential test, against the hour-of-week baseline centred on it."""

from __future__ import annotations

import math

from streams.detect.baseline import Interval, baseline
from streams.detect.config import Thresholds
from streams.detect.history import BucketHistory
from streams.detect.sequential import Sequential, Verdict

# A bucket's expectation is the seasonal baseline of the window of this many buckets centred on
# it: the rolling hour ending with it lags the daily rhythm by half an hour, which on the
# morning ramp reads as +25%.
CENTRED_BUCKETS = 11
# One past week is too little to judge every bucket against (a quiet night hour one week ago
# can be a third of the real rate: RU-KZ at 03:00 local); it is enough to learn the level from.
MIN_WEEKS = 2
PSEUDO_GROUPS = 1.0


def feed_bucket(
    seq: Sequential,
    history: BucketHistory,
    end: int,
    th: Thresholds,
    *,
    episodes: list[Interval],
    prior_cv2: float,
    learn: bool,
) -> Verdict | None:
    """Feed the bucket ending at `end` to `seq`; None if it, or a baseline to judge it
    against, is missing. `learn`: the subject is calm (no episode, nothing pending), so the
    bucket may teach the level."""
    bms = history.bucket_ms
    got = history.get(end - bms)
    if got is None:
        return None
    half = CENTRED_BUCKETS // 2
    centred = baseline(
        history,
        end + half * bms,
        CENTRED_BUCKETS * bms,
        exclude=episodes,
        prior_cv2=prior_cv2,
    )
    if centred is None:
        return None
    expected = centred.events / CENTRED_BUCKETS
    if centred.n_weeks < MIN_WEEKS:
        if learn:
            seq.warm_up(end - bms, got[1], expected, th.level_decay)
        return None
    return seq.step(
        end - bms,
        got[1],
        expected,
        # One pseudo-group per window on top: a quiet hour of a small post with two groups in
        # two past weeks is no proof that one group an hour is normal (a 20-an-hour post
        # went pending).
        extra=PSEUDO_GROUPS / CENTRED_BUCKETS,
        ratios=th.sequential_ratios,
        h=th.sequential_threshold(bms),
        low=th.deescalate_ratio,
        high=th.critical_ratio,
        h_severity=-math.log(th.severity_evidence),
        learn=learn,
        level_decay=th.level_decay,
        level_bounds=(1.0 / th.level_band, th.level_band),
    )
