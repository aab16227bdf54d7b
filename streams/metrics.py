"""Prometheus metrics of the worker, created once against an injectable registry."""

from __future__ import annotations

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
        self.batch_seconds = Histogram(
            "border_batch_processing_seconds", "Time to process and save one batch.", registry=r
        )
