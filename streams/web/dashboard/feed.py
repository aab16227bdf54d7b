"""Keeps the dashboard's alert timeline: reads the alerts topic (read_committed) in the worker.

At start-up it reads back at most `lookback` offsets per partition (commit markers of the
producers' transactions take offsets too, so fewer alerts), then follows new ones.
Every worker reads every partition, so each page shows all alerts, whoever produced them.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from mode import Service

from streams.alerting.follow import decode_alert
from streams.kafka.clients import client_kwargs
from streams.web.dashboard.timeline import Timeline

if TYPE_CHECKING:
    from streams.web.worker_view import WorkerView

logger = logging.getLogger(__name__)

_RETRY_S = 5.0
_POLL_S = 1.0


class AlertFeed(Service):
    def __init__(self, service: WorkerView, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.service = service
        settings = service.settings
        self.topic = settings.alerts_topic
        self.lookback = settings.dashboard_alert_lookback
        self.timeline = Timeline(max_episodes=settings.dashboard_alert_episodes)
        self.invalid = 0

    async def _connect(self) -> AIOKafkaConsumer:
        settings = self.service.settings
        consumer = AIOKafkaConsumer(
            **client_kwargs(settings),
            client_id=f"{settings.app_id}-dashboard",
            enable_auto_commit=False,
            # Alerts are written in transactions: an aborted one must never reach the page.
            isolation_level="read_committed",
        )
        await consumer.start()
        try:
            await consumer._client.force_metadata_update()
            parts = sorted(consumer.partitions_for_topic(self.topic) or ())
            if not parts:
                raise RuntimeError(f"topic {self.topic!r} does not exist")
            tps = [TopicPartition(self.topic, p) for p in parts]
            consumer.assign(tps)
            begins = await consumer.beginning_offsets(tps)
            ends = await consumer.end_offsets(tps)
            for tp in tps:
                consumer.seek(tp, max(begins[tp], ends[tp] - self.lookback))
        except BaseException:
            await consumer.stop()
            raise
        return consumer

    def take(self, records: dict[Any, list[Any]]) -> None:
        for tp, batch in records.items():
            for r in batch:
                rec = decode_alert(tp.partition, r.offset, r.value)
                if rec.alert is None:
                    self.invalid += 1
                    logger.warning(
                        "dashboard: invalid alert at %s[%d]@%d: %s",
                        tp.topic,
                        tp.partition,
                        r.offset,
                        rec.error,
                    )
                    continue
                self.timeline.add(rec.alert)

    def sample_peaks(self) -> None:
        """Raise open episodes' peaks with the live ratios of the subjects held here."""
        for part in self.service.detection.partitions.values():
            for det in part.detectors.values():
                if det.state.value != "firing":
                    continue
                snap = det.snapshot()
                if snap.alert_id is not None and snap.ratio is not None:
                    self.timeline.observe(snap.alert_id, snap.ratio)

    @Service.task
    async def _follow(self) -> None:
        while not self.should_stop:
            try:
                consumer = await self._connect()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("dashboard: cannot read %s; retrying", self.topic)
                await self.sleep(_RETRY_S)
                continue
            try:
                while not self.should_stop:
                    batch = await consumer.getmany(timeout_ms=int(_POLL_S * 1000))
                    self.take(batch)
                    self.sample_peaks()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("dashboard: reading %s failed; reconnecting", self.topic)
                await self.sleep(_RETRY_S)
            finally:
                await consumer.stop()
