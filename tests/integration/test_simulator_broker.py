"""The simulator against the real broker: what arrives matches what the scenario promises."""

from __future__ import annotations

import asyncio
import math
from collections import Counter

import pytest

from schemas.event import InvalidEvent, parse_event
from streams.kafka.admin import ensure_topics
from streams.simulate import expected_totals, generate, load_scenario
from streams.simulate.sender import send_scenario
from tests.support import read_topic, settings_from

pytestmark = pytest.mark.integration


def test_small_scenario_arrives_with_expected_totals_and_fractions(kafka, unique_name) -> None:
    settings = settings_from({"BORDER_SURGE_TOPIC_PREFIX": unique_name})
    asyncio.run(ensure_topics(settings))
    scenario = load_scenario("small")
    stats = asyncio.run(
        send_scenario(kafka, settings.events_topic, list(generate(scenario)), mode="replay")
    )
    records = asyncio.run(read_topic(kafka, settings.events_topic))
    assert len(records) == stats.sent

    travellers: Counter[tuple[str, str, str]] = Counter()
    seen: set[tuple[str, str]] = set()
    kinds: Counter[str] = Counter()
    newest: dict[int, int] = {}  # partition -> newest event time so far, in arrival order
    for r in sorted(records, key=lambda r: (r.partition, r.offset)):
        assert r.value is not None
        try:
            ev = parse_event(r.value)
        except InvalidEvent:
            kinds["malformed"] += 1
            continue
        assert r.key == ev.crossing_id.encode()
        if (ev.crossing_id, ev.event_id) in seen:
            kinds["duplicate"] += 1
            continue
        seen.add((ev.crossing_id, ev.event_id))
        travellers[(ev.crossing_id, ev.from_country, ev.to_country)] += ev.travellers
        if ev.event_time_ms < newest.get(r.partition, 0) - 10 * 60_000:
            kinds["late"] += 1
        newest[r.partition] = max(newest.get(r.partition, 0), ev.event_time_ms)
        kinds["event"] += 1

    # Totals per direction within 5 sigma of the compound-Poisson expectation of the scenario.
    for key, exp in expected_totals(scenario).items():
        sigma = math.sqrt(exp.travellers_variance)
        assert abs(travellers[key] - exp.travellers_mean) < 5 * sigma + 1, (key, exp)

    # The configured fractions of duplicates, late and malformed messages (binomial, 5 sigma).
    events = len(seen)
    for kind, fraction in (
        ("duplicate", scenario.faults.duplicate_fraction),
        ("malformed", scenario.faults.malformed_fraction),
        ("late", scenario.faults.late_fraction),
    ):
        mean = events * fraction
        sigma = math.sqrt(events * fraction * (1 - fraction))
        assert abs(kinds[kind] - mean) < 5 * sigma + 2, (kind, kinds[kind], mean)
    assert stats.counts["malformed"] == kinds["malformed"]
    assert stats.counts["duplicate"] == kinds["duplicate"]
