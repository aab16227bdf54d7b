"""Surge detector of one subject: bucket history, seasonal baseline, significance and lifecycle."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from streams.detect.baseline import Baseline, BucketHistory, DispersionEstimate, Interval, baseline
from streams.detect.config import Thresholds
from streams.detect.lifecycle import Evaluation, Lifecycle, Severity, State, Status, Transition
from streams.detect.significance import excess_p, shortfall_p

# Below one expected group per window the "expected" level is noise; floor it so ratios and
# p-values stay finite where a post is usually empty.
_MIN_EXPECTED = 1.0
_DEFAULT_GROUP_SIZE = 2.0  # for a static baseline before any traffic says otherwise
# One-sided levels of the evidence a hysteresis crossing needs (see SubjectDetector._judge):
# stricter upwards, where one noisy hour at night would otherwise escalate an episode.
_UP_EVIDENCE = 0.01
_DOWN_EVIDENCE = 0.05
_FORMAT_VERSION = 1

# state, window start, window end, observed, expected, ratio, p-value, baseline source, weeks
_View = tuple[
    State, int | None, int | None, int, float | None, float | None, float | None, str | None, int
]


def alert_id(subject: str, fired_at_ms: int) -> str:
    """Stable, replayable id: the subject and the end of the window that fired."""
    stamp = datetime.fromtimestamp(fired_at_ms / 1000, tz=UTC).strftime("%Y%m%dT%H%MZ")
    return f"{subject}:{stamp}"


@dataclass(frozen=True, slots=True)
class AlertTransition:
    """Everything an alert record needs; emitted only on start, severity change and end."""

    alert_id: str
    subject: str
    status: Status
    severity: Severity
    window_start_ms: int
    window_end_ms: int
    observed: int  # travellers in the window
    expected: float  # travellers the baseline expected
    ratio: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The subject's current view for the API, as of its latest evaluated window."""

    subject: str
    state: State
    severity: Severity | None = None
    alert_id: str | None = None
    window_start_ms: int | None = None
    window_end_ms: int | None = None
    observed: int = 0
    expected: float | None = None
    ratio: float | None = None
    p_value: float | None = None  # only computed when the ratio reaches warning
    baseline_source: str | None = None  # "history", "static" or None while learning
    baseline_weeks: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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
        self._view: _View = (State.LEARNING, None, None, 0, None, None, None, None, 0)

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

    def _baseline(self, end: int) -> Baseline | None:
        th = self.thresholds
        assert self.first_bucket_ms is not None
        if end - self.first_bucket_ms >= th.learning_ms:
            found = baseline(
                self.history,
                end,
                th.window_ms,
                exclude=self.episodes,
                prior_cv2=self.dispersion.value,
            )
            if found is not None:
                return found
        static = th.static_expected(end)
        if static is None:
            return None
        mean_group, _, seen = self.history.group_size()
        group = mean_group if seen >= 20 else _DEFAULT_GROUP_SIZE
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
        ev, p_value = self._judge(start, end, observed, expected, ratio, base)
        was_ok = lc.state is State.OK
        steps = lc.step(
            ev,
            pending_evaluations=th.pending_evaluations,
            resolve_evaluations=th.resolve_evaluations,
        )
        if was_ok and lc.state is State.OK and base.source == "history":
            self.dispersion.update(events, base.events * cover, base.inflation)
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

    def _judge(
        self, start: int, end: int, observed: int, expected: float, ratio: float, base: Baseline
    ) -> tuple[Evaluation, float | None]:
        """Turn one window into the verdicts the lifecycle needs (and the p-value, if computed).

        Upward moves (firing, critical) are judged on the window without its busiest
        pending_evaluations - 1 buckets: a burst shorter than the pending time (one bus, one
        5-minute spike) stays in the rolling window for an hour, so consecutive evaluations
        alone would not filter it. Every threshold crossing also needs evidence beyond the other
        edge of its hysteresis band, so noise cannot flap a small post at night.
        """
        th = self.thresholds
        lc = self.lifecycle
        p_value = None
        critical = calm = below_critical = False
        trimmed = None
        if th.enabled and ratio >= th.warning_ratio:
            trimmed = self._trimmed(end)
            if observed >= th.min_count:
                p_value = self._p_value(*trimmed, base)
            if ratio >= th.critical_ratio:
                t_kept, _, frac = trimmed
                level = base.travellers * frac * th.deescalate_ratio
                critical = self._beyond(t_kept, level, base, _UP_EVIDENCE, above=True)
        if lc.state is State.FIRING:
            if not th.enabled:
                calm = True
            elif ratio < th.resolve_ratio:
                level = expected * th.resolve_ratio
                calm = self._beyond(observed, level, base, _DOWN_EVIDENCE, above=False)
            if lc.severity is Severity.CRITICAL and ratio < th.deescalate_ratio:
                level = expected * th.deescalate_ratio
                below_critical = self._beyond(observed, level, base, _DOWN_EVIDENCE, above=False)
        ev = Evaluation(
            window_start_ms=start,
            window_end_ms=end,
            qualifies=p_value is not None and p_value < th.max_p_value,
            critical=critical,
            calm=calm,
            below_critical=below_critical,
        )
        return ev, p_value

    def _trimmed(self, end: int) -> tuple[int, int, float]:
        """(travellers, events, fraction of the window) without the busiest buckets."""
        th = self.thresholds
        buckets = self.history.window_buckets(end, th.window_ms)
        drop = min(th.pending_evaluations - 1, len(buckets) - 1)
        kept = sorted(buckets)[: len(buckets) - drop]
        frac = len(kept) * self.history.bucket_ms / th.window_ms
        return sum(t for t, _ in kept), sum(n for _, n in kept), frac

    def _p_value(self, t_obs: int, e_obs: int, frac: float, base: Baseline) -> float:
        """Smaller of the events and travellers p-values of the (trimmed) window.

        Events (groups) are close to Poisson; travellers are counted in units of the group-size
        dispersion, and at least of a full coach, so a bus or two is never significant.
        """
        th = self.thresholds
        t_exp = max(base.travellers * frac, _MIN_EXPECTED)
        if t_obs < th.warning_ratio * t_exp:
            return 1.0
        e_exp = max(base.events * frac, _MIN_EXPECTED)
        kw = {"rate_cv2": base.rate_cv2, "inflation": base.inflation}
        p_events = excess_p(e_obs, e_exp, unit=1.0, **kw)
        _, group_dispersion, _ = self.history.group_size()
        unit = max(group_dispersion, th.coach_size)
        return min(p_events, excess_p(t_obs, t_exp, unit=unit, **kw))

    def _beyond(
        self, observed: int, level: float, base: Baseline, alpha: float, *, above: bool
    ) -> bool:
        """Whether the travellers are significantly above (or below) `level`, one-sided."""
        _, group_dispersion, _ = self.history.group_size()
        args = (observed, max(level, _MIN_EXPECTED))
        kw = {"unit": group_dispersion, "rate_cv2": base.rate_cv2, "inflation": base.inflation}
        p = excess_p(*args, **kw) if above else shortfall_p(*args, **kw)
        return p < alpha

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
