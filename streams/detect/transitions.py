"""What a subject detector emits and shows: alert transitions, the API snapshot, alert ids."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from streams.detect.lifecycle import Severity, State, Status

# state, window start, window end, observed, expected, ratio, p-value, baseline source, weeks
View = tuple[
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
    # The sequential evidence: where the episode's change began (the CUSUM's start), and the
    # groups observed over expected since then, with the lower end of its 95% interval.
    change_point_ms: int | None = None
    episode_ratio: float | None = None
    episode_ratio_low: float | None = None

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
