"""The sender against a stand-in producer: what it sends, counts, reports and how it paces."""

from collections import Counter

import pytest

from streams.simulate import SimMessage, generate, load_scenario
from streams.simulate import sender as sender_module
from streams.simulate.sender import SendProgress, send_scenario
from tests.fakes import RecordingProducer


@pytest.fixture
def producer(monkeypatch: pytest.MonkeyPatch) -> type[RecordingProducer]:
    return RecordingProducer.install(monkeypatch, sender_module)


def small_messages() -> list[SimMessage]:
    return list(generate(load_scenario("small")))


async def test_replay_sends_everything_in_order_and_counts_kinds(
    producer: type[RecordingProducer],
) -> None:
    messages = small_messages()
    stats = await send_scenario("127.0.0.1:9092", "t", messages, mode="replay")
    (fake,) = producer.instances
    assert [(v, k) for _, v, k in fake.sent] == [(m.value, m.key) for m in messages]
    assert fake.started and fake.flushed and fake.stopped
    assert fake.config["acks"] == "all" and fake.config["enable_idempotence"] is True
    assert stats.counts == Counter(m.kind for m in messages)
    assert stats.sent == len(messages)


async def test_travellers_count_only_events_and_late_ones(
    producer: type[RecordingProducer],
) -> None:
    messages = small_messages()
    stats = await send_scenario("127.0.0.1:9092", "t", iter(messages), mode="replay")
    expected: Counter[tuple[str, str, str]] = Counter()
    for m in messages:
        if m.kind in ("event", "late"):
            expected[(m.crossing_id, m.from_country, m.to_country)] += m.travellers
    assert dict(stats.travellers) == dict(expected)


async def test_progress_reports_the_total_of_a_list(producer: type[RecordingProducer]) -> None:
    messages = small_messages()
    reports: list[SendProgress] = []
    await send_scenario("127.0.0.1:9092", "t", messages, mode="replay", progress=reports.append)
    last = reports[-1]
    assert (last.sent, last.total) == (len(messages), len(messages))
    assert last.event_time is not None
    assert last.event_time.timestamp() * 1000 == max(m.event_time_ms for m in messages)


async def test_progress_total_is_unknown_for_a_generator(producer: type[RecordingProducer]) -> None:
    reports: list[SendProgress] = []
    messages = generate(load_scenario("small"))
    await send_scenario("127.0.0.1:9092", "t", messages, mode="replay", progress=reports.append)
    assert reports[-1].total is None


async def test_live_paces_event_time_at_the_given_speed(producer: type[RecordingProducer]) -> None:
    messages = [m for m in small_messages() if m.kind == "event"][:40]
    span_s = (messages[-1].event_time_ms - messages[0].event_time_ms) / 1000
    speed = span_s / 0.6  # the whole span in 0.6 s of wall time
    reports: list[SendProgress] = []
    stats = await send_scenario(
        "127.0.0.1:9092", "t", messages, mode="live", speed=speed, progress=reports.append
    )
    sent_at = producer.instances[0].sent_at
    for m, at in zip(messages, sent_at, strict=True):
        due = (m.event_time_ms - messages[0].event_time_ms) / 1000 / speed
        assert at - sent_at[0] >= due - 0.01
    assert 0.55 < stats.elapsed_s < 2.0
    assert len(reports) >= 2  # one while waiting, one at the end


@pytest.mark.parametrize(("mode", "speed"), [("fast", 1.0), ("live", 0.0)])
async def test_bad_mode_or_speed_is_refused(
    producer: type[RecordingProducer], mode: str, speed: float
) -> None:
    with pytest.raises(ValueError):
        await send_scenario("127.0.0.1:9092", "t", [], mode=mode, speed=speed)  # type: ignore[arg-type]
    assert producer.instances == []
