"""`border-surge run` and `stop`: topics, a background worker, a scenario replay, its alerts."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Collection
from datetime import datetime
from typing import Any, TextIO

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from streams.alerting import alert_summary, follow
from streams.cli.background_worker import (
    WorkerProcess,
    alive,
    base_url,
    dashboard_url,
    fail,
    http_get,
    pid_file,
    start_or_reuse,
    terminate,
    wait_ready,
)
from streams.cli.progress import ProgressLine
from streams.errors import BorderSurgeError
from streams.kafka.admin import ensure_topics
from streams.kafka.clients import client_kwargs
from streams.kafka.topics import keyed_events_topic
from streams.settings import Settings
from streams.simulate import generate, load_scenario
from streams.simulate.scenario import direction_keys
from streams.simulate.sender import send_scenario

CATCH_UP_SLACK_MS = 30 * 60_000
GRACE_S = 5.0


def caught_up(
    crossings: dict[str, Any], posts: Collection[follow.Subject], last_event_ms: int
) -> bool:
    """Whether a /crossings answer shows every one of ``posts`` (all listed ones when empty)
    counted up to CATCH_UP_SLACK_MS before the last event time sent."""
    ends = {
        (d["crossing_id"], d["from_country"], d["to_country"]): d.get("last_bucket_end")
        for d in crossings.get("directions", [])
    }
    limit = last_event_ms - CATCH_UP_SLACK_MS
    return bool(wanted := posts or set(ends)) and all(
        (end := ends.get(s)) is not None and datetime.fromisoformat(end).timestamp() * 1000 >= limit
        for s in wanted
    )


# -- `border-surge run` ---------------------------------------------------------------------


def run(settings: Settings, scenario: str, seed: int, catch_up_s: float, out: TextIO) -> int:
    """Topics, worker, replay with live alerts, catch-up, summary; leaves the worker running."""
    box: list[WorkerProcess] = []
    try:
        asyncio.run(_run(settings, scenario, seed, catch_up_s, out, box))
    except (KeyboardInterrupt, BorderSurgeError) as exc:
        if interrupted := isinstance(exc, KeyboardInterrupt):
            print("\ninterrupted", file=out)
        if box and box[0].started and alive(box[0].pid):  # leave nothing half-started behind
            print(f"worker (pid {box[0].pid}) {terminate(box[0].pid)}", file=out)
            pid_file(settings).unlink(missing_ok=True)
        elif box and alive(box[0].pid):
            print(f"the worker (pid {box[0].pid}) keeps running: border-surge stop", file=out)
        if not interrupted:
            raise
        print("the Kafka broker keeps running: make kafka-down (or make stop) stops it", file=out)
        return 130
    url = base_url(settings)
    print(f"\nworker running (pid {box[0].pid}), log {box[0].log}", file=out)
    print(f"  dashboard: {dashboard_url(settings)}", file=out)
    print(*(f"  {url}{path}" for path in ("/crossings", "/metrics", "/readyz")), sep="\n", file=out)
    print("stop the worker and the broker: make stop", file=out)
    return 0


async def _run(
    settings: Settings,
    name: str,
    seed: int,
    catch_up_s: float,
    out: TextIO,
    box: list[WorkerProcess],
) -> None:
    scenario = load_scenario(name)  # first: a wrong --scenario fails before anything starts
    messages = list(generate(scenario, seed=seed))
    posts: set[follow.Subject] = set(direction_keys(scenario))
    report = await ensure_topics(settings)
    print(f"topics: {len(report.created)} created, {len(report.existing)} existing", file=out)
    box.append(worker := start_or_reuse(settings, out))
    await wait_ready(settings, worker)
    print(f"worker: ready at {base_url(settings)}/readyz", file=out, flush=True)
    print(f"dashboard (live): {dashboard_url(settings)}", file=out, flush=True)

    async with follow.AlertFollower(settings, from_beginning=False) as follower:
        color = follow.use_color(out)
        printer = follow.stream_alerts(follower, out, sys.stderr, as_json=False, color=color)
        following = asyncio.create_task(printer)
        try:
            what = f"{len(messages):,} messages of {scenario.name} (seed {seed})"
            print(f"replaying {what} into {settings.events_topic}", file=out, flush=True)
            progress = ProgressLine(sys.stderr)
            stats = await send_scenario(
                settings.bootstrap_servers,
                settings.events_topic,
                messages,
                mode="replay",
                progress=progress,
                client_options=client_kwargs(settings),
            )
            progress.done()
            print(f"sent in {stats.elapsed_s:.1f} s; counting ...", file=out, flush=True)
            last_ms = max(m.event_time_ms for m in messages)
            if not await _wait_caught_up(settings, worker, posts, last_ms, catch_up_s):
                print(f"warning: the worker has not caught up after {catch_up_s:.0f} s", file=out)
            await asyncio.sleep(GRACE_S)  # for the alerts of the last buckets
        finally:
            following.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await following

    async with follow.AlertFollower(settings, from_beginning=True) as history:
        records = await history.read_available()
    borders = {(None, src, dst) for _, src, dst in posts}
    print(f"\n{settings.alerts_topic}:", file=out)
    for line in alert_summary.summary_report(records, posts | borders):
        print(f"  {line}", file=out)


async def _wait_caught_up(
    settings: Settings,
    worker: WorkerProcess,
    posts: set[follow.Subject],
    last_ms: int,
    limit_s: float,
) -> bool:
    """Until the worker's consumer group has no lag and /crossings shows every post counted to
    near the end, or the lag has been zero for as long as idle partitions take to close."""
    deadline = time.monotonic() + limit_s
    lag_free_since: float | None = None
    while time.monotonic() < deadline:
        if not alive(worker.pid):
            fail(worker, "exited")
        lag = await consumer_lag(settings)  # before /crossings, so that answer is no older
        _, body = await asyncio.to_thread(http_get, base_url(settings) + "/crossings")
        if not lag and isinstance(body, dict) and caught_up(body, posts, last_ms):
            return True
        lag_free_since = (lag_free_since or time.monotonic()) if lag == 0 else None
        if lag_free_since and time.monotonic() - lag_free_since > settings.idle_close_seconds + 5:
            return True
        await asyncio.sleep(2)
    return False


async def consumer_lag(settings: Settings) -> int | None:
    """Records the worker's consumer group has not committed yet, over every topic it reads;
    None when that cannot be told."""
    admin = AIOKafkaAdminClient(**client_kwargs(settings))
    consumer = AIOKafkaConsumer(**client_kwargs(settings), enable_auto_commit=False)
    try:
        await admin.start()
        await consumer.start()
        committed = await admin.list_consumer_group_offsets(settings.app_id)
        topics = {settings.events_topic, keyed_events_topic(settings)}
        metadata = await admin.describe_topics(sorted(topics | {tp.topic for tp in committed}))
        tps = [
            TopicPartition(t["topic"], p["partition"]) for t in metadata for p in t["partitions"]
        ]
        if not tps:
            return None
        ends = await consumer.end_offsets(tps)
        return int(sum(ends[tp] - (committed[tp].offset if tp in committed else 0) for tp in tps))
    except Exception:  # only a safeguard: /crossings is the main signal
        return None
    finally:
        await consumer.stop()
        await admin.close()
