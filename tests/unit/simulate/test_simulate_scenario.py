"""Scenario files: the shipped ones load, bad ones fail naming the file and the key."""

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.errors import ConfigError
from streams.simulate import ScenarioError, available_scenarios, load_scenario, parse_scenario
from streams.simulate.lanes import lanes
from streams.simulate.scenario import Surge

GOOD = """
name = "tiny"
start = 2022-09-20T00:00:00Z
duration_days = 1
seed = 1
hour_profile = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]
weekday_profile = [1, 1, 1, 1, 1, 1, 1]
nationalities = { from = 1 }
groups = [{ mode = "car", weight = 1, min_size = 1, max_size = 4 }]

[[posts]]
crossing_id = "vaalimaa"
directions = [
  { from_country = "RU", to_country = "FI", daily_volume = 1000 },
  { from_country = "FI", to_country = "RU", daily_volume = 900 },
]

[[surges]]
name = "up"
onset = 2022-09-20T12:00:00Z
factor = 2
crossings = ["vaalimaa"]
to_country = "FI"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scenario.toml"
    path.write_text(text, encoding="utf-8")
    return path


def error_for(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    message = str(info.value)
    assert str(path) in message
    return message


@pytest.mark.parametrize("name", ["small", "mobilization-2022"])
def test_shipped_scenarios_load_by_name(name: str) -> None:
    assert name in available_scenarios()
    assert load_scenario(name).name == name


def test_scenario_loads_from_a_path(tmp_path: Path) -> None:
    scenario = load_scenario(str(write(tmp_path, GOOD)))
    assert scenario.name == "tiny"
    assert scenario.minutes == 1440
    assert scenario.faults.duplicate_fraction == 0


def test_daily_volume_is_the_weekly_average_per_day(tmp_path: Path) -> None:
    text = GOOD.split("[[surges]]")[0]
    scenario = load_scenario(
        write(tmp_path, text.replace("duration_days = 1", "duration_days = 7"))
    )
    lane = lanes(scenario)[0]
    assert sum(lane.rates) * lane.mean_size == pytest.approx(7 * 1000)


def test_scenario_error_is_a_config_error() -> None:
    assert issubclass(ScenarioError, ConfigError)


def test_bad_value_names_file_and_key(tmp_path: Path) -> None:
    message = error_for(tmp_path, GOOD.replace("daily_volume = 900", "daily_volume = -5"))
    assert "posts[0].directions[1].daily_volume" in message
    assert "greater than or equal to 0" in message


def test_unknown_key_is_refused(tmp_path: Path) -> None:
    message = error_for(
        tmp_path,
        GOOD.replace('crossing_id = "vaalimaa"', 'crossing_id = "vaalimaa"\ncolour = "red"'),
    )
    assert "posts[0].colour: Extra inputs are not permitted" in message


def test_unassigned_country_code_is_refused(tmp_path: Path) -> None:
    message = error_for(
        tmp_path, GOOD.replace('to_country = "FI", daily', 'to_country = "XX", daily')
    )
    assert "posts[0].directions[0].to_country" in message
    assert "'XX'" in message


def test_same_country_both_ways_is_refused(tmp_path: Path) -> None:
    message = error_for(
        tmp_path, GOOD.replace('to_country = "FI", daily', 'to_country = "RU", daily')
    )
    assert "posts[0].directions[0]" in message
    assert "both RU" in message


def test_hour_profile_needs_24_weights(tmp_path: Path) -> None:
    message = error_for(tmp_path, GOOD.replace("hour_profile = [1, ", "hour_profile = ["))
    assert "hour_profile" in message
    assert "at least 24" in message


def test_surge_on_unknown_crossing_is_refused(tmp_path: Path) -> None:
    message = error_for(
        tmp_path, GOOD.replace('crossings = ["vaalimaa"]', 'crossings = ["vaalimaaa"]')
    )
    assert "surge 'up': unknown crossings ['vaalimaaa']" in message


def test_surge_matching_no_direction_is_refused(tmp_path: Path) -> None:
    message = error_for(tmp_path, GOOD.replace('to_country = "FI"\n', 'to_country = "KZ"\n'))
    assert "applies to no direction" in message


def test_unknown_nationality_code_is_refused(tmp_path: Path) -> None:
    message = error_for(tmp_path, GOOD.replace("{ from = 1 }", "{ from = 1, XX = 1 }"))
    assert "'XX' is not an assigned" in message


def test_late_delay_must_exceed_the_allowance(tmp_path: Path) -> None:
    text = GOOD + "\n[faults]\nlate_fraction = 0.1\nlate_delay_minutes = [5, 60]\n"
    assert "late_delay_minutes must start above" in error_for(tmp_path, text)


def test_invalid_toml_names_file_and_line(tmp_path: Path) -> None:
    message = error_for(tmp_path, GOOD.replace("seed = 1", "seed = = 1"))
    assert "invalid TOML" in message
    assert "line" in message


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="cannot read scenario"):
        load_scenario(tmp_path / "nope.toml")


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(ScenarioError, match=r"no scenario named 'nope'; known: .*small"):
        load_scenario("nope")


def test_parse_scenario_reports_every_problem() -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario({"name": "x"}, origin="inline")
    lines = str(info.value).splitlines()
    assert "inline: start: Field required" in lines
    assert "inline: posts: Field required" in lines


def surge(**kwargs: object) -> Surge:
    fields: dict[str, object] = {"name": "s", "onset": "2022-09-21T00:00:00Z", "factor": 3.0}
    return Surge.model_validate(fields | kwargs)


def test_surge_ramps_holds_and_decays() -> None:
    s = surge(ramp_hours=10, duration_hours=20, decay_hours=10)
    assert [s.factor_at(h) for h in (-1, 0, 5, 10, 19.9, 20, 25, 30, 99)] == pytest.approx(
        [1, 1, 2, 3, 3, 3, 2, 1, 1]
    )


def test_surge_without_duration_lasts_to_the_end() -> None:
    assert surge(ramp_hours=1).factor_at(10_000) == 3.0


@given(
    factor=st.floats(0.1, 10),
    ramp=st.floats(0, 48),
    duration=st.floats(0.1, 200) | st.none(),
    decay=st.floats(0, 48),
    hours=st.floats(-100, 400),
)
def test_surge_factor_stays_between_one_and_factor(
    factor: float, ramp: float, duration: float | None, decay: float, hours: float
) -> None:
    s = surge(factor=factor, ramp_hours=ramp, duration_hours=duration, decay_hours=decay)
    value = s.factor_at(hours)
    assert min(1.0, factor) - 1e-9 <= value <= max(1.0, factor) + 1e-9


def test_day_level_variation_gives_each_local_day_its_own_level_with_the_stated_cv() -> None:
    base = parse_scenario(GOOD)
    varied = base.model_copy(update={"duration_days": 200, "day_level_cv": 0.15})
    flat = base.model_copy(update={"duration_days": 200})
    for got, ref in zip(lanes(varied), lanes(flat), strict=True):
        days = [
            sum(got.rates[d * 1440 : (d + 1) * 1440]) / sum(ref.rates[d * 1440 : (d + 1) * 1440])
            for d in range(200)
        ]
        mean = sum(days) / len(days)
        cv = (sum((x - mean) ** 2 for x in days) / len(days)) ** 0.5 / mean
        assert abs(mean - 1) < 0.04 and 0.11 < cv < 0.19
        # Constant within a day: the level changes only at the post's local midnight.
        first_day = zip(got.rates[:1440], ref.rates[:1440], strict=True)
        assert len({round(r / q, 9) for r, q in first_day}) == 1
    # The seed draws the levels: the same seed gives the same rates, another seed others.
    assert lanes(varied)[0].rates == lanes(varied)[0].rates
    other = varied.model_copy(update={"seed": varied.seed + 1})
    assert lanes(other)[0].rates != lanes(varied)[0].rates


def test_growth_per_month_compounds_over_thirty_days_and_a_post_can_override_it() -> None:
    base = parse_scenario(GOOD).model_copy(update={"duration_days": 31})
    grown = base.model_copy(update={"growth_per_month": 0.15})
    lane, ref = lanes(grown)[0], lanes(base)[0]
    assert lane.rates[30 * 1440] / ref.rates[30 * 1440] == pytest.approx(1.15, rel=1e-3)
    assert lane.rates[0] == pytest.approx(ref.rates[0])
    post = grown.posts[0].model_copy(update={"growth_per_month": 0.0})
    still = grown.model_copy(update={"posts": [post]})
    assert lanes(still)[0].rates == ref.rates
