"""What each topic of the AsyncAPI document means: key, partitioning, delivery, who reads it."""

from dataclasses import dataclass

from schemas.event import MAX_EVENT_BYTES
from streams.kafka.topics import (
    TABLES,
    border_buckets_topic,
    detect_state_topic,
    keyed_events_topic,
    table_changelog,
)
from streams.settings import Settings


@dataclass(frozen=True)
class Topic:
    """One topic as the document describes it (Kafka settings from streams/kafka/topics.py)."""

    channel: str  # the channel id in the document
    title: str
    message: str  # a name in schemas.asyncapi_messages.messages()
    public: bool  # a contract for other teams, or internal (readable, may change)
    about: str
    key: str
    delivery: str
    guarantee: str  # x-delivery.guarantee
    readers_must: str | None = None  # x-delivery.readers-must
    sent_by: str | None = None  # the service's send operation, if it writes the topic
    read_by: str | None = None  # the service's receive operation, if it reads the topic
    group: str | None = None  # the consumer group of that receive operation


def topics(s: Settings) -> dict[str, Topic]:
    """Every topic the service reads or writes, by name (names from ``s``)."""
    murmur2 = (
        "Kafka's default partitioner (murmur2 of the key: the Java client's and aiokafka's; "
        "librdkafka clients such as kcat need `partitioner=murmur2_random`)"
    )
    highest_revision = (
        "keep, for each (crossing_id, from_country, to_country, bucket start), the record with "
        "the highest revision"
    )
    idempotent = (
        "Idempotent records, written at least once: a bucket may be published again after a "
        "worker crash (the same revision and values, byte for byte) or corrected by a late "
        "event (revision + 1, the whole new count, not a delta). Readers "
    )
    out = [
        Topic(
            channel="events",
            title="Border events (input)",
            message="BorderEvent",
            public=True,
            about="One event per crossing, from upstream systems (border-guard terminals, gate "
            "counters, ticketing): a UTF-8 JSON object of at most "
            f"{MAX_EVENT_BYTES // 1024} KiB; unknown fields are ignored. Record batches may be "
            "compressed with none, gzip, snappy, lz4 or zstd. Anything invalid goes to the "
            "dead-letter topic with a reason.",
            key=f"`crossing_id`, with {murmur2}: each post's events stay in order in one "
            "partition. Another key (or none) still counts exactly, but a backfill then closes "
            "buckets early (README, Contracts).",
            delivery="At least once: producers may retry. An event sent twice (the same "
            "crossing_id and event_id within BORDER_SURGE_DEDUPE_HOURS, "
            f"{s.dedupe_hours} h of event time) counts once. Send with acks=all.",
            guarantee="at-least-once",
            read_by="The ingest agent validates each record, forwards the valid ones and "
            "dead-letters the others.",
            group=s.app_id,
        ),
        Topic(
            channel="deadLetters",
            title="Dead letters",
            message="DeadLetter",
            public=True,
            about="Input records the service rejected, value and key byte for byte, with "
            "headers saying why and where each came from. Written by ingest (validation) and "
            "by counting (`expired`, `unreadable_batch`).",
            key="The rejected record's own key, unchanged.",
            delivery="At least once: after a worker crash a dead letter may appear twice. "
            "x-source-topic, x-source-partition and x-source-offset name the original record "
            f"as written to {s.events_topic}; deduplicate on those three.",
            guarantee="at-least-once",
            readers_must="deduplicate on x-source-topic, x-source-partition, x-source-offset",
            sent_by="Ingest and counting dead-letter what they cannot use.",
        ),
        Topic(
            channel="eventsByCrossing",
            title="Valid events, keyed by crossing (internal)",
            message="KeyedEvent",
            public=False,
            about="Internal, readable: every valid input record, its value unchanged, re-keyed "
            "so one post's counting state lives on one partition. Between them, ingest's "
            "watermarks: records whose key is the bytes `\\x00watermark` (no crossing id "
            "starts with NUL), sent to every partition, with a JSON value `{source, of, "
            "event_ms, idle}`: every valid event of input partition `source` (of `of`) up to "
            "`event_ms` has been forwarded; `idle`, it had nothing more. Counting closes a "
            "bucket once every input partition has passed it; readers of events skip them.",
            key=f"`crossing_id`, with {murmur2}.",
            delivery="At least once: after a crash ingest sends again what it had not "
            "committed; counting drops those copies by event id.",
            guarantee="at-least-once",
            sent_by="Ingest forwards each valid event.",
            read_by="The counting agent counts it into buckets.",
            group=s.app_id,
        ),
        Topic(
            channel="counts",
            title="Bucket counts",
            message="CountRecord",
            public=True,
            about="Travellers and events per crossing, direction and bucket of event time "
            f"(BORDER_SURGE_BUCKET_SECONDS, {s.bucket_seconds} s), published when the bucket "
            "closes; quiet buckets are published as zeros.",
            key=f"`crossing_id`, with {murmur2}: every bucket of a post, both directions, is "
            "in one partition, in the order published (a correction follows its bucket).",
            delivery=idempotent + highest_revision + ".",
            guarantee="at-least-once",
            readers_must=highest_revision,
            sent_by="Counting publishes each closed bucket.",
        ),
        Topic(
            channel="bucketsByBorder",
            title="Closed buckets, keyed by border (internal)",
            message="BucketReport",
            public=False,
            about="Internal, readable: the buckets of the counts topic again, as compact "
            "arrays, keyed by border so that all posts of a border meet on one partition.",
            key=f"The border, `FROM-TO` (e.g. `RU-KZ`), with {murmur2}.",
            delivery=idempotent + highest_revision + ".",
            guarantee="at-least-once",
            readers_must=highest_revision,
            sent_by="Counting reports each closed bucket to its border's partition.",
            read_by="The detection agent evaluates posts and borders against their baselines.",
            group=s.app_id,
        ),
        Topic(
            channel="alerts",
            title="Surge alerts",
            message="Alert",
            public=True,
            about="One `firing` message when a surge episode starts, one on each change of "
            "severity, one `resolved` at its end; all share the episode's alert_id.",
            key=f"The subject: the `crossing_id` (scope crossing) or `FROM-TO` (scope border), "
            f"with {murmur2}: every message of an episode is in one partition, in order.",
            delivery="Exactly once, with Kafka transactions: detection writes alerts and its "
            "own state in one transaction per batch (transactional.id "
            f"`{s.app_id}-detect-<partition>`); after a crash the open transaction is aborted "
            "and the replay writes the same alerts with the same alert ids. Read with "
            "isolation.level=read_committed: a read_uncommitted reader also sees aborted "
            "alerts. Transaction markers take offsets, so offsets have gaps.",
            guarantee="exactly-once",
            readers_must="read with isolation.level=read_committed",
            sent_by="Detection publishes alerts in transactions.",
            read_by="The Alertmanager bridge (and, without a group, the dashboard) follow it, "
            "read_committed.",
            group=f"{s.app_id}-alertmanager",
        ),
        Topic(
            channel="detectState",
            title="Detection state (internal)",
            message="InternalState",
            public=False,
            about="Internal, not a contract: the detectors' saved state, compacted, read back "
            "when a worker takes a partition over.",
            key="Internal; written to the partition of the by-border records it explains.",
            delivery="Exactly once: written in the same transactions as the alerts.",
            guarantee="exactly-once",
            sent_by="Detection saves its state with its alerts.",
            read_by="Detection restores a partition it takes over (no group).",
        ),
    ]
    out += [
        Topic(
            channel=f"{table}Changelog",
            title=f"Counting {table} (internal)",
            message="InternalState",
            public=False,
            about="Internal, not a contract: the changelog of Faust table "
            f"`{table}` (bucket counts, dedupe ids, watermarks per partition), compacted.",
            key="Internal; written to the partition of the input it counts.",
            delivery="At least once: every key is written whole, so a repeated write is "
            "harmless (docs/exactly-once.md).",
            guarantee="at-least-once",
            sent_by="Counting saves each batch's state.",
            read_by="Faust recovers it when a worker takes a partition over.",
        )
        for table in TABLES
    ]
    names = [
        s.events_topic,
        s.dlq_topic,
        keyed_events_topic(s),
        s.counts_topic,
        border_buckets_topic(s),
        s.alerts_topic,
        detect_state_topic(s),
        *(table_changelog(s, table) for table in TABLES),
    ]
    return dict(zip(names, out, strict=True))
