"""Surge detector of one subject: bucket history, seasonal baseline, significance and lifecycle."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from streams.detect.baseline import Baseline, BucketHistory, DispersionEstimate, Interval, baseline
from streams.detect.config import Thresholds
from streams.detect.evidence import LongerWindow, capped_events, longer_windows, trimmed
from streams.detect.lifecycle import Evaluation, Lifecycle, Severity, State, Status, Transition
from streams.detect.significance import excess_p, shortfall_p
from streams.detect.transitions import AlertTransition, Snapshot, View, alert_id

__all__ = ["AlertTransition", "Snapshot", "SubjectDetector", "alert_id"]

# Below one expected group per window the "expected" level is noise; floor it so ratios and
# p-values stay finite where a post is usually empty.
_MIN_EXPECTED = 1.0
_DEFAULT_GROUP_SIZE = 2.0  # for a static baseline before any traffic says otherwise
_MIN_GROUPS_SEEN = 20  # groups in the history before its mean group size is used
# One-sided levels of the evidence a hysteresis crossing needs (see SubjectDetector._judge).
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
_FORMAT_VERSION = 1


@dataclass(frozen=True, slots=True)
class _Window:
    """The evaluated window: travellers and groups seen, and what the baseline expected."""

    start: int
    end: int
    observed: int
    expected: float
    ratio: float
    events: int
    expected_events: float


class SubjectDetector:
    """One per subject (crossing direction or border direction); feed it every closed bucket.

    Pure: event time only, no I/O. `to_dict`/`from_dict` round-trip exactly, so a restored
    detector continues with the same outputs as one that never stopped.
    """

    def __init__(
        self, subject: str, thresholds: Thresholds, history: BucketHistory | None = None
    ) -> None:
        self.subject = subject
        self.thresholds = thresholds
        self.history = history if history is not None else BucketHistory()
        self.lifecycle = Lifecycle()
        self.dispersion = DispersionEstimate()
        self.episodes: list[Interval] = []  # alert episodes, kept out of future baselines
        self.first_bucket_ms: int | None = None
        self.last_window_end_ms: int | None = None
        # The latest evaluation, kept raw; snapshot() builds the API view only when asked.
        self._view: View = (State.LEARNING, None, None, 0, None, None, None, None, 0)

    @property
    def state(self) -> State:
        return self._view[0]

    def snapshot(self) -> Snapshot:
        state, start, end, observed, expected, ratio, p_value, source, weeks = self._view
        lc = self.lifecycle
        open_id = None
        if state is State.FIRING and lc.fired_at_ms is not None:
            open_id = alert_id(self.subject, lc.fired_at_ms)
        return Snapshot(
            subject=self.subject,
            state=state,
            severity=lc.severity if open_id else None,
            alert_id=open_id,
            window_start_ms=start,
            window_end_ms=end,
            observed=observed,
            expected=expected,
            ratio=ratio,
            p_value=p_value,
            baseline_source=source,
            baseline_weeks=weeks,
        )

    def on_bucket_closed(
        self, bucket_start_ms: int, travellers: int, events: int
    ) -> list[AlertTransition]:
        """Record a closed bucket and evaluate the window ending with it.

        A bucket at or before the last evaluated one is a correction: it replaces the stored
        value for future baselines but is not re-evaluated (the alerts already went out).
        """
        bms = self.history.bucket_ms
        end = (bucket_start_ms // bms + 1) * bms
        self.history.set(bucket_start_ms, travellers, events)
        if self.first_bucket_ms is None or bucket_start_ms < self.first_bucket_ms:
            self.first_bucket_ms = end - bms
        if self.last_window_end_ms is not None and end <= self.last_window_end_ms:
            return []
        self.last_window_end_ms = end
        self._expire_episodes(end)
        return self._evaluate(end)

    def baseline_at(self, end: int) -> Baseline | None:
        """The baseline of the window ending at `end` as the detector would compute it now
        (episodes known now are left out); None while learning and without a static one."""
        if self.first_bucket_ms is None or end <= self.first_bucket_ms:
            return None
        return self._baseline(end)

    def _baseline(self, end: int) -> Baseline | None:
        th = self.thresholds
        assert self.first_bucket_ms is not None
        if end - self.first_bucket_ms >= th.learning_ms:
            mean_group, _, seen = self.history.group_size()
            found = baseline(
                self.history,
                end,
                th.window_ms,
                exclude=self.episodes,
                prior_cv2=self.dispersion.value,
                group_mean=mean_group if seen >= _MIN_GROUPS_SEEN else None,
            )
            if found is not None:
                return found
        static = th.static_expected(end)
        if static is None:
            return None
        mean_group, _, seen = self.history.group_size()
        group = mean_group if seen >= _MIN_GROUPS_SEEN else _DEFAULT_GROUP_SIZE
        return Baseline(static, static / group, self.dispersion.value, 0.0, 0, 0, "static")

    def _evaluate(self, end: int) -> list[AlertTransition]:
        th = self.thresholds
        start = end - th.window_ms
        n_total = th.window_ms // self.history.bucket_ms
        observed, events, present = self.history.window_sum(end, th.window_ms)
        base = self._baseline(end)
        lc = self.lifecycle
        if base is None or not present:
            # No baseline: nothing to compare with, so an open episode is held as it is.
            state = State.LEARNING if lc.state is not State.FIRING else lc.state
            self._view = (state, start, end, observed, None, None, None, None, 0)
            return []
        cover = present / n_total
        expected = base.travellers * cover
        ratio = observed / max(expected, _MIN_EXPECTED)
        window = _Window(start, end, observed, expected, ratio, events, base.events * cover)
        ev, p_value = self._judge(window, base)
        steps = lc.step(
            ev,
            pending_evaluations=th.pending_evaluations,
            resolve_evaluations=th.resolve_evaluations,
        )
        if base.spread_cv2 is not None:
            self.dispersion.update(base.spread_cv2, base.events, base.spread_weeks)
        out = [self._record(tr, start, end, observed, expected, ratio) for tr in steps]
        self._view = (
            lc.state,
            start,
            end,
            observed,
            expected,
            ratio,
            p_value,
            base.source,
            base.n_weeks,
        )
        return out

    def _judge(self, w: _Window, base: Baseline) -> tuple[Evaluation, float | None]:
        """Turn one window into the verdicts the lifecycle needs (and the p-value, if computed).

        Two ways to qualify, each needing its ratio at warning and p < max_p_value:

        - groups (events): the arrival rate of groups, close to Poisson. The window's busiest
          pending_evaluations - 1 buckets count at most _BURST_SD deviations above the mean of
          the others, so a burst shorter than the pending time (a 5-minute spike) cannot fire
          however large, without the downward bias of dropping the busiest bucket (a fifth of
          a quiet hour at night). The evidence may come from the window itself or from a
          longer window ending with it (_EVIDENCE_SPANS): a ramp builds its case over hours.
        - travellers, counted in coach units and without the busiest buckets: a surge of
          buses, which adds travellers but few groups.

        Every other threshold crossing also needs evidence beyond the other edge of its
        hysteresis band, so noise cannot flap a small post at night.
        """
        th = self.thresholds
        lc = self.lifecycle
        p_value = None
        qualifies = critical = calm = below_critical = False
        if th.enabled and w.observed >= th.min_count:
            kw = {"rate_cv2": base.rate_cv2, "inflation": base.inflation}
            e_exp = max(w.expected_events, _MIN_EXPECTED)
            if w.events >= th.warning_ratio * e_exp:
                capped = self._capped_events(w.end, th.window_ms)
                if capped >= th.warning_ratio * e_exp:
                    p_value = excess_p(capped, e_exp, unit=1.0, **kw)
                    if p_value >= th.max_p_value:
                        p_value = min(p_value, self._sustained_p(w.end))
                    qualifies = p_value < th.max_p_value
                    if capped >= th.critical_ratio * e_exp:
                        level = e_exp * th.deescalate_ratio
                        p_up = excess_p(capped, level, unit=1.0, **kw)
                        critical = p_up < _SEVERITY_EVIDENCE
            if w.ratio >= th.warning_ratio:
                t_kept, _, frac = self._trimmed(w.end)
                t_exp = max(base.travellers * frac, _MIN_EXPECTED)
                if t_kept >= th.warning_ratio * t_exp:
                    _, group_dispersion, _ = self.history.group_size()
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
                calm = self._below(
                    w, base, th.resolve_ratio, th.warning_ratio, _DOWN_EVIDENCE, _LONG_DOWN_EVIDENCE
                )
                if lc.severity is Severity.CRITICAL:
                    below_critical = self._below(
                        w,
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

    def _below(
        self,
        w: _Window,
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
        e_exp = max(w.expected_events, _MIN_EXPECTED)
        if w.events >= level * e_exp:
            return False
        kw = {"rate_cv2": base.rate_cv2, "inflation": base.inflation}
        if (
            e_exp >= _MIN_CALM_EVENTS
            and shortfall_p(w.events, level * e_exp, unit=1.0, **kw) < alpha
        ):
            return True
        for lw in self._longer_windows(w.end):
            if lw.expected >= _MIN_CALM_EVENTS and lw.events < level * lw.expected:
                kw = {"rate_cv2": lw.baseline.rate_cv2, "inflation": lw.baseline.inflation}
                if shortfall_p(lw.events, level * lw.expected, unit=1.0, **kw) < long_alpha:
                    return True
        return False

    def _capped_events(self, end: int, length: int) -> float:
        return capped_events(self.history, end, length, self.thresholds.pending_evaluations - 1)

    def _longer_windows(self, end: int) -> Iterator[LongerWindow]:
        since = self.first_bucket_ms
        for _, episode_end in self.episodes:
            if episode_end is not None and (since is None or episode_end > since):
                since = episode_end
        return longer_windows(
            self.history,
            end,
            self.thresholds.window_ms,
            since=since,
            episodes=self.episodes,
            prior_cv2=self.dispersion.value,
            burst_buckets=self.thresholds.pending_evaluations - 1,
        )

    def _sustained_p(self, end: int) -> float:
        """Smallest events p-value over the longer windows ending now, each against its own
        baseline and with its bursts capped; a window counts only if its ratio reaches the
        resolve ratio (a long window barely above normal is no evidence of a surge)."""
        best = 1.0
        for w in self._longer_windows(end):
            if w.capped >= self.thresholds.resolve_ratio * w.expected:
                kw = {"rate_cv2": w.baseline.rate_cv2, "inflation": w.baseline.inflation}
                best = min(best, excess_p(w.capped, w.expected, unit=1.0, **kw))
        return best

    def _trimmed(self, end: int) -> tuple[int, int, float]:
        return trimmed(
            self.history, end, self.thresholds.window_ms, self.thresholds.pending_evaluations - 1
        )

    def _record(
        self, tr: Transition, start: int, end: int, observed: int, expected: float, ratio: float
    ) -> AlertTransition:
        if tr.status is Status.FIRING and tr.fired_at_ms == end:
            # A new episode. One window of margin before the first qualifying window, because
            # the foot of a ramp is already tainted.
            first_window = self.lifecycle.episode_start_ms
            assert first_window is not None
            self.episodes.append((first_window - self.thresholds.window_ms, None))
        elif tr.status is Status.RESOLVED and self.episodes and self.episodes[-1][1] is None:
            self.episodes[-1] = (self.episodes[-1][0], end)
        return AlertTransition(
            alert_id=alert_id(self.subject, tr.fired_at_ms),
            subject=self.subject,
            status=tr.status,
            severity=tr.severity,
            window_start_ms=start,
            window_end_ms=end,
            observed=observed,
            expected=expected,
            ratio=ratio,
        )

    def _expire_episodes(self, end: int) -> None:
        horizon = end - self.history.capacity_ms
        self.episodes = [(s, e) for s, e in self.episodes if e is None or e > horizon]

    def to_dict(self, *, include_history: bool = True) -> dict[str, Any]:
        """JSON-able state. Without the history it is under 1 KB; the history is ~10-30 KB
        and can instead be rebuilt by `history.set` from the stored bucket counts."""
        data: dict[str, Any] = {
            "version": _FORMAT_VERSION,
            "subject": self.subject,
            "first_bucket_ms": self.first_bucket_ms,
            "last_window_end_ms": self.last_window_end_ms,
            "lifecycle": self.lifecycle.to_dict(),
            "dispersion": self.dispersion.to_dict(),
            "episodes": [list(ep) for ep in self.episodes],
            "last": self.snapshot().to_dict(),
        }
        if include_history:
            data["history"] = self.history.to_dict()
        return data

    @classmethod
    def from_dict(
        cls, data: dict[str, Any], thresholds: Thresholds, history: BucketHistory | None = None
    ) -> SubjectDetector:
        if data.get("version") != _FORMAT_VERSION:
            raise ValueError(f"unsupported detector state version {data.get('version')!r}")
        if history is None and "history" in data:
            history = BucketHistory.from_dict(data["history"])
        det = cls(data["subject"], thresholds, history)
        det.first_bucket_ms = data["first_bucket_ms"]
        det.last_window_end_ms = data["last_window_end_ms"]
        det.lifecycle = Lifecycle.from_dict(data["lifecycle"])
        det.dispersion = DispersionEstimate.from_dict(data["dispersion"])
        det.episodes = [(int(s), None if e is None else int(e)) for s, e in data["episodes"]]
        last = data["last"]
        det._view = (
            State(last["state"]),
            last["window_start_ms"],
            last["window_end_ms"],
            last["observed"],
            last["expected"],
            last["ratio"],
            last["p_value"],
            last["baseline_source"],
            last["baseline_weeks"],
        )
        return det
