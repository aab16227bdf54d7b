"""Alert messages to Alertmanager API v2 alerts; the firing set; the retry backoff."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from schemas.alert import Alert
from streams.alerting.alertmanager_payload import FiringSet, labels_of, render
from streams.alerting.backoff import Backoff

T = datetime(2022, 9, 21, 19, 35, tzinfo=UTC)
KEEP = timedelta(minutes=4)


def alert(
    status: str = "firing",
    severity: str = "warning",
    scope: str = "crossing",
    emitted: datetime = T,
    alert_id: str = "syrym:RU-KZ:20220921T1855Z",
) -> Alert:
    return Alert(
        alert_id=alert_id,
        status=status,  # type: ignore[arg-type]
        severity=severity,  # type: ignore[arg-type]
        scope=scope,  # type: ignore[arg-type]
        crossing_id="syrym" if scope == "crossing" else None,
        from_country="RU",
        to_country="KZ",
        window_start=datetime(2022, 9, 21, 18, 35, tzinfo=UTC),
        window_end=datetime(2022, 9, 21, 19, 35, tzinfo=UTC),
        observed=92,
        expected=15.3,
        ratio=6.0,
        emitted_at=emitted,
    )


def test_labels_and_annotations_of_a_crossing_alert() -> None:
    sets = FiringSet()
    [body] = render(sets.apply(alert(), 0, T), T, KEEP)
    assert body["labels"] == {
        "alertname": "BorderSurge",
        "scope": "crossing",
        "crossing_id": "syrym",
        "border": "RU-KZ",
        "from_country": "RU",
        "to_country": "KZ",
        "severity": "warning",
    }
    notes = body["annotations"]
    assert (notes["observed"], notes["expected"], notes["ratio"]) == ("92", "15.3", "6")
    assert notes["alert_id"] == "syrym:RU-KZ:20220921T1855Z"
    assert notes["window_end"] == "2022-09-21T19:35:00.000Z"
    assert "92 travellers vs 15.3 expected" in notes["summary"]
    assert body["startsAt"] == "2022-09-21T19:35:00.000Z"
    assert body["endsAt"] == "2022-09-21T19:39:00.000Z"  # now + keep, renewed by re-posts


def test_a_border_alert_names_the_border_in_crossing_id() -> None:
    labels = labels_of(alert(scope="border"))
    assert labels["scope"] == "border"
    assert labels["crossing_id"] == labels["border"] == "RU-KZ"


def test_escalation_ends_the_old_label_set_and_keeps_firing_the_new() -> None:
    sets = FiringSet()
    sets.apply(alert(), 0, T)
    later = T + timedelta(minutes=40)
    seen = later + timedelta(seconds=5)  # the bridge reads it a little after its emission
    old, new = render(sets.apply(alert(severity="critical", emitted=later), 0, seen), seen, KEEP)
    # The old severity ends when the change was emitted, not when the bridge saw it.
    assert old["labels"]["severity"] == "warning" and old["endsAt"] == "2022-09-21T20:15:00.000Z"
    assert new["labels"]["severity"] == "critical"
    assert new["startsAt"] == "2022-09-21T20:15:00.000Z"
    [again] = render(sets.still_firing(), later + timedelta(minutes=1), KEEP)
    assert again["labels"]["severity"] == "critical"
    assert again["endsAt"] == "2022-09-21T20:20:00.000Z"


def test_the_same_severity_again_keeps_its_start() -> None:
    sets = FiringSet()
    sets.apply(alert(), 0, T)
    [body] = render(sets.apply(alert(emitted=T + timedelta(minutes=5)), 0, T), T, KEEP)
    assert body["startsAt"] == "2022-09-21T19:35:00.000Z"


def test_resolution_ends_the_firing_alert_at_its_emission_time() -> None:
    sets = FiringSet()
    sets.apply(alert(), 2, T)
    done = T + timedelta(hours=3)
    [body] = render(sets.apply(alert(status="resolved", emitted=done), 2, done), done, KEEP)
    assert body["startsAt"] == "2022-09-21T19:35:00.000Z"
    assert body["endsAt"] == "2022-09-21T22:35:00.000Z"
    assert sets.firing == {} and sets.still_firing() == []


def test_a_resolution_never_seen_firing_is_still_valid_for_alertmanager() -> None:
    [body] = render(FiringSet().apply(alert(status="resolved"), 0, T), T, KEEP)
    assert body["startsAt"] <= body["endsAt"]


def test_firing_alerts_are_rendered_with_the_time_of_sending() -> None:
    sets = FiringSet()
    posts = sets.apply(alert(), 0, T)
    [body] = render(posts, T + timedelta(hours=2), KEEP)  # retried through a 2 h outage
    assert body["endsAt"] == "2022-09-21T21:39:00.000Z"


def test_dropping_a_partition_forgets_its_alerts_only() -> None:
    sets = FiringSet()
    sets.apply(alert(alert_id="a"), 0, T)
    sets.apply(alert(alert_id="b"), 1, T)
    sets.drop_partitions({0})
    assert list(sets.firing) == ["b"]


def test_backoff_doubles_up_to_its_cap_and_jitter_only_shortens() -> None:
    b = Backoff(initial=0.5, maximum=60.0, factor=2.0, jitter=0.2)
    assert [b.delay(n, rand=lambda: 0.0) for n in range(9)] == [
        0.5,
        1.0,
        2.0,
        4.0,
        8.0,
        16.0,
        32.0,
        60.0,
        60.0,
    ]
    assert b.delay(3, rand=lambda: 1.0) == 4.0 * 0.8
    assert b.delay(10_000, rand=lambda: 0.5) == 60.0 * 0.9
