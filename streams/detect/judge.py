"""The verdict rules: one evaluated window and its baseline in, what the lifecycle needs out.

Split from the detector (streams/detect/detector.py), which keeps the state these rules read
through `Evidence`: the subject's bucket history, thresholds, lifecycle and the longer windows
ending with the evaluated one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from streams.detect.baseline import Baseline, BucketHistory
from streams.detect.config import Thresholds
from streams.detect.evidence import MIN_EXPECTED, LongerWindow
from streams.detect.lifecycle import Evaluation, Lifecycle, Severity, State
from streams.detect.sequential import Verdict
from streams.detect.significance import excess_p, shortfall_p

# One-sided levels of the evidence a hysteresis crossing needs (see judge).
# An episode is judged every 5 minutes for hours or days, so a level that noise reaches once
# in a hundred windows is reached every night: at 1% up / 5% down a true x1.8 flapped between
# warning and critical and even resolved (2022 scenario, RU-FI posts at night). Severity moves
# on 1e-3 either way; resolving, which ends the episode, on 1%.
_SEVERITY_EVIDENCE = 1e-3
_DOWN_EVIDENCE = 0.01
_LONG_DOWN_EVIDENCE = 0.05  # over the longer windows, which noise moves far less
# Calm (and de-escalation) is judged only on windows expecting at least this many groups: a
# quiet hour or two of a small post at night (4 groups where 14 were due) resolved a true x1.8.
_MIN_CALM_EVENTS = 30.0


@dataclass(frozen=True, slots=True)
class Window:
    """The evaluated window: travellers and groups seen, and what the baseline expected."""

    start: int
    end: int
    observed: int
    expected: float
    ratio: float
    events: int
    expected_events: float


class Evidence(Protocol):
    """What the rules read from a subject's detector."""

    thresholds: Thresholds
    lifecycle: Lifecycle
    history: BucketHistory

    def capped_events(self, end: int, length: int) -> float: ...

    def sustained_p(self, end: int) -> float: ...

    def trimmed(self, end: int) -> tuple[int, int, float]: ...

    def longer_windows(self, end: int) -> Iterator[LongerWindow]: ...


