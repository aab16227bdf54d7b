"""Surge detector of one subject: bucket history, seasonal baseline, significance and lifecycle."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from streams.detect.baseline import Baseline, BucketHistory, DispersionEstimate, Interval, baseline
from streams.detect.bucket_feed import feed_bucket
from streams.detect.config import Thresholds
from streams.detect.detector_state import (
    history_of,
    judging_state,
    load_state,
    restore_judging,
    state_dict,
)
from streams.detect.evidence import (
    MIN_EXPECTED,
    LongerWindow,
    capped_events,
    longer_windows,
    trimmed,
)
from streams.detect.judge import Window, judge
from streams.detect.judged_log import JudgedLog
from streams.detect.lifecycle import Lifecycle, Severity, State, Status, Transition
from streams.detect.rejudge import rejudge
from streams.detect.sequential import Sequential, Verdict
from streams.detect.significance import excess_p
from streams.detect.transitions import AlertTransition, Snapshot, View, alert_id

__all__ = ["AlertTransition", "Snapshot", "SubjectDetector", "alert_id"]

_DEFAULT_GROUP_SIZE = 2.0  # for a static baseline before any traffic says otherwise
_MIN_GROUPS_SEEN = 20  # groups in the history before its mean group size is used
# What re-judging puts back when its replay is not adopted. The replay first replaces these
# objects with new ones from its checkpoint (the sequential test's only in the sequential
# mode, the only one that reads it), so references to the old ones keep the state before it.
_REPLACED_BY_JUDGING = ("lifecycle", "dispersion", "episodes", "sequential", "view", "log")


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
        self.sequential = Sequential(len(thresholds.sequential_ratios))
        self.verdict: Verdict | None = None  # the latest sequential step, if the test ran
        self.log = JudgedLog()  # what re-judging a correction needs (streams/detect/rejudge.py)
        # The latest evaluation, kept raw; snapshot() builds the API view only when asked.
        self.view: View = (State.LEARNING, None, None, 0, None, None, None, None, 0)

    @property
    def state(self) -> State:
        return self.view[0]

    def snapshot(self) -> Snapshot:
        state, start, end, observed, expected, ratio, p_value, source, weeks = self.view
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
        """Record a closed bucket and judge the window ending with it.

        A bucket at or before the last judged one is a correction: it replaces the stored
        value, and if the value changed, the windows judged since the checkpoint before it are
        judged again (streams/detect/rejudge.py); returned are the messages that replay adds.
        """
        bms = self.history.bucket_ms
        end = (bucket_start_ms // bms + 1) * bms
        previous = self.history.get(bucket_start_ms)
        self.history.set(bucket_start_ms, travellers, events)
        if self.first_bucket_ms is None or bucket_start_ms < self.first_bucket_ms:
            self.first_bucket_ms = end - bms
        if self.last_window_end_ms is not None and end <= self.last_window_end_ms:
            if previous == (travellers, events) or not self.thresholds.rejudge_hours:
                return []
            return rejudge(self, bucket_start_ms, bms)
        self.last_window_end_ms = end
        return self.judge_window(end)

    def judge_window(self, end: int) -> list[AlertTransition]:
        """Judge the window ending at `end` and note it for re-judging."""
        self._expire_episodes(end)
        out = self._evaluate(end)
        self.log.note(end, out, self.judging_state, self.history.bucket_ms)
        self.log.prune(end, self.thresholds.rejudge_ms)
        return out

    def judging_state(self) -> dict[str, Any]:
        return judging_state(self)

    def restore_judging(self, state: dict[str, Any]) -> None:
        restore_judging(self, state)

    def saved(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in _REPLACED_BY_JUDGING)

    def put_back(self, saved: tuple[Any, ...]) -> None:
        for name, value in zip(_REPLACED_BY_JUDGING, saved, strict=True):
            setattr(self, name, value)

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
            self.view = (state, start, end, observed, None, None, None, None, 0)
            return []
        cover = present / n_total
        expected = base.travellers * cover
        ratio = observed / max(expected, MIN_EXPECTED)
        window = Window(start, end, observed, expected, ratio, events, base.events * cover)
        self.verdict = None
        if th.detector == "sequential" and base.source == "history":
            self.verdict = feed_bucket(
                self.sequential,
                self.history,
                end,
                th,
                episodes=self.episodes,
                prior_cv2=self.dispersion.value,
                learn=lc.state is State.OK,
            )
        window_groups = th.detector == "window" or base.source == "static"
        ev, p_value = judge(window, base, self, self.verdict, window_groups=window_groups)
        severity = lc.severity
        steps = lc.step(
            ev,
            pending_evaluations=th.pending_evaluations,
            resolve_evaluations=th.resolve_evaluations,
        )
        for tr in steps:
            moved = None if tr.severity is severity else tr.severity is Severity.CRITICAL
            resolved = tr.status is Status.RESOLVED
            self.sequential.episode_moved(
                resolved=resolved, opened=severity is None, critical=moved
            )
        if base.spread_cv2 is not None:
            self.dispersion.update(base.spread_cv2, base.events, base.spread_weeks)
        out = [self._record(tr, start, end, observed, expected, ratio) for tr in steps]
        self.view = (
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

    def capped_events(self, end: int, length: int) -> float:
        return capped_events(self.history, end, length, self.thresholds.pending_evaluations - 1)

    def longer_windows(self, end: int) -> Iterator[LongerWindow]:
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

    def sustained_p(self, end: int) -> float:
        """Smallest events p-value over the longer windows ending now, each against its own
        baseline and with its bursts capped; a window counts only if its ratio reaches the
        resolve ratio (a long window barely above normal is no evidence of a surge)."""
        best = 1.0
        for w in self.longer_windows(end):
            if w.capped >= self.thresholds.resolve_ratio * w.expected:
                kw = {"rate_cv2": w.baseline.rate_cv2, "inflation": w.baseline.inflation}
                best = min(best, excess_p(w.capped, w.expected, unit=1.0, **kw))
        return best

    def trimmed(self, end: int) -> tuple[int, int, float]:
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
        v = self.verdict
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
            change_point_ms=None if v is None else v.change_point_ms,
            episode_ratio=None if v is None or v.change_point_ms is None else v.ratio,
            episode_ratio_low=None if v is None or v.change_point_ms is None else v.ratio_low,
        )

    def _expire_episodes(self, end: int) -> None:
        horizon = end - self.history.capacity_ms
        self.episodes = [(s, e) for s, e in self.episodes if e is None or e > horizon]

    def to_dict(self, *, include_history: bool = True) -> dict[str, Any]:
        """JSON-able state (streams/detect/detector_state.py). Without the history it is a few
        KB; the history is ~10-30 KB and can instead be rebuilt by `history.set` from the
        stored bucket counts."""
        return state_dict(self, include_history=include_history)

    @classmethod
    def from_dict(
        cls, data: dict[str, Any], thresholds: Thresholds, history: BucketHistory | None = None
    ) -> SubjectDetector:
        det = cls(data["subject"], thresholds, history_of(data, history))
        load_state(det, data)
        return det
