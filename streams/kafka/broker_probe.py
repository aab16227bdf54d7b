"""Is the broker reachable? A cheap cluster description every few seconds, for /readyz."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from mode import Service

from streams.kafka.clients import client_kwargs
from streams.settings import Settings

logger = logging.getLogger(__name__)


class BrokerProbe(Service):
    """Reachable while a describe-cluster request succeeded within the last three intervals.

    Faust keeps its partitions assigned while the broker is away, so without this /readyz
    would say ready to a worker that can neither read nor write.
    """

    def __init__(self, settings: Settings, interval: float = 5.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.settings = settings
        self.interval = interval
        self.last_ok: float | None = None
        self._admin: AIOKafkaAdminClient | None = None
        self._was_reachable = True

    @property
    def reachable(self) -> bool:
        return self.last_ok is not None and time.monotonic() - self.last_ok < 3 * self.interval

    async def check(self) -> bool:
        try:
            if self._admin is None:
                self._admin = AIOKafkaAdminClient(
                    **client_kwargs(self.settings),
                    client_id=f"{self.settings.app_id}-probe",
                    request_timeout_ms=int(self.interval * 1000),
                )
                await asyncio.wait_for(self._admin.start(), self.interval)
            await asyncio.wait_for(self._admin.describe_cluster(), self.interval)
        except Exception as exc:
            if self._was_reachable:
                logger.warning("broker unreachable: %r", exc)
            self._was_reachable = False
            await self._close()
            return False
        if not self._was_reachable:
            logger.info("broker reachable again")
        self._was_reachable = True
        self.last_ok = time.monotonic()
        return True

    async def _close(self) -> None:
        admin, self._admin = self._admin, None
        if admin is not None:
            try:
                await admin.close()
            except Exception:  # closing a broken connection may fail too; it is gone anyway
                pass

    @Service.task
    async def _run(self) -> None:
        while not self.should_stop:
            await self.check()
            await self.sleep(self.interval)

    async def on_stop(self) -> None:
        await self._close()
