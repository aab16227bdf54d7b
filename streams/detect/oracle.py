"""The oracle: the service's sequential test fed the simulator's true normal rates.

It sees the same counts as the detector (the groups of every closed bucket, from the subject's
history) but judges them against the true normal rate of each bucket, so it needs no baseline,
no level and no dispersion, and it uses the same threshold (the same false-alarm budget). What
it cannot do quickly, no detector held to that budget can: its delays are the limit a real
detector is measured against.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from streams.detect.config import Thresholds
from streams.detect.history import BucketHistory
from streams.detect.sequential import Sequential


@dataclass(frozen=True, slots=True)
class OracleRun:
    """Every alarm of the oracle on one subject (window ends), and its first critical."""

    alarms: list[int]  # window ends (ms) at which an episode fired
    criticals: list[int]  # window ends (ms) at which an episode turned critical


def run_oracle(
    history: BucketHistory,
    normal_groups: list[float],
    start_ms: int,
    from_ms: int,
    thresholds: Thresholds,
    *,
    calm: list[bool] | None = None,
) -> OracleRun:
    """Run the sequential test over the buckets from `from_ms` on.

    `normal_groups[i]` is the true normal number of groups in the bucket starting at
    start_ms + i * bucket_ms. An alarm needs `pending_evaluations` alarming steps in a row, as
    the service's. An episode ends (the evidence starts afresh) at the first bucket `calm`
    marks as back to normal, or never without it.
    """
    th = thresholds
    bms = history.bucket_ms
    seq = Sequential(len(th.sequential_ratios))
    h = th.sequential_threshold(bms)
    h_sev = -math.log(th.severity_evidence)
    alarms: list[int] = []
    criticals: list[int] = []
    streak = 0
    firing = critical = False
    first = max(0, (from_ms - start_ms) // bms)
    for i in range(first, len(normal_groups)):
        b = start_ms + i * bms
        got = history.get(b)
        if got is None:
            continue
        v = seq.step(
            b,
            got[1],
            normal_groups[i],
            ratios=th.sequential_ratios,
            h=h,
            low=th.deescalate_ratio,
            high=th.critical_ratio,
            h_severity=h_sev,
            learn=False,
            level_decay=1.0,
            level_bounds=(1.0, 1.0),
        )
        end = b + bms
        if firing:
            if not critical and v.critical:
                critical = True
                criticals.append(end)
            if calm is not None and calm[i]:
                firing = critical = False
                seq.reset()
            continue
        streak = streak + 1 if v.alarm else 0
        if streak >= th.pending_evaluations:
            firing, streak = True, 0
            alarms.append(end)
            if v.critical:
                critical = True
                criticals.append(end)
    return OracleRun(alarms, criticals)
