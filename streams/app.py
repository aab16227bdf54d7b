"""Builds the Faust app from settings: topics, the state table, agents and web views."""

from __future__ import annotations

import logging
from typing import Any, cast

import faust
from faust.types import TP

from schemas.dead_letter import DeadLetterReason, unreadable_batch_headers
from streams import failpoints
from streams.kafka import committed_reads, unreadable
from streams.kafka.batch_channel import BatchChannel
from streams.kafka.clients import faust_credentials
from streams.kafka.hole_probe import HoleProbe
from streams.kafka.lz4_level import use_lz4_level
from streams.kafka.outbox import Outbox, Record
from streams.kafka.topics import MAX_REQUEST_BYTES, border_buckets_topic, keyed_events_topic
from streams.kafka.unreadable import SkippedBatch
from streams.metrics import Metrics
from streams.settings import Settings

logger = logging.getLogger(__name__)

STATE_TABLE = "state"


class StateTable(faust.Table):  # type: ignore[type-arg]
    """A plain table used as the durable log of the counters; tells the service on recovery."""

    service: Service

    async def on_recovery_completed(self, active_tps: set[TP], standby_tps: set[TP]) -> None:
        await super().on_recovery_completed(active_tps, standby_tps)
        service = self.service
        service.on_recovered({tp.partition for tp in active_tps})
        assigned = service.app.consumer.assignment()
        await service.detection.restore(
            {tp.partition for tp in assigned if tp.topic == service.border_topic_name}
        )

    async def on_rebalance(
        self, assigned: set[TP], revoked: set[TP], newly_assigned: set[TP], generation_id: int = 0
    ) -> None:
        await super().on_rebalance(assigned, revoked, newly_assigned, generation_id)
        service = self.service
        for channel in service.channels:
            channel.revoke(revoked)
        service.counting.revoke(
            {tp.partition for tp in revoked if tp.topic == service.keyed_topic_name}
        )
        service.counting.unfence(
            {tp.partition for tp in assigned if tp.topic == service.keyed_topic_name}
        )
        await service.detection.revoke(
            {tp.partition for tp in revoked if tp.topic == service.border_topic_name}
        )


