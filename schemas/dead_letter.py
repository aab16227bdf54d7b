"""Why a record went to the dead-letter topic, and the headers that say where it came from."""

from enum import StrEnum
from typing import Any


class DeadLetterReason(StrEnum):
    """Why a raw record was rejected.

    The values are a Prometheus label and a DLQ header, so the set stays small and fixed:
    add a member only when operators would act differently on it.
    """

    TOO_LARGE = "too_large"
    BAD_ENCODING = "bad_encoding"
    BAD_JSON = "bad_json"
    NOT_OBJECT = "not_object"
    INVALID_FIELD = "invalid_field"
    UNSUPPORTED_VERSION = "unsupported_version"
    FUTURE_EVENT = "future_event"  # occurred_at far ahead of the record's append time
    EXPIRED = "expired"  # older than the kept history: its bucket no longer exists
    # A record batch that could not be decoded (unknown codec, bad CRC): its records are not
    # in the dead letter; x-source-offset and x-source-last-offset name the skipped range.
    UNREADABLE_BATCH = "unreadable_batch"


HEADER_ERROR = "x-error"
HEADER_ERROR_REASON = "x-error-reason"
HEADER_SOURCE_TOPIC = "x-source-topic"
HEADER_SOURCE_PARTITION = "x-source-partition"
HEADER_SOURCE_OFFSET = "x-source-offset"
HEADER_SOURCE_LAST_OFFSET = "x-source-last-offset"  # unreadable_batch: the range's last offset


def source_headers(topic: str, partition: int, offset: int) -> list[tuple[str, bytes]]:
    """Where a record was first read, carried along when it is forwarded (ingest to the keyed
    topic), so that a later stage can dead-letter it pointing at the original."""
    return [
        (HEADER_SOURCE_TOPIC, topic.encode("utf-8", "replace")),
        (HEADER_SOURCE_PARTITION, str(partition).encode()),
        (HEADER_SOURCE_OFFSET, str(offset).encode()),
    ]


def source_of(headers: Any, topic: str, partition: int, offset: int) -> tuple[str, int, int]:
    """The original (topic, partition, offset) of a forwarded record, from its source headers;
    the given coordinates when it carries none (or unreadable ones)."""
    found: dict[str, bytes] = {}
    for key, value in headers or ():
        if key in (HEADER_SOURCE_TOPIC, HEADER_SOURCE_PARTITION, HEADER_SOURCE_OFFSET):
            found[key] = value
    try:
        return (
            found[HEADER_SOURCE_TOPIC].decode("utf-8", "replace"),
            int(found[HEADER_SOURCE_PARTITION]),
            int(found[HEADER_SOURCE_OFFSET]),
        )
    except (KeyError, ValueError):
        return topic, partition, offset


def dead_letter_headers(
    reason: DeadLetterReason, detail: str, topic: str, partition: int, offset: int
) -> list[tuple[str, bytes]]:
    """Kafka headers for a dead-lettered record: UTF-8 text, numbers in decimal.

    One place decides the encoding so that whoever replays the DLQ can parse it back.
    """
    return [
        (HEADER_ERROR, detail.encode("utf-8", "replace")),
        (HEADER_ERROR_REASON, reason.value.encode()),
        *source_headers(topic, partition, offset),
    ]


def unreadable_batch_headers(
    detail: str, topic: str, partition: int, first_offset: int, last_offset: int
) -> list[tuple[str, bytes]]:
    """Headers of the dead letter that stands for a skipped, undecodable batch."""
    return [
        *dead_letter_headers(
            DeadLetterReason.UNREADABLE_BATCH, detail, topic, partition, first_offset
        ),
        (HEADER_SOURCE_LAST_OFFSET, str(last_offset).encode()),
    ]
