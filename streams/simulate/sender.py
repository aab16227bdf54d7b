"""Sends simulated messages to Kafka: as fast as the broker takes them, or paced by event time."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sized
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from aiokafka import AIOKafkaProducer

from streams.simulate.generator import COUNTED_KINDS, SimMessage
from streams.simulate.scenario import DirectionKey

logger = logging.getLogger(__name__)

PROGRESS_SECONDS = 0.5
# Delivery futures are awaited in chunks this big, oldest first, so errors surface within a few
# seconds while the producer keeps batching in the background.
_AWAIT_CHUNK = 10_000


@dataclass(frozen=True)
class SendProgress:
    sent: int
    total: int | None
    rate: float
    """Messages a second since the start."""
    event_time: datetime | None
    """Latest event time sent so far."""
    elapsed_s: float


@dataclass
class SendStats:
    counts: Counter[str] = field(default_factory=Counter)
    """Messages sent per kind (event, duplicate, late, malformed)."""
    travellers: dict[DirectionKey, int] = field(default_factory=lambda: defaultdict(int))
    """Travellers per direction in the messages the service should count (event and late)."""
    elapsed_s: float = 0.0

    @property
    def sent(self) -> int:
        return sum(self.counts.values())

    @property
    def rate(self) -> float:
        return self.sent / self.elapsed_s if self.elapsed_s > 0 else 0.0


async def send_scenario(
    bootstrap: str,
    topic: str,
    messages: Iterable[SimMessage],
    *,
    mode: Literal["replay", "live"],
    speed: float = 1.0,
    progress: Callable[[SendProgress], None] | None = None,
    total: int | None = None,
    client_options: Mapping[str, Any] | None = None,
) -> SendStats:
    """Produce ``messages`` to ``topic`` in order and wait until the broker has them all.

    replay: as fast as the broker takes them. live: event time runs ``speed`` times faster than
    the wall clock, counted from the first message. ``total`` defaults to ``len(messages)`` when
    it has one; ``client_options`` adds aiokafka options such as security settings.
    """
    if mode not in ("replay", "live"):
        raise ValueError(f"mode must be 'replay' or 'live', not {mode!r}")
    if not speed > 0:
        raise ValueError(f"speed must be positive, not {speed}")
    if total is None and isinstance(messages, Sized):
        total = len(messages)
    options = {k: v for k, v in (client_options or {}).items() if k != "bootstrap_servers"}
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        client_id="border-surge-simulator",
        acks="all",
        enable_idempotence=True,
        linger_ms=20,
        max_batch_size=512 * 1024,
        compression_type=None,
        **options,
    )
    stats = SendStats()
    started = time.monotonic()
    await producer.start()
    try:
        await _produce(producer, topic, messages, mode, speed, progress, total, stats, started)
    finally:
        await producer.stop()
    stats.elapsed_s = time.monotonic() - started
    logger.info("sent %d messages to %s in %.1f s", stats.sent, topic, stats.elapsed_s)
    return stats


async def _produce(
    producer: AIOKafkaProducer,
    topic: str,
    messages: Iterable[SimMessage],
    mode: str,
    speed: float,
    progress: Callable[[SendProgress], None] | None,
    total: int | None,
    stats: SendStats,
    started: float,
) -> None:
    pending: list[asyncio.Future[Any]] = []
    sent = 0
    latest_ms: int | None = None
    first_ms: int | None = None
    first_wall = 0.0
    next_report = started + PROGRESS_SECONDS
    counts, travellers = stats.counts, stats.travellers

    def report(now: float) -> None:
        if progress is not None:
            when = None if latest_ms is None else datetime.fromtimestamp(latest_ms / 1000, UTC)
            elapsed = now - started
            progress(SendProgress(sent, total, sent / elapsed if elapsed else 0.0, when, elapsed))

    for message in messages:
        if mode == "live":
            if first_ms is None:
                first_ms, first_wall = message.event_time_ms, time.monotonic()
            due = first_wall + (message.event_time_ms - first_ms) / 1000 / speed
            # Sleep in slices so progress keeps coming during quiet stretches.
            while (wait := due - time.monotonic()) > 0:
                await asyncio.sleep(min(wait, PROGRESS_SECONDS))
                if (now := time.monotonic()) >= next_report:
                    report(now)
                    next_report = now + PROGRESS_SECONDS
        pending.append(await producer.send(topic, message.value, key=message.key))
        sent += 1
        counts[message.kind] += 1
        if message.kind in COUNTED_KINDS:
            key = (message.crossing_id, message.from_country, message.to_country)
            travellers[key] += message.travellers
        if latest_ms is None or message.event_time_ms > latest_ms:
            latest_ms = message.event_time_ms
        if len(pending) >= 2 * _AWAIT_CHUNK:
            await asyncio.gather(*pending[:_AWAIT_CHUNK])
            del pending[:_AWAIT_CHUNK]
        if sent % 256 == 0 and (now := time.monotonic()) >= next_report:
            report(now)
            next_report = now + PROGRESS_SECONDS
    await producer.flush()
    await asyncio.gather(*pending)
    report(time.monotonic())