class Service:
    """The worker: one Faust app and what its agents share."""

    def __init__(self, settings: Settings, metrics: Metrics | None = None) -> None:
        self.settings = settings
        self.metrics = metrics or Metrics()
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        failpoints.configure(settings.data_dir)
        unreadable.install()  # before any consumer exists: an undecodable batch never kills it
        committed_reads.install()  # an upstream transaction that aborted is never counted
        use_lz4_level(settings.lz4_level)  # aiokafka's is 9: a batch takes ten times as long
        unreadable.add_listener(self._count_unreadable)
        self.app = faust.App(
            settings.app_id,
            broker=settings.broker,
            broker_credentials=faust_credentials(settings),
            datadir=str(settings.data_dir / settings.app_id),
            store="memory://",
            processing_guarantee="at_least_once",
            topic_partitions=settings.partitions,
            topic_allow_declare=False,  # `border-surge topics create` owns topic creation
            topic_disable_leader=True,
            consumer_auto_offset_reset="earliest",
            producer_acks=-1,
            producer_max_request_size=MAX_REQUEST_BYTES,
            producer_compression_type=settings.compression_type,
            broker_session_timeout=settings.session_timeout_seconds,
            consumer_group_instance_id=settings.group_instance_id,
            broker_heartbeat_interval=max(1.0, settings.session_timeout_seconds / 4),
            web_host=settings.web_host,
            web_port=settings.web_port,
            web_bind=settings.web_host,
            web_enabled=True,
            table_standby_replicas=1,
            broker_commit_every=settings.batch_size,
            logging_config=None,
        )
        self.keyed_topic_name = keyed_events_topic(settings)
        # acks=False: the batch channels commit these topics' offsets
        # (see streams/kafka/batch_channel.py).
        raw: dict[str, Any] = {"key_serializer": "raw", "value_serializer": "raw", "acks": False}
        self.events_topic = self.app.topic(settings.events_topic, **raw)
        self.keyed_topic = self.app.topic(self.keyed_topic_name, **raw)
        self.border_topic_name = border_buckets_topic(settings)
        self.border_topic = self.app.topic(self.border_topic_name, **raw)
        table = StateTable(
            self.app,
            name=STATE_TABLE,
            partitions=settings.partitions,
            key_type=bytes,  # bytes means the raw codec for the changelog, both ways
            value_type=bytes,
            help="Counters' durable state (day chunks, dedupe ids, watermarks).",
        )
        table.service = self
        self.table = self.app.tables.add(table)
        self.changelog_topic_name = self.table.changelog_topic.get_topic_name()
        self._outbox: Outbox | None = None
        self.channels: list[BatchChannel] = []
        self.hole_probe = HoleProbe(settings)  # shared by the channels (kafka/offset_guard.py)

        from streams.count import agent as count
        from streams.detect import agent as detect
        from streams.ingest import agent as ingest
        from streams.web import api as web

        ingest.register(self)
        self.counting = count.register(self)
        self.detection = detect.register(self)

        async def stop_detection(sender: Any, **_: Any) -> None:
            await self.detection.stop()  # its transactional producers, one per partition

        # mode's signal types want a receiver typed against its own generics; any async
        # callable taking the sender and keywords is what it calls.
        self.app.on_before_shutdown.connect(cast(Any, stop_detection), weak=False)
        web.register(self)
        web.register_health(self)
        web.register_metrics(self)
        from streams.web.dashboard import views as dashboard

        self.dashboard = dashboard.register(self)
        from streams.kafka.broker_probe import BrokerProbe

        self.broker_probe = BrokerProbe(settings)
        self.app.add_dependency(self.broker_probe)
        if settings.alertmanager_url:
            from streams.alerting.alertmanager import AlertmanagerBridge

            self.app.add_dependency(AlertmanagerBridge(settings, self.metrics))

    def batch_channel(
        self,
        topic: Any,
        handler: Any,
        *,
        with_skips: bool = False,
        on_revoke: Any = None,
        loss_point: str | None = None,
        commit_point: str | None = None,
        commit_every_batch: bool = False,
        after_commit: Any = None,
    ) -> BatchChannel:
        """Deliver a topic's records to handler in batches (see streams/kafka/batch_channel.py)."""
        channel = BatchChannel(
            self.app,
            topic,
            handler,
            batch_size=self.settings.batch_size,
            batch_seconds=self.settings.batch_seconds,
            on_unreadable=self.dead_letter_skipped,
            with_skips=with_skips,
            on_revoke=on_revoke,
            probe=self.hole_probe,
            loss_point=loss_point,
            commit_point=commit_point,
            commit_every_batch=commit_every_batch,
            after_commit=after_commit,
        )
        channel.install()
        self.app.add_dependency(channel)
        self.channels.append(channel)
        return channel

    async def dead_letter_skipped(self, skipped: list[SkippedBatch]) -> None:
        """One dead letter per undecodable batch, naming its offsets (it holds no records)."""
        records = []
        for s in skipped:
            detail = (
                f"record batch could not be decoded ({s.reason}); offsets {s.first_offset} to "
                f"{s.offset} of {s.topic}[{s.partition}] were skipped"
            )
            headers = unreadable_batch_headers(
                detail, s.topic, s.partition, s.first_offset, s.offset
            )
            records.append(Record(self.settings.dlq_topic, None, b"", headers=headers))
            self.metrics.dead_lettered.labels(DeadLetterReason.UNREADABLE_BATCH.value).inc()
        await self.outbox.write(records)

    def _count_unreadable(self, batch: unreadable.UnreadableBatch) -> None:
        # Any consumer of this process, the fetcher's thread included: counters are thread-safe.
        self.metrics.unreadable_batches.labels(batch.topic).inc()
        self.metrics.unreadable_offsets.labels(batch.topic).inc(batch.records)

    @property
    def outbox(self) -> Outbox:
        if self._outbox is None:
            self._outbox = Outbox(self.app.producer)
        return self._outbox

    def readiness(self) -> dict[str, bool]:
        """What /readyz reports: recovered, assigned, not rebalancing, broker reachable."""
        app = self.app
        assigned = app.consumer.assignment() if app.consumer else set()
        keyed = {tp.partition for tp in assigned if tp.topic == self.keyed_topic_name}
        border = {tp.partition for tp in assigned if tp.topic == self.border_topic_name}
        return {
            "recovered": bool(cast(Any, app.tables).recovery.completed.is_set()),
            "not_rebalancing": not app.rebalancing,
            "partitions_assigned": bool(keyed),
            "state_restored": keyed <= set(self.counting.counters)
            and border <= set(self.detection.partitions),
            "broker_reachable": self.broker_probe.reachable,
        }

    def on_recovered(self, partitions: set[int]) -> None:
        # Partition numbers of the keyed topic and of the table's changelog coincide.
        self.counting.restore(partitions, _StoreView(cast(Any, self.table).data))


class _StoreView:
    """The recovered table store as a str-keyed mapping (keys are UTF-8 bytes inside)."""

    def __init__(self, store: Any) -> None:
        self._store = store

    def keys(self) -> list[str]:
        return [k.decode() if isinstance(k, bytes) else k for k in self._store.keys()]

    def __getitem__(self, key: str) -> bytes:
        return bytes(self._store[key.encode()])

    def __delitem__(self, key: str) -> None:
        del self._store[key.encode()]


def create_service(settings: Settings, metrics: Metrics | None = None) -> Service:
    return Service(settings, metrics)
