"""The ingest agent: validate raw events, dead-letter the bad ones, re-key the good by crossing."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from schemas.dead_letter import DeadLetterReason, dead_letter_headers, source_headers
from schemas.event import InvalidEvent, parse_event
from streams import failpoints
from streams.outbox import Record

if TYPE_CHECKING:
    from streams.app import Service

logger = logging.getLogger(__name__)


def classify(service: Service, message: Any) -> Record:
    """Where one input record goes: the keyed topic (valid) or the dead-letter topic."""
    settings = service.settings
    raw = message.value
    try:
        if raw is None:
            raise InvalidEvent(DeadLetterReason.NOT_OBJECT, "the record has no value (a tombstone)")
        event = parse_event(raw)
        limit_ms = int(message.timestamp * 1000) + settings.future_tolerance_seconds * 1000
        if event.event_time_ms > limit_ms:
            raise InvalidEvent(
                DeadLetterReason.FUTURE_EVENT,
                f"occurred_at: {event.occurred_at.isoformat()} is more than "
                f"{settings.future_tolerance_seconds} s after the record was written",
            )
    except InvalidEvent as exc:
        service.metrics.dead_lettered.labels(exc.reason.value).inc()
        return Record(
            service.settings.dlq_topic,
            message.key,
            raw,
            headers=dead_letter_headers(
                exc.reason, exc.detail, message.topic, message.partition, message.offset
            ),
        )
    # Forward the original bytes: counting parses them again (a few µs) rather than trusting
    # a second format, and the key is what co-locates a post's state on one partition.
    return Record(
        service.keyed_topic_name,
        event.crossing_id.encode(),
        raw,
        headers=[
            ("x-source-timestamp", str(int(message.timestamp * 1000)).encode()),
            # Where it came from, so a later dead letter (expired) points at the original.
            *source_headers(message.topic, message.partition, message.offset),
        ],
    )


async def handle(service: Service, messages: list[Any]) -> None:
    """Validate a batch; every record goes to the keyed topic or the dead-letter topic."""
    settings = service.settings
    records = []
    for m in messages:
        try:
            records.append(classify(service, m))
        except Exception:  # never stall the stream on one record
            logger.exception(
                "unexpected error on %s[%d]@%d; dead-lettering it",
                m.topic,
                m.partition,
                m.offset,
                extra={"topic": m.topic, "partition": m.partition, "offset": m.offset},
            )
            headers = dead_letter_headers(
                DeadLetterReason.INVALID_FIELD,
                "internal error while validating",
                m.topic,
                m.partition,
                m.offset,
            )
            records.append(Record(settings.dlq_topic, m.key, m.value, headers=headers))
    service.metrics.consumed.inc(len(messages))
    await failpoints.reached("ingest.write")
    await service.outbox.write(records)


def register(service: Service) -> None:
    service.batch_channel(service.events_topic, lambda batch: handle(service, batch))
