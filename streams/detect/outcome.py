"""What an offline run produced: the alerts, and each surge-touched subject's outcome."""

from __future__ import annotations

from dataclasses import dataclass, field

from streams.detect.config import DetectConfig
from streams.detect.detector import SubjectDetector
from streams.detect.lifecycle import Status
from streams.detect.partition import Alerting, DetectPartition
from streams.simulate.scenario import Scenario


@dataclass(frozen=True, slots=True)
class SubjectOutcome:
    """How the detector followed one subject (crossing direction or border) a surge touches."""

    subject: str
    scope: str  # "crossing" or "border"
    surges: tuple[str, ...]  # names of the surges that touch it
    peak_ratio: float  # highest true ratio over a rolling window of the subject's length
    warning_at_ms: int | None  # first minute the true ratio reaches the warning ratio
    critical_at_ms: int | None  # first minute it reaches the critical ratio
    first_alert: Alerting | None  # the subject's first firing transition
    first_critical: Alerting | None  # its first firing transition at critical severity
    # The earliest an ideal detector could fire (streams.detect.truth.detection_limit).
    limit_at_ms: int | None = None
    # The oracle's first alarm and first critical (streams.detect.oracle: the same sequential
    # test on the true normal rates, same budget).
    oracle_alert_ms: int | None = None
    oracle_critical_ms: int | None = None

    @property
    def alert_required(self) -> bool:
        """The true ratio reaches the warning ratio: an alert must follow."""
        return self.warning_at_ms is not None

    @property
    def delay_ms(self) -> int | None:
        """From the true ratio reaching warning to the end of the window that fired."""
        if self.first_alert is None or self.warning_at_ms is None:
            return None
        return self.first_alert.transition.window_end_ms - self.warning_at_ms

    @property
    def limit_delay_ms(self) -> int | None:
        """From the true ratio reaching warning to the earliest an ideal detector could fire."""
        if self.limit_at_ms is None or self.warning_at_ms is None:
            return None
        return self.limit_at_ms - self.warning_at_ms

    @property
    def oracle_delay_ms(self) -> int | None:
        if self.oracle_alert_ms is None or self.warning_at_ms is None:
            return None
        return self.oracle_alert_ms - self.warning_at_ms

    @property
    def oracle_critical_delay_ms(self) -> int | None:
        if self.oracle_critical_ms is None or self.critical_at_ms is None:
            return None
        return self.oracle_critical_ms - self.critical_at_ms

    @property
    def critical_delay_ms(self) -> int | None:
        """From the true ratio reaching critical to the first critical transition."""
        if self.first_critical is None or self.critical_at_ms is None:
            return None
        return self.first_critical.transition.window_end_ms - self.critical_at_ms


@dataclass(slots=True)
class OfflineResult:
    """Everything one run produced; `outcomes` and `false_alerts` compare it with the truth."""

    scenario: Scenario
    config: DetectConfig
    alerts: list[Alerting] = field(default_factory=list)  # every transition, in emitted order
    outcomes: list[SubjectOutcome] = field(default_factory=list)  # by subject
    # New episodes on a subject whose true windowed ratio was below its resolve ratio when
    # they fired: an unchanged post or border, or one before or long after its surge.
    false_alerts: list[Alerting] = field(default_factory=list)
    # The oracle's alarms where the true ratio was below resolve: (subject, window end).
    oracle_false_alerts: list[tuple[str, int]] = field(default_factory=list)
    messages: int = 0
    invalid: int = 0
    counted: int = 0
    duplicates: int = 0
    late: int = 0  # counted into an already closed bucket (a correction)
    reports: int = 0  # closed buckets sent to detection, corrections included
    elapsed_s: float = 0.0
    partitions: list[DetectPartition] = field(default_factory=list)  # the final detector state

    def detector(self, subject: str) -> SubjectDetector:
        for part in self.partitions:
            if subject in part.detectors:
                return part.detectors[subject]
        raise KeyError(subject)

    def outcome(self, subject: str) -> SubjectOutcome:
        for o in self.outcomes:
            if o.subject == subject:
                return o
        raise KeyError(subject)

    def firings(self, subject: str | None = None) -> list[Alerting]:
        """The first transition of every episode (alert id), optionally of one subject."""
        seen: set[str] = set()
        out = []
        for a in self.alerts:
            t = a.transition
            if t.status is Status.FIRING and t.alert_id not in seen:
                seen.add(t.alert_id)
                if subject is None or t.subject == subject:
                    out.append(a)
        return out
