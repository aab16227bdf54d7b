"""What re-judging needs of the windows a subject judged lately: states, window ends, messages.

Pure and JSON-able. A correction of an already judged bucket is re-judged from the latest
checkpoint at or before that bucket (streams/detect/rejudge.py), so the log keeps, over the
re-judging horizon:

- checkpoints: the detector's judging state (lifecycle, dispersion, episodes, sequential
  evidence) right after the first window judged in each hour of event time;
- the ends of the windows judged, so a replay judges exactly those (a skipped window would
  break the lifecycle's count of consecutive windows, an extra one would add to it);
- the alert messages sent, by window, to compare a replay with what went out.

Checkpoints are placed by event time only, so a replay that judges the same windows places
them at the same ends.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from streams.detect.transitions import AlertTransition

CHECKPOINT_MS = 3_600_000  # at most one checkpoint per hour of event time

Sent = tuple[str, str, str]
"""An alert message sent, as re-judging compares them: alert id, status, severity."""


def sent_key(t: AlertTransition) -> Sent:
    return (t.alert_id, t.status.value, t.severity.value)


class JudgedLog:
    """Checkpoints, judged window ends (as runs) and sent messages, oldest first."""

    __slots__ = ("checkpoints", "judged", "sent")

    def __init__(self) -> None:
        self.checkpoints: list[tuple[int, dict[str, Any]]] = []  # (window end, state after it)
        self.judged: list[list[int]] = []  # runs [first end, last end], one bucket apart
        self.sent: list[tuple[int, Sent]] = []  # (window end, message)

    def note(
        self,
        end: int,
        sent: list[AlertTransition],
        state: Callable[[], dict[str, Any]],
        bucket_ms: int,
    ) -> None:
        """Record a window just judged: its end, what it sent, and a checkpoint if it is the
        first window judged in a new hour of event time."""
        runs = self.judged
        if runs and runs[-1][1] + bucket_ms == end:
            runs[-1][1] = end
        else:
            runs.append([end, end])
        self.sent.extend((end, sent_key(t)) for t in sent)
        last = self.checkpoints[-1][0] if self.checkpoints else None
        if last is None or end // CHECKPOINT_MS > last // CHECKPOINT_MS:
            self.checkpoints.append((end, state()))

    def checkpoint_at_or_before(self, ms: int) -> tuple[int, dict[str, Any]] | None:
        """The latest checkpoint whose window ends at or before `ms`: judged before any window
        that holds the bucket starting at `ms`."""
        found = None
        for cp in self.checkpoints:
            if cp[0] > ms:
                break
            found = cp
        return found

    def judged_after(self, start: int, bucket_ms: int) -> list[int]:
        """Ends of the windows judged after `start`, in order."""
        ends: list[int] = []
        for first, last in self.judged:
            if last > start:
                ends.extend(range(max(first, start + bucket_ms), last + 1, bucket_ms))
        return ends

    def sent_after(self, start: int) -> list[Sent]:
        return [key for end, key in self.sent if end > start]

    def until(self, start: int) -> JudgedLog:
        """A copy of the log up to and including the window ending at `start`: what a replay
        from the checkpoint at `start` records into."""
        log = JudgedLog()
        log.checkpoints = [cp for cp in self.checkpoints if cp[0] <= start]
        log.judged = [[f, min(last, start)] for f, last in self.judged if f <= start]
        log.sent = [(end, key) for end, key in self.sent if end <= start]
        return log

    def prune(self, last_end: int, horizon_ms: int) -> None:
        """Forget what a correction older than the horizon would need: keep the latest
        checkpoint at or before `last_end - horizon_ms` and everything after it."""
        cps = self.checkpoints
        if len(cps) < 2 or cps[1][0] > last_end - horizon_ms:
            return  # nothing older to forget (the usual case: there is once an hour)
        oldest = self.checkpoint_at_or_before(last_end - horizon_ms)
        assert oldest is not None
        cut = oldest[0]
        self.checkpoints = [cp for cp in self.checkpoints if cp[0] >= cut]
        self.judged = [[max(f, cut), last] for f, last in self.judged if last >= cut]
        self.sent = [(end, key) for end, key in self.sent if end > cut]

    def to_dict(self) -> dict[str, Any]:
        return {
            "checkpoints": [[end, state] for end, state in self.checkpoints],
            "judged": [list(run) for run in self.judged],
            "sent": [[end, *key] for end, key in self.sent],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JudgedLog:
        log = cls()
        log.checkpoints = [(int(end), state) for end, state in data["checkpoints"]]
        log.judged = [[int(f), int(last)] for f, last in data["judged"]]
        log.sent = [(int(end), (str(a), str(s), str(v))) for end, a, s, v in data["sent"]]
        return log
