"""Detection's stored state: a subject's history day round-trips through its stored form."""

from __future__ import annotations

import json
import random

from streams.detect import DetectConfig, SubjectDetector, Thresholds
from streams.detect.history import BucketHistory
from streams.detect.history_records import decode_day
from streams.detect.partition import BorderState, DetectPartition

BUCKET_MS = 300_000
DAY_MS = 86_400_000
T0 = 1_663_718_400_000  # 2022-09-21T00:00Z


def filled_partition(seed: int) -> tuple[DetectPartition, dict[int, tuple[int, int]]]:
    """A partition with one subject whose history has gaps and has wrapped its ring."""
    rng = random.Random(seed)
    part = DetectPartition(DetectConfig(), BUCKET_MS)
    history = BucketHistory(capacity=3 * 288 + 17, bucket_ms=BUCKET_MS)
    part.detectors["x:RU-GE"] = SubjectDetector("x:RU-GE", Thresholds(), history)
    stored: dict[int, tuple[int, int]] = {}
    for i in range(5 * 288):  # five days into a ring of three: the first two have expired
        if rng.random() < 0.1:
            continue  # a bucket never closed
        start = T0 + i * BUCKET_MS
        t = rng.randrange(0, 500)
        n = rng.randrange(0, t + 1)
        history.set(start, t, n)
        stored[start] = (t, n)
    return part, stored


def test_a_stored_day_lists_every_bucket_and_marks_the_absent_ones() -> None:
    part, _ = filled_partition(1)
    history = part.detectors["x:RU-GE"].history
    for day in range(T0 - DAY_MS, T0 + 6 * DAY_MS, DAY_MS):
        raw = part.history_day("x:RU-GE", day)
        assert len(raw) == 1 + 8 * 288  # version byte, then every bucket's two uint32
        present = {i: (t, n) for i, t, n in decode_day(raw)}
        for i in range(288):
            assert present.get(i) == history.get(day + i * BUCKET_MS)


def test_stored_days_restore_the_same_history() -> None:
    part, stored = filled_partition(2)
    fresh = DetectPartition(DetectConfig(), BUCKET_MS)
    for day in range(T0, T0 + 5 * DAY_MS, DAY_MS):
        fresh.restore_history_day("x:RU-GE", day, part.history_day("x:RU-GE", day))
    restored = fresh._history_of("x:RU-GE")
    kept = part.detectors["x:RU-GE"].history
    for start in range(T0 + 2 * DAY_MS, T0 + 5 * DAY_MS, BUCKET_MS):
        assert restored.get(start) == kept.get(start)
        if kept.get(start) is not None:
            assert kept.get(start) == stored[start]


def test_days_stored_as_json_by_the_layout_before_restore_the_same_history() -> None:
    part, _ = filled_partition(3)
    kept = part.detectors["x:RU-GE"].history
    fresh = DetectPartition(DetectConfig(), BUCKET_MS)
    for day in range(T0, T0 + 5 * DAY_MS, DAY_MS):
        values = []  # the layout before: [t0, n0, t1, n1, ...], -1 for an absent bucket
        for start in range(day, day + DAY_MS, BUCKET_MS):
            values.extend(kept.get(start) or (-1, -1))
        before = json.dumps(values, separators=(",", ":")).encode()
        fresh.restore_history_day("x:RU-GE", day, before)
    restored = fresh._history_of("x:RU-GE")
    for start in range(T0 + 2 * DAY_MS, T0 + 5 * DAY_MS, BUCKET_MS):
        assert restored.get(start) == kept.get(start)


def test_a_border_state_encodes_as_json_of_all_its_buckets_after_any_changes() -> None:
    """The kept per-bucket encodings never go stale: equal to encoding everything anew."""
    rng = random.Random(5)
    posts = [(f"p{i}", "RU", "GE") for i in range(6)]
    state = BorderState()
    for step in range(2000):
        start = T0 + rng.randrange(40) * BUCKET_MS
        if state.pending and rng.random() < 0.2:
            state.take(rng.choice(sorted(state.pending)))
        else:
            post = rng.choice(posts)
            state.first_bucket.setdefault(post, start)
            state.report(start, post, rng.randrange(100), rng.randrange(10))
        if step % 7 == 0:
            expected = {
                "posts": [[*d, s] for d, s in sorted(state.first_bucket.items())],
                "pending": {
                    str(b): [[*d, t, e] for d, (t, e) in sorted(rows.items())]
                    for b, rows in sorted(state.pending.items())
                },
            }
            assert state.to_json() == json.dumps(expected).encode()
            restored = BorderState.from_json(state.to_json())
            assert (restored.first_bucket, restored.pending) == (state.first_bucket, state.pending)
