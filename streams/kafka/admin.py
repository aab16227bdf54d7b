"""Creates and checks the service's topics (idempotent), with aiokafka's admin client."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError

from streams.errors import BrokerUnavailableError, TopicMismatchError
from streams.kafka.clients import client_kwargs, connection_problem, describe_connection
from streams.kafka.topics import TopicSpec, topic_specs
from streams.settings import Settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TopicReport:
    created: list[str]
    existing: list[str]


async def ensure_topics(settings: Settings, specs: list[TopicSpec] | None = None) -> TopicReport:
    """Create missing topics; fail clearly when one exists with another partition count."""
    specs = topic_specs(settings) if specs is None else specs
    admin = AIOKafkaAdminClient(**client_kwargs(settings), client_id=f"{settings.app_id}-admin")
    try:
        await admin.start()
    except KafkaConnectionError:
        # Fails fast and says why: a wrong password must not look like a slow broker.
        reason = await connection_problem(settings)
        raise BrokerUnavailableError(
            f"cannot connect to Kafka at {describe_connection(settings)}: {reason}"
        ) from None
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
            response = await admin.create_topics(
                [NewTopic(spec.name, spec.partitions, 1, topic_configs=spec.configs)]
            )
            for name, code, message in response.topic_errors:
                if code == 0:
                    created.append(name)
                    logger.info("created topic %s (%d partitions)", name, spec.partitions)
                elif code != TopicAlreadyExistsError.errno:  # a concurrent create: checked below
                    raise TopicMismatchError(f"could not create topic {name!r}: {message or code}")
        # Metadata reaches the broker's caches a moment after creation: wait until every topic
        # is visible, and check the ones another process may have created meanwhile.
        names = [s.name for s in specs]
        for _ in range(100):
            existing = await _partition_counts(admin, names)
            if len(existing) == len(names):
                break
            await asyncio.sleep(0.1)
        wrong = [s for s in specs if existing.get(s.name, s.partitions) != s.partitions]
        if wrong:
            raise TopicMismatchError(
                "; ".join(f"topic {s.name!r} has {existing[s.name]} partitions" for s in wrong)
            )
        return TopicReport(created=created, existing=sorted(set(existing) - set(created)))
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
