"""emit without a broker: which lines are sent, keyed how, and how bad lines are reported."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.event import InvalidEvent, event_to_json, parse_event
from streams.cli import commands as cli
from streams.cli import emit as emit_module
from streams.cli.emit import emit_file, emit_lines
from streams.settings import Settings
from tests.fakes import RecordingProducer
from tests.samples import event_line as line


@pytest.fixture
def producer(monkeypatch: pytest.MonkeyPatch) -> type[RecordingProducer]:
    return RecordingProducer.install(monkeypatch, emit_module)


SETTINGS = Settings(topic_prefix="unit")


def reason_of(raw: bytes) -> str:
    try:
        parse_event(raw)
    except InvalidEvent as exc:
        return f"{exc.reason.value}: {exc.detail}"
    raise AssertionError("valid")


async def test_lines_are_numbered_from_1_counting_blank_lines_and_crlf(
    producer: type[RecordingProducer], tmp_path: Path
) -> None:
    bad_json, zero = b'{"event_id": "x",', line("b", travellers=0)
    path = tmp_path / "e.jsonl"
    path.write_bytes(
        line("a") + b"\r\n" + b"\n" + bad_json + b"\r\n   \n" + zero + b"\n" + line("c", "imatra")
    )

    report = await emit_file(SETTINGS, path)

    assert report.errors == [(3, reason_of(bad_json)), (5, reason_of(zero))]
    assert report.sent == 2
    [fake] = producer.instances
    assert [(t, k) for t, _, k in fake.sent] == [
        ("unit.events", b"vaalimaa"),
        ("unit.events", b"imatra"),
    ]
    assert fake.started and fake.flushed and fake.stopped
    assert fake.config["acks"] == "all" and fake.config["enable_idempotence"] is True


async def test_sends_the_canonical_event_keyed_by_its_crossing_not_the_raw_line(
    producer: type[RecordingProducer],
) -> None:
    raw = line("a", "kazbegi-upper-lars", occurred_at="2022-09-21T13:05:00+03:00", extra=[1, 2])

    report = await emit_lines(SETTINGS, [raw])

    assert report.sent == 1 and report.errors == []
    [(topic, value, key)] = producer.instances[0].sent
    assert (topic, key) == ("unit.events", b"kazbegi-upper-lars")
    assert value == event_to_json(parse_event(raw))
    assert parse_event(value) == parse_event(raw)
    assert b"extra" not in value and b"2022-09-21T10:05:00Z" in value


async def test_a_file_with_only_bad_lines_still_closes_the_producer(
    producer: type[RecordingProducer],
) -> None:
    report = await emit_lines(SETTINGS, [b"nope", b"\xff\xfe", line("x", travellers=1001)])
    assert [n for n, _ in report.errors] == [1, 2, 3] and report.sent == 0
    [fake] = producer.instances
    assert fake.sent == [] and fake.stopped


async def test_a_line_the_broker_refuses_is_reported_and_not_counted_as_sent(
    producer: type[RecordingProducer], monkeypatch: pytest.MonkeyPatch
) -> None:
    from aiokafka.errors import MessageSizeTooLargeError

    accept = RecordingProducer.send

    async def refuse_b(self: RecordingProducer, topic: str, value: bytes, key: bytes | None = None):
        if b'"b"' not in value:
            return await accept(self, topic, value, key)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.set_exception(MessageSizeTooLargeError())
        return future

    monkeypatch.setattr(RecordingProducer, "send", refuse_b)
    report = await emit_lines(SETTINGS, [line("a"), line("b"), b"bad", line("c")])
    assert report.sent == 2
    assert [n for n, _ in report.errors] == [2, 3]
    assert report.errors[0][1].startswith("not sent")


valid_lines = st.builds(
    lambda i, crossing, travellers: line(f"p-{i}", crossing, travellers=travellers),
    st.integers(0, 10**6),
    st.sampled_from(["vaalimaa", "nuijamaa", "0"]),
    st.integers(-1, 1001),  # 0, -1 and 1001 are out of range
)
garbage_lines = st.binary(max_size=60).map(lambda b: b.replace(b"\n", b"").replace(b"\r", b""))
blank_lines = st.sampled_from([b"", b" ", b"\t", b"  \t "])


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(
    lines=st.lists(st.one_of(valid_lines, garbage_lines, blank_lines), max_size=30),
    newline=st.sampled_from([b"\n", b"\r\n"]),
)
def test_every_non_blank_line_is_sent_or_reported_by_its_number(
    lines: list[bytes], newline: bytes, tmp_path_factory: pytest.TempPathFactory
) -> None:
    expected_sent, expected_errors = [], []
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            ev = parse_event(raw)
        except InvalidEvent:
            expected_errors.append((number, reason_of(raw)))
            continue
        expected_sent.append(("unit.events", event_to_json(ev), ev.crossing_id.encode()))
    path = tmp_path_factory.mktemp("emit") / "e.jsonl"
    path.write_bytes(newline.join(lines))

    with pytest.MonkeyPatch.context() as mp:
        RecordingProducer.instances = []
        mp.setattr(emit_module, "AIOKafkaProducer", RecordingProducer)
        report = asyncio.run(emit_file(SETTINGS, path))

    assert report.errors == expected_errors
    assert report.sent == len(expected_sent)
    assert RecordingProducer.instances[0].sent == expected_sent


def test_cli_names_file_and_line_of_each_bad_line_and_exits_1(
    producer: type[RecordingProducer],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BORDER_SURGE_TOPIC_PREFIX", "unit")
    path = tmp_path / "e.jsonl"
    path.write_bytes(line("a") + b"\n{\n" + line("b") + b"\n")

    code = cli.main(["emit", str(path)])

    out, err = capsys.readouterr()
    assert code == 1
    assert err.splitlines() == [f"{path}:2: {reason_of(b'{')}"]
    assert out.splitlines() == ["sent 2 events, rejected 1 lines"]


def test_cli_exits_0_when_every_line_is_good(
    producer: type[RecordingProducer], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "e.jsonl"
    path.write_bytes(line("a") + b"\n")
    assert cli.main(["emit", str(path)]) == 0
    assert capsys.readouterr().err == ""


async def test_a_carriage_return_inside_a_line_does_not_split_it(
    producer: type[RecordingProducer], tmp_path: Path
) -> None:
    path = tmp_path / "e.jsonl"
    path.write_bytes(line("a").replace(b", ", b",\r") + b"\n" + b"bad\n")
    report = await emit_file(SETTINGS, path)
    assert report.sent == 1
    assert [n for n, _ in report.errors] == [2]
