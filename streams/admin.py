"""Creates and checks the service's topics (idempotent), with aiokafka's admin client."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from streams.errors import TopicMismatchError
from streams.kafka import client_kwargs
from streams.settings import Settings
from streams.topics import TopicSpec, topic_specs

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TopicReport:
    created: list[str]
    existing: list[str]


async def ensure_topics(settings: Settings, specs: list[TopicSpec] | None = None) -> TopicReport:
    """Create missing topics; fail clearly when one exists with another partition count."""
    specs = topic_specs(settings) if specs is None else specs
    admin = AIOKafkaAdminClient(**client_kwargs(settings), client_id=f"{settings.app_id}-admin")
    await admin.start()
    try:
        existing = await _partition_counts(admin, [s.name for s in specs])
        mismatches = [
            f"topic {s.name!r} has {existing[s.name]} partitions, the service needs "
            f"{s.partitions} (set BORDER_SURGE_PARTITIONS={existing[s.name]} to use it as it is, "
            f"or delete and recreate it)"
            for s in specs
            if s.name in existing and existing[s.name] != s.partitions
        ]
        if mismatches:
            raise TopicMismatchError("; ".join(mismatches))
        missing = [s for s in specs if s.name not in existing]
        created: list[str] = []
        for spec in missing:
            try:
                await admin.create_topics(
                    [NewTopic(spec.name, spec.partitions, 1, topic_configs=spec.configs)]
                )
                created.append(spec.name)
                logger.info("created topic %s (%d partitions)", spec.name, spec.partitions)
            except TopicAlreadyExistsError:
                # Another process created it between our look and our create: check it again.
                again = await _partition_counts(admin, [spec.name])
                if again.get(spec.name) != spec.partitions:
                    raise TopicMismatchError(
                        f"topic {spec.name!r} was created concurrently with "
                        f"{again.get(spec.name)} partitions, the service needs {spec.partitions}"
                    ) from None
        return TopicReport(created=created, existing=sorted(set(existing)))
    finally:
        await admin.close()


async def _partition_counts(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, int]:
    metadata = await admin.describe_topics(names)
    counts: dict[str, int] = {}
    for topic in metadata:
        # 3 = unknown topic; anything else (e.g. 5, leader not yet elected) means it exists.
        if topic.get("error_code", 0) != 3 and topic["partitions"]:
            counts[topic["topic"]] = len(topic["partitions"])
    return counts
