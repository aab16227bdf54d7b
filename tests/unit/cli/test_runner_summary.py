"""The summary `border-surge run` prints per border and post, and how it knows to print it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from streams.alerting.alert_summary import format_summary, summary_report, summary_rows
from streams.alerting.follow import decode_alert
from streams.cli.run import caught_up


def alert(
    alert_id: str,
    window_end: str,
    *,
    crossing: str | None = "kazbegi-upper-lars",
    pair: tuple[str, str] = ("RU", "GE"),
    status: str = "firing",
    severity: str = "warning",
    ratio: float = 2.0,
) -> dict[str, Any]:
    return {
        "alert_id": alert_id,
        "status": status,
        "severity": severity,
        "scope": "crossing" if crossing else "border",
        "crossing_id": crossing,
        "from_country": pair[0],
        "to_country": pair[1],
        "window_start": "2022-09-21T00:00:00Z",
        "window_end": window_end,
        "observed": 100,
        "expected": 50.0,
        "ratio": ratio,
        "emitted_at": "2022-09-30T00:00:00Z",
        "schema_version": 1,
    }


def test_rows_sum_up_each_post_and_border_direction() -> None:
    alerts = [
        alert("a1", "2022-09-21T14:05:00Z", ratio=1.8),
        alert("a1", "2022-09-21T15:00:00Z", severity="critical", ratio=3.2),
        alert("a1", "2022-09-22T09:00:00Z", status="resolved", ratio=1.1),
        alert("a2", "2022-09-23T08:00:00Z", ratio=2.4),
        alert("b1", "2022-09-21T16:00:00Z", crossing=None, ratio=1.6),
    ]
    rows = {row.subject: row for row in summary_rows(alerts)}
    post = rows[("kazbegi-upper-lars", "RU", "GE")]
    assert post.peak_ratio == 3.2
    assert post.first_alert == datetime(2022, 9, 21, 14, 5, tzinfo=UTC)
    assert post.max_severity == "critical"
    assert (post.messages, post.episodes) == (4, 2)
    border = rows[(None, "RU", "GE")]
    assert (border.peak_ratio, border.max_severity, border.messages) == (1.6, "warning", 1)
    assert border.label == "border RU→GE"
    assert post.label == "kazbegi-upper-lars RU→GE"


def test_first_alert_is_the_earliest_window_end_not_the_order_received() -> None:
    alerts = [alert("x", "2022-09-22T10:00:00Z"), alert("y", "2022-09-21T23:55:00Z")]
    (row,) = summary_rows(alerts)
    assert row.first_alert == datetime(2022, 9, 21, 23, 55, tzinfo=UTC)


def test_only_resolved_records_still_give_a_first_time() -> None:
    (row,) = summary_rows([alert("x", "2022-09-22T10:00:00Z", status="resolved")])
    assert row.first_alert == datetime(2022, 9, 22, 10, 0, tzinfo=UTC)


def test_subjects_without_alerts_get_empty_rows_and_borders_come_before_their_posts() -> None:
    subjects = [
        ("vaalimaa", "RU", "FI"),
        (None, "RU", "FI"),
        ("kazbegi-upper-lars", "RU", "GE"),
        (None, "RU", "GE"),
    ]
    rows = summary_rows([alert("a", "2022-09-21T14:05:00Z")], subjects)
    assert [r.subject for r in rows] == [
        (None, "RU", "FI"),
        ("vaalimaa", "RU", "FI"),
        (None, "RU", "GE"),
        ("kazbegi-upper-lars", "RU", "GE"),
    ]
    quiet = rows[0]
    assert (quiet.peak_ratio, quiet.first_alert, quiet.max_severity) == (None, None, None)
    assert (quiet.messages, quiet.episodes) == (0, 0)


def test_the_table_has_a_header_and_one_aligned_line_per_row() -> None:
    rows = summary_rows(
        [alert("a", "2022-09-21T14:05:00Z", severity="critical", ratio=2.129)],
        [(None, "RU", "GE")],
    )
    header, border, post = format_summary(rows)
    assert header.startswith("border / post")
    assert border.split() == ["border", "RU→GE", "-", "-", "-", "0", "0"]
    ratio = "\u00d72.13"  # the multiplication sign
    expected = ["kazbegi-upper-lars", "RU→GE", ratio, "2022-09-21", "14:05Z", "critical", "1", "1"]
    assert post.split() == expected
    assert len({len(line) for line in (header, border, post)}) == 1


def test_an_empty_topic_says_no_alerts() -> None:
    assert summary_report([], [(None, "RU", "GE")]) == ["no alerts"]
    assert summary_report([decode_alert(0, 0, b"junk")]) == ["no alerts, 1 invalid records"]


def test_report_counts_messages_then_tables_the_alerted_and_lists_the_quiet() -> None:
    records = [
        decode_alert(0, 0, json.dumps(alert("a", "2022-09-21T14:05:00Z")).encode()),
        decode_alert(0, 1, b"junk"),
    ]
    quiet = [(None, "RU", "GE"), ("narva", "RU", "EE"), (None, "RU", "EE")]
    lines = summary_report(records, quiet)
    assert lines[0] == "1 alert messages, 1 invalid records"
    assert lines[1].startswith("border / post")
    assert lines[2].startswith("kazbegi-upper-lars RU→GE")
    assert lines[3:] == ["no alerts: border RU→EE, narva RU→EE, border RU→GE"]


def test_a_long_list_of_quiet_subjects_is_wrapped() -> None:
    record = decode_alert(0, 0, json.dumps(alert("a", "2022-09-21T14:05:00Z")).encode())
    quiet = [(f"post-{i:02d}", "RU", "FI") for i in range(30)]  # hyphens: no breaks there
    tail = summary_report([record], quiet)[3:]
    assert len(tail) > 1
    assert all(len(line) <= 96 for line in tail)
    assert all(any(f"post-{i:02d} RU→FI" in line for line in tail) for i in range(30))
    assert all(line.startswith("  ") for line in tail[1:])


def test_no_quiet_line_when_every_subject_had_alerts() -> None:
    record = decode_alert(0, 0, json.dumps(alert("a", "2022-09-21T14:05:00Z")).encode())
    assert len(summary_report([record], [("kazbegi-upper-lars", "RU", "GE")])) == 3


def crossings(*ends: str | None) -> dict[str, Any]:
    names = ["a", "b", "c"]
    return {
        "directions": [
            {
                "crossing_id": names[i],
                "from_country": "RU",
                "to_country": "GE",
                "last_bucket_end": e,
            }
            for i, e in enumerate(ends)
        ]
    }


LAST = int(datetime(2022, 9, 28, tzinfo=UTC).timestamp() * 1000)


def test_caught_up_when_every_post_is_within_half_an_hour_of_the_last_event() -> None:
    posts = {("a", "RU", "GE"), ("b", "RU", "GE")}
    assert caught_up(crossings("2022-09-27T23:35:00Z", "2022-09-27T23:50:00Z"), posts, LAST)
    assert not caught_up(crossings("2022-09-27T23:25:00Z", "2022-09-27T23:50:00Z"), posts, LAST)
    assert not caught_up(crossings("2022-09-27T23:50:00Z", None), posts, LAST)


def test_not_caught_up_while_a_post_is_missing_or_nothing_is_listed() -> None:
    assert not caught_up(crossings("2022-09-27T23:50:00Z"), {("z", "RU", "GE")}, LAST)
    assert not caught_up({"directions": []}, set(), LAST)
    assert caught_up(crossings("2022-09-27T23:50:00Z"), set(), LAST)
