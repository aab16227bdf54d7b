"""Thousands of hostile records through the real worker: it survives, and every record is
counted once, recognised as a duplicate, or dead-lettered with its original bytes."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from schemas.countries import COUNTRY_CODES
from schemas.dead_letter import (
    HEADER_ERROR,
    HEADER_ERROR_REASON,
    HEADER_SOURCE_OFFSET,
    HEADER_SOURCE_PARTITION,
    HEADER_SOURCE_TOPIC,
    DeadLetterReason,
)
from schemas.event import CROSSING_ID_PATTERN, MAX_EVENT_BYTES, InvalidEvent, parse_event
from streams.admin import ensure_topics
from streams.windows import HOUR_MS, bucket_start, to_rfc3339
from tests.support import (
    WorkerProcess,
    latest_counts,
    read_topic,
    reference_counts,
    settings_from,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.reliability]

MIN_INPUTS = 10_000
PEAK_RSS_MB = 400  # the worker's resident memory, huge values or not
BATCHES, BATCH_SIZE = 265, 40  # hypothesis caps the choices of one example; many small ones
BUCKET_MS = 300_000
# Every valid event lies in four hours of one day; the closing events come an hour after, so
# the watermark (max event time - 10 min) passes the end of every bucket that holds a count.
WINDOW_START = 1_663_754_400_000  # 2022-09-21T10:00:00Z
WINDOW_END = WINDOW_START + 4 * HOUR_MS
CLOSER_MS = WINDOW_END + HOUR_MS
FUTURE_TOLERANCE_MS = 900_000  # the worker's default future_tolerance_seconds

CROSSINGS = ["vaalimaa", "nuijamaa", "kazbegi-upper-lars", "0", "z" * 63, "post-9-b"]
PAIRS = [("RU", "FI"), ("FI", "RU"), ("RU", "GE"), ("GE", "RU"), ("RU", "KZ"), ("AX", "FI")]
FIELDS = (
    "event_id",
    "crossing_id",
    "occurred_at",
    "from_country",
    "to_country",
    "travellers",
    "mode",
    "nationality",
    "schema_version",
)
SEPARATORS = [(",", ":"), (", ", ": "), (" ,\t", " :\r\n ")]
BAD_UTF8 = [b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xc0\xaf", b"\xf4\x90\x80\x80", b"\xe2\x82"]


# -- what hypothesis draws --------------------------------------------------------------------


@dataclass(frozen=True)
class Raw:
    """A JSON token written as is (numbers json.dumps cannot write, bytes that are not UTF-8)."""

    token: bytes


@dataclass(frozen=True)
class PadTo:
    """An ignored field filled with 'x' until the whole value is exactly `size` bytes."""

    size: int


DROP = object()  # as a change: remove the field


@dataclass(frozen=True)
class Style:
    separators: tuple[str, str] = (",", ":")
    ensure_ascii: bool = True
    order_seed: int = 0
    tz_minutes: int = 0
    utc_suffix: str = "Z"
    fraction: str = ""
    lower_t: bool = False


@dataclass(frozen=True)
class EventSpec:
    """An event built from fields; `changes` (applied after the unique event_id) spoil it."""

    key: bytes | None
    fields: dict[str, Any]
    t_ms: int
    style: Style
    id_prefix: str
    changes: tuple[tuple[str, Any], ...] = ()
    kind: str = "event"


@dataclass(frozen=True)
class DupSpec:
    """Another copy of an earlier valid event (chosen later, by `pick`), possibly rewritten."""

    key: bytes | None
    pick: int
    variant: str
    style: Style
    shift_ms: int


@dataclass(frozen=True)
class RawSpec:
    key: bytes | None
    value: bytes | None
    kind: str


json_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20))
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
crossings = st.one_of(
    st.sampled_from(CROSSINGS),
    st.sampled_from(CROSSINGS),
    st.sampled_from(CROSSINGS),
    st.from_regex(CROSSING_ID_PATTERN, fullmatch=True),
)
pairs = st.one_of(
    st.sampled_from(PAIRS),
    st.sampled_from(PAIRS),
    st.tuples(st.sampled_from(sorted(COUNTRY_CODES)), st.sampled_from(["RU", "FI", "GE"])),
)
keys = st.one_of(
    st.none(), st.just(b""), st.binary(max_size=40), st.sampled_from(CROSSINGS).map(str.encode)
)
styles = st.builds(
    Style,
    separators=st.sampled_from(SEPARATORS),
    ensure_ascii=st.booleans(),
    order_seed=st.integers(0, 2**16),
    tz_minutes=st.sampled_from([0, 0, 180, -300, 330, 840, -720]),
    utc_suffix=st.sampled_from(["Z", "z", "+00:00"]),
    fraction=st.sampled_from(["", "ms", "us"]),
    lower_t=st.booleans(),
)


@st.composite
def valid_events(draw: st.DrawFn) -> EventSpec:
    crossing = draw(crossings)
    src, dst = draw(pairs)
    fields: dict[str, Any] = {
        "crossing_id": crossing,
        "from_country": src,
        "to_country": dst,
        "travellers": draw(st.integers(1, 1000)),
    }
    optional = {
        "mode": st.sampled_from(["pedestrian", "car", "bus", "truck", "train", "other"]),
        "nationality": st.one_of(st.none(), st.sampled_from(["RU", "UA", "FI", "KZ"])),
        "schema_version": st.just(1),
    }
    for name, strategy in optional.items():
        if draw(st.booleans()):
            fields[name] = draw(strategy)
    extras = draw(st.dictionaries(st.text(max_size=8), json_values, max_size=2))
    fields.update({k: v for k, v in extras.items() if k not in FIELDS})
    key = draw(st.one_of(st.just(crossing.encode()), keys))
    return EventSpec(
        key=key,
        fields=fields,
        t_ms=draw(st.integers(WINDOW_START, WINDOW_END - 1)),
        style=draw(styles),
        id_prefix=draw(st.text(max_size=40)),
    )


def spoiled(kind: str, change: st.SearchStrategy[tuple[str, Any]]) -> st.SearchStrategy[EventSpec]:
    return st.builds(
        lambda base, changes: replace(base, changes=tuple(changes), kind=kind),
        valid_events(),
        st.lists(change, min_size=1, max_size=3),
    )


huge_numbers = st.one_of(
    st.integers(-(10**30), 10**30).filter(lambda n: not 1 <= n <= 1000),
    st.integers(1, 20_000).map(lambda n: Raw(b"9" * n)),
    st.sampled_from(
        [b"1e400", b"-1e400", b"1.0", b"3.5", b"-0", b"1E3", b"0x10", b"+3", b"01", b"NaN"]
    ).map(Raw),
    st.sampled_from([True, False, "3", 3.0, None, [3], {"n": 3}]),
)
date_text = st.builds(
    lambda y, mo, d, h, mi, s, sep, frac, tz: (
        f"{y:04d}-{mo:02d}-{d:02d}{sep}{h:02d}:{mi:02d}:{s:02d}{frac}{tz}"
    ),
    st.integers(0, 12_000),
    st.integers(0, 13),
    st.integers(0, 32),
    st.integers(0, 25),
    st.integers(0, 61),
    st.integers(0, 61),
    st.sampled_from(["T", "t", " ", ""]),
    st.sampled_from(["", ".5", ".123456789", "."]),
    st.sampled_from(["Z", "z", "", "+00:00", "+0300", "-23:59", "+24:00", "+03", " UTC"]),
)
wrong_types = st.tuples(st.sampled_from(FIELDS), json_values)
missing_fields = st.tuples(st.sampled_from(FIELDS[:6]), st.just(DROP))
out_of_range = st.one_of(
    st.tuples(st.sampled_from(["travellers", "schema_version"]), huge_numbers),
    st.tuples(st.just("occurred_at"), date_text),
    st.tuples(st.just("occurred_at"), st.integers(0, 2**40)),
)
huge_strings = st.tuples(
    st.sampled_from(["event_id", "crossing_id", "occurred_at", "mode", "notes"]),
    # up to ~70 KB written out, whatever the character costs in JSON
    st.builds(
        lambda c, n: c * (n // (len(json.dumps(c)) - 2)), st.characters(), st.integers(0, 70_000)
    ),
)
invalid_utf8 = st.tuples(
    st.sampled_from(["event_id", "crossing_id", "notes"]),
    st.builds(
        lambda a, bad, b: Raw(b'"' + a + bad + b + b'"'),
        st.binary(max_size=8).map(lambda b: b.replace(b'"', b"").replace(b"\\", b"")),
        st.sampled_from(BAD_UTF8),
        st.text(max_size=8).map(lambda s: json.dumps(s)[1:-1].encode()),
    ),
)
near_the_limit = st.tuples(
    st.just("padding"),
    st.one_of(
        st.sampled_from([MAX_EVENT_BYTES - 1, MAX_EVENT_BYTES, MAX_EVENT_BYTES + 1]),
        st.integers(MAX_EVENT_BYTES - 2000, 70_000),
    ).map(PadTo),
)
surrogate_ids = st.tuples(
    st.just("event_id"), st.sampled_from([Raw(b'"\\ud800"'), Raw(b'"a\\udfff"'), "\ud83d"])
)
nested = st.builds(
    lambda depth, shape: shape(depth),
    st.integers(1, 20_000),
    st.sampled_from(
        [
            lambda d: b"[" * d + b"]" * d,
            lambda d: b'{"a":' * d + b"1" + b"}" * d,
            lambda d: b"[" * d,
            lambda d: b'{"event_id":' + b"[" * d + b"]" * d + b"}",
        ]
    ),
)
nested_fields = st.tuples(
    st.sampled_from(["event_id", "travellers", "notes"]),
    st.integers(1, 300).map(lambda d: Raw(b"[" * d + b"0" + b"]" * d)),
)
duplicates = st.builds(
    DupSpec,
    key=keys,
    pick=st.integers(0, 2**20),
    variant=st.sampled_from(["exact", "exact", "reformat", "shift"]),
    style=styles,
    shift_ms=st.integers(0, BUCKET_MS - 1),
)
random_bytes = st.builds(RawSpec, keys, st.binary(max_size=300), st.just("random bytes"))
# (strategy, weight): hypothesis favours the first and last of a sampled list, so a cheap
# kind sits at both ends, and the big values stay rare enough to keep the test quick.
KINDS: list[tuple[st.SearchStrategy[Any], int]] = [
    (random_bytes, 3),
    (valid_events(), 24),
    (duplicates, 10),
    (st.builds(RawSpec, keys, st.text(max_size=100).map(str.encode), st.just("text")), 2),
    (
        st.builds(
            RawSpec, keys, json_values.map(lambda v: json.dumps(v).encode()), st.just("json")
        ),
        2,
    ),
    (st.builds(RawSpec, keys, nested, st.just("nested")), 2),
    (st.builds(RawSpec, keys, st.sampled_from([b"", b"{}", b"null", b" "]), st.just("empty")), 1),
    (st.builds(RawSpec, keys.filter(lambda k: k is not None), st.none(), st.just("tombstone")), 1),
    (spoiled("wrong type", wrong_types), 5),
    (spoiled("missing field", missing_fields), 2),
    (spoiled("out of range", out_of_range), 6),
    (spoiled("huge string", huge_strings), 1),
    (spoiled("invalid utf-8", invalid_utf8), 3),
    (spoiled("near 64 KiB", near_the_limit), 1),
    (spoiled("surrogate", surrogate_ids), 1),
    (spoiled("nested field", nested_fields), 2),
    (random_bytes, 3),
]
inputs = st.sampled_from([s for s, weight in KINDS for _ in range(weight)]).flatmap(lambda s: s)


def draw_specs() -> list[EventSpec | DupSpec | RawSpec]:
    """Deterministic: the same specs on every run and every machine."""
    drawn: list[EventSpec | DupSpec | RawSpec] = []

    @settings(
        max_examples=BATCHES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(st.lists(inputs, min_size=BATCH_SIZE, max_size=BATCH_SIZE))
    def collect(batch: list[EventSpec | DupSpec | RawSpec]) -> None:
        drawn.extend(batch)

    collect()
    return drawn


# -- from specs to records, and what each record should become ---------------------------------


@dataclass
class Input:
    key: bytes | None
    value: bytes | None
    kind: str
    valid: bool = False
    reason: DeadLetterReason | None = None
    detail: str | None = None  # the exact x-error, where it is predictable
    partition: int = -1
    offset: int = -1


@dataclass
class Plan:
    inputs: list[Input] = field(default_factory=list)
    closers: list[Input] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    parser_crashes: list[tuple[bytes, str]] = field(default_factory=list)


def render_time(t_ms: int, style: Style) -> str:
    utc = datetime.fromtimestamp(t_ms // 1000, tz=UTC)
    local = utc + timedelta(minutes=style.tz_minutes)
    text = local.strftime("%Y-%m-%dT%H:%M:%S")
    if style.lower_t:
        text = text.replace("T", "t")
    ms = t_ms % 1000
    text += {"": "", "ms": f".{ms:03d}", "us": f".{ms:03d}000"}[style.fraction]
    if style.tz_minutes == 0:
        return text + style.utc_suffix
    sign = "+" if style.tz_minutes > 0 else "-"
    hours, minutes = divmod(abs(style.tz_minutes), 60)
    return f"{text}{sign}{hours:02d}:{minutes:02d}"


def render(fields: dict[str, Any], t_ms: int, style: Style, changes=()) -> bytes:
    doc = {**fields, "occurred_at": render_time(t_ms, style)}
    raw: dict[str, bytes] = {}
    pad: PadTo | None = None
    for name, value in changes:
        if value is DROP:
            doc.pop(name, None)
        elif isinstance(value, Raw):
            raw[f"@@raw{len(raw)}@@"] = value.token
            doc[name] = f"@@raw{len(raw) - 1}@@"
        elif isinstance(value, PadTo):
            pad = value
            doc[name] = "@@pad@@"
        else:
            doc[name] = value
    names = list(doc)
    random.Random(style.order_seed).shuffle(names)
    text = json.dumps(
        {n: doc[n] for n in names}, separators=style.separators, ensure_ascii=style.ensure_ascii
    ).encode("utf-8", "surrogatepass")
    for placeholder, token in raw.items():
        text = text.replace(f'"{placeholder}"'.encode(), token)
    if pad is not None:
        filler = max(0, pad.size - (len(text) - len(b'"@@pad@@"')) - 2)
        text = text.replace(b'"@@pad@@"', b'"' + b"x" * filler + b'"')
    return text


def classify(item: Input, plan: Plan, now_ms: int) -> Any:
    """What the ingest agent must do with the record: the parsed event if valid, else None."""
    if item.value is None:
        item.reason = DeadLetterReason.NOT_OBJECT
        return None
    try:
        ev = parse_event(item.value)
    except InvalidEvent as exc:
        item.reason, item.detail = exc.reason, exc.detail
        return None
    except Exception as exc:  # the contract says InvalidEvent only; reported at the end
        plan.parser_crashes.append((item.value[:200], repr(exc)))
        item.reason, item.detail = DeadLetterReason.INVALID_FIELD, "internal error while validating"
        return None
    if ev.event_time_ms > now_ms + FUTURE_TOLERANCE_MS:
        item.reason = DeadLetterReason.FUTURE_EVENT
        return None
    item.valid = True
    return ev


MEGABYTE = 1024 * 1024


def megabyte_values(seed: int = 8) -> list[RawSpec]:
    """Values of 1 MiB (the size the events topic is configured to take, and more than the
    broker's default): random bytes, a valid event with a huge field, deep nesting, no key."""
    rng = random.Random(seed)
    event = render(
        {
            "event_id": "big",
            "crossing_id": "vaalimaa",
            "from_country": "RU",
            "to_country": "FI",
            "travellers": 1,
        },
        WINDOW_START,
        Style(),
        (("notes", PadTo(MEGABYTE)),),
    )
    shapes = [
        (b"vaalimaa", rng.randbytes(MEGABYTE)),
        (b"vaalimaa", event),
        (None, b"[" * MEGABYTE),
        (None, b'"' + b"\\u00e9" * (MEGABYTE // 6 + 1) + b'"'),
        (b"x" * 1000, b"\xff" * MEGABYTE),
    ]
    return [RawSpec(key, value, "1 MiB value") for key, value in shapes for _ in range(4)]


def with_megabytes(specs: list[EventSpec | DupSpec | RawSpec]) -> list[Any]:
    """The drawn specs with the 1 MiB values spread evenly among them."""
    big = megabyte_values()
    out: list[Any] = list(specs)
    step = len(out) // (len(big) + 1)
    for i, spec in enumerate(big):
        out.insert((i + 1) * step + i, spec)
    return out


def build_plan(specs: list[EventSpec | DupSpec | RawSpec], now_ms: int) -> Plan:
    plan = Plan()
    originals: list[tuple[dict[str, Any], int, bytes]] = []  # valid events: fields, time, bytes
    seen: dict[tuple[str, str], tuple[Any, int, int]] = {}
    for seq, spec in enumerate(specs):
        if isinstance(spec, RawSpec):
            item = Input(spec.key, spec.value, spec.kind)
        elif isinstance(spec, EventSpec):
            fields = {"event_id": f"{spec.id_prefix}~{seq}", **spec.fields}
            value = render(fields, spec.t_ms, spec.style, spec.changes)
            item = Input(spec.key, value, spec.kind)
        else:
            if not originals:
                continue
            fields, t_ms, value = originals[spec.pick % len(originals)]
            if spec.variant == "shift":  # another time in the same bucket
                t_ms = bucket_start(t_ms, BUCKET_MS) + spec.shift_ms
            if spec.variant != "exact":
                value = render(fields, t_ms, spec.style)
            item = Input(spec.key, value, f"duplicate ({spec.variant})")
        ev = classify(item, plan, now_ms)
        if ev is not None:
            if not WINDOW_START <= ev.event_time_ms < WINDOW_END:
                # A valid time outside the window (a fuzzed date that parses) would move the
                # watermark; far past ones hit the history horizon. Not what this test is about.
                plan.skipped["valid, outside the window"] += 1
                continue
            ident = (ev.crossing_id, ev.event_id)
            what = (
                (ev.from_country, ev.to_country),
                bucket_start(ev.event_time_ms, BUCKET_MS),
                ev.travellers,
            )
            if seen.setdefault(ident, what) != what:
                # One id, two events differing in direction, bucket or travellers: which one
                # counts depends on the order they reach the counter, not the send order, so
                # there is no single expected bucket. (The resend into another bucket has its
                # own test in test_dedupe_restart.py.)
                plan.skipped["conflicting duplicate"] += 1
                continue
            if isinstance(spec, EventSpec) and not spec.changes:
                originals.append((fields, spec.t_ms, value))
        plan.inputs.append(item)
    counted = sorted({parse_event(i.value).crossing_id for i in plan.inputs if i.valid})
    for crossing in counted:
        value = render(
            {
                "event_id": f"closer-{crossing}",
                "crossing_id": crossing,
                "from_country": "RU",
                "to_country": "FI",
                "travellers": 1,
            },
            CLOSER_MS,
            Style(),
        )
        plan.closers.append(Input(crossing.encode(), value, "closer", valid=True))
    return plan


async def topic_sizes(bootstrap: str, topics: list[str]) -> list[int]:
    """How many records each topic holds (end offsets: nothing is deleted in a test)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        sizes = []
        for topic in topics:
            parts = consumer.partitions_for_topic(topic) or set()
            if not parts:
                await consumer._client.force_metadata_update()
                parts = consumer.partitions_for_topic(topic) or set()
            ends = await consumer.end_offsets([TopicPartition(topic, p) for p in parts])
            sizes.append(sum(ends.values()))
        return sizes
    finally:
        await consumer.stop()


async def send_all(bootstrap: str, topic: str, items: list[Input]) -> None:
    """Send in order, remembering where each record landed (the DLQ points back there)."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        max_request_size=2_000_000,
    )
    await producer.start()
    try:
        futures = [await producer.send(topic, i.value, key=i.key) for i in items]
        for item, meta in zip(items, await asyncio.gather(*futures), strict=True):
            item.partition, item.offset = meta.partition, meta.offset
    finally:
        await producer.stop()


# -- the test ----------------------------------------------------------------------------------


def test_hostile_inputs_are_counted_once_or_dead_lettered_with_their_bytes(
    service_env: dict[str, str], tmp_path
) -> None:
    plan = build_plan(with_megabytes(draw_specs()), now_ms=int(time.time() * 1000))
    kinds = Counter(i.kind for i in plan.inputs)
    assert len(plan.inputs) >= MIN_INPUTS, (len(plan.inputs), plan.skipped)
    invalid = [i for i in plan.inputs if not i.valid]
    valid = [i for i in plan.inputs if i.valid]
    assert len(valid) > 1000 and len(invalid) > 1000, kinds
    assert sum(1 for i in plan.inputs if i.kind.startswith("duplicate")) > 300, kinds
    assert any(i.value is not None and len(i.value) > MAX_EVENT_BYTES for i in invalid)
    assert kinds["1 MiB value"] == 20 and all(
        len(i.value or b"") >= MEGABYTE for i in plan.inputs if i.kind == "1 MiB value"
    )
    reference = reference_counts(i.value for i in valid if i.value is not None)

    settings = settings_from(service_env)
    bootstrap = settings.bootstrap_servers
    keyed_topic = settings.topic("events.by-crossing")
    asyncio.run(ensure_topics(settings))
    worker = WorkerProcess(service_env, tmp_path / "worker.log").start()
    try:
        worker.wait_ready()
        asyncio.run(send_all(bootstrap, settings.events_topic, plan.inputs))

        def alive() -> None:
            assert worker.proc is not None
            if worker.proc.poll() is not None:
                raise AssertionError(
                    f"the worker died ({worker.proc.returncode}):\n{worker.tail()}"
                )

        def ingested() -> bool:
            alive()
            sizes = asyncio.run(topic_sizes(bootstrap, [settings.dlq_topic, keyed_topic]))
            return sum(sizes) >= len(plan.inputs)

        wait_until(ingested, 90, interval=1, message=f"ingest incomplete\n{worker.tail()}")
        dead = asyncio.run(read_topic(bootstrap, settings.dlq_topic))
        forwarded = asyncio.run(read_topic(bootstrap, keyed_topic))

        # Dead letters: exactly the invalid inputs, each with its own bytes, key and reason.
        by_position = {(i.partition, i.offset): i for i in plan.inputs}
        wrong: list[str] = []
        positions: set[tuple[int, int]] = set()
        for d in dead:
            h = d.headers
            if HEADER_SOURCE_PARTITION not in h or HEADER_SOURCE_OFFSET not in h:
                wrong.append(f"dead letter without its source: {h}")
                continue
            pos = (int(h[HEADER_SOURCE_PARTITION]), int(h[HEADER_SOURCE_OFFSET]))
            positions.add(pos)
            item = by_position.get(pos)
            if item is None or item.valid:
                wrong.append(f"{pos} dead-lettered but valid: {item}")
                continue
            if (d.value, d.key) != (item.value, item.key):
                wrong.append(f"{pos} ({item.kind}): bytes or key changed")
            if h.get(HEADER_SOURCE_TOPIC) != settings.events_topic.encode():
                wrong.append(f"{pos}: x-source-topic {h.get(HEADER_SOURCE_TOPIC)!r}")
            if not h.get(HEADER_ERROR) or h.get(HEADER_ERROR_REASON) != item.reason.encode():
                wrong.append(
                    f"{pos} ({item.kind}): {h.get(HEADER_ERROR_REASON)!r} != {item.reason}"
                )
            elif item.detail is not None and h[HEADER_ERROR] != item.detail.encode(
                "utf-8", "replace"
            ):
                wrong.append(f"{pos} ({item.kind}): x-error {h[HEADER_ERROR][:200]!r}")
        assert wrong == [], f"{len(wrong)} bad dead letters, e.g. {wrong[:5]}"
        assert positions == {(i.partition, i.offset) for i in invalid}
        # Forwarded: every valid input (duplicates too; counting dedupes), keyed by its crossing.
        assert Counter(f.value for f in forwarded) == Counter(i.value for i in valid)
        assert all(f.key == parse_event(f.value).crossing_id.encode() for f in forwarded)

        # Everything is in the keyed topic now, so the closers come after it in every partition.
        asyncio.run(send_all(bootstrap, settings.events_topic, plan.closers))
        published: dict[tuple[str, str, str, str], int] = {}

        def counted() -> bool:
            nonlocal published
            alive()
            latest = latest_counts(asyncio.run(read_topic(bootstrap, settings.counts_topic)))
            published = {k: c["travellers"] for k, c in latest.items() if c["travellers"]}
            return published == dict(reference)

        try:
            wait_until(counted, 60, interval=1)
        except AssertionError:
            diff = {
                k: (published.get(k), reference.get(k))
                for k in set(published) | set(reference)
                if published.get(k) != reference.get(k)
            }
            raise AssertionError(
                f"{len(diff)} buckets (published, expected) differ, e.g. {list(diff.items())[:5]}"
                f"\n{worker.tail()}"
            ) from None
        assert sum(published.values()) == sum(reference.values())
        assert all(k[3] < to_rfc3339(WINDOW_END) for k in published)
        alive()
        # 20 MiB of huge values went through; the worker did not keep them (see fastpath).
        assert worker.proc is not None
        status = Path(f"/proc/{worker.proc.pid}/status").read_text()
        peak_mb = int(status.split("VmHWM:")[1].split()[0]) // 1024
        print(f"{len(plan.inputs)} inputs; worker peak resident memory {peak_mb} MiB")
        assert peak_mb < PEAK_RSS_MB, f"worker peaked at {peak_mb} MiB"
    finally:
        worker.stop()
    assert plan.parser_crashes == [], (
        f"parse_event raised something other than InvalidEvent: {plan.parser_crashes[:3]}"
    )
