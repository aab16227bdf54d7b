"""Prometheus metrics of the worker, created once against an injectable registry."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from schemas.dead_letter import DeadLetterReason

# From a few milliseconds (a batch on an idle worker) to an hour (a worker catching up).
LATENCY_BUCKETS = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    120.0,
    300.0,
    600.0,
    1800.0,
    3600.0,
)
SOURCE_TIMESTAMP_HEADER = "x-source-timestamp"  # ms, set by ingest on the keyed topic


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.consumed = Counter(
            "border_messages_consumed", "Input records read from the events topic.", registry=r
        )
        self.counted = Counter("border_events_counted", "Events counted into a bucket.", registry=r)
        self.duplicates = Counter(
            "border_events_duplicate",
            "Events recognised as duplicates (same event_id).",
            registry=r,
        )
        self.dead_lettered = Counter(
            "border_events_dead_lettered",
            "Records sent to the dead-letter topic.",
            ["reason"],
            registry=r,
        )
        self.late = Counter(
            "border_events_late", "Events counted into an already published bucket.", registry=r
        )
        self.dedupe_evicted = Counter(
            "border_dedupe_ids_evicted",
            "Event ids forgotten before their dedupe horizon to keep under the cap.",
            registry=r,
        )
        self.unreadable_batches = Counter(
            "border_unreadable_batches",
            "Record batches skipped because they could not be decoded (codec, CRC, format).",
            ["topic"],
            registry=r,
        )
        self.unreadable_offsets = Counter(
            "border_unreadable_offsets",
            "Offsets inside the skipped unreadable batches.",
            ["topic"],
            registry=r,
        )
        self.buckets_closed = Counter(
            "border_buckets_closed",
            "Bucket records published (first and corrections).",
            registry=r,
        )
        self.watermark = Gauge(
            "border_watermark_timestamp_seconds",
            "Event-time watermark per partition of the keyed events topic (Unix time).",
            ["partition"],
            registry=r,
        )
        self.watermark_lag = Gauge(
            "border_watermark_lag_seconds",
            "Wall clock minus the event-time watermark, per partition of the keyed events topic.",
            ["partition"],
            registry=r,
        )
        self.consumer_lag = Gauge(
            "border_consumer_lag_records",
            "Log end offset minus the committed offset, per input topic partition.",
            ["topic", "partition"],
            registry=r,
        )
        self.alerts = Counter(
            "border_alert_messages",
            "Alert messages published.",
            ["status", "severity"],
            registry=r,
        )
        self.rolling = Gauge(
            "border_rolling_travellers",
            "Travellers in the alerting window, per direction.",
            ["crossing_id", "from_country", "to_country"],
            registry=r,
        )
        self.expected = Gauge(
            "border_expected_travellers",
            "Baseline for the alerting window, per direction.",
            ["crossing_id", "from_country", "to_country"],
            registry=r,
        )
        self.batch_seconds = Histogram(
            "border_batch_processing_seconds", "Time to process and save one batch.", registry=r
        )
        self.latency = Histogram(
            "border_event_latency_seconds",
            "From the input record's append time to its count being saved.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.am_posts = Counter(
            "border_alertmanager_posts",
            "POSTs to Alertmanager by result: ok, error (retried), rejected (400/422, dropped).",
            ["result"],
            registry=r,
        )
        self.am_given_up = Counter(
            "border_alertmanager_alerts_given_up",
            "Alerts not delivered to Alertmanager within the maximum outage.",
            registry=r,
        )
        self.am_firing = Gauge(
            "border_alertmanager_firing_alerts",
            "Alerts the bridge keeps firing in Alertmanager (re-posted until resolved).",
            registry=r,
        )
        for result in ("ok", "error", "rejected"):
            self.am_posts.labels(result)
        # Every label of a fixed set is exported from the start, so rate() sees the first one.
        for reason in DeadLetterReason:
            self.dead_lettered.labels(reason.value)
        for status in ("firing", "resolved"):
            for severity in ("warning", "critical"):
                self.alerts.labels(status, severity)

    def observe_latency(self, appended_s: Iterable[float], now_s: float | None = None) -> None:
        now = time.time() if now_s is None else now_s
        observe = self.latency.observe
        for t in appended_s:
            observe(max(0.0, now - t))

    def refresh(self, service: Any) -> None:
        """Gauges computed on scrape (cheap: one window sum per direction).

        Cleared first so a partition moved to another worker stops being reported here.
        """
        now = time.time()
        for gauge in (self.watermark, self.watermark_lag, self.rolling, self.expected):
            gauge.clear()
        window_ms = service.settings.window_minutes[0] * 60_000
        for partition, counter in service.counting.counters.items():
            if counter.watermark_ms is not None:
                watermark = counter.watermark_ms / 1000
                self.watermark.labels(str(partition)).set(watermark)
                self.watermark_lag.labels(str(partition)).set(now - watermark)
            end = counter.closed_until or 0
            for d in counter.directions():
                travellers, _ = counter.window_sum(d, end, window_ms)
                self.rolling.labels(*d).set(travellers)
        for part in service.detection.partitions.values():
            for subject, det in part.detectors.items():
                if ":" not in subject:
                    continue
                snap = det.snapshot()
                if snap.expected is not None:
                    crossing, pair = subject.split(":")
                    self.expected.labels(crossing, *pair.split("-")).set(snap.expected)
        self.consumer_lag.clear()
        for (topic, partition), lag in consumer_lag(service).items():
            self.consumer_lag.labels(topic, str(partition)).set(lag)


def consumer_lag(service: Any) -> dict[tuple[str, int], int]:
    """Per assigned input partition: log end offset minus committed offset.

    The committed offset is what a restart resumes from, so this is the work a crash would
    redo as well as the work not done yet. A partition not fetched yet is left out rather
    than guessed; one never committed counts from offset 0 (Faust stores a commit of 0 as None).
    """
    consumer = service.app.consumer
    if consumer is None:
        return {}
    inputs = {service.settings.events_topic, service.keyed_topic_name, service.border_topic_name}
    out: dict[tuple[str, int], int] = {}
    committed_by_us = {tp: o for ch in service.channels for tp, o in ch.commits.committed.items()}
    try:
        assigned = consumer.assignment()
    except Exception:  # not started yet
        return {}
    for tp in assigned:
        if tp.topic not in inputs:
            continue
        try:
            end = consumer.highwater(tp)
        except Exception:
            continue
        if end is None:
            continue
        # Our batch channels commit these topics (streams/kafka/batch_channel.py); before their
        # first commit, what Faust read from Kafka at assignment.
        committed = committed_by_us.get(tp) or consumer._committed_offset.get(tp) or 0
        out[(tp.topic, tp.partition)] = max(0, end - committed)
    return out


def source_timestamp_s(message: Any) -> float:
    """When the input record was appended to the events topic (ingest forwards it as a header)."""
    for key, value in message.headers or ():
        if key == SOURCE_TIMESTAMP_HEADER:
            try:
                return int(value) / 1000
            except (TypeError, ValueError):
                break
    return float(message.timestamp)
