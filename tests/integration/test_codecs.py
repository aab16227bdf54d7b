"""Input compressed with every codec Kafka offers is counted exactly, produced by kcat
(librdkafka, a client that is not ours); the worker's own writes use its configured codec."""

from __future__ import annotations

import asyncio
import json
import subprocess
import urllib.request
from pathlib import Path

import pytest

from streams.count.windows import MINUTE_MS, to_rfc3339
from streams.kafka.admin import ensure_topics
from tests.conftest import KAFKA_SH
from tests.kcat import kcat_produce
from tests.support import (
    WorkerProcess,
    latest_counts,
    read_topic,
    reference_counts,
    settings_from,
    wait_until,
)

pytestmark = pytest.mark.integration

CODECS = ("none", "gzip", "snappy", "lz4", "zstd")
T0 = 1_663_754_400_000  # 2022-09-21T10:00:00Z


def events_for(crossing: str, n: int = 400) -> list[bytes]:
    """The same traffic for every codec: only the crossing differs, so counts must match."""
    out = []
    for i in range(n):
        out.append(
            json.dumps(
                {
                    "event_id": f"e-{i}",
                    "crossing_id": crossing,
                    "occurred_at": to_rfc3339(T0 + i * 20_000 + (i * 7919) % 19_000),
                    "from_country": "RU",
                    "to_country": "FI",
                    "travellers": 1 + (i * 31) % 5,
                    "mode": "car",
                }
            ).encode()
        )
    return out


def test_kcat_input_in_every_codec_counts_exactly(service_env, tmp_path) -> None:
    settings = settings_from(service_env)
    bootstrap = settings.bootstrap_servers
    asyncio.run(ensure_topics(settings))
    worker = WorkerProcess(service_env, tmp_path / "worker.log").start()
    try:
        worker.wait_ready()
        sent: dict[str, list[bytes]] = {}
        for codec in CODECS:
            crossing = f"codec-{codec}"
            sent[crossing] = events_for(crossing)
            kcat_produce(bootstrap, settings.events_topic, codec, crossing, sent[crossing])
        reference = reference_counts(v for values in sent.values() for v in values)
        # Buckets the event-time watermark closes (last event less the 10-minute lateness);
        # the last ones close by the idle clock only after that much wall time.
        last_ms = T0 + 400 * 20_000
        closed = {k for k in reference if k[3] < to_rfc3339(last_ms - 15 * MINUTE_MS)}
        published: dict[tuple[str, str, str, str], int] = {}

        def all_counted() -> bool:
            nonlocal published
            latest = latest_counts(asyncio.run(read_topic(bootstrap, settings.counts_topic)))
            published = {k: c["travellers"] for k, c in latest.items()}
            return all(published.get(k) == reference[k] for k in closed) and all(
                n == reference.get(k, 0) for k, n in published.items()
            )

        wait_until(all_counted, 120, interval=1, message=f"counts differ\n{worker.tail()}")
        assert worker.proc is not None and worker.proc.poll() is None, worker.tail()
        # Every codec gave the same series, bucket for bucket.
        series = {
            codec: sorted((k[3], n) for k, n in published.items() if k[0] == f"codec-{codec}" and n)
            for codec in CODECS
        }
        assert len({tuple(s) for s in series.values()}) == 1, series
        assert sum(n for _, n in series["lz4"]) == sum(
            reference[k] for k in closed if k[0] == "codec-lz4"
        )
        with urllib.request.urlopen(worker.url("/metrics"), timeout=5) as r:
            metrics = r.read().decode()
        assert 'border_unreadable_batches_total{topic="' not in metrics  # nothing was skipped
    finally:
        worker.stop()
    # The worker's own writes (the keyed topic) went out with the default codec, lz4, as
    # Kafka's own log tool reads them from the segments.
    assert stored_codecs(settings.topic("events.by-crossing")) == {"lz4"}


def stored_codecs(topic: str) -> set[str]:
    """The codecs of every record batch of topic on disk, read by Kafka's DumpLogSegments."""
    node = subprocess.run(
        [str(KAFKA_SH), "path"], capture_output=True, text=True, check=True
    ).stdout.strip()
    segments = [str(p) for p in Path(node).glob(f"data/{topic}-*/*.log") if p.stat().st_size]
    assert segments, f"no data for {topic} under {node}"
    dump = subprocess.run(
        [str(KAFKA_SH), "tool", "kafka.tools.DumpLogSegments", "--files",
         ",".join(segments)],
        capture_output=True, text=True, check=True, timeout=120,
    ).stdout  # fmt: skip
    return {
        line.split("compresscodec:")[1].split()[0]
        for line in dump.splitlines()
        if "compresscodec:" in line
    }
