"""From hostile specs (tests/hostile_specs.py) to records, and what each record must become:
counted, a duplicate, or a dead letter with a known reason."""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from schemas.dead_letter import DeadLetterReason
from schemas.event import InvalidEvent, parse_event
from streams.count.windows import bucket_start
from tests.hostile_specs import (
    BUCKET_MS,
    CLOSER_MS,
    DROP,
    FUTURE_TOLERANCE_MS,
    WINDOW_END,
    WINDOW_START,
    DupSpec,
    EventSpec,
    PadTo,
    Raw,
    RawSpec,
    Style,
)


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
