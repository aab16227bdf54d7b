"""The readiness probe of the broker: reachable against the real broker, not against nothing."""

from __future__ import annotations

import time

import pytest

from streams.kafka.broker_probe import BrokerProbe
from tests.support import free_port, settings_from

pytestmark = pytest.mark.integration


async def test_probe_says_reachable_only_while_the_broker_answers(kafka: str) -> None:
    probe = BrokerProbe(settings_from({}), interval=1.0)
    assert not probe.reachable  # nothing known yet
    assert await probe.check() and probe.reachable
    await probe.on_stop()

    nowhere = settings_from({"BORDER_SURGE_BROKER": f"kafka://127.0.0.1:{free_port()}"})
    dead = BrokerProbe(nowhere, interval=1.0)
    started = time.monotonic()
    assert not await dead.check()
    assert not dead.reachable
    assert time.monotonic() - started < 5  # a probe never hangs a readiness answer
    await dead.on_stop()
