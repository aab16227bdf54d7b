"""A stand-in for aiokafka's producer in unit tests: records what would have been sent."""

from __future__ import annotations

import asyncio
import time
from types import ModuleType
from typing import Any

import pytest


class RecordingProducer:
    """Accepts every send at once; `instances` holds every producer created since `install`."""

    instances: list[RecordingProducer] = []

    def __init__(self, **config: Any) -> None:
        self.config = config
        self.sent: list[tuple[str, bytes, bytes | None]] = []
        self.sent_at: list[float] = []  # monotonic time of each send
        self.started = self.flushed = self.stopped = False
        RecordingProducer.instances.append(self)

    @classmethod
    def install(
        cls, monkeypatch: pytest.MonkeyPatch, module: ModuleType
    ) -> type[RecordingProducer]:
        """Replace `module.AIOKafkaProducer` with this class for one test."""
        cls.instances = []
        monkeypatch.setattr(module, "AIOKafkaProducer", cls)
        return cls

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.stopped = True

    async def flush(self) -> None:
        self.flushed = True

    async def partitions_for(self, topic: str) -> set[int]:
        return {0}

    async def send(
        self, topic: str, value: bytes, key: bytes | None = None
    ) -> asyncio.Future[None]:
        self.sent.append((topic, value, key))
        self.sent_at.append(time.monotonic())
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future
