"""Detection end to end on simulated scenarios, through the offline harness (no Kafka).

The 2022 scenario is the issue's acceptance run. The two scenarios written here have volumes,
daily and weekly rhythms and surge shapes the detector was not tuned on, and a post that grows
15% in a month. Every message goes through parse_event, PartitionCounter and DetectPartition as
in the service; the truth comes from the scenario's own rates (see streams/detect/offline.py).
"""

from __future__ import annotations

from datetime import datetime

import pytest

from streams.detect import Severity, Status, Thresholds
from streams.detect.offline import run_scenario
from streams.detect.outcome import OfflineResult
from streams.detect.truth import Truth, detection_limit
from streams.simulate import parse_scenario

MINUTE_MS = 60_000
HOUR_MS = 3_600_000


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def _alerted(result: OfflineResult) -> set[str]:
    return {a.transition.subject for a in result.firings()}


def _resolved_at(result: OfflineResult, subject: str) -> list[int]:
    return [
        a.transition.window_end_ms
        for a in result.alerts
        if a.transition.subject == subject and a.transition.status is Status.RESOLVED
    ]


# -- the 2022 scenario ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def run_2022() -> OfflineResult:
    return run_scenario("mobilization-2022")


def test_2022_no_alert_on_unchanged_directions_nor_before_the_announcement(
    run_2022: OfflineResult,
) -> None:
    surging_borders = {"RU-GE", "RU-FI", "RU-KZ"}
    first_onset = _ms("2022-09-21T09:00:00+00:00")  # Kazakhstan; the others at 12:00
    assert run_2022.firings()
    for a in run_2022.firings():
        t = a.transition
        assert t.subject.rsplit(":", 1)[-1] in surging_borders, t
        assert t.window_end_ms > first_onset, t
    assert run_2022.false_alerts == []
    assert run_2022.invalid > 0 and run_2022.duplicates > 0  # the faults went through too


def test_2022_georgia_is_critical_finland_alerts_and_kazakhstan_is_critical(
    run_2022: OfflineResult,
) -> None:
    assert run_2022.outcome("kazbegi-upper-lars:RU-GE").first_critical is not None
    finland = run_2022.outcome("RU-FI")  # every post shares the rise: the border sees it best
    assert finland.first_alert is not None
    assert run_2022.outcome("RU-KZ").first_critical is not None
    # The surges last to the end: one episode each, never resolved, on posts and borders alike.
    for o in run_2022.outcomes:
        assert o.alert_required and o.first_alert is not None, o.subject
        assert len(run_2022.firings(o.subject)) == 1, o.subject
        assert _resolved_at(run_2022, o.subject) == [], o.subject


def test_2022_borders_and_the_georgian_post_alert_within_four_and_a_half_hours(
    run_2022: OfflineResult,
) -> None:
    # Measured with this seed: RU-KZ +254 min, kazbegi/RU-GE +260, RU-FI +225 (before this
    # detector: +619, +490, never). The issue asks for 60 minutes; what limits it is the
    # evidence the counts hold, not a rule: see docs/detection.md, "Detection delay".
    for subject in ("kazbegi-upper-lars:RU-GE", "RU-GE", "RU-FI", "RU-KZ"):
        delay = run_2022.outcome(subject).delay_ms
        assert delay is not None and delay <= 270 * MINUTE_MS, (subject, delay)


def test_the_ideal_detector_is_late_for_georgia_at_one_in_a_million_and_sooner_when_looser(
    run_2022: OfflineResult,
) -> None:
    # The harness's "ideal" column: what any detector held to the same level could do at best.
    georgia = run_2022.outcome("RU-GE")
    assert georgia.limit_delay_ms is not None and georgia.warning_at_ms is not None
    assert georgia.limit_delay_ms > 60 * MINUTE_MS  # the hour is beyond reach at 1e-6
    truth = Truth(run_2022.scenario)
    warn = (georgia.warning_at_ms - _ms("2022-08-31T00:00:00+00:00")) // MINUTE_MS
    strict = detection_limit(truth, "RU-GE", warn, Thresholds(), 3)
    loose = detection_limit(truth, "RU-GE", warn, Thresholds(max_p_value=1e-4), 3)
    more_weeks = detection_limit(truth, "RU-GE", warn, Thresholds(), 4)
    assert strict is not None and loose is not None and more_weeks is not None
    assert loose < strict and more_weeks <= strict
    # Never before the rolling hour can show 1.5: half an hour behind the instantaneous rate.
    assert loose - warn >= 30
    # A subject no surge touches never becomes detectable.
    assert detection_limit(truth, "narva:RU-EE", warn, Thresholds(max_p_value=1e-3), 3) is None
    # The real detector is behind the ideal, never ahead of it on the borders.
    for subject in ("RU-GE", "RU-KZ", "RU-FI"):
        o = run_2022.outcome(subject)
        assert o.delay_ms is not None and o.limit_delay_ms is not None
        assert o.delay_ms >= o.limit_delay_ms, subject


