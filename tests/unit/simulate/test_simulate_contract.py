"""The service's own parser accepts every simulated event and rejects every malformed one."""

from functools import cache

import pytest

from schemas.event import InvalidEvent, parse_event
from streams.simulate import SimMessage, generate, load_scenario


@cache
def messages() -> tuple[SimMessage, ...]:
    return tuple(generate(load_scenario("small")))


def test_service_parser_accepts_every_simulated_event() -> None:
    for m in messages():
        if m.kind != "malformed":
            event = parse_event(m.value)
            assert event.event_time_ms == m.event_time_ms
            assert event.travellers == m.travellers
            assert event.crossing_id == m.crossing_id


def test_service_parser_rejects_every_malformed_message() -> None:
    malformed = [m for m in messages() if m.kind == "malformed"]
    assert malformed
    for m in malformed:
        with pytest.raises(InvalidEvent):
            parse_event(m.value)
