"""The outbox retries a send the producer refused, and says so in one line, not a stack trace."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from faust.exceptions import NotReady

from streams.kafka.outbox import Outbox, Record


class StoppedThenStarted:
    """Refuses the first `refusals` sends as Faust's producer does while it is stopped."""

    def __init__(self, refusals: int) -> None:
        self.refusals = refusals
        self.sent: list[tuple[str, bytes | None]] = []

    async def send(self, topic: str, key: Any, value: Any, *_: Any) -> asyncio.Future[None]:
        if self.refusals:
            self.refusals -= 1
            raise NotReady("Producer service not yet started")
        self.sent.append((topic, value))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


def test_a_refused_send_is_retried_until_it_goes_through(caplog: Any) -> None:
    producer = StoppedThenStarted(refusals=2)
    outbox = Outbox(producer, retry_backoff=0.001)
    records = [Record("t", b"k", b"1"), Record("t", b"k", b"2")]
    with caplog.at_level(logging.WARNING, logger="streams.kafka.outbox"):
        asyncio.run(outbox.write(records))
    assert producer.sent == [("t", b"1"), ("t", b"2")]
    warnings = [r for r in caplog.records if r.name == "streams.kafka.outbox"]
    assert len(warnings) == 2
    assert all(r.exc_info is None and "will retry" in r.getMessage() for r in warnings)
    assert "Traceback" not in caplog.text
