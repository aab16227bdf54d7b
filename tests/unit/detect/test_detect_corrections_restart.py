"""A crash while corrections are being re-judged: the partition restored from its committed
state, as the detection agent restores it, sends what an uninterrupted run sends, once."""

from __future__ import annotations

import json

import pytest

from streams.count.records import BucketReport
from streams.detect.partition import DetectPartition, DetectResult
from tests.unit.detect.test_detect_corrections import _border_reports, _config, _sent

BUCKET_MS = 300_000
BATCH = 25


def _commit(store: dict[str, bytes], part: DetectPartition, result: DetectResult) -> None:
    """What Detection._state_entries writes in the batch's transaction."""
    for subject, day in result.dirty_days:
        store[f"h|{subject}|{day}"] = part.history_day(subject, day)
    for subject in result.dirty_subjects:
        state = part.detectors[subject].to_dict(include_history=False)
        store[f"d|{subject}"] = json.dumps(state).encode()
    for border in result.dirty_borders:
        store[f"b|{border}"] = part.borders[border].to_json()


def _restore(store: dict[str, bytes]) -> DetectPartition:
    """What Detection._restore does with the committed entries."""
    part = DetectPartition(_config(), BUCKET_MS)
    for key in sorted(k for k in store if k.startswith("h|")):
        _, subject, day = key.split("|")
        part.restore_history_day(subject, int(day), store[key])
    for key, value in store.items():
        kind, name = key.split("|", 1)
        if kind == "d":
            part.restore_detector(name, value)
        elif kind == "b":
            part.restore_border(name, value)
    return part


def _batches(reports: list[BucketReport]) -> list[list[BucketReport]]:
    return [reports[i : i + BATCH] for i in range(0, len(reports), BATCH)]


@pytest.mark.parametrize("crash_after", [9, 10, 11, 12])  # the corrections: 10 and 11
def test_a_crash_between_corrections_sends_every_message_once(crash_after: int) -> None:
    batches = _batches(_border_reports(35, 6))
    straight = DetectPartition(_config(), BUCKET_MS)
    expected = [a for b in batches for a in straight.apply(b).alerts]
    assert expected

    store: dict[str, bytes] = {}
    part = DetectPartition(_config(), BUCKET_MS)
    sent = []
    for i, batch in enumerate(batches):
        if i == crash_after:
            part.apply(batch)  # judged, sent in a transaction that never commits: a crash
            part = _restore(store)
        result = part.apply(batch)
        sent += result.alerts
        _commit(store, part, result)
    assert _sent(sent) == _sent(expected)
