"""The generator: deterministic, totals as the scenario says, and faults as configured."""

import json
import math
import re
from collections import Counter, defaultdict
from datetime import UTC, datetime
from functools import cache

import pytest

from schemas.countries import COUNTRY_CODES
from streams.simulate import (
    COUNTED_KINDS,
    DirectionKey,
    Scenario,
    SimMessage,
    expected_totals,
    generate,
    load_scenario,
)

REQUIRED = {
    "event_id",
    "crossing_id",
    "occurred_at",
    "from_country",
    "to_country",
    "travellers",
    "schema_version",
}
OPTIONAL = {"mode", "nationality"}
MODES = {"pedestrian", "car", "bus", "truck", "train", "other"}
CROSSING = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
RFC3339_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def contract_problem(value: bytes) -> str | None:
    """Why ``value`` breaks the border.events contract, or None; written from the brief."""
    try:
        record = json.loads(value.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return f"not UTF-8 JSON: {exc}"
    if not isinstance(record, dict):
        return "not an object"
    if missing := REQUIRED - record.keys():
        return f"missing {missing}"
    if extra := record.keys() - REQUIRED - OPTIONAL:
        return f"unexpected {extra}"
    countries = [record["from_country"], record["to_country"], record.get("nationality", "RU")]
    travellers = record["travellers"]
    checks = {
        "event_id": isinstance(record["event_id"], str) and 1 <= len(record["event_id"]) <= 128,
        "crossing_id": isinstance(record["crossing_id"], str)
        and CROSSING.match(record["crossing_id"]),
        "occurred_at": isinstance(record["occurred_at"], str)
        and RFC3339_Z.match(record["occurred_at"]),
        "countries": all(c in COUNTRY_CODES for c in countries)
        and record["from_country"] != record["to_country"],
        "travellers": type(travellers) is int and 1 <= travellers <= 1000,
        "mode": record.get("mode", "other") in MODES,
        "schema_version": type(record["schema_version"]) is int and record["schema_version"] == 1,
    }
    bad = [name for name, ok in checks.items() if not ok]
    return f"bad {bad}" if bad else None


@cache
def small() -> Scenario:
    return load_scenario("small")


@cache
def messages(seed: int | None = None) -> tuple[SimMessage, ...]:
    return tuple(generate(small(), seed=seed))


def counted(msgs: tuple[SimMessage, ...]) -> list[SimMessage]:
    return [m for m in msgs if m.kind in COUNTED_KINDS]


def test_same_seed_gives_the_same_messages() -> None:
    assert tuple(generate(small())) == messages()


def test_another_seed_gives_other_messages() -> None:
    assert messages(seed=7) != messages()
    assert tuple(generate(small(), seed=7)) == messages(seed=7)


def test_every_message_but_the_malformed_meets_the_contract() -> None:
    problems = [(m, contract_problem(m.value)) for m in messages() if m.kind != "malformed"]
    assert [p for p in problems if p[1] is not None] == []


def test_every_malformed_message_breaks_the_contract() -> None:
    malformed = [m for m in messages() if m.kind == "malformed"]
    assert malformed
    assert [m for m in malformed if contract_problem(m.value) is None] == []


def test_malformed_messages_mix_every_kind_of_flaw() -> None:
    values = [m.value for m in messages() if m.kind == "malformed"]
    problems = [contract_problem(v) or "" for v in values]
    assert any(p.startswith("missing") for p in problems)
    assert any(p == "bad ['countries']" for p in problems)
    assert any(b'"travellers":0' in v for v in values)
    assert any(b"\xff" in v for v in values)
    assert any(not v.endswith(b"}") for v in values)


def test_messages_agree_with_their_values() -> None:
    for m in counted(messages()):
        record = json.loads(m.value)
        assert m.key == m.crossing_id.encode() == record["crossing_id"].encode()
        assert (m.from_country, m.to_country) == (record["from_country"], record["to_country"])
        assert m.travellers == record["travellers"]
        occurred = datetime.fromisoformat(record["occurred_at"])
        assert occurred == datetime.fromtimestamp(m.event_time_ms / 1000, UTC)


def test_event_ids_are_unique_and_deterministic() -> None:
    ids = [json.loads(m.value)["event_id"] for m in counted(messages())]
    assert len(ids) == len(set(ids))
    assert ids[0] == "small-42-00000001"


def test_on_time_events_are_sent_in_event_time_order() -> None:
    times = [m.event_time_ms for m in messages() if m.kind == "event"]
    assert times == sorted(times)
    start = small().start.timestamp() * 1000
    assert start <= times[0] and times[-1] < start + small().minutes * 60_000


def test_duplicates_repeat_an_earlier_event_a_little_later() -> None:
    sent: dict[bytes, int] = {}
    for index, m in enumerate(messages()):
        if m.kind == "duplicate":
            assert m.value in sent
            assert 0 < index - sent[m.value]
        elif m.kind in COUNTED_KINDS:
            sent[m.value] = index
    dup_times = [m.event_time_ms for m in messages() if m.kind == "duplicate"]
    assert dup_times


def test_late_events_arrive_after_events_more_than_the_allowance_later() -> None:
    allowance_ms = small().faults.lateness_allowance_minutes * 60_000
    newest: dict[str, int] = defaultdict(lambda: -1)  # per crossing, so per key and partition
    newest_anywhere = -1
    late = 0
    for m in messages():
        if m.kind == "late":
            late += 1
            assert newest[m.crossing_id] > m.event_time_ms + allowance_ms
            assert newest_anywhere >= m.event_time_ms + 15 * 60_000
        elif m.kind == "event":
            newest[m.crossing_id] = max(newest[m.crossing_id], m.event_time_ms)
            newest_anywhere = max(newest_anywhere, m.event_time_ms)
    assert late > 0


@pytest.mark.parametrize(
    ("kind", "fraction"),
    [
        ("duplicate", "duplicate_fraction"),
        ("late", "late_fraction"),
        ("malformed", "malformed_fraction"),
    ],
)
def test_fault_fractions_are_as_configured(kind: str, fraction: str) -> None:
    p = getattr(small().faults, fraction)
    kinds: Counter[str] = Counter(m.kind for m in messages())
    groups = kinds["event"] + kinds["late"]
    sigma = math.sqrt(groups * p * (1 - p))
    assert abs(kinds[kind] - groups * p) < 5 * sigma


def observed(
    msgs: tuple[SimMessage, ...],
) -> tuple[dict[DirectionKey, int], dict[DirectionKey, int]]:
    travellers: dict[DirectionKey, int] = defaultdict(int)
    events: dict[DirectionKey, int] = defaultdict(int)
    for m in counted(msgs):
        key = (m.crossing_id, m.from_country, m.to_country)
        travellers[key] += m.travellers
        events[key] += 1
    return travellers, events


def test_totals_per_direction_are_within_poisson_tolerance() -> None:
    travellers, events = observed(messages())
    expected = expected_totals(small())
    assert set(travellers) == set(expected)
    for key, totals in expected.items():
        assert abs(travellers[key] - totals.travellers_mean) < 5 * math.sqrt(
            totals.travellers_variance
        ), key
        assert abs(events[key] - totals.events_mean) < 5 * math.sqrt(totals.events_mean), key


def test_variance_of_totals_over_seeds_matches_compound_poisson() -> None:
    # 20 seeds x 6 directions: the squared z-scores sum to a chi-square with 120 degrees of
    # freedom (mean 120, sd 15.5) if the expected means and variances are right.
    expected = expected_totals(small())
    chi2 = 0.0
    for seed in range(100, 120):
        travellers, _ = observed(tuple(generate(small(), seed=seed)))
        for key, totals in expected.items():
            chi2 += (travellers[key] - totals.travellers_mean) ** 2 / totals.travellers_variance
    assert 60 < chi2 < 200


def test_expected_totals_in_a_window_add_up() -> None:
    scenario = small()
    middle = scenario.start.replace(hour=13)
    whole = expected_totals(scenario)
    first = expected_totals(scenario, until=middle)
    second = expected_totals(scenario, since=middle)
    for key, totals in whole.items():
        assert first[key].events_mean + second[key].events_mean == pytest.approx(totals.events_mean)


def test_surge_doubles_its_direction_only() -> None:
    scenario = small()
    day1 = expected_totals(scenario, until=scenario.start.replace(day=21))
    day2 = expected_totals(scenario, since=scenario.start.replace(day=21))
    weekday = scenario.weekday_profile
    for key in day1:
        # 2022-09-20 is a Tuesday, 09-21 a Wednesday: the same weekday weight (in UTC+3/+4 too).
        ratio = day2[key].travellers_mean / day1[key].travellers_mean
        surged = key == ("kazbegi-upper-lars", "RU", "GE")
        assert weekday[1] == weekday[2]
        assert (ratio > 1.4) if surged else ratio == pytest.approx(1, abs=0.05), key
