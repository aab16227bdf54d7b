"""The messages of the AsyncAPI document: payload, key and header schemas, with examples."""

import json
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from schemas import dead_letter
from schemas.alert import Alert
from schemas.bucket_report import bucket_report_schema
from schemas.counts import CountRecord
from schemas.dead_letter import DeadLetterReason
from schemas.event import (
    CROSSING_ID_PATTERN,
    MAX_EVENT_BYTES,
    BorderEvent,
    InvalidEvent,
    parse_event,
)

KAFKA_BINDING = "0.5.0"

# What each dead-letter reason means to whoever reads the topic. A reason added to the enum
# without a line here stops the export: the document must name every value it may carry.
REASONS: dict[str, str] = {
    "too_large": f"the value is over the {MAX_EVENT_BYTES // 1024} KiB an event may have",
    "bad_encoding": "the value is not UTF-8",
    "bad_json": "the value is not JSON",
    "not_object": "the JSON is not an object (or the record has no value: a tombstone)",
    "invalid_field": "a field is missing or invalid; x-error names each one",
    "unsupported_version": "schema_version is not 1",
    "future_event": "occurred_at is ahead of the record's append time by more than "
    "BORDER_SURGE_FUTURE_TOLERANCE_SECONDS",
    "expired": "older than the kept history (BORDER_SURGE_HISTORY_DAYS), found by counting: its "
    "bucket no longer exists",
    "unreadable_batch": "a record batch that could not be decoded (unknown codec, bad CRC): the "
    "dead letter stands for the skipped records, x-source-offset and x-source-last-offset "
    "name their range",
}
# Every HEADER_* constant of schemas.dead_letter, described; those marked True are always set.
HEADERS: dict[str, tuple[bool, str]] = {
    "x-error": (True, "What was wrong, field by field, as UTF-8 text."),
    "x-error-reason": (True, "Why, one word of a fixed set (also a metric label)."),
    "x-source-topic": (True, "The topic the record was written to by its producer."),
    "x-source-partition": (True, "Its partition, in decimal."),
    "x-source-offset": (True, "Its offset, in decimal."),
    "x-source-last-offset": (False, "unreadable_batch only: the last offset of the range."),
}
SOURCE_TIMESTAMP = "x-source-timestamp"  # set by streams/ingest/agent.py


def payload_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON Schema, as committed in schemas/json (without its ``$schema``)."""
    return model.model_json_schema()


def key_schemas() -> dict[str, dict[str, Any]]:
    crossing = {
        "type": "string",
        "pattern": CROSSING_ID_PATTERN,
        "description": "A crossing_id (UTF-8), e.g. kazbegi-upper-lars.",
    }
    border = {
        "type": "string",
        "pattern": "^[A-Z]{2}-[A-Z]{2}$",
        "description": "A border direction: FROM-TO country codes, e.g. RU-GE.",
    }
    return {
        "CrossingKey": crossing,
        "BorderKey": border,
        "AlertKey": {
            "description": "The alert's subject: its crossing_id for scope crossing, FROM-TO "
            "for scope border.",
            "oneOf": [_ref("CrossingKey"), _ref("BorderKey")],
        },
    }


def _headers(names: list[str]) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for name in names:
        properties[name] = {"type": "string", "description": HEADERS[name][1]}
        if name.endswith(("-partition", "-offset")):
            properties[name]["pattern"] = "^[0-9]+$"
    if "x-error-reason" in properties:
        properties["x-error-reason"]["enum"] = [r.value for r in DeadLetterReason]
        properties["x-error-reason"]["description"] += "\n" + "".join(
            f"\n* `{r.value}`: {_reason(r)}" for r in DeadLetterReason
        )
    return {
        "type": "object",
        "required": [n for n in names if HEADERS[n][0]],
        "properties": properties,
    }


def _reason(reason: DeadLetterReason) -> str:
    if reason.value not in REASONS:
        raise KeyError(f"describe the dead-letter reason {reason.value!r} in {__name__}.REASONS")
    return REASONS[reason.value]


def dead_letter_header_names() -> list[str]:
    """The header names schemas.dead_letter defines, in its order."""
    names = [v for k, v in vars(dead_letter).items() if k.startswith("HEADER_")]
    for name in names:
        if name not in HEADERS:
            raise KeyError(f"describe the dead-letter header {name!r} in {__name__}.HEADERS")
    return names


def _kafka(key: dict[str, Any]) -> dict[str, Any]:
    return {"kafka": {"key": key, "bindingVersion": KAFKA_BINDING}}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _example_event() -> dict[str, Any]:
    event = BorderEvent(
        event_id="syrym-2022-09-21-000123",
        crossing_id="syrym",
        occurred_at=datetime(2022, 9, 21, 19, 32, 5, tzinfo=UTC),
        from_country="RU",
        to_country="KZ",
        travellers=3,
        mode="car",
    )
    return event.model_dump(mode="json")


def _example_count() -> dict[str, Any]:
    record = CountRecord(
        crossing_id="syrym",
        from_country="RU",
        to_country="KZ",
        bucket_start=datetime(2022, 9, 21, 19, 30, tzinfo=UTC),
        bucket_end=datetime(2022, 9, 21, 19, 35, tzinfo=UTC),
        travellers=92,
        events=31,
        revision=0,
    )
    return record.model_dump(mode="json")


def _example_alert() -> dict[str, Any]:
    alert = Alert(
        alert_id="syrym:RU-KZ:20220921T1855Z",
        status="firing",
        severity="critical",
        scope="crossing",
        crossing_id="syrym",
        from_country="RU",
        to_country="KZ",
        window_start=datetime(2022, 9, 21, 18, 35, tzinfo=UTC),
        window_end=datetime(2022, 9, 21, 19, 35, tzinfo=UTC),
        observed=92,
        expected=15.3,
        ratio=6.0,
        change_point=datetime(2022, 9, 21, 17, 10, tzinfo=UTC),
        episode_ratio=3.42,
        episode_ratio_low=2.86,
        emitted_at=datetime(2022, 9, 21, 19, 45, 2, tzinfo=UTC),
    )
    return alert.model_dump(mode="json")


def _example_dead_letter(event: dict[str, Any], topic: str) -> dict[str, Any]:
    """A rejected event with the headers the service's own parser gives it."""
    bad = {**event, "to_country": event["from_country"]}
    try:
        parse_event(json.dumps(bad).encode())
    except InvalidEvent as exc:
        headers = dead_letter.dead_letter_headers(exc.reason, exc.detail, topic, 4, 1207)
        return {
            "name": "same-country",
            "headers": {k: v.decode() for k, v in headers},
            "payload": bad,
        }
    raise AssertionError("the dead-letter example must be invalid")


