"""The bridge's delivery loop against a local HTTP stub: retry, give up after the outage, 4xx."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from aiohttp import web

from streams.alerting.alertmanager import AlertmanagerBridge
from streams.alerting.alertmanager_payload import FiringSet
from streams.metrics import Metrics
from streams.settings import Settings
from tests.support import free_port
from tests.unit.alerting.test_alertmanager_payload import alert


def bridge(url: str, **extra: object) -> tuple[AlertmanagerBridge, Metrics]:
    settings = Settings(
        alertmanager_url=url,
        alertmanager_backoff_max_seconds=0.2,
        alertmanager_username="bridge",
        alertmanager_password="pw",
        **extra,  # type: ignore[arg-type]
    )
    metrics = Metrics()
    return AlertmanagerBridge(settings, metrics), metrics


async def stub(statuses: list[int], seen: list[web.Request]) -> tuple[web.AppRunner, str]:
    async def handle(request: web.Request) -> web.Response:
        seen.append(request)
        await request.json()
        return web.Response(status=statuses.pop(0) if len(statuses) > 1 else statuses[0])

    app = web.Application()
    app.router.add_post("/api/v2/alerts", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}"


def posts() -> list:
    return FiringSet().apply(alert(), 0, datetime.now(tz=UTC))


async def test_down_longer_than_the_max_outage_gives_up_loudly(caplog) -> None:
    b, metrics = bridge(f"http://127.0.0.1:{free_port()}", alertmanager_max_outage_seconds=1)
    await b.client.start()
    try:
        started = time.monotonic()
        assert await b.deliver(posts()) is False
        assert 1.0 <= time.monotonic() - started < 5
    finally:
        await b.client.stop()
    assert metrics.registry.get_sample_value("border_alertmanager_alerts_given_up_total") == 1
    errors = metrics.registry.get_sample_value(
        "border_alertmanager_posts_total", {"result": "error"}
    )
    assert errors is not None and errors >= 3
    assert "ALERTS NOT DELIVERED" in caplog.text


async def test_retries_until_alertmanager_answers_then_delivers() -> None:
    seen: list[web.Request] = []
    runner, url = await stub([503, 503, 200], seen)
    b, metrics = bridge(url)
    await b.client.start()
    try:
        assert await b.deliver(posts()) is True
    finally:
        await b.client.stop()
        await runner.cleanup()
    assert len(seen) == 3
    assert seen[-1].headers["Authorization"] == "Basic YnJpZGdlOnB3"  # bridge:pw
    sample = metrics.registry.get_sample_value
    assert sample("border_alertmanager_posts_total", {"result": "ok"}) == 1
    assert sample("border_alertmanager_posts_total", {"result": "error"}) == 2


async def test_a_refused_request_is_dropped_not_retried() -> None:
    seen: list[web.Request] = []
    runner, url = await stub([400], seen)
    b, metrics = bridge(url)
    await b.client.start()
    try:
        assert await b.deliver(posts()) is False
    finally:
        await b.client.stop()
        await runner.cleanup()
    assert len(seen) == 1
    assert (
        metrics.registry.get_sample_value("border_alertmanager_posts_total", {"result": "rejected"})
        == 1
    )
