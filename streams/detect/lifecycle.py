"""Alert state machine of one subject: ok -> pending -> firing(warning <-> critical) -> resolved."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class State(StrEnum):
    LEARNING = "learning"  # shown by the detector while no baseline exists; never stored here
    OK = "ok"
    PENDING = "pending"
    FIRING = "firing"


class Severity(StrEnum):
    WARNING = "warning"
    CRITICAL = "critical"


class Status(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The verdicts on one rolling window that the state machine needs; computed by the detector."""

    window_start_ms: int
    window_end_ms: int
    qualifies: bool  # ratio >= warning, significant and enough travellers: a surge candidate
    critical: bool  # ratio >= critical
    calm: bool  # ratio < resolve, with evidence the surge is over: counts towards resolving
    below_critical: bool  # ratio < the de-escalation ratio: counts towards critical -> warning


@dataclass(frozen=True, slots=True)
class Transition:
    """One output of the state machine; `fired_at_ms` (window end at firing) names the episode."""

    status: Status
    severity: Severity
    fired_at_ms: int


class Lifecycle:
    """Pure and deterministic: the same evaluations always give the same transitions.

    Severity has its own hysteresis: critical as soon as one evaluation reaches critical_ratio,
    back to warning only after `resolve_evaluations` in a row below the de-escalation ratio, so
    a surge hovering at 2x does not flap between the two.
    """

    __slots__ = (
        "calm_count",
        "cool_count",
        "episode_start_ms",
        "fired_at_ms",
        "pending_count",
        "severity",
        "state",
    )

    state: State
    severity: Severity | None
    pending_count: int
    calm_count: int
    cool_count: int
    episode_start_ms: int | None  # start of the first qualifying window of the episode
    fired_at_ms: int | None

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self.state = State.OK
        self.severity = None
        self.pending_count = 0
        self.calm_count = 0
        self.cool_count = 0
        self.episode_start_ms = None
        self.fired_at_ms = None

    def step(
        self, ev: Evaluation, *, pending_evaluations: int, resolve_evaluations: int
    ) -> list[Transition]:
        if self.state is State.FIRING:
            return self._step_firing(ev, resolve_evaluations)
        if not ev.qualifies:
            self.state, self.pending_count, self.episode_start_ms = State.OK, 0, None
            return []
        if self.state is State.OK:
            self.state = State.PENDING
            self.pending_count = 0
            self.episode_start_ms = ev.window_start_ms
        self.pending_count += 1
        if self.pending_count < pending_evaluations:
            return []
        self.state = State.FIRING
        self.severity = Severity.CRITICAL if ev.critical else Severity.WARNING
        self.fired_at_ms = ev.window_end_ms
        self.pending_count = self.calm_count = self.cool_count = 0
        return [Transition(Status.FIRING, self.severity, ev.window_end_ms)]

    def _step_firing(self, ev: Evaluation, resolve_evaluations: int) -> list[Transition]:
        assert self.severity is not None and self.fired_at_ms is not None
        self.calm_count = self.calm_count + 1 if ev.calm else 0
        if self.calm_count >= resolve_evaluations:
            out = Transition(Status.RESOLVED, self.severity, self.fired_at_ms)
            self._reset()
            return [out]
        if self.severity is Severity.WARNING:
            if ev.critical:
                self.severity, self.cool_count = Severity.CRITICAL, 0
                return [Transition(Status.FIRING, self.severity, self.fired_at_ms)]
            return []
        self.cool_count = self.cool_count + 1 if ev.below_critical else 0
        if self.cool_count >= resolve_evaluations:
            self.severity, self.cool_count = Severity.WARNING, 0
            return [Transition(Status.FIRING, self.severity, self.fired_at_ms)]
        return []

    def to_dict(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "severity": None if self.severity is None else self.severity.value,
            "pending": self.pending_count,
            "calm": self.calm_count,
            "cool": self.cool_count,
            "episode_start_ms": self.episode_start_ms,
            "fired_at_ms": self.fired_at_ms,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Lifecycle:
        lc = cls()
        lc.state = State(data["state"])
        lc.severity = None if data["severity"] is None else Severity(data["severity"])
        lc.pending_count = int(data["pending"])
        lc.calm_count = int(data["calm"])
        lc.cool_count = int(data["cool"])
        lc.episode_start_ms = data["episode_start_ms"]
        lc.fired_at_ms = data["fired_at_ms"]
        return lc
