"""Data contracts for the border-surge topics: pydantic models, no Kafka imports."""

from schemas.alert import Alert
from schemas.countries import COUNTRY_CODES, CountryCode
from schemas.counts import CountRecord
from schemas.dead_letter import DeadLetterReason
from schemas.event import (
    MAX_EVENT_BYTES,
    BorderEvent,
    InvalidEvent,
    UtcDatetime,
    event_to_json,
    parse_event,
)

__all__ = [
    "COUNTRY_CODES",
    "MAX_EVENT_BYTES",
    "Alert",
    "BorderEvent",
    "CountRecord",
    "CountryCode",
    "DeadLetterReason",
    "InvalidEvent",
    "UtcDatetime",
    "event_to_json",
    "parse_event",
]
