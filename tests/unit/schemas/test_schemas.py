"""Unit tests for the topic contracts in schemas/: the event parser above all."""

import json
import pickle
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas import (
    COUNTRY_CODES,
    MAX_EVENT_BYTES,
    Alert,
    BorderEvent,
    CountRecord,
    DeadLetterReason,
    InvalidEvent,
    event_to_json,
    parse_event,
)
from schemas.dead_letter import dead_letter_headers

VALID: dict[str, Any] = {
    "event_id": "e-0001",
    "crossing_id": "kazbegi-upper-lars",
    "occurred_at": "2022-09-21T10:05:00Z",
    "from_country": "RU",
    "to_country": "GE",
    "travellers": 3,
}


def raw(**changes: Any) -> bytes:
    """The valid event with fields changed; a value of ... removes the field."""
    doc = {**VALID, **changes}
    return json.dumps({k: v for k, v in doc.items() if v is not ...}, ensure_ascii=False).encode()


def rejected(data: bytes) -> InvalidEvent:
    with pytest.raises(InvalidEvent) as info:
        parse_event(data)
    return info.value


def assert_invalid_field(data: bytes, field: str) -> InvalidEvent:
    err = rejected(data)
    assert err.reason is DeadLetterReason.INVALID_FIELD
    assert err.detail.startswith(f"{field}:"), err.detail
    return err


# --- the valid baseline and optional fields -------------------------------------------------


def test_valid_event_parses_with_defaults_for_optional_fields() -> None:
    ev = parse_event(raw())
    assert ev.event_id == "e-0001"
    assert ev.crossing_id == "kazbegi-upper-lars"
    assert ev.occurred_at == datetime(2022, 9, 21, 10, 5, tzinfo=UTC)
    assert (ev.from_country, ev.to_country, ev.travellers) == ("RU", "GE", 3)
    assert ev.mode == "other"
    assert ev.nationality is None
    assert ev.schema_version == 1


def test_unknown_extra_fields_are_ignored() -> None:
    ev = parse_event(raw(gate="B7", meta={"lane": [1, 2, {"x": None}]}, note="Верхний Ларс"))
    assert ev == parse_event(raw())
    assert not hasattr(ev, "gate")


def test_event_is_frozen() -> None:
    ev = parse_event(raw())
    with pytest.raises(ValidationError):
        ev.travellers = 4


# --- event_id -------------------------------------------------------------------------------


@pytest.mark.parametrize("event_id", ["x", "é" * 128, "550e8400-e29b-41d4-a716-446655440000"])
def test_event_id_of_1_to_128_characters_is_accepted(event_id: str) -> None:
    assert parse_event(raw(event_id=event_id)).event_id == event_id


@pytest.mark.parametrize("event_id", ["", "x" * 129, 42, None, ...])
def test_event_id_empty_too_long_not_a_string_or_missing_is_rejected(event_id: Any) -> None:
    assert_invalid_field(raw(event_id=event_id), "event_id")


# --- crossing_id ----------------------------------------------------------------------------


@pytest.mark.parametrize("crossing_id", ["vaalimaa", "kazbegi-upper-lars", "9", "a" * 63, "a-"])
def test_crossing_id_slug_is_accepted(crossing_id: str) -> None:
    assert parse_event(raw(crossing_id=crossing_id)).crossing_id == crossing_id


@pytest.mark.parametrize(
    "crossing_id",
    ["", "Vaalimaa", "-lars", "a" * 64, "upper lars", "upper_lars", "vaalimaa\n", "ä", 7, ...],
)
def test_crossing_id_that_is_not_a_lower_case_slug_is_rejected(crossing_id: Any) -> None:
    assert_invalid_field(raw(crossing_id=crossing_id), "crossing_id")


