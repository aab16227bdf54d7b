"""Hostile inputs for the worker, as hypothesis draws them: valid events in many spellings,
duplicates, and records spoiled in every way the contract names (tests/reliability/
test_hostile_input.py sends them). Specs only; tests/hostile_plan.py turns them into records."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from schemas.countries import COUNTRY_CODES
from schemas.event import CROSSING_ID_PATTERN, MAX_EVENT_BYTES, BorderEvent
from streams.count.windows import HOUR_MS

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
FIELDS = tuple(BorderEvent.model_fields)  # the first six are required
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
