"""Upstream traffic simulator: scenarios, a pure seeded generator, and a Kafka sender."""

from streams.simulate.generator import (
    COUNTED_KINDS,
    KINDS,
    ExpectedTotals,
    Kind,
    SimMessage,
    expected_totals,
    generate,
)
from streams.simulate.scenario import (
    DirectionKey,
    Scenario,
    ScenarioError,
    available_scenarios,
    load_scenario,
    parse_scenario,
)

__all__ = [
    "COUNTED_KINDS",
    "KINDS",
    "DirectionKey",
    "ExpectedTotals",
    "Kind",
    "Scenario",
    "ScenarioError",
    "SimMessage",
    "available_scenarios",
    "expected_totals",
    "generate",
    "load_scenario",
    "parse_scenario",
]