# --- occurred_at ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("occurred_at", "expected_ms"),
    [
        ("2022-09-21T10:05:00Z", 1663754700000),
        ("2022-09-21T13:05:00+03:00", 1663754700000),
        ("2022-09-21T05:35:00-04:30", 1663754700000),
        ("2022-09-21t10:05:00z", 1663754700000),
        ("2022-09-21T10:05:00.123456Z", 1663754700123),
        ("2022-09-21T10:05:00-00:00", 1663754700000),
        ("1969-12-31T23:59:59.999Z", -1),
    ],
)
def test_occurred_at_with_offset_converts_to_utc_epoch_millis(
    occurred_at: str, expected_ms: int
) -> None:
    ev = parse_event(raw(occurred_at=occurred_at))
    assert ev.event_time_ms == expected_ms
    assert ev.occurred_at.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "occurred_at",
    [
        "2022-09-21T10:05:00",  # naive: no offset
        "2022-09-21",
        "2022-09-21T10:05Z",  # no seconds
        "2022-09-21 10:05:00Z",
        "2022-09-21T10:05:00+0300",
        "2022-09-21T25:05:00Z",
        "1663754700",
        1663754700,
        "yesterday",
        "0001-01-01T00:00:00+03:00",  # valid text, but before datetime.min in UTC
        None,
        ...,
    ],
)
def test_occurred_at_that_is_not_rfc3339_with_offset_is_rejected(occurred_at: Any) -> None:
    assert_invalid_field(raw(occurred_at=occurred_at), "occurred_at")


# --- from_country / to_country / nationality ------------------------------------------------


@pytest.mark.parametrize("field", ["from_country", "to_country"])
@pytest.mark.parametrize("code", ["fi", "XX", "ZZ", "FIN", "", "F", 1, None, ...])
def test_country_that_is_not_an_assigned_upper_case_alpha2_code_is_rejected(
    field: str, code: Any
) -> None:
    assert_invalid_field(raw(**{field: code}), field)


def test_any_assigned_country_pair_is_accepted() -> None:
    ev = parse_event(raw(from_country="FI", to_country="AX"))
    assert (ev.from_country, ev.to_country) == ("FI", "AX")


def test_same_from_and_to_country_is_rejected_naming_to_country() -> None:
    err = assert_invalid_field(raw(from_country="GE", to_country="GE"), "to_country")
    assert "from_country" in err.detail
    assert "GE" in err.detail


def test_country_list_has_the_249_assigned_codes_only() -> None:
    assert len(COUNTRY_CODES) == 249
    assert {"FI", "RU", "GE", "AX", "SS", "BQ"} <= COUNTRY_CODES
    assert not {"XX", "ZZ", "XK", "EU", "UK", "AN"} & COUNTRY_CODES


def test_country_list_matches_the_tz_database_iso3166_table() -> None:
    # pytz ships the IANA copy of the ISO 3166 table; it catches a typo in our hand-written list.
    pytz = pytest.importorskip("pytz")
    with pytz.open_resource("iso3166.tab") as table:
        lines = table.read().decode().splitlines()
    assert {line.split("\t")[0] for line in lines if not line.startswith("#")} == COUNTRY_CODES


@pytest.mark.parametrize("nationality", ["GE", None, ...])
def test_nationality_code_null_or_absent_is_accepted(nationality: Any) -> None:
    expected = nationality if nationality is not ... else None
    assert parse_event(raw(nationality=nationality)).nationality == expected


@pytest.mark.parametrize("nationality", ["XX", "ge", "", 7])
def test_nationality_that_is_not_an_assigned_code_is_rejected(nationality: Any) -> None:
    assert_invalid_field(raw(nationality=nationality), "nationality")


# --- travellers -----------------------------------------------------------------------------


@pytest.mark.parametrize("travellers", [1, 1000])
def test_travellers_from_1_to_1000_is_accepted(travellers: int) -> None:
    assert parse_event(raw(travellers=travellers)).travellers == travellers


@pytest.mark.parametrize(
    "travellers", [0, -1, 1001, 3.5, 3.0, True, "3", None, [3], {"n": 3}, 10**40, ...]
)
def test_travellers_that_is_not_a_strict_integer_in_range_is_rejected(travellers: Any) -> None:
    assert_invalid_field(raw(travellers=travellers), "travellers")


def test_travellers_detail_says_the_rule_and_the_value() -> None:
    err = rejected(raw(travellers=0))
    assert err.detail == "travellers: must be an integer from 1 to 1000, got 0"


def test_travellers_given_as_json_float_literal_is_rejected() -> None:
    # json.dumps would write 3.0 from Python; these are the spellings producers actually send.
    for spelling in (b"3.0", b"3e0", b"1E2"):
        data = raw().replace(b'"travellers": 3', b'"travellers": ' + spelling)
        assert_invalid_field(data, "travellers")


