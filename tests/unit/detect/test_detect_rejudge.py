"""Re-judging after a correction, on a scripted detector: the real lifecycle and log, verdicts
set by hand, so each case says exactly which windows qualify before and after the correction."""

from __future__ import annotations

from typing import Any

from streams.detect.judged_log import CHECKPOINT_MS, JudgedLog
from streams.detect.lifecycle import Evaluation, Lifecycle, Severity, State, Status
from streams.detect.rejudge import messages_to_send, rejudge
from streams.detect.transitions import AlertTransition, alert_id

BUCKET = 300_000
HOUR = 3_600_000
T0 = 1_663_632_000_000  # on the hour
SUBJECT = "syrym:RU-KZ"


def end(i: int) -> int:
    return T0 + i * BUCKET


class ScriptedDetector:
    """Judges window i by `verdicts[i]`: "q" qualifies, "c" critical, "k" calm; two qualifying
    windows in a row fire, three calm ones resolve."""

    def __init__(self, horizon_ms: int = 6 * HOUR) -> None:
        self.lifecycle = Lifecycle()
        self.log = JudgedLog()
        self.verdicts: dict[int, str] = {}
        self.horizon_ms = horizon_ms
        self.judged: list[int] = []  # every window judged, replays included

    def close(self, i: int) -> list[AlertTransition]:
        return self.judge_window(end(i))

    def judge_window(self, e: int) -> list[AlertTransition]:
        self.judged.append(e)
        v = self.verdicts.get((e - T0) // BUCKET, "")
        ev = Evaluation(e - HOUR, e, "q" in v, "c" in v, "k" in v, False)
        steps = self.lifecycle.step(ev, pending_evaluations=2, resolve_evaluations=3)
        out = [
            AlertTransition(
                alert_id(SUBJECT, t.fired_at_ms),
                SUBJECT,
                t.status,
                t.severity,
                e - HOUR,
                e,
                0,
                1,
                0,
            )
            for t in steps
        ]
        self.log.note(e, out, self.judging_state, BUCKET)
        self.log.prune(e, self.horizon_ms)
        return out

    def judging_state(self) -> dict[str, Any]:
        return {"l": self.lifecycle.to_dict()}

    def restore_judging(self, state: dict[str, Any]) -> None:
        self.lifecycle = Lifecycle.from_dict(state["l"])

    def saved(self) -> tuple[Lifecycle, JudgedLog]:
        return self.lifecycle, self.log

    def put_back(self, saved: tuple[Lifecycle, JudgedLog]) -> None:
        self.lifecycle, self.log = saved

    def correct(self, bucket: int, verdicts: dict[int, str]) -> list[AlertTransition]:
        """A late event in bucket `bucket` (windows ending after it hold it) changes these
        windows' verdicts."""
        self.verdicts.update(verdicts)
        return rejudge(self, T0 + bucket * BUCKET, BUCKET)


def run(det: ScriptedDetector, first: int, last: int) -> list[AlertTransition]:
    out: list[AlertTransition] = []
    for i in range(first, last + 1):
        out += det.close(i)
    return out


def keys(ts: list[AlertTransition]) -> list[tuple[str, Status, Severity, int]]:
    return [(t.alert_id, t.status, t.severity, t.window_end_ms) for t in ts]


def test_a_surge_seen_only_through_corrections_fires_with_the_id_of_its_window() -> None:
    det = ScriptedDetector()
    assert run(det, 1, 30) == []
    # Late events in bucket 20 make windows 21 and 22 qualify (and the ones after them).
    out = det.correct(20, {21: "q", 22: "q", 23: "q"})
    assert keys(out) == [(alert_id(SUBJECT, end(22)), Status.FIRING, Severity.WARNING, end(22))]
    assert det.lifecycle.state is State.FIRING and det.lifecycle.fired_at_ms == end(22)


def test_re_judging_gives_what_an_on_time_run_gives() -> None:
    late, on_time = ScriptedDetector(), ScriptedDetector()
    final = {21: "q", 22: "q", 23: "qc", 24: "k", 25: "k", 26: "k"}
    on_time.verdicts = dict(final)
    expected = run(on_time, 1, 30)
    sent = run(late, 1, 30)
    sent += late.correct(20, final)
    assert keys(sent) == keys(expected)
    assert late.lifecycle.to_dict() == on_time.lifecycle.to_dict()
    assert late.log.to_dict() == on_time.log.to_dict()


def test_a_correction_that_changes_no_verdict_sends_nothing_and_keeps_the_state() -> None:
    det = ScriptedDetector()
    det.verdicts = {10: "q", 11: "q"}
    assert len(run(det, 1, 30)) == 1
    before = det.lifecycle.to_dict()
    assert det.correct(20, {}) == []
    assert det.lifecycle.to_dict() == before


def test_a_re_judged_window_is_not_counted_twice_towards_firing() -> None:
    det = ScriptedDetector()
    det.verdicts = {30: "q"}
    assert run(det, 1, 30) == []  # window 30 qualifies once: pending
    assert det.lifecycle.state is State.PENDING and det.lifecycle.pending_count == 1
    # A late event in bucket 29 leaves window 30 qualifying: judged again, it is still the
    # first of its run. Stepping the lifecycle with it again would have fired.
    assert det.correct(29, {30: "q"}) == []
    assert det.lifecycle.state is State.PENDING and det.lifecycle.pending_count == 1
    assert keys(det.close(31)) == []  # window 31 does not qualify: back to ok
    assert det.lifecycle.state is State.OK


def test_only_the_windows_judged_since_the_checkpoint_are_judged_again() -> None:
    det = ScriptedDetector()
    run(det, 1, 30)
    det.judged.clear()
    det.correct(20, {})
    checkpoint = det.log.checkpoint_at_or_before(end(20))
    assert checkpoint is not None and checkpoint[0] <= end(20)
    assert det.judged == list(range(checkpoint[0] + BUCKET, end(30) + 1, BUCKET))


def test_messages_already_sent_are_not_sent_again_and_an_escalation_is_added() -> None:
    det = ScriptedDetector()
    det.verdicts = {10: "q", 11: "q"}
    first = run(det, 1, 30)
    assert [t.severity for t in first] == [Severity.WARNING]
    out = det.correct(19, {20: "qc"})
    assert keys(out) == [(alert_id(SUBJECT, end(11)), Status.FIRING, Severity.CRITICAL, end(20))]
    assert det.correct(19, {20: "qc"}) == []  # the same correction again: nothing new


def test_a_replay_that_contradicts_a_sent_message_is_not_adopted() -> None:
    det = ScriptedDetector()
    det.verdicts = {25: "q", 26: "q"}
    sent = run(det, 1, 30)
    assert keys(sent)[0][0] == alert_id(SUBJECT, end(26))
    before = det.lifecycle.to_dict()
    # Corrected, the episode would have opened at window 21: its start has been sent as 26,
    # and a second episode for the same surge would be a duplicate alert.
    assert det.correct(19, {20: "q", 21: "q"}) == []
    assert det.lifecycle.to_dict() == before
    assert det.log.sent_after(end(0)) == [(alert_id(SUBJECT, end(26)), "firing", "warning")]


def test_a_correction_older_than_the_horizon_is_only_stored() -> None:
    det = ScriptedDetector(horizon_ms=HOUR)
    run(det, 1, 12 * 5)  # five hours
    oldest = det.log.checkpoints[0][0]
    assert oldest >= end(12 * 5) - 2 * HOUR
    assert det.correct((oldest - T0) // BUCKET - 2, {20: "q", 21: "q"}) == []
    assert det.lifecycle.state is State.OK


def test_checkpoints_are_hourly_by_event_time_and_survive_a_round_trip() -> None:
    det = ScriptedDetector()
    run(det, 1, 40)
    ends = [e for e, _ in det.log.checkpoints]
    assert ends == [end(1), end(12), end(24), end(36)]
    assert all(e % CHECKPOINT_MS == 0 for e in ends[1:])
    assert JudgedLog.from_dict(det.log.to_dict()).to_dict() == det.log.to_dict()


def test_messages_to_send_needs_the_sent_ones_as_the_replays_first() -> None:
    fired = AlertTransition("a:1", "a", Status.FIRING, Severity.WARNING, 0, 1, 0, 1, 0)
    up = AlertTransition("a:1", "a", Status.FIRING, Severity.CRITICAL, 1, 2, 0, 1, 0)
    sent_fired = ("a:1", "firing", "warning")
    assert messages_to_send([], [fired, up]) == [fired, up]
    assert messages_to_send([sent_fired], [fired, up]) == [up]
    assert messages_to_send([("a:1", "firing", "critical")], [fired, up]) is None
    assert messages_to_send([sent_fired], []) is None
