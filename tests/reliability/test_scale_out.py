"""Two, then three workers in one consumer group over 6 partitions; one is killed mid-stream:
the survivors take its partitions and state, counts stay exact, and the time it took is
measured (printed and written to bench/results/scale-out.json)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from streams.detect.offline import partition_of
from streams.kafka.admin import ensure_topics
from streams.kafka.topics import keyed_events_topic
from tests.reliability.replay import wait_counts_exact
from tests.support import (
    WorkerProcess,
    free_port,
    group_lag,
    produce,
    reference_counts,
    reliability_seed,
    settings_from,
    synthetic_events,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.reliability]

RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results" / "scale-out.json"
PARTITIONS = 6
N_EVENTS = 60_000
DIRECTIONS = 32  # 16 posts: every one of the 6 partitions holds some


def test_scale_out_and_kill_one_of_three(service_env, tmp_path) -> None:
    env = {**service_env, "BORDER_SURGE_PARTITIONS": str(PARTITIONS)}
    settings = settings_from(env)
    bootstrap = settings.bootstrap_servers
    asyncio.run(ensure_topics(settings))
    messages = synthetic_events(N_EVENTS, DIRECTIONS, seed=reliability_seed(11))
    keys = {k.decode() for k, _ in messages}
    assert {partition_of(k, PARTITIONS) for k in keys} == set(range(PARTITIONS)), keys
    reference = reference_counts(v for _, v in messages)
    from schemas.event import parse_event
    from streams.count.windows import to_rfc3339

    last_ms = max(parse_event(v).event_time_ms for _, v in messages[-500:])
    must_have = {k for k in reference if k[3] < to_rfc3339(last_ms - 3_600_000)}
    keyed = keyed_events_topic(settings)

    def worker(i: int) -> WorkerProcess:
        own = {
            **env,
            "BORDER_SURGE_WEB_PORT": str(free_port()),
            "BORDER_SURGE_DATA_DIR": str(tmp_path / f"data{i}"),
        }
        return WorkerProcess(own, tmp_path / f"worker{i}.log")

    workers = [worker(0).start(), worker(1).start()]
    third = len(messages) // 3
    try:
        for w in workers:
            w.wait_ready(timeout=120)
        asyncio.run(produce(bootstrap, settings.events_topic, messages[:third]))
        workers.append(worker(2).start())
        workers[2].wait_ready(timeout=120)
        for w in workers:  # after the rebalance every worker holds partitions of its own
            wait_until(lambda w=w: w.get_json("/readyz")[0] == 200, 120, message=w.tail())
        owned = [len(w.get_json("/crossings")[1]["directions"]) for w in workers]
        print(f"directions per worker with three workers: {owned}")

        asyncio.run(produce(bootstrap, settings.events_topic, messages[third : 2 * third]))
        victim = workers.pop(1)
        before = asyncio.run(group_lag(bootstrap, settings.app_id, keyed))
        killed_at = time.monotonic()
        victim.kill9()
        asyncio.run(produce(bootstrap, settings.events_topic, messages[2 * third :]))

        # Rebalanced: every partition of the keyed topic is being consumed again (its committed
        # offset moved past where it stood at the kill). Recovered: the group has no lag left.
        moved_at: dict[int, float] = {}

        def rebalanced() -> bool:
            now = asyncio.run(group_lag(bootstrap, settings.app_id, keyed))
            for p, (committed, _) in now.items():
                if committed > before[p][0] and p not in moved_at:
                    moved_at[p] = time.monotonic() - killed_at
            return len(moved_at) == PARTITIONS

        try:
            wait_until(rebalanced, 180, interval=0.5, message="partitions not taken over")
        except AssertionError as exc:
            now = asyncio.run(group_lag(bootstrap, settings.app_id, keyed))
            tails = "\n".join(w.tail(40) for w in workers)
            detail = f"moved {moved_at}, before {before}, now {now}"
            raise AssertionError(f"{exc}: {detail}\n{tails}") from exc
        rebalance_s = max(moved_at.values())

        def caught_up() -> bool:
            now = asyncio.run(group_lag(bootstrap, settings.app_id, keyed))
            return all(committed >= end for committed, end in now.values())

        wait_until(caught_up, 240, interval=0.5, message="survivors did not catch up")
        recover_s = time.monotonic() - killed_at
        published = wait_counts_exact(
            bootstrap, settings.counts_topic, reference, must_have, workers, 180, settings=settings
        )
        exact_s = time.monotonic() - killed_at
        owned = [len(w.get_json("/crossings")[1]["directions"]) for w in workers]
        assert sum(owned) == DIRECTIONS, owned  # the survivors serve every direction between them
        result = {
            "events": len(messages),
            "partitions": PARTITIONS,
            "workers": "2 -> 3 -> 2 (one killed with SIGKILL)",
            "session_timeout_seconds": settings.session_timeout_seconds,
            "seconds_until_all_partitions_consumed_again": round(rebalance_s, 1),
            "seconds_until_no_lag": round(recover_s, 1),
            "seconds_until_counts_exact": round(exact_s, 1),
            "buckets_compared": len(published),
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        print(json.dumps(result, indent=2))
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    finally:
        for w in workers:
            w.stop()
