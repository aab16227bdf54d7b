"""The Alertmanager bridge: every alert message of the alerts topic posted to Alertmanager.

Optional (BORDER_SURGE_ALERTMANAGER_URL). It runs beside the agents as its own task with
its own consumer group, so a slow or absent Alertmanager holds up only the bridge; counting
and detection never wait for it. Offsets are committed only after Alertmanager took the
alerts, so nothing is lost while it is down (up to ALERTMANAGER_MAX_OUTAGE_SECONDS). Firing
alerts are posted again every ALERTMANAGER_REPOST_SECONDS, because Alertmanager resolves an
alert it has not heard of for a while; after a restart or a rebalance the set of firing
alerts is rebuilt from the topic up to the committed offset.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from mode import Service
from pydantic import ValidationError

from schemas.alert import Alert
from streams.alerting.alertmanager_client import AlertmanagerClient, AlertmanagerError
from streams.alerting.alertmanager_payload import FiringSet, Post, render
from streams.alerting.backoff import Backoff
from streams.kafka.clients import client_kwargs
from streams.metrics import Metrics
from streams.settings import Settings

logger = logging.getLogger(__name__)

MAX_RECORDS = 500


def _now() -> datetime:
    return datetime.now(tz=UTC)


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, bridge: AlertmanagerBridge) -> None:
        self.bridge = bridge

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        self.bridge.firing.drop_partitions({tp.partition for tp in revoked})

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        await self.bridge.rebuild(assigned)


class AlertmanagerBridge(Service):
    def __init__(self, settings: Settings, metrics: Metrics, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.settings = settings
        self.metrics = metrics
        self.group_id = f"{settings.app_id}-alertmanager"
        self.client = AlertmanagerClient(settings)
        self.firing = FiringSet()
        # Alertmanager ends a firing alert at endsAt; a few re-posts may fail before it does.
        self.keep_for = timedelta(seconds=4 * settings.alertmanager_repost_seconds)
        self.backoff = Backoff(maximum=settings.alertmanager_backoff_max_seconds)
        self.consumer: AIOKafkaConsumer | None = None
        self._next_repost = 0.0

    async def on_start(self) -> None:
        await self.client.start()
        logger.info(
            "alertmanager bridge: %s, group %s, re-post every %.0f s",
            self.client.url,
            self.group_id,
            self.settings.alertmanager_repost_seconds,
        )

    async def on_stop(self) -> None:
        if self.consumer is not None:
            await self.consumer.stop()
            self.consumer = None
        await self.client.stop()

    async def _consumer(self) -> AIOKafkaConsumer:
        if self.consumer is None:
            consumer = AIOKafkaConsumer(
                **client_kwargs(self.settings),
                group_id=self.group_id,
                isolation_level="read_committed",
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                # Retrying through an outage is not a stalled consumer: stay in the group.
                max_poll_interval_ms=int(
                    (self.settings.alertmanager_max_outage_seconds + 600) * 1000
                ),
            )
            consumer.subscribe([self.settings.alerts_topic], listener=_Rebalance(self))
            self.consumer = consumer  # before start: the listener may run as it joins
            try:
                await consumer.start()
            except BaseException:
                self.consumer = None
                raise
        return self.consumer

    @Service.task
    async def _run(self) -> None:
        failures = 0
        while not self.should_stop:
            try:
                await self.step()
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception:
                # Never let the bridge take the worker down: log, wait, start over.
                logger.exception("alertmanager bridge failed; restarting it")
                if self.consumer is not None:
                    consumer, self.consumer = self.consumer, None
                    try:
                        await consumer.stop()
                    except Exception:  # a broken consumer may fail to stop; it is dropped
                        logger.warning("alertmanager bridge: consumer did not stop cleanly")
                await self.sleep(self.backoff.delay(failures))
                failures += 1

    # -- one round ---------------------------------------------------------------------------

    async def step(self) -> None:
        consumer = await self._consumer()
        batch = await consumer.getmany(timeout_ms=1000, max_records=MAX_RECORDS)
        now = _now()
        posts: list[Post] = []
        offsets: dict[TopicPartition, int] = {}
        for tp, records in batch.items():
            for record in records:
                offsets[tp] = record.offset + 1
                alert = self._parse(record)
                if alert is not None:
                    posts.extend(self.firing.apply(alert, tp.partition, now))
        repost = time.monotonic() >= self._next_repost
        if repost:
            posts.extend(self.firing.still_firing())
        if posts:
            await self.deliver(posts)
            if self.should_stop:
                return  # stopped while retrying: not delivered, so not committed
        if repost:
            self._next_repost = time.monotonic() + self.settings.alertmanager_repost_seconds
        self.metrics.am_firing.set(len(self.firing.firing))
        if offsets:
            await self._commit(consumer, offsets)

    def _parse(self, record: Any) -> Alert | None:
        try:
            return Alert.model_validate_json(record.value or b"")
        except ValidationError as exc:
            logger.error(
                "skipping an unreadable alert at %s[%d]@%d: %s",
                record.topic,
                record.partition,
                record.offset,
                exc.errors(include_input=False)[:1],
                extra={
                    "topic": record.topic,
                    "partition": record.partition,
                    "offset": record.offset,
                },
            )
            return None

    async def deliver(self, posts: list[Post]) -> bool:
        """Post until Alertmanager takes them; False if refused or down past the max outage."""
        max_outage = self.settings.alertmanager_max_outage_seconds
        down_since: float | None = None
        attempt = 0
        while not self.should_stop:
            try:
                await self.client.post(render(posts, _now(), self.keep_for))
            except AlertmanagerError as exc:
                if not exc.retriable:
                    self.metrics.am_posts.labels("rejected").inc()
                    logger.error(
                        "Alertmanager refused %d alerts, dropping them: %s", len(posts), exc
                    )
                    return False
                self.metrics.am_posts.labels("error").inc()
                now = time.monotonic()
                down_since = down_since or now
                down = now - down_since
                if down >= max_outage:
                    self.metrics.am_given_up.inc(len(posts))
                    logger.error(
                        "ALERTS NOT DELIVERED: Alertmanager unavailable for %.0f s (maximum "
                        "%.0f s); giving up %d alerts: %s. Firing ones are posted again "
                        "when it is back.",
                        down,
                        max_outage,
                        len(posts),
                        sorted({p.alert.alert_id for p in posts}),
                    )
                    return False
                delay = min(self.backoff.delay(attempt), max_outage - down)
                if attempt == 0 or delay >= self.backoff.maximum * 0.5:
                    logger.warning(
                        "Alertmanager unavailable (%s); %d alerts wait, retry in %.1f s",
                        exc,
                        len(posts),
                        delay,
                    )
                attempt += 1
                await self.sleep(delay)
                continue
            self.metrics.am_posts.labels("ok").inc()
            if attempt:
                logger.info(
                    "Alertmanager is back: %d alerts delivered after %d retries",
                    len(posts),
                    attempt,
                )
            return True
        return False

    async def _commit(self, consumer: AIOKafkaConsumer, offsets: dict[TopicPartition, int]) -> None:
        assigned = consumer.assignment()
        mine = {tp: o for tp, o in offsets.items() if tp in assigned}
        if not mine:
            return
        try:
            await consumer.commit(mine)
        except (CommitFailedError, IllegalStateError) as exc:
            # Rebalanced meanwhile: the new owner posts these again (Alertmanager dedupes).
            logger.warning("alertmanager bridge: commit after a rebalance failed: %r", exc)

    # -- rebuild -----------------------------------------------------------------------------

    async def rebuild(self, assigned: list[TopicPartition]) -> None:
        """The firing alerts of newly assigned partitions, from the topic up to the commit."""
        consumer = self.consumer
        if consumer is None or not assigned:
            return
        ends: dict[TopicPartition, int] = {}
        for tp in assigned:
            committed = await consumer.committed(tp)
            if committed:
                ends[tp] = committed
        if ends:
            started = time.monotonic()
            n = await self._replay(ends)
            logger.info(
                "alertmanager bridge: %d alerts firing after reading %d records of %s in %.2f s",
                sum(
                    1
                    for p in self.firing.partition_of.values()
                    if p in {tp.partition for tp in ends}
                ),
                n,
                sorted(tp.partition for tp in ends),
                time.monotonic() - started,
            )
        self._next_repost = 0.0  # post what is firing now: it may have expired meanwhile

    async def _replay(self, ends: dict[TopicPartition, int]) -> int:
        reader = AIOKafkaConsumer(
            **client_kwargs(self.settings),
            isolation_level="read_committed",
            enable_auto_commit=False,
        )
        await reader.start()
        n = 0
        try:
            reader.assign(list(ends))
            await reader.seek_to_beginning(*ends)
            todo = dict(ends)
            deadline = time.monotonic() + 120
            while todo and time.monotonic() < deadline:
                batch = await reader.getmany(*todo, timeout_ms=1000, max_records=5000)
                for tp, records in batch.items():
                    for record in records:
                        if record.offset >= ends[tp]:
                            break
                        n += 1
                        alert = self._parse(record)
                        if alert is not None:
                            self.firing.apply(alert, tp.partition, _now())
                for tp in list(todo):
                    if await reader.position(tp) >= ends[tp]:
                        del todo[tp]
            if todo:
                logger.error("alertmanager bridge: read back only part of %s", sorted(todo))
        except KafkaError:
            logger.exception("alertmanager bridge: could not read back the firing alerts")
        finally:
            await reader.stop()
        return n