def test_huge_integer_in_the_payload_is_rejected_without_crashing() -> None:
    # Thousands of digits: CPython refuses str() of such ints, so the detail must not call it.
    for data in (
        raw().replace(b'"travellers": 3', b'"travellers": ' + b"9" * 5000),
        raw().replace(b'"travellers": 3', b'"travellers": [' + b"9" * 4000 + b"]"),
        raw(big=0).replace(b'"big": 0', b'"big": ' + b"9" * 5000),
    ):
        try:
            parse_event(data)
        except InvalidEvent as err:
            assert len(err.detail) < 600


# --- mode -----------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["pedestrian", "car", "bus", "truck", "train", "other"])
def test_each_mode_is_accepted(mode: str) -> None:
    assert parse_event(raw(mode=mode)).mode == mode


@pytest.mark.parametrize("mode", ["boat", "CAR", "", None, 1])
def test_unknown_mode_is_rejected(mode: Any) -> None:
    assert_invalid_field(raw(mode=mode), "mode")


# --- schema_version -------------------------------------------------------------------------


def test_schema_version_1_is_accepted() -> None:
    assert parse_event(raw(schema_version=1)).schema_version == 1


@pytest.mark.parametrize("version", [2, 0, -1, 99])
def test_other_integer_schema_version_is_unsupported(version: int) -> None:
    err = rejected(raw(schema_version=version))
    assert err.reason is DeadLetterReason.UNSUPPORTED_VERSION
    assert err.detail.startswith("schema_version:")


def test_unsupported_version_wins_over_other_invalid_fields() -> None:
    # A v2 event may legitimately have fields v1 does not understand.
    err = rejected(raw(schema_version=2, travellers="many", crossing_id=...))
    assert err.reason is DeadLetterReason.UNSUPPORTED_VERSION


@pytest.mark.parametrize("version", [True, "1", 1.0, None])
def test_schema_version_that_is_not_an_integer_is_invalid(version: Any) -> None:
    assert_invalid_field(raw(schema_version=version), "schema_version")


# --- raw bytes: size, encoding, JSON, shape -------------------------------------------------


def padded_to(size: int) -> bytes:
    base = raw(pad="")
    return base.replace(b'"pad": ""', b'"pad": "' + b"x" * (size - len(base)) + b'"')


def test_event_of_exactly_64_kib_is_accepted() -> None:
    data = padded_to(MAX_EVENT_BYTES)
    assert len(data) == MAX_EVENT_BYTES
    assert parse_event(data).event_id == "e-0001"


def test_event_over_64_kib_is_too_large() -> None:
    err = rejected(padded_to(MAX_EVENT_BYTES + 1))
    assert err.reason is DeadLetterReason.TOO_LARGE
    assert "65537" in err.detail


@pytest.mark.parametrize(
    "data",
    [
        b'{"event_id": "\xff"}',
        raw(note="é").replace("é".encode(), b"\xc3"),  # truncated sequence
        raw(note="x").replace(b'"x"', b'"\xed\xa0\x80"'),  # UTF-8-encoded surrogate
        b"\xfe\xff",
    ],
)
def test_invalid_utf8_is_bad_encoding(data: bytes) -> None:
    err = rejected(data)
    assert err.reason is DeadLetterReason.BAD_ENCODING
    assert "UTF-8" in err.detail


def test_non_ascii_utf8_is_accepted() -> None:
    assert parse_event(raw(event_id="пост-№1")).event_id == "пост-№1"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"   ",
        b"{",
        raw()[:-1],
        raw() + b"x",
        b"{'event_id': 'x'}",
        b'{"event_id": "\\ud800"}',  # lone surrogate escape
        b"\xef\xbb\xbf" + raw(),  # BOM
    ],
)
def test_malformed_json_is_bad_json(data: bytes) -> None:
    err = rejected(data)
    assert err.reason is DeadLetterReason.BAD_JSON
    assert err.detail.startswith("not valid JSON")


