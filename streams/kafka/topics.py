"""The service's Kafka topics: names, partition counts and configs, derived from settings."""

from __future__ import annotations

from dataclasses import dataclass, field

from streams.settings import Settings

DAY_MS = 86_400_000


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    configs: dict[str, str] = field(default_factory=dict)
    # Partition count must equal the events topic's (co-partitioned state); others may differ.
    copartitioned: bool = False


def table_changelog(settings: Settings, table: str) -> str:
    """Faust's name for a table's changelog topic."""
    return f"{settings.app_id}-{table}-changelog"


# Faust tables the counting agent keeps; their changelogs are created and checked with the rest.
TABLES = ("state",)


def keyed_events_topic(settings: Settings) -> str:
    """Valid events re-keyed by crossing_id, so each post's state lives on one partition."""
    return settings.topic("events.by-crossing")


def border_buckets_topic(settings: Settings) -> str:
    """Closed buckets of every post, keyed by border, so a border's posts meet on one partition."""
    return settings.topic("buckets.by-border")


def detect_state_topic(settings: Settings) -> str:
    """Detectors' state, written in the same Kafka transactions as the alerts it explains."""
    return f"{settings.app_id}-detect-state"


# Input records up to 2 MiB reach the worker (anything over 64 KiB is dead-lettered as
# too_large); the dead-letter topic takes the same bytes plus the headers explaining them.
MAX_INPUT_BYTES = 2 * 1024 * 1024
MAX_DEAD_LETTER_BYTES = MAX_INPUT_BYTES + 1024 * 1024
# The worker's producer must fit the biggest dead letter in one request.
MAX_REQUEST_BYTES = MAX_DEAD_LETTER_BYTES + 1024 * 1024

# State topics are read whole on recovery: compact them often, not only per 64 MB segment.
COMPACTED = {
    "cleanup.policy": "compact",
    "segment.ms": str(3_600_000),
    "min.cleanable.dirty.ratio": "0.1",
    "delete.retention.ms": str(3_600_000),
}


def topic_specs(settings: Settings) -> list[TopicSpec]:
    p = settings.partitions
    history_ms = (settings.history_days + 7) * DAY_MS
    specs = [
        TopicSpec(
            settings.events_topic,
            p,
            {"retention.ms": str(7 * DAY_MS), "max.message.bytes": str(MAX_INPUT_BYTES)},
        ),
        TopicSpec(
            keyed_events_topic(settings), p, {"retention.ms": str(7 * DAY_MS)}, copartitioned=True
        ),
        TopicSpec(settings.counts_topic, p, {"retention.ms": str(history_ms)}),
        TopicSpec(settings.alerts_topic, p, {"retention.ms": str(365 * DAY_MS)}),
        TopicSpec(
            settings.dlq_topic,
            p,
            {"retention.ms": str(30 * DAY_MS), "max.message.bytes": str(MAX_DEAD_LETTER_BYTES)},
        ),
        TopicSpec(
            border_buckets_topic(settings),
            p,
            {"retention.ms": str(7 * DAY_MS)},
            copartitioned=True,
        ),
        TopicSpec(detect_state_topic(settings), p, COMPACTED, copartitioned=True),
    ]
    specs += [
        TopicSpec(table_changelog(settings, t), p, COMPACTED, copartitioned=True) for t in TABLES
    ]
    return specs
