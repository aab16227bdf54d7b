"""Prometheus metrics of the worker, created once against an injectable registry."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


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
        self.buckets_closed = Counter(
            "border_buckets_closed",
            "Bucket records published (first and corrections).",
            registry=r,
        )
        self.watermark = Gauge(
            "border_watermark_seconds",
            "Event-time watermark per partition (Unix seconds).",
            ["partition"],
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

    def refresh(self, service: Any) -> None:
        """Gauges computed on scrape (cheap: one window sum per direction)."""
        window_ms = service.settings.window_minutes[0] * 60_000
        for partition, counter in service.counting.counters.items():
            if counter.max_event_ms is not None:
                self.watermark.labels(str(partition)).set((counter.watermark_ms or 0) / 1000)
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
