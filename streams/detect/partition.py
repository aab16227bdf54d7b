"""Surge detection for the borders of one partition: every post direction and the border sum.

Pure logic, no Kafka. Closed buckets of every post arrive keyed by border (FROM-TO), so one
partition holds all subjects of a border. A border bucket is evaluated once every post of the
border has reported it; reports are idempotent (a replayed report sets, never adds).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Literal

from streams.count.model import Direction
from streams.count.records import BucketReport
from streams.count.windows import DAY_MS
from streams.detect import history_records
from streams.detect.config import DetectConfig, crossing_key
from streams.detect.detector import AlertTransition, SubjectDetector
from streams.detect.history import BucketHistory


@dataclass(frozen=True, slots=True)
class Alerting:
    """An alert transition with the scope it belongs to."""

    transition: AlertTransition
    scope: Literal["crossing", "border"]
    crossing_id: str | None
    from_country: str
    to_country: str


@dataclass
class BorderState:
    """Posts of one border and the buckets still waiting for some of them.

    Change `pending` only through `report` and `take`: each pending bucket's JSON is kept
    until the bucket changes. A border whose posts are far apart in event time (a replay, its
    posts on partitions read at different paces) holds days of pending buckets, and encoding
    all of them again for every batch took 38% of a worker's time (docs/benchmarks.md).
    """

    first_bucket: dict[Direction, int] = field(default_factory=dict)
    pending: dict[int, dict[Direction, tuple[int, int]]] = field(default_factory=dict)
    _encoded: dict[int, str] = field(default_factory=dict, repr=False, compare=False)

    def report(self, start_ms: int, direction: Direction, travellers: int, events: int) -> None:
        self.pending.setdefault(start_ms, {})[direction] = (travellers, events)
        self._encoded.pop(start_ms, None)

    def take(self, start_ms: int) -> dict[Direction, tuple[int, int]]:
        """Remove a complete bucket's reports from the pending ones."""
        self._encoded.pop(start_ms, None)
        return self.pending.pop(start_ms)

    def to_json(self) -> bytes:
        buckets = []
        for start in sorted(self.pending):
            text = self._encoded.get(start)
            if text is None:
                rows = sorted(self.pending[start].items())
                text = self._encoded[start] = json.dumps([[*d, t, e] for d, (t, e) in rows])
            buckets.append(f'"{start}": {text}')
        posts = json.dumps([[*d, s] for d, s in sorted(self.first_bucket.items())])
        # What json.dumps of {"posts": ..., "pending": {...}} writes, byte for byte.
        return f'{{"posts": {posts}, "pending": {{{", ".join(buckets)}}}}}'.encode()

    @classmethod
    def from_json(cls, raw: bytes) -> BorderState:
        data = json.loads(raw)
        state = cls()
        state.first_bucket = {(c, f, t): s for c, f, t, s in data["posts"]}
        state.pending = {
            int(b): {(c, f, t): (tr, ev) for c, f, t, tr, ev in rows}
            for b, rows in data["pending"].items()
        }
        return state


@dataclass
class DetectResult:
    alerts: list[Alerting] = field(default_factory=list)
    dirty_subjects: set[str] = field(default_factory=set)
    dirty_days: set[tuple[str, int]] = field(default_factory=set)
    dirty_borders: set[str] = field(default_factory=set)


