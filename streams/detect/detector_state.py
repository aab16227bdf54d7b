"""A subject detector's saved state: JSON-able and versioned; older versions still load.

Version 1: lifecycle, dispersion, episodes, the latest view, optionally the history.
Version 2 added `sequential` (the sequential test's evidence, written only when that test is
on). Version 3 added `judged` (streams/detect/judged_log.py: what re-judging a correction
needs); an older state loads with an empty log, so a correction is re-judged once a checkpoint
has been taken after the restart (the next window judged).
"""

from __future__ import annotations

from typing import Any, Protocol

from streams.detect.baseline import DispersionEstimate, Interval
from streams.detect.config import Thresholds
from streams.detect.history import BucketHistory
from streams.detect.judged_log import JudgedLog
from streams.detect.lifecycle import Lifecycle, State
from streams.detect.sequential import Sequential
from streams.detect.transitions import Snapshot, View

FORMAT_VERSION = 3
_READABLE = (1, 2, FORMAT_VERSION)


class SubjectDetector(Protocol):
    """The state of streams.detect.detector.SubjectDetector that is saved."""

    subject: str
    thresholds: Thresholds
    history: BucketHistory
    lifecycle: Lifecycle
    dispersion: DispersionEstimate
    episodes: list[Interval]
    sequential: Sequential
    first_bucket_ms: int | None
    last_window_end_ms: int | None
    log: JudgedLog
    view: View

    def snapshot(self) -> Snapshot: ...


def judging_state(det: SubjectDetector) -> dict[str, Any]:
    """What judging a window changes, besides the view: a re-judging checkpoint (compact: a
    subject keeps one per hour of the re-judging horizon in its saved state)."""
    lc = det.lifecycle
    state: dict[str, Any] = {
        "l": [
            lc.state.value,
            None if lc.severity is None else lc.severity.value,
            lc.pending_count,
            lc.calm_count,
            lc.cool_count,
            lc.episode_start_ms,
            lc.fired_at_ms,
        ],
        "d": [det.dispersion.num, det.dispersion.den],
        "e": [list(ep) for ep in det.episodes],
    }
    if det.thresholds.detector == "sequential":
        state["s"] = det.sequential.to_dict()
    return state


def restore_judging(det: SubjectDetector, state: dict[str, Any]) -> None:
    """Set the judging state from a checkpoint (new objects: the checkpoint stays intact)."""
    keys = ("state", "severity", "pending", "calm", "cool", "episode_start_ms", "fired_at_ms")
    _restore(det, dict(zip(keys, state["l"], strict=True)), state["d"], state["e"], state.get("s"))


def _restore(
    det: SubjectDetector,
    lifecycle: dict[str, Any],
    dispersion: list[float],
    episodes: list[list[int | None]],
    sequential: dict[str, Any] | None,
) -> None:
    det.lifecycle = Lifecycle.from_dict(lifecycle)
    det.dispersion = DispersionEstimate(float(dispersion[0]), float(dispersion[1]))
    det.episodes = [(int(s), None if e is None else int(e)) for s, e in episodes]  # type: ignore[arg-type]
    if sequential is not None:
        det.sequential = Sequential.from_dict(sequential, len(det.thresholds.sequential_ratios))


def state_dict(det: SubjectDetector, *, include_history: bool) -> dict[str, Any]:
    data: dict[str, Any] = {
        "version": FORMAT_VERSION,
        "subject": det.subject,
        "first_bucket_ms": det.first_bucket_ms,
        "last_window_end_ms": det.last_window_end_ms,
        "lifecycle": det.lifecycle.to_dict(),
        "dispersion": det.dispersion.to_dict(),
        "episodes": [list(ep) for ep in det.episodes],
        "last": det.snapshot().to_dict(),
        "judged": det.log.to_dict(),
    }
    if det.thresholds.detector == "sequential":  # not written (per commit) when unused
        data["sequential"] = det.sequential.to_dict()
    if include_history:
        data["history"] = det.history.to_dict()
    return data


def history_of(data: dict[str, Any], history: BucketHistory | None) -> BucketHistory | None:
    if data.get("version") not in _READABLE:
        raise ValueError(f"unsupported detector state version {data.get('version')!r}")
    if history is None and "history" in data:
        return BucketHistory.from_dict(data["history"])
    return history


def load_state(det: SubjectDetector, data: dict[str, Any]) -> None:
    """Fill a new detector (built with its history) from `state_dict`'s output."""
    det.first_bucket_ms = data["first_bucket_ms"]
    det.last_window_end_ms = data["last_window_end_ms"]
    dispersion = data["dispersion"]
    lifecycle, sequential = data["lifecycle"], data.get("sequential")
    _restore(det, lifecycle, [dispersion["num"], dispersion["den"]], data["episodes"], sequential)
    if "judged" in data:
        det.log = JudgedLog.from_dict(data["judged"])
    last = data["last"]
    det.view = (
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