# -- unseen 1: a commuter border --------------------------------------------------------------

COMMUTERS = """
name = "oder-commuters"
start = 2023-05-01T00:00:00Z
duration_days = 24
seed = 7
# Weekday peaks at 06:00 and 16:00 local, quiet weekends: the 2022 rhythm upside down.
hour_profile = [1, 1, 1, 1, 2, 6, 10, 9, 5, 4, 4, 4, 4, 4, 5, 8, 10, 8, 5, 3, 2, 2, 1, 1]
weekday_profile = [1.2, 1.2, 1.2, 1.2, 1.1, 0.6, 0.5]
nationalities = { from = 0.6, to = 0.35, UA = 0.05 }
groups = [
  { mode = "pedestrian", weight = 0.3, min_size = 1, max_size = 1 },
  { mode = "car", weight = 0.66, min_size = 1, max_size = 3 },
  { mode = "bus", weight = 0.04, min_size = 10, max_size = 30 },
]

[[posts]]
crossing_id = "frankfurt-slubice"
utc_offset_hours = 2
directions = [
  { from_country = "DE", to_country = "PL", daily_volume = 6000 },
  { from_country = "PL", to_country = "DE", daily_volume = 6000 },
]

[[posts]]
crossing_id = "guben-gubin"
utc_offset_hours = 2
directions = [
  { from_country = "DE", to_country = "PL", daily_volume = 1500 },
  { from_country = "PL", to_country = "DE", daily_volume = 1500 },
]

[[posts]]
crossing_id = "zittau"
utc_offset_hours = 2
directions = [{ from_country = "PL", to_country = "DE", daily_volume = 300 }]

[[surges]]
name = "slow-growth"  # +15% over 30 days, the last 24 of them in the scenario: not a surge
onset = 2023-04-25T00:00:00Z
ramp_hours = 720
factor = 1.15
crossings = ["frankfurt-slubice"]
from_country = "DE"
to_country = "PL"

[[surges]]
name = "gubin-step"  # x3 from Tuesday noon (local) for 8 hours, back within one more
onset = 2023-05-23T10:00:00Z
factor = 3.0
duration_hours = 8
decay_hours = 1
crossings = ["guben-gubin"]
from_country = "PL"
to_country = "DE"
"""


@pytest.fixture(scope="module")
def commuters() -> OfflineResult:
    return run_scenario(parse_scenario(COMMUTERS))


def test_a_step_to_three_times_at_a_small_post_is_critical_within_the_hour_and_a_quarter(
    commuters: OfflineResult,
) -> None:
    gubin = commuters.outcome("guben-gubin:PL-DE")  # 1,600 a day, ~40 groups an hour at noon
    assert gubin.first_critical is not None
    assert gubin.delay_ms is not None and gubin.delay_ms <= 75 * MINUTE_MS  # 65 here, 35-60 others
    assert len(commuters.firings("guben-gubin:PL-DE")) == 1
    # A step is the easy case, within the hour even for the ideal detector (45 min here: the
    # hour shows 1.5 after 15 min, 1e-6 takes ~40 groups where 20 are due), and we follow it.
    ideal = gubin.limit_delay_ms
    assert ideal is not None and 15 * MINUTE_MS <= ideal <= 60 * MINUTE_MS
    assert ideal <= gubin.delay_ms
    end = _ms("2023-05-23T19:00:00+00:00")  # the step is over
    resolved = _resolved_at(commuters, "guben-gubin:PL-DE")
    assert len(resolved) == 1 and end < resolved[0] <= end + 12 * HOUR_MS


