"""The 2022 scenario reproduces the seed text's figures and leaves the controls alone."""

from datetime import UTC, datetime, timedelta
from functools import cache

import pytest

from streams.simulate import ExpectedTotals, Scenario, expected_totals, load_scenario

ANNOUNCED = datetime(2022, 9, 21, tzinfo=UTC)  # a Wednesday
WEEK = timedelta(days=7)


@cache
def scenario() -> Scenario:
    return load_scenario("mobilization-2022")


def travellers(since: datetime, until: datetime, *, to: str, frm: str = "RU") -> float:
    totals = expected_totals(scenario(), since=since, until=until)
    return sum(t.travellers_mean for key, t in totals.items() if key[1:] == (frm, to))


def per_post(since: datetime, until: datetime) -> dict[tuple[str, str, str], ExpectedTotals]:
    return expected_totals(scenario(), since=since, until=until)


def test_three_normal_weeks_then_the_week_after_the_announcement() -> None:
    s = scenario()
    assert s.start == ANNOUNCED - 3 * WEEK
    assert s.end == ANNOUNCED + WEEK


def test_nearly_100000_into_kazakhstan_in_the_week() -> None:
    assert travellers(ANNOUNCED, ANNOUNCED + WEEK, to="KZ") == pytest.approx(100_000, rel=0.05)
    assert len({k[0] for k in expected_totals(scenario()) if k[2] == "KZ"}) >= 3


def test_georgian_arrivals_double_to_about_10000_a_day() -> None:
    tbilisi = timedelta(hours=4)
    before = travellers(scenario().start - tbilisi, ANNOUNCED - tbilisi, to="GE") / 21
    after = travellers(ANNOUNCED + timedelta(days=1) - tbilisi, ANNOUNCED + WEEK, to="GE")
    after /= 6 - 4 / 24
    assert before == pytest.approx(5_000, rel=0.05)
    assert after == pytest.approx(10_000, rel=0.05)


def test_nearly_17000_into_finland_over_the_weekend_up_80_percent() -> None:
    saturday = datetime(2022, 9, 24, tzinfo=UTC) - timedelta(hours=3)  # Finnish time
    weekend = (saturday, saturday + timedelta(days=2))
    week_before = (saturday - WEEK, saturday - WEEK + timedelta(days=2))
    assert travellers(*weekend, to="FI") == pytest.approx(17_000, rel=0.03)
    now, then = per_post(*weekend), per_post(*week_before)
    posts = [k for k in now if k[1:] == ("RU", "FI")]
    assert len(posts) >= 3
    for key in posts:
        assert now[key].travellers_mean / then[key].travellers_mean == pytest.approx(1.8), key


def test_reverse_directions_and_the_control_border_are_unchanged() -> None:
    now = per_post(ANNOUNCED, ANNOUNCED + WEEK)
    then = per_post(ANNOUNCED - WEEK, ANNOUNCED)
    unchanged = [k for k in now if k[1] != "RU" or k[2] == "EE"]
    assert {k[1] for k in unchanged} >= {"GE", "FI", "KZ", "EE"}
    for key in unchanged:
        assert now[key].travellers_mean == pytest.approx(then[key].travellers_mean), key


def test_the_whole_month_is_a_one_minute_replay() -> None:
    s = scenario()
    events = sum(t.events_mean for t in expected_totals(s).values())
    assert 300_000 <= events <= 600_000
    assert (s.faults.duplicate_fraction, s.faults.late_fraction, s.faults.malformed_fraction) == (
        0.01,
        0.005,
        0.001,
    )


def test_surges_start_within_hours_of_the_announcement() -> None:
    evening = ANNOUNCED + timedelta(hours=18)  # the same day, 9 hours after the onset
    for to in ("KZ", "GE", "FI"):
        now = travellers(evening, evening + timedelta(hours=1), to=to)
        then = travellers(evening - WEEK, evening - WEEK + timedelta(hours=1), to=to)
        assert now / then > 1.15, to