class DetectPartition:
    """Detectors of every subject whose border hashes to one partition."""

    def __init__(self, config: DetectConfig, bucket_ms: int = 300_000) -> None:
        self.config = config
        self.bucket_ms = bucket_ms
        self.detectors: dict[str, SubjectDetector] = {}
        self.borders: dict[str, BorderState] = {}

    def crossing_detector(self, d: Direction) -> SubjectDetector:
        key = crossing_key(*d)
        det = self.detectors.get(key)
        if det is None:
            det = SubjectDetector(key, self.config.for_crossing(*d), self._history())
            self.detectors[key] = det
        return det

    def border_detector(self, border: str) -> SubjectDetector:
        det = self.detectors.get(border)
        if det is None:
            src, dst = border.split("-")
            det = SubjectDetector(border, self.config.for_border(src, dst), self._history())
            self.detectors[border] = det
        return det

    def _history(self) -> BucketHistory:
        return BucketHistory(bucket_ms=self.bucket_ms)

    def apply(self, reports: list[BucketReport]) -> DetectResult:
        result = DetectResult()
        for r in reports:
            self._apply_one(r, result)
        return result

    def _apply_one(self, r: BucketReport, result: DetectResult) -> None:
        d = r.direction
        det = self.crossing_detector(d)
        previous = det.history.get(r.start_ms)
        for t in det.on_bucket_closed(r.start_ms, r.travellers, r.events):
            result.alerts.append(Alerting(t, "crossing", d[0], d[1], d[2]))
        result.dirty_subjects.add(det.subject)
        result.dirty_days.add((det.subject, r.start_ms - r.start_ms % DAY_MS))

        border = r.border
        state = self.borders.setdefault(border, BorderState())
        bdet = self.border_detector(border)
        result.dirty_borders.add(border)
        first = state.first_bucket.get(d)
        if first is None or r.start_ms < first:
            state.first_bucket[d] = r.start_ms
        next_start = bdet.last_window_end_ms
        if next_start is not None and r.start_ms < next_start:
            # The border already judged this bucket: correct its sum, which re-judges the
            # border's windows that hold it (streams/detect/rejudge.py).
            old_t, old_e = previous or (0, 0)
            total = bdet.history.get(r.start_ms) or (0, 0)
            for t in bdet.on_bucket_closed(
                r.start_ms,
                max(0, total[0] + r.travellers - old_t),
                max(0, total[1] + r.events - old_e),
            ):
                result.alerts.append(Alerting(t, "border", None, d[1], d[2]))
            result.dirty_subjects.add(border)
            result.dirty_days.add((border, r.start_ms - r.start_ms % DAY_MS))
            return
        state.report(r.start_ms, d, r.travellers, r.events)
        self._complete(border, state, bdet, result)

    def _complete(
        self, border: str, state: BorderState, bdet: SubjectDetector, result: DetectResult
    ) -> None:
        """Evaluate, in order, every border bucket all of whose posts have reported."""
        src, dst = border.split("-")
        while state.pending:
            start = bdet.last_window_end_ms
            if start is None or (
                start not in state.pending
                and all(first > start for first in state.first_bucket.values())
            ):
                start = min(state.pending)  # nothing is due before the earliest report
            if start not in state.pending:
                return
            reports = state.pending[start]
            expected = [p for p, first in state.first_bucket.items() if first <= start]
            if any(p not in reports for p in expected):
                return
            state.take(start)
            travellers = sum(t for t, _ in reports.values())
            events = sum(e for _, e in reports.values())
            for t in bdet.on_bucket_closed(start, travellers, events):
                result.alerts.append(Alerting(t, "border", None, src, dst))
            result.dirty_subjects.add(border)
            result.dirty_days.add((border, start - start % DAY_MS))

    # -- persistence (pure codec of the subjects' state) --------------------------------------

    def history_day(self, subject: str, day: int) -> bytes:
        """One UTC day of a subject's history, every bucket (streams/detect/history_records.py)."""
        travellers, events = self.detectors[subject].history.slots(day, DAY_MS // self.bucket_ms)
        return history_records.encode_day(travellers, events)

    def restore_history_day(self, subject: str, day: int, raw: bytes) -> None:
        """A stored day (of either layout) back into the subject's history."""
        history = self._history_of(subject)
        for i, travellers, events in history_records.decode_day(raw):
            history.set(day + i * self.bucket_ms, travellers, events)

    def _history_of(self, subject: str) -> BucketHistory:
        self._restoring = getattr(self, "_restoring", {})
        history = self._restoring.get(subject)
        if history is None:
            history = self._restoring[subject] = self._history()
        return history

    def restore_detector(self, subject: str, raw: bytes) -> None:
        data = json.loads(raw)
        if ":" in subject:
            crossing, pair = subject.split(":")
            src, dst = pair.split("-")
            thresholds = self.config.for_crossing(crossing, src, dst)
        else:
            src, dst = subject.split("-")
            thresholds = self.config.for_border(src, dst)
        self.detectors[subject] = SubjectDetector.from_dict(
            data, thresholds, self._history_of(subject)
        )

    def restore_border(self, border: str, raw: bytes) -> None:
        self.borders[border] = BorderState.from_json(raw)
