"""Late corrections through a real SubjectDetector: a surge seen late is alerted as on time."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from streams.count.records import BucketReport
from streams.detect import AlertTransition, DetectConfig, State, SubjectDetector, Thresholds
from streams.detect.partition import Alerting, DetectPartition
from tests.unit.detect.test_detect_detector import ANNOUNCEMENT, DEFAULTS, MID, S, _Flat, _warm
from tests.unit.detect.test_detect_sim import BUCKET_MS, HOUR_MS, START_MS

Bucket = tuple[int, int, int]  # start, travellers, events


@pytest.fixture(scope="module")
def warm() -> dict[str, Any]:
    return _warm(MID)


def _surge(seed: int, hours: int, factor: float, lasts_ms: int = 7 * 24 * HOUR_MS) -> list[Bucket]:
    """Buckets from S on, `factor` times the normal rate from the announcement for `lasts_ms`."""
    rng = random.Random(seed)
    out = []
    for i in range(hours * 12):
        t = S + i * BUCKET_MS
        surging = ANNOUNCEMENT <= t < ANNOUNCEMENT + lasts_ms
        travellers, events = MID.bucket(rng, t, factor if surging else 1.0)
        out.append((t, travellers, events))
    return out


def _keys(ts: list[AlertTransition]) -> list[tuple[str, str, str, int]]:
    return [(t.alert_id, t.status.value, t.severity.value, t.window_end_ms) for t in ts]


def _on_time(warm: dict[str, Any], buckets: list[Bucket]) -> list[AlertTransition]:
    det = SubjectDetector.from_dict(warm, DEFAULTS)
    return [t for b in buckets for t in det.on_bucket_closed(*b)]


def _late(
    warm: dict[str, Any],
    buckets: list[Bucket],
    delay: int,
    restart_at: int | None = None,
    thresholds: Thresholds = DEFAULTS,
) -> tuple[SubjectDetector, list[AlertTransition]]:
    """The surge's buckets close first with the normal share of their counts only; the rest
    (the surge) arrives `delay` buckets later, as a correction of each."""
    det = SubjectDetector.from_dict(warm, thresholds)
    out: list[AlertTransition] = []
    corrections: list[Bucket] = []
    for i, (t, travellers, events) in enumerate(buckets):
        if t >= ANNOUNCEMENT:
            out += det.on_bucket_closed(t, travellers // 3, events // 3)
            corrections.append((t, travellers, events))
        else:
            out += det.on_bucket_closed(t, travellers, events)
        while corrections and corrections[0][0] <= t - delay * BUCKET_MS:
            out += det.on_bucket_closed(*corrections.pop(0))
        if i == restart_at:  # a worker restart: the saved state, read back
            det = SubjectDetector.from_dict(json.loads(json.dumps(det.to_dict())), thresholds)
    for c in corrections:
        out += det.on_bucket_closed(*c)
    return det, out


@pytest.mark.parametrize("delay", [3, 6])
def test_a_surge_whose_counts_arrive_only_as_corrections_alerts_as_on_time(
    warm: dict[str, Any], delay: int
) -> None:
    buckets = _surge(31, 42, 2.5)
    expected = _on_time(warm, buckets)
    assert expected and expected[0].status.value == "firing"
    det, sent = _late(warm, buckets, delay)
    assert _keys(sent) == _keys(expected)  # same ids, statuses, severities and windows
    assert det.state is State.FIRING


@pytest.mark.parametrize("seed", [31, 32, 33])
def test_a_short_surge_known_only_two_hours_late_is_alerted_with_its_on_time_id(
    warm: dict[str, Any], seed: int
) -> None:
    buckets = _surge(seed, 44, 3.0, lasts_ms=90 * 60_000)
    expected = _on_time(warm, buckets)
    _, sent = _late(warm, buckets, 24)
    assert _keys(sent)[0] == _keys(expected)[0]
    _assert_consistent(sent)
    # What re-judging fixes: before it, a correction was stored and never judged again.
    off = DEFAULTS.model_copy(update={"rejudge_hours": 0.0})
    assert _late(warm, buckets, 24, thresholds=off)[1] == []


def test_a_resolution_sent_on_partial_counts_stands_and_nothing_is_sent_twice(
    warm: dict[str, Any],
) -> None:
    # Two hours of a long surge known only late: its windows looked calm and the episode was
    # resolved. Re-judged, it would not have been; the resolution went out and stands, and
    # the surge, still going on, opens a new episode.
    expected = _on_time(warm, _surge(31, 42, 2.5))
    _, sent = _late(warm, _surge(31, 42, 2.5), 24)
    assert _keys(sent)[0] == _keys(expected)[0]
    assert [t.status.value for t in sent].count("firing") >= 2
    _assert_consistent(sent)


def _assert_consistent(sent: list[AlertTransition]) -> None:
    """Per alert id: opened by a firing, never the same status and severity twice in a row,
    nothing after its resolution."""
    last: dict[str, tuple[str, str]] = {}
    for t in sent:
        move = (t.status.value, t.severity.value)
        before = last.get(t.alert_id)
        if before is None:
            assert move[0] == "firing"  # an episode opens with a firing
        else:
            assert before[0] == "firing"  # nothing after its resolution
            assert move != before  # no message twice
        last[t.alert_id] = move


def test_the_sequential_detector_re_judges_a_late_surge_from_its_own_checkpoints(
    warm: dict[str, Any],
) -> None:
    # Its checkpoints hold the CUSUMs. It judges each bucket on its own, so the last few,
    # still partial, can move the severity meanwhile: those messages stand (docs/detection.md).
    sequential = DEFAULTS.model_copy(update={"detector": "sequential"})
    buckets = _surge(31, 42, 2.5)
    on_time = SubjectDetector.from_dict(warm, sequential)
    expected = [t for b in buckets for t in on_time.on_bucket_closed(*b)]
    _, sent = _late(warm, buckets, 6, thresholds=sequential)
    assert _keys(sent)[:3] == _keys(expected)[:3]
    _assert_consistent(sent)


def test_a_restart_between_corrections_changes_nothing(warm: dict[str, Any]) -> None:
    buckets = _surge(32, 40, 2.5)
    _, straight = _late(warm, buckets, 6)
    restart_at = (ANNOUNCEMENT - S) // BUCKET_MS + 14
    _, restarted = _late(warm, buckets, 6, restart_at=restart_at)
    assert straight and _keys(restarted) == _keys(straight)


def test_corrections_of_normal_traffic_send_nothing(warm: dict[str, Any]) -> None:
    det = SubjectDetector.from_dict(warm, DEFAULTS)
    rng = random.Random(33)
    for i in range(12 * 24):
        t = S + i * BUCKET_MS
        assert det.on_bucket_closed(t, *MID.bucket(rng, t)) == []
        if i >= 6 and i % 5 == 0:  # a late car of 3, half an hour late
            late = t - 6 * BUCKET_MS
            stored = det.history.get(late)
            assert stored is not None
            assert det.on_bucket_closed(late, stored[0] + 3, stored[1] + 1) == []
    assert det.state is State.OK


def test_a_correction_older_than_the_horizon_is_stored_but_not_judged(
    warm: dict[str, Any],
) -> None:
    det = SubjectDetector.from_dict(warm, DEFAULTS)
    for t, travellers, events in _surge(34, 10, 1.0):
        det.on_bucket_closed(t, travellers, events)
    old = S + 10 * HOUR_MS - (DEFAULTS.rejudge_ms + 2 * HOUR_MS)
    before = det.snapshot()
    assert det.on_bucket_closed(old, 9_000, 3_000) == []
    assert det.history.get(old) == (9_000, 3_000)
    assert det.snapshot() == before  # nothing judged again


def _border_reports(seed: int, late_by: int | None) -> list[BucketReport]:
    """Two posts of RU-GE on a static baseline, 300 an hour each; for an hour from hour 10 post
    b runs at 3x, and two thirds of its counts arrive `late_by` buckets late, as corrections
    (revision 1); None: on time."""
    rng = random.Random(seed)
    post = _Flat(300.0)
    surge = (START_MS + 10 * HOUR_MS, START_MS + 11 * HOUR_MS)
    reports: list[BucketReport] = []
    late: list[BucketReport] = []
    for i in range(16 * 12):
        t = START_MS + i * BUCKET_MS
        reports.append(BucketReport(("a", "RU", "GE"), t, *post.bucket(rng, t), 0))
        b = post.bucket(rng, t, 3.0 if surge[0] <= t < surge[1] else 1.0)
        if surge[0] <= t < surge[1] and late_by is not None:
            reports.append(BucketReport(("b", "RU", "GE"), t, b[0] // 3, b[1] // 3, 0))
            late.append(BucketReport(("b", "RU", "GE"), t, *b, 1))
        else:
            reports.append(BucketReport(("b", "RU", "GE"), t, *b, 0))
        while late and late_by is not None and late[0].start_ms <= t - late_by * BUCKET_MS:
            reports.append(late.pop(0))
    return reports + late


def _config(rejudge_hours: float = 6.0) -> DetectConfig:
    return DetectConfig(
        defaults=Thresholds(static_baseline=300.0, rejudge_hours=rejudge_hours),
        borders={"RU-GE": Thresholds(static_baseline=600.0, rejudge_hours=rejudge_hours)},
    )


def _sent(alerts: list[Alerting]) -> list[tuple[str, str, str, str, int]]:
    """Every message, as scope, id, status, severity and window end, in a stable order (the
    crossing's come later when its counts are late, the border's after them either way)."""
    return sorted(
        (
            a.scope,
            a.transition.alert_id,
            a.transition.status,
            a.transition.severity,
            a.transition.window_end_ms,
        )
        for a in alerts
    )


def test_late_corrections_of_one_post_raise_its_alert_and_its_borders_as_on_time() -> None:
    on_time = _sent(DetectPartition(_config(), BUCKET_MS).apply(_border_reports(35, None)).alerts)
    assert {scope for scope, *_ in on_time} == {"crossing", "border"}
    part = DetectPartition(_config(), BUCKET_MS)
    reports = _border_reports(35, 6)  # two thirds of the surge's counts half an hour late
    assert _sent(part.apply(reports).alerts) == on_time
    assert part.apply(reports).alerts == []  # the same reports again (a replay): nothing
    without = DetectPartition(_config(rejudge_hours=0.0), BUCKET_MS)
    assert _sent(without.apply(reports).alerts) != on_time


def test_a_version_2_state_loads_and_re_judges_once_it_has_a_checkpoint(
    warm: dict[str, Any],
) -> None:
    v2 = {k: v for k, v in warm.items() if k != "judged"} | {"version": 2}
    det = SubjectDetector.from_dict(json.loads(json.dumps(v2)), DEFAULTS)
    assert det.log.checkpoints == []
    last = det.last_window_end_ms
    assert last is not None
    before = det.snapshot()
    assert det.on_bucket_closed(last - BUCKET_MS, 1, 1) == []  # no checkpoint yet: stored
    assert det.snapshot() == before
    rng = random.Random(36)
    for i in range(3):
        det.on_bucket_closed(last + i * BUCKET_MS, *MID.bucket(rng, last + i * BUCKET_MS))
    assert det.log.checkpoints and det.log.checkpoints[0][0] == last + BUCKET_MS
    det.on_bucket_closed(last + BUCKET_MS, 5_000, 100)  # after the checkpoint: re-judged
    assert det.snapshot().observed >= 5_000
