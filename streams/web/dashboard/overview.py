"""Every border this worker detects on, with its posts: state, ratio, counts; compact JSON.

Pure: reads the detection partitions, changes nothing. One entry per border direction
(FROM-TO), its posts inside, so the page draws one row per border and expands it to posts.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from streams.count.windows import to_rfc3339
from streams.detect.config import crossing_key
from streams.detect.detector import SubjectDetector
from streams.detect.partition import DetectPartition

STATES = ("learning", "ok", "pending", "warning", "critical")
"""What the page shows: a firing subject is shown by its severity."""


def status(det: SubjectDetector | None) -> dict[str, Any]:
    """One subject's current view: state word, ratio, observed and expected, open alert."""
    if det is None:
        return {"state": "learning"}
    snap = det.snapshot()
    state = snap.state.value
    if state == "firing":
        state = snap.severity.value if snap.severity is not None else "warning"
    out: dict[str, Any] = {"state": state, "observed": snap.observed}
    if snap.expected is not None:
        out["expected"] = round(snap.expected, 1)
    if snap.ratio is not None:
        out["ratio"] = round(snap.ratio, 2)
    if snap.window_end_ms is not None:
        out["window_end"] = to_rfc3339(snap.window_end_ms)
    if snap.alert_id is not None:
        out["alert_id"] = snap.alert_id
    if snap.baseline_source is not None:
        out["baseline"] = snap.baseline_source
    return out


def overview(partitions: Iterable[DetectPartition]) -> list[dict[str, Any]]:
    """Borders sorted by key, each with its posts sorted by crossing id."""
    borders = []
    for part in partitions:
        for border, state in part.borders.items():
            src, dst = border.split("-")
            posts = [
                {"crossing_id": c, **status(part.detectors.get(crossing_key(c, f, t)))}
                for c, f, t in sorted(state.first_bucket)
            ]
            borders.append(
                {
                    "border": border,
                    "from_country": src,
                    "to_country": dst,
                    **status(part.detectors.get(border)),
                    "posts": posts,
                }
            )
    borders.sort(key=lambda b: str(b["border"]))
    return borders


def find_detector(partitions: Iterable[DetectPartition], subject: str) -> SubjectDetector | None:
    for part in partitions:
        det = part.detectors.get(subject)
        if det is not None:
            return det
    return None
