"""Sends a batch of records through the worker's producer and waits until the broker has them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

Headers = list[tuple[str, bytes]] | None


@dataclass(frozen=True, slots=True)
class Record:
    topic: str
    key: bytes | None
    value: bytes | None
    partition: int | None = None
    headers: Headers = None


class Outbox:
    """Writes records and confirms every one of them before the caller acknowledges its input.

    Faust's own buffered sends may still be in flight when it commits offsets; the counting
    state must never be behind a committed offset, so each batch waits here for the broker's
    acknowledgement, retrying a failed send until it goes through (records are idempotent).
    """

    def __init__(self, producer: Any, *, retry_backoff: float = 0.5, max_backoff: float = 10.0):
        self._producer = producer
        self._retry_backoff = retry_backoff
        self._max_backoff = max_backoff

    async def write(self, records: list[Record]) -> None:
        pending = records
        backoff = self._retry_backoff
        while pending:
            futures: list[Awaitable[Any]] = []
            sent: list[Record] = []
            failed: list[Record] = []
            for record in pending:
                try:
                    fut = await self._producer.send(
                        record.topic,
                        record.key,
                        record.value,
                        record.partition,
                        None,
                        record.headers,
                    )
                except Exception as exc:
                    # A stopped producer (the worker shutting down) or a full buffer: not a bug
                    # in our code, so no stack trace; the input is not acknowledged until sent.
                    logger.warning(
                        "could not queue a record for %s (%r); will retry", record.topic, exc
                    )
                    failed.append(record)
                    continue
                futures.append(fut)
                sent.append(record)
            results = await asyncio.gather(*futures, return_exceptions=True)
            for record, res in zip(sent, results, strict=True):
                if isinstance(res, BaseException):
                    logger.warning("write to %s failed (%r); will retry", record.topic, res)
                    failed.append(record)
            pending = failed
            if pending:
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._max_backoff)
