"""Sending events from upstream systems: validate locally, key by crossing_id, send."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from schemas.event import InvalidEvent, event_to_json, parse_event
from streams.errors import BorderSurgeError
from streams.kafka.clients import client_kwargs
from streams.settings import Settings

TOPIC_WAIT_SECONDS = 10.0


@dataclass
class EmitReport:
    sent: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)


class EventSender:
    """A small producer for upstream systems: `async with EventSender(settings) as s: ...`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._producer = AIOKafkaProducer(
            **client_kwargs(settings), acks="all", enable_idempotence=True, linger_ms=10
        )

    async def __aenter__(self) -> EventSender:
        await self._producer.start()
        topic = self.settings.events_topic
        # aiokafka logs an error on every metadata retry for a missing topic; we say it once.
        cluster_log = logging.getLogger("aiokafka.cluster")
        level = cluster_log.level
        cluster_log.setLevel(logging.CRITICAL)
        try:
            await asyncio.wait_for(self._producer.partitions_for(topic), TOPIC_WAIT_SECONDS)
        except (TimeoutError, KafkaError):
            await self._producer.stop()
            raise BorderSurgeError(
                f"topic {topic!r} is not there; create it with `border-surge topics create`"
            ) from None
        finally:
            cluster_log.setLevel(level)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._producer.stop()

    async def send(self, raw: bytes) -> asyncio.Future[Any]:
        """Validate one event (raises InvalidEvent) and send it keyed by its crossing_id.

        Returns the delivery future: await it to know the broker has the event.
        """
        event = parse_event(raw)
        future: asyncio.Future[Any] = await self._producer.send(
            self.settings.events_topic, event_to_json(event), key=event.crossing_id.encode()
        )
        return future

    async def flush(self) -> None:
        await self._producer.flush()


async def emit_lines(settings: Settings, lines: Iterable[bytes]) -> EmitReport:
    report = EmitReport()
    pending: list[tuple[int, asyncio.Future[Any]]] = []
    async with EventSender(settings) as sender:
        for line_no, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                pending.append((line_no, await sender.send(line.rstrip(b"\r\n"))))
            except InvalidEvent as exc:
                report.errors.append((line_no, f"{exc.reason.value}: {exc.detail}"))
            except KafkaError as exc:
                report.errors.append((line_no, f"not sent: {exc}"))
        await sender.flush()
        results = await asyncio.gather(*(f for _, f in pending), return_exceptions=True)
    for (line_no, _), result in zip(pending, results, strict=True):
        if isinstance(result, BaseException):
            report.errors.append((line_no, f"not sent: the broker refused it ({result!r})"))
        else:
            report.sent += 1
    report.errors.sort()
    return report


async def emit_file(settings: Settings, path: str | Path) -> EmitReport:
    try:
        data = await asyncio.to_thread(Path(path).read_bytes)
    except OSError as exc:
        raise BorderSurgeError(f"cannot read {path}: {exc.strerror or exc}") from None
    # JSON Lines: only \n ends a line (a lone \r is JSON whitespace inside one).
    lines = data.split(b"\n")
    return await emit_lines(settings, lines)