def test_a_post_growing_fifteen_percent_in_a_month_never_alerts(commuters: OfflineResult) -> None:
    assert commuters.outcome("frankfurt-slubice:DE-PL").peak_ratio > 1.1
    # The border the step is on (true x1.38 at most) may alert; nothing else may.
    assert _alerted(commuters) <= {"guben-gubin:PL-DE", "PL-DE"}
    assert commuters.false_alerts == []


# -- unseen 2: a round-the-clock border with busy weekends ------------------------------------

RIO_GRANDE = """
name = "rio-grande"
start = 2024-02-02T00:00:00Z
duration_days = 26
seed = 11
# Open all night (nights at 4/7 of the day), weekends half as busy again as weekdays.
hour_profile = [4, 4, 4, 4, 4, 5, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 6, 6, 5, 5, 4, 4]
weekday_profile = [0.8, 0.8, 0.8, 0.9, 1.2, 1.5, 1.4]
nationalities = { from = 0.7, to = 0.25, GT = 0.05 }
groups = [
  { mode = "pedestrian", weight = 0.2, min_size = 1, max_size = 1 },
  { mode = "car", weight = 0.75, min_size = 1, max_size = 5 },
  { mode = "bus", weight = 0.05, min_size = 20, max_size = 45 },
]

[[posts]]
crossing_id = "laredo"
utc_offset_hours = -6
directions = [
  { from_country = "MX", to_country = "US", daily_volume = 5000 },
  { from_country = "US", to_country = "MX", daily_volume = 4000 },
]

[[posts]]
crossing_id = "eagle-pass"
utc_offset_hours = -6
directions = [
  { from_country = "MX", to_country = "US", daily_volume = 1200 },
  { from_country = "US", to_country = "MX", daily_volume = 1000 },
]

[[posts]]
crossing_id = "presidio"
utc_offset_hours = -6
directions = [{ from_country = "MX", to_country = "US", daily_volume = 150 }]

[[surges]]
name = "northbound-night-ramp"  # from local midnight to x3 in 6 hours, a day, 12 hours back
onset = 2024-02-24T06:00:00Z
ramp_hours = 6
factor = 3.0
duration_hours = 30
decay_hours = 12
crossings = ["laredo"]
from_country = "MX"
to_country = "US"

[[surges]]
name = "southbound-spike"  # x2.5 for three hours on a Tuesday afternoon
onset = 2024-02-20T20:00:00Z
factor = 2.5
duration_hours = 3
crossings = ["laredo"]
from_country = "US"
to_country = "MX"
"""


@pytest.fixture(scope="module")
def rio_grande() -> OfflineResult:
    return run_scenario(parse_scenario(RIO_GRANDE))


def test_a_ramp_starting_at_midnight_is_caught_at_the_post_and_its_border(
    rio_grande: OfflineResult,
) -> None:
    post, border = rio_grande.outcome("laredo:MX-US"), rio_grande.outcome("MX-US")
    assert post.first_critical is not None and border.first_alert is not None
    for o in (post, border):
        # 35 and 31 minutes here; 35-140 over twelve other seeds (the evidence at night).
        assert o.delay_ms is not None and o.delay_ms <= 3 * HOUR_MS, o.subject
        assert len(rio_grande.firings(o.subject)) == 1, o.subject


def test_a_three_hour_spike_alerts_within_ninety_minutes_then_resolves(
    rio_grande: OfflineResult,
) -> None:
    spike = rio_grande.outcome("laredo:US-MX")
    assert spike.first_alert is not None
    assert spike.delay_ms is not None and spike.delay_ms <= 90 * MINUTE_MS  # 55 here, 40-85 others
    end = _ms("2024-02-20T23:00:00+00:00")
    resolved = _resolved_at(rio_grande, "laredo:US-MX")
    assert len(resolved) == 1 and end < resolved[0] <= end + 12 * HOUR_MS
    assert spike.first_alert.transition.severity in (Severity.WARNING, Severity.CRITICAL)


def test_small_and_unchanged_posts_on_the_round_the_clock_border_stay_quiet(
    rio_grande: OfflineResult,
) -> None:
    assert _alerted(rio_grande) <= {"laredo:MX-US", "MX-US", "laredo:US-MX", "US-MX"}
    assert rio_grande.false_alerts == []
