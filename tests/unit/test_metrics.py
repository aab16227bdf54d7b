"""The metrics module: names, fixed label sets, latency from the forwarded append time, lag."""

from __future__ import annotations

from types import SimpleNamespace

from faust.types import TP
from prometheus_client import generate_latest

from schemas.dead_letter import DeadLetterReason
from streams.metrics import Metrics, consumer_lag, source_timestamp_s


def sample(m: Metrics, name: str, **labels: str) -> float | None:
    return m.registry.get_sample_value(name, labels)


def test_every_dead_letter_reason_and_alert_label_is_exported_from_the_start() -> None:
    m = Metrics()
    for reason in DeadLetterReason:
        assert sample(m, "border_events_dead_lettered_total", reason=reason.value) == 0
    assert sample(m, "border_alert_messages_total", status="resolved", severity="critical") == 0
    text = generate_latest(m.registry).decode()
    assert "border_watermark_timestamp_seconds" in text
    assert "border_event_latency_seconds_bucket" in text


def test_latency_is_taken_from_the_source_timestamp_header() -> None:
    forwarded = SimpleNamespace(headers=[("x-source-timestamp", b"1000500")], timestamp=2000.0)
    foreign = SimpleNamespace(headers=None, timestamp=1999.0)
    garbled = SimpleNamespace(headers=[("x-source-timestamp", b"soon")], timestamp=1998.0)
    assert source_timestamp_s(forwarded) == 1000.5
    assert source_timestamp_s(foreign) == 1999.0
    assert source_timestamp_s(garbled) == 1998.0
    m = Metrics()
    m.observe_latency([1000.5, 1001.0, 1003.0], now_s=1001.0)  # the future counts as 0
    assert sample(m, "border_event_latency_seconds_count") == 3
    assert sample(m, "border_event_latency_seconds_sum") == 0.5
    assert sample(m, "border_event_latency_seconds_bucket", le="0.5") == 3
    assert sample(m, "border_event_latency_seconds_bucket", le="0.25") == 2


def test_consumer_lag_is_log_end_minus_committed_for_input_topics_only() -> None:
    assigned = [
        TP(topic="b.events", partition=0),  # committed 7 of 10 before this worker started
        TP(topic="b.events", partition=1),  # never committed: Faust keeps None
        TP(topic="b.events.by-crossing", partition=0),  # not fetched yet: unknown
        TP(topic="app-state-changelog", partition=0),  # not an input
        TP(topic="b.events", partition=2),  # committed 5 at start, since then 9 by a channel
    ]
    ends = {
        ("b.events", 0): 10,
        ("b.events", 1): 4,
        ("app-state-changelog", 0): 99,
        ("b.events", 2): 12,
    }
    consumer = SimpleNamespace(
        assignment=lambda: assigned,
        highwater=lambda t: ends.get((t.topic, t.partition)),
        _committed_offset={assigned[0]: 7, assigned[1]: None, assigned[4]: 5},
    )
    service = SimpleNamespace(
        app=SimpleNamespace(consumer=consumer),
        channels=[SimpleNamespace(commits=SimpleNamespace(committed={assigned[4]: 9}))],
        settings=SimpleNamespace(events_topic="b.events"),
        keyed_topic_name="b.events.by-crossing",
        border_topic_name="b.buckets.by-border",
    )
    assert consumer_lag(service) == {("b.events", 0): 3, ("b.events", 1): 4, ("b.events", 2): 3}
