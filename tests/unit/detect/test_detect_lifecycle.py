"""The alert state machine on hand-made evaluations."""

from __future__ import annotations

from streams.detect.lifecycle import (
    Evaluation,
    Lifecycle,
    Severity,
    State,
    Status,
    Transition,
)

STEP = 300_000


def _ev(
    i: int,
    *,
    qualifies: bool = False,
    critical: bool = False,
    calm: bool = False,
    below_critical: bool = False,
) -> Evaluation:
    return Evaluation(i * STEP, i * STEP + 3_600_000, qualifies, critical, calm, below_critical)


def _run(lc: Lifecycle, evs: list[Evaluation], pending: int = 2) -> list[Transition]:
    out: list[Transition] = []
    for ev in evs:
        out += lc.step(ev, pending_evaluations=pending, resolve_evaluations=3)
    return out


def test_fires_on_the_second_consecutive_qualifying_evaluation() -> None:
    lc = Lifecycle()
    assert _run(lc, [_ev(0, qualifies=True)]) == []
    assert lc.to_dict()["state"] == "pending"
    out = _run(lc, [_ev(1, qualifies=True)])
    assert out == [Transition(Status.FIRING, Severity.WARNING, 1 * STEP + 3_600_000)]
    assert lc.to_dict()["state"] == "firing"
    assert lc.episode_start_ms == 0


def test_pending_that_does_not_hold_goes_back_to_ok_silently() -> None:
    lc = Lifecycle()
    evs = [_ev(0, qualifies=True), _ev(1), _ev(2, qualifies=True), _ev(3)]
    assert _run(lc, evs) == []
    assert lc.state is State.OK


def test_one_pending_evaluation_fires_at_once_and_critical_when_critical() -> None:
    lc = Lifecycle()
    out = _run(lc, [_ev(0, qualifies=True, critical=True)], pending=1)
    assert [(t.status, t.severity) for t in out] == [(Status.FIRING, Severity.CRITICAL)]


def test_escalation_and_deescalation_keep_the_episode_and_need_three_calm_steps() -> None:
    lc = Lifecycle()
    out = _run(lc, [_ev(0, qualifies=True), _ev(1, qualifies=True)])
    fired_at = out[0].fired_at_ms
    out = _run(lc, [_ev(2, critical=True), _ev(3, critical=True)])
    assert out == [Transition(Status.FIRING, Severity.CRITICAL, fired_at)]
    # Two steps below the de-escalation ratio, then one above: the count restarts.
    evs = [_ev(4, below_critical=True), _ev(5, below_critical=True), _ev(6)]
    assert _run(lc, evs) == []
    evs = [_ev(i, below_critical=True) for i in (7, 8, 9)]
    assert _run(lc, evs) == [Transition(Status.FIRING, Severity.WARNING, fired_at)]


def test_resolves_after_three_consecutive_calm_evaluations_then_is_ok() -> None:
    lc = Lifecycle()
    _run(lc, [_ev(0, qualifies=True), _ev(1, qualifies=True)])
    evs = [_ev(2, calm=True), _ev(3, calm=True), _ev(4), _ev(5, calm=True), _ev(6, calm=True)]
    assert _run(lc, evs) == []
    out = _run(lc, [_ev(7, calm=True)])
    assert [(t.status, t.severity) for t in out] == [(Status.RESOLVED, Severity.WARNING)]
    assert lc.state is State.OK and lc.fired_at_ms is None


def test_qualifying_while_firing_changes_nothing() -> None:
    lc = Lifecycle()
    _run(lc, [_ev(0, qualifies=True), _ev(1, qualifies=True)])
    assert _run(lc, [_ev(i, qualifies=True) for i in range(2, 20)]) == []


def test_round_trip_mid_episode_continues_identically() -> None:
    lc = Lifecycle()
    head = [
        _ev(0, qualifies=True),
        _ev(1, qualifies=True),
        _ev(2, critical=True),
        _ev(3, calm=True),
    ]
    tail = [_ev(4, calm=True), _ev(5, calm=True), _ev(6, qualifies=True)]
    _run(lc, head)
    copy = Lifecycle.from_dict(lc.to_dict())
    assert copy.to_dict() == lc.to_dict()
    assert _run(copy, tail) == _run(lc, tail)