def messages(source_topic: str) -> dict[str, dict[str, Any]]:
    """Every message of the document by name; ``source_topic`` is the input topic's name."""
    event, count, alert = _example_event(), _example_count(), _example_alert()
    dead_headers = dead_letter_header_names()
    source = [n for n in dead_headers if n.startswith("x-source-") and HEADERS[n][0]]
    keyed_headers = _headers(source)
    keyed_headers["properties"][SOURCE_TIMESTAMP] = {
        "type": "string",
        "pattern": "^[0-9]+$",
        "description": "The input record's timestamp (append time), ms since the epoch.",
    }
    keyed_headers["required"].insert(0, SOURCE_TIMESTAMP)
    return {
        "BorderEvent": {
            "name": "BorderEvent",
            "title": "Border crossing event",
            "summary": "One crossing of a border by one or more travellers together.",
            "contentType": "application/json",
            "payload": _ref("BorderEvent"),
            "bindings": _kafka(_ref("CrossingKey")),
            "examples": [{"name": "car", "payload": event}],
        },
        "DeadLetter": {
            "name": "DeadLetter",
            "title": "Dead letter",
            "summary": "An input record the service rejected: its original bytes and why.",
            "contentType": "application/octet-stream",
            "headers": _headers(dead_headers),
            "payload": {
                "description": "The rejected record's value, byte for byte (it may be anything:"
                " not JSON, not UTF-8, empty)."
            },
            "bindings": _kafka({"description": "The rejected record's key, byte for byte."}),
            "examples": [_example_dead_letter(event, source_topic)],
        },
        "KeyedEvent": {
            "name": "KeyedEvent",
            "title": "Valid event, keyed by crossing",
            "summary": "A valid input record, its value unchanged, re-keyed by crossing_id.",
            "contentType": "application/json",
            "headers": keyed_headers,
            "payload": _ref("BorderEvent"),
            "bindings": _kafka(_ref("CrossingKey")),
        },
        "CountRecord": {
            "name": "CountRecord",
            "title": "Bucket count",
            "summary": "Travellers through one crossing, in one direction, in one time bucket.",
            "contentType": "application/json",
            "payload": _ref("CountRecord"),
            "bindings": _kafka(_ref("CrossingKey")),
            "examples": [{"name": "bucket", "payload": count}],
        },
        "BucketReport": {
            "name": "BucketReport",
            "title": "Closed bucket, keyed by border",
            "summary": "A closed bucket of a post direction, sent to the partition of its border.",
            "contentType": "application/json",
            "payload": _ref("BucketReport"),
            "bindings": _kafka(_ref("BorderKey")),
        },
        "Alert": {
            "name": "Alert",
            "title": "Surge alert",
            "summary": "An alert episode starts (firing), changes severity, or ends (resolved).",
            "contentType": "application/json",
            "payload": _ref("Alert"),
            "bindings": _kafka(_ref("AlertKey")),
            "examples": [{"name": "critical", "payload": alert}],
        },
        "InternalState": {
            "name": "InternalState",
            "title": "Internal state",
            "summary": "A worker's saved state: no contract, may change with any release.",
            "contentType": "application/octet-stream",
            "payload": {"description": "Internal; null values are tombstones."},
            "bindings": _kafka({"type": "string", "description": "Internal."}),
        },
    }


def schemas() -> dict[str, dict[str, Any]]:
    """The payload and key schemas the messages refer to."""
    return {
        "BorderEvent": payload_schema(BorderEvent),
        "CountRecord": payload_schema(CountRecord),
        "Alert": payload_schema(Alert),
        "BucketReport": bucket_report_schema(),
        **key_schemas(),
    }
