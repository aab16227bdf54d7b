"""Alert records as `border-surge alerts` prints them: one line each, validated, coloured."""

from __future__ import annotations

import json

import pytest

from streams.alerting.follow import GREEN, RED, RESET, YELLOW, decode_alert, format_alert, render
from tests.samples import sample_alert as alert


def test_a_post_alert_shows_event_time_status_subject_numbers_ratio_and_id() -> None:
    line = format_alert(alert(), color=False)
    assert line.startswith("2022-09-21 14:05Z  firing   critical crossing kazbegi-upper-lars RU→GE")
    assert "1,234 vs     579.6 expected" in line
    assert "\u00d72.13" in line  # the multiplication sign
    assert line.endswith("kazbegi-upper-lars:RU-GE:2022-09-21T14:00:00Z")
    assert "\x1b[" not in line


def test_a_border_alert_is_labelled_border_with_its_direction() -> None:
    line = format_alert(alert(scope="border", crossing_id=None, to_country="FI"), color=False)
    assert "border   border RU→FI" in line


def test_window_end_with_an_offset_is_shown_in_utc() -> None:
    line = format_alert(alert(window_end="2022-09-21T17:05:00+03:00"), color=False)
    assert line.startswith("2022-09-21 14:05Z")


@pytest.mark.parametrize(
    ("status", "severity", "tint"),
    [("firing", "critical", RED), ("firing", "warning", YELLOW), ("resolved", "critical", GREEN)],
)
def test_colour_follows_severity_and_resolved_is_green(
    status: str, severity: str, tint: str
) -> None:
    plain = format_alert(alert(status=status, severity=severity), color=False)
    assert format_alert(alert(status=status, severity=severity), color=True) == (
        f"{tint}{plain}{RESET}"
    )


def test_a_valid_record_decodes_to_its_json_form() -> None:
    record = decode_alert(2, 17, json.dumps(alert(window_end="2022-09-21T17:05:00+03:00")).encode())
    assert record.error is None
    assert record.alert is not None
    assert record.alert["window_end"] == "2022-09-21T14:05:00Z"
    assert (record.partition, record.offset) == (2, 17)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"not json", "Invalid JSON"),
        (None, "tombstone"),
        (json.dumps(alert(status="burning")).encode(), "status"),
        (json.dumps(alert(crossing_id=None)).encode(), "crossing_id is required"),
        (json.dumps({k: v for k, v in alert().items() if k != "ratio"}).encode(), "ratio"),
    ],
)
def test_an_invalid_record_becomes_a_warning_line_not_an_error(
    raw: bytes | None, reason: str
) -> None:
    record = decode_alert(1, 5, raw)
    assert record.alert is None
    for as_json in (False, True):
        line, warning = render(record, as_json=as_json, color=False)
        assert warning
        assert line.startswith("warning: invalid alert record at partition 1 offset 5: ")
        assert reason in line


def test_json_mode_prints_the_raw_value_and_keeps_it_on_one_line() -> None:
    compact = json.dumps(alert()).encode()
    assert render(decode_alert(0, 0, compact), as_json=True, color=True) == (
        compact.decode(),
        False,
    )
    pretty = json.dumps(alert(), indent=2).encode()
    line, warning = render(decode_alert(0, 1, pretty), as_json=True, color=False)
    assert not warning
    assert "\n" not in line
    assert json.loads(line) == alert()