def judge(
    w: Window,
    base: Baseline,
    det: Evidence,
    seq: Verdict | None = None,
    *,
    window_groups: bool = True,
) -> tuple[Evaluation, float | None]:
    """Turn one window into the verdicts the lifecycle needs (and the p-value, if computed).

    Two ways to qualify, each needing its ratio at warning and p < max_p_value:

    - groups (events): the arrival rate of groups, close to Poisson. The window's busiest
      pending_evaluations - 1 buckets count at most BURST_SD (evidence.py) deviations above
      the mean of the others, so a burst shorter than the pending time (a 5-minute spike)
      cannot fire however large, without the downward bias of dropping the busiest bucket
      (a fifth of a quiet hour at night). The evidence may come from the window itself or
      from a longer window ending with it (EVIDENCE_SPANS): a ramp builds its case over hours.
    - travellers, counted in coach units and without the busiest buckets: a surge of
      buses, which adds travellers but few groups.

    Every other threshold crossing also needs evidence beyond the other edge of its
    hysteresis band, so noise cannot flap a small post at night.

    With a sequential verdict (`seq`: `detector = "sequential"`, on a history baseline) the groups
    are judged by it instead (streams/detect/sequential.py): it qualifies on its alarm, goes
    critical on its evidence for critical over de-escalation ratio, and counts towards
    de-escalation on its evidence the other way. Without one, groups are judged by the window
    rules only where `window_groups` (the "window" detector, or a static baseline).
    """
    th = det.thresholds
    lc = det.lifecycle
    p_value = None
    qualifies = critical = calm = below_critical = False
    if th.enabled and w.observed >= th.min_count:
        kw = {"rate_cv2": base.rate_cv2, "inflation": base.inflation}
        e_exp = max(w.expected_events, MIN_EXPECTED)
        if seq is not None:
            qualifies = seq.alarm and _confirmed(seq, base, th.confirm_p_value)
            critical = qualifies and seq.critical
        elif window_groups and w.events >= th.warning_ratio * e_exp:
            capped = det.capped_events(w.end, th.window_ms)
            if capped >= th.warning_ratio * e_exp:
                p_value = excess_p(capped, e_exp, unit=1.0, **kw)
                if p_value >= th.max_p_value:
                    p_value = min(p_value, det.sustained_p(w.end))
                qualifies = p_value < th.max_p_value
                if capped >= th.critical_ratio * e_exp:
                    level = e_exp * th.deescalate_ratio
                    p_up = excess_p(capped, level, unit=1.0, **kw)
                    critical = p_up < _SEVERITY_EVIDENCE
        if w.ratio >= th.warning_ratio:
            t_kept, _, frac = det.trimmed(w.end)
            t_exp = max(base.travellers * frac, MIN_EXPECTED)
            if t_kept >= th.warning_ratio * t_exp:
                _, group_dispersion, _ = det.history.group_size()
                unit = max(group_dispersion, th.coach_size)
                p_trav = excess_p(t_kept, t_exp, unit=unit, **kw)
                p_value = p_trav if p_value is None else min(p_value, p_trav)
                qualifies = qualifies or p_trav < th.max_p_value
                if w.ratio >= th.critical_ratio:
                    level = t_exp * th.deescalate_ratio
                    p_crit = excess_p(t_kept, level, unit=unit, **kw)
                    critical = critical or p_crit < _SEVERITY_EVIDENCE
    if lc.state is State.FIRING:
        if not th.enabled:
            calm = True
        else:
            level, limit = th.resolve_ratio, th.warning_ratio
            calm = _below(w, det, base, level, limit, _DOWN_EVIDENCE, _LONG_DOWN_EVIDENCE)
            if lc.severity is Severity.CRITICAL and seq is not None:
                below_critical = seq.below_critical
            elif lc.severity is Severity.CRITICAL:
                below_critical = _below(
                    w,
                    det,
                    base,
                    th.deescalate_ratio,
                    th.critical_ratio,
                    _SEVERITY_EVIDENCE,
                    _SEVERITY_EVIDENCE,
                )
    ev = Evaluation(
        window_start_ms=w.start,
        window_end_ms=w.end,
        qualifies=qualifies,
        critical=critical,
        calm=calm,
        below_critical=below_critical,
    )
    return ev, p_value


def _confirmed(seq: Verdict, base: Baseline, p_value: float) -> bool:
    """The episode's groups since its change point are beyond what the rate's learned
    variation (hour to hour and day to day, from the spread of past weeks) and the baseline's
    own error allow: a day 30% busier than the weeks before builds a CUSUM case all day, and
    is no surge."""
    kw = {"rate_cv2": base.rate_cv2, "inflation": base.inflation}
    return excess_p(seq.events, max(seq.expected, MIN_EXPECTED), unit=1.0, **kw) < p_value


def _below(
    w: Window,
    det: Evidence,
    base: Baseline,
    level: float,
    travellers_limit: float,
    alpha: float,
    long_alpha: float,
) -> bool:
    """Groups significantly below `level` times expected, over the window (`alpha`) or a
    longer one ending with it (`long_alpha`: a quiet hour at a small post says little, four
    hours do, and a long window cannot dip by chance during a surge), and travellers under
    the limit, so a surge of buses (many travellers, few groups) does not resolve while it
    lasts."""
    if w.ratio >= travellers_limit:
        return False
    e_exp = max(w.expected_events, MIN_EXPECTED)
    if w.events >= level * e_exp:
        return False
    kw = {"rate_cv2": base.rate_cv2, "inflation": base.inflation}
    if e_exp >= _MIN_CALM_EVENTS and shortfall_p(w.events, level * e_exp, unit=1.0, **kw) < alpha:
        return True
    for lw in det.longer_windows(w.end):
        if lw.expected >= _MIN_CALM_EVENTS and lw.events < level * lw.expected:
            kw = {"rate_cv2": lw.baseline.rate_cv2, "inflation": lw.baseline.inflation}
            if shortfall_p(lw.events, level * lw.expected, unit=1.0, **kw) < long_alpha:
                return True
    return False
