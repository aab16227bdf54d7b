"""Sending events from upstream systems: validate locally, key by crossing_id, send."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka import AIOKafkaProducer

from schemas.event import InvalidEvent, event_to_json, parse_event
from streams.kafka import client_kwargs
from streams.settings import Settings


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
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._producer.stop()

    async def send(self, raw: bytes) -> None:
        """Validate one event (raises InvalidEvent) and send it keyed by its crossing_id."""
        event = parse_event(raw)
        await self._producer.send(
            self.settings.events_topic, event_to_json(event), key=event.crossing_id.encode()
        )

    async def flush(self) -> None:
        await self._producer.flush()


async def emit_lines(settings: Settings, lines: Iterable[bytes]) -> EmitReport:
    report = EmitReport()
    async with EventSender(settings) as sender:
        for line_no, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                await sender.send(line.rstrip(b"\r\n"))
            except InvalidEvent as exc:
                report.errors.append((line_no, f"{exc.reason.value}: {exc.detail}"))
                continue
            report.sent += 1
        await sender.flush()
    return report


async def emit_file(settings: Settings, path: str | Path) -> EmitReport:
    data = await asyncio.to_thread(Path(path).read_bytes)
    lines = data.splitlines()
    return await emit_lines(settings, lines)
