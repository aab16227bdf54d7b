"""The worker's consumer reads committed records only (isolation level read_committed).

Faust reads committed records only in its exactly_once mode, which the service does not use
(docs/exactly-once.md). An upstream producer that writes in transactions may abort one: its
records stay in the log, but they never happened and must not be counted. With read_committed
the consumer skips them, and reads a partition only up to its last stable offset: a producer's
open transaction holds its partition back until it commits, aborts or times out (the broker's
transaction.max.timeout.ms). The service's own topics are written without transactions, except
detection's, which is read back the same way.
"""

from __future__ import annotations

import threading
from typing import Any

_lock = threading.Lock()
_installed = False


def install() -> None:
    """Make every worker consumer Faust creates in this process read committed (idempotent)."""
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

    create = AIOKafkaConsumerThread._create_worker_consumer

    def create_committed(self: Any, transport: Any) -> Any:
        consumer = create(self, transport)
        consumer._isolation_level = "read_committed"  # read when the consumer starts its fetcher
        return consumer

    AIOKafkaConsumerThread._create_worker_consumer = create_committed  # type: ignore[method-assign]
