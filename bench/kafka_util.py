"""Broker-side facts the harness needs: topic creation, end offsets, a group's committed lag."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic


async def create_topic(bootstrap: str, name: str, partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1)])
        for _ in range(100):
            meta = await admin.describe_topics([name])
            if meta and meta[0].get("partitions") and len(meta[0]["partitions"]) == partitions:
                return
            await asyncio.sleep(0.1)
        raise RuntimeError(f"topic {name} did not appear")
    finally:
        await admin.close()


async def delete_topics(bootstrap: str, marker: str) -> int:
    """Delete every topic whose name contains marker (a finished run's own topics)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        names = [t for t in await admin.list_topics() if marker in t]
        if names:
            await admin.delete_topics(names)
        return len(names)
    finally:
        await admin.close()


class Lag:
    """Reads end offsets and a group's committed offsets (one long-lived client each)."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        self.admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)

    async def start(self) -> None:
        await self.consumer.start()
        await self.admin.start()

    async def stop(self) -> None:
        await self.consumer.stop()
        await self.admin.close()

    async def end_offsets(self, topics: list[str]) -> dict[TopicPartition, int]:
        tps = []
        for t in topics:
            parts = self.consumer.partitions_for_topic(t)
            if not parts:
                await self.consumer._client.force_metadata_update()
                parts = self.consumer.partitions_for_topic(t) or set()
            tps += [TopicPartition(t, p) for p in parts]
        return dict(await self.consumer.end_offsets(tps))

    async def lag(self, group: str, topics: list[str]) -> int:
        """Records of `topics` not yet committed by `group` (every partition; -1 if unknown)."""
        ends = await self.end_offsets(topics)
        if not ends:
            return -1
        committed = await self.admin.list_consumer_group_offsets(group)
        total = 0
        for tp, end in ends.items():
            meta = committed.get(tp)
            total += end - (meta.offset if meta is not None and meta.offset >= 0 else 0)
        return total


def topic_bytes(bootstrap: str, topics: list[str]) -> dict[str, int]:
    """Bytes each topic holds on the broker's disk (all partitions), by Kafka's LogDirsCommand."""
    import json
    import subprocess
    from pathlib import Path

    kafka_sh = Path(__file__).resolve().parent.parent / "deploy" / "local" / "kafka.sh"
    command = [str(kafka_sh), "tool", "org.apache.kafka.tools.LogDirsCommand"]
    out = subprocess.run(
        [*command, "--bootstrap-server", bootstrap, "--describe", "--topic-list", ",".join(topics)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    described = json.loads(out[out.index("{") :])
    sizes = dict.fromkeys(topics, 0)
    for broker in described["brokers"]:
        for log_dir in broker["logDirs"]:
            for p in log_dir["partitions"]:
                sizes[p["partition"].rsplit("-", 1)[0]] += p["size"]
    return sizes