@pytest.mark.parametrize(
    ("data", "kind"),
    [(b"[]", "an array"), (b'"x"', "a string"), (b"3", "a number"), (b"null", "null")],
)
def test_top_level_that_is_not_an_object_is_not_object(data: bytes, kind: str) -> None:
    err = rejected(data)
    assert err.reason is DeadLetterReason.NOT_OBJECT
    assert err.detail.endswith(kind)


def test_100000_nested_arrays_are_rejected_by_size_before_parsing() -> None:
    assert rejected(b"[" * 100_000 + b"]" * 100_000).reason is DeadLetterReason.TOO_LARGE


@pytest.mark.parametrize(
    "data",
    [
        b"[" * 30_000 + b"]" * 30_000,
        b"[" * 60_000,
        raw(deep=0).replace(b'"deep": 0', b'"deep": ' + b'{"a":' * 10_000 + b"1" + b"}" * 10_000),
        raw(deep=0).replace(b'"deep": 0', b'"deep": ' + b"[" * 300 + b"]" * 300),
    ],
)
def test_absurd_nesting_within_the_size_limit_is_bad_json_not_a_crash(data: bytes) -> None:
    # The JSON parser stops at a fixed depth, even inside a field we would ignore.
    assert len(data) <= MAX_EVENT_BYTES
    err = rejected(data)
    assert err.reason is DeadLetterReason.BAD_JSON
    assert "recursion limit" in err.detail


def test_moderate_nesting_in_an_ignored_field_is_accepted() -> None:
    data = raw(deep=0).replace(b'"deep": 0', b'"deep": ' + b"[" * 100 + b"]" * 100)
    assert parse_event(data).event_id == "e-0001"


def test_several_bad_fields_are_all_named() -> None:
    err = rejected(raw(travellers=0, mode="boat", event_id=...))
    assert err.reason is DeadLetterReason.INVALID_FIELD
    for field in ("travellers", "mode", "event_id"):
        assert field in err.detail


def test_detail_shows_at_most_about_200_chars_of_the_value() -> None:
    err = rejected(raw(event_id="x" * 60_000))
    assert "x" * 200 in err.detail
    assert len(err.detail) < 400


def test_invalid_event_is_a_value_error_that_survives_pickling() -> None:
    err = rejected(raw(travellers=0))
    assert isinstance(err, ValueError)
    copy = pickle.loads(pickle.dumps(err))
    assert (copy.reason, copy.detail, str(copy)) == (err.reason, err.detail, str(err))


# --- canonical encoding ---------------------------------------------------------------------


def test_event_to_json_is_compact_utc_and_round_trips() -> None:
    ev = parse_event(raw(occurred_at="2022-09-21T13:05:00.250+03:00", mode="car", nationality="AM"))
    data = event_to_json(ev)
    assert data == (
        b'{"event_id":"e-0001","crossing_id":"kazbegi-upper-lars",'
        b'"occurred_at":"2022-09-21T10:05:00.250000Z","from_country":"RU","to_country":"GE",'
        b'"travellers":3,"mode":"car","nationality":"AM","schema_version":1}'
    )
    again = parse_event(data)
    assert again == ev
    assert again.event_time_ms == ev.event_time_ms == 1663754700250


def test_event_built_in_python_needs_an_aware_datetime() -> None:
    fields = {
        **VALID,
        "occurred_at": datetime(2022, 9, 21, 13, 5, tzinfo=timezone(timedelta(hours=3))),
    }
    ev = BorderEvent(**fields)
    assert ev.occurred_at.tzinfo is UTC
    assert ev.event_time_ms == 1663754700000
    with pytest.raises(ValidationError):
        BorderEvent(**{**VALID, "occurred_at": datetime(2022, 9, 21, 10, 5)})


# --- no bytes make parse_event raise anything but InvalidEvent ------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
near_events = st.fixed_dictionaries(
    {},
    optional={
        key: st.one_of(st.just(value), json_values)
        for key, value in {
            **VALID,
            "mode": "car",
            "nationality": "FI",
            "schema_version": 1,
        }.items()
    },
)
fuzz = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def parses_or_rejects(data: bytes) -> None:
    try:
        result = parse_event(data)
    except InvalidEvent as err:
        assert isinstance(err.reason, DeadLetterReason)
        assert err.detail
    else:
        assert isinstance(result, BorderEvent)
        assert parse_event(event_to_json(result)) == result


@fuzz
@given(st.binary(max_size=300))
def test_random_bytes_parse_or_raise_invalid_event(data: bytes) -> None:
    parses_or_rejects(data)


@fuzz
@given(json_values)
def test_random_json_values_parse_or_raise_invalid_event(value: Any) -> None:
    parses_or_rejects(json.dumps(value).encode())


@fuzz
@given(near_events)
def test_random_near_valid_objects_parse_or_raise_invalid_event(value: dict[str, Any]) -> None:
    parses_or_rejects(json.dumps(value).encode())


# --- dead-letter headers --------------------------------------------------------------------


def test_dead_letter_headers_are_utf8_text() -> None:
    headers = dict(
        dead_letter_headers(DeadLetterReason.BAD_JSON, "not valid JSON: é", "border.events", 3, 42)
    )
    assert headers == {
        "x-error": "not valid JSON: é".encode(),
        "x-error-reason": b"bad_json",
        "x-source-topic": b"border.events",
        "x-source-partition": b"3",
        "x-source-offset": b"42",
    }


# --- alerts and counts ----------------------------------------------------------------------

T0 = datetime(2022, 9, 21, 10, 0, tzinfo=UTC)
ALERT: dict[str, Any] = {
    "alert_id": "a-1",
    "status": "firing",
    "severity": "critical",
    "scope": "crossing",
    "crossing_id": "kazbegi-upper-lars",
    "from_country": "RU",
    "to_country": "GE",
    "window_start": T0,
    "window_end": T0 + timedelta(minutes=5),
    "observed": 900,
    "expected": 120.5,
    "ratio": 7.47,
    "emitted_at": T0 + timedelta(minutes=5, seconds=2),
}


def test_crossing_alert_subject_is_the_crossing_id() -> None:
    assert Alert(**ALERT).subject == "kazbegi-upper-lars"


def test_border_alert_subject_is_from_dash_to() -> None:
    assert Alert(**{**ALERT, "scope": "border", "crossing_id": None}).subject == "RU-GE"


@pytest.mark.parametrize(
    "changes",
    [
        {"scope": "border"},  # border alert with a crossing_id
        {"crossing_id": None},  # crossing alert without one
        {"to_country": "RU"},
        {"window_end": T0},
        {"ratio": float("nan")},
        {"expected": float("inf")},
        {"observed": -1},
        {"status": "pending"},
        {"emitted_at": datetime(2022, 9, 21, 10, 7)},  # naive
    ],
)
def test_inconsistent_alert_is_rejected(changes: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Alert(**{**ALERT, **changes})


def test_alert_json_has_utc_z_times_and_round_trips() -> None:
    alert = Alert(**{**ALERT, "window_start": T0.astimezone(timezone(timedelta(hours=4)))})
    doc = json.loads(alert.model_dump_json())
    assert doc["window_start"] == "2022-09-21T10:00:00Z"
    assert doc["emitted_at"] == "2022-09-21T10:05:02Z"
    assert doc["schema_version"] == 1
    assert Alert.model_validate_json(alert.model_dump_json()) == alert


COUNT: dict[str, Any] = {
    "crossing_id": "vaalimaa",
    "from_country": "FI",
    "to_country": "RU",
    "bucket_start": T0,
    "bucket_end": T0 + timedelta(minutes=1),
    "travellers": 12,
    "events": 5,
    "revision": 0,
}


def test_count_record_json_round_trips_with_z_times() -> None:
    record = CountRecord(**COUNT)
    data = record.model_dump_json()
    assert '"bucket_start":"2022-09-21T10:00:00Z"' in data
    assert CountRecord.model_validate_json(data) == record


def test_empty_bucket_count_is_valid() -> None:
    assert CountRecord(**{**COUNT, "travellers": 0, "events": 0}).events == 0


@pytest.mark.parametrize(
    "changes",
    [
        {"revision": -1},
        {"travellers": -1},
        {"travellers": 4, "events": 5},  # every event has at least one traveller
        {"bucket_end": T0},
        {"to_country": "FI"},
        {"crossing_id": "Vaalimaa"},
    ],
)
def test_impossible_count_record_is_rejected(changes: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        CountRecord(**{**COUNT, **changes})
