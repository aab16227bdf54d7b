"""Reads the alerts topic and shows it: one readable line per alert, raw JSON, or a summary."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Self, TextIO

from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import ValidationError

from schemas.alert import Alert
from streams.errors import BorderSurgeError
from streams.kafka.clients import client_kwargs
from streams.settings import Settings

logger = logging.getLogger(__name__)

RED, YELLOW, GREEN, RESET = "\x1b[31m", "\x1b[33m", "\x1b[32m", "\x1b[0m"
ARROW, TIMES, NBSP = "\u2192", "\u00d7", "\u00a0"  # "RU→GE", "x2.13", no-break space
SEVERITY_RANK = {"warning": 1, "critical": 2}
Subject = tuple[str | None, str, str]
"""(crossing_id, or None for the whole border; from_country; to_country)."""
# Polls without a record before read_available() gives up on reaching the end offsets: a safety
# net, since a transaction marker at the very end may never come back as a record.
_MAX_EMPTY_POLLS = 5


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """One record of the alerts topic: the validated alert (JSON form), or why it is invalid."""

    partition: int
    offset: int
    raw: bytes | None
    alert: dict[str, Any] | None
    error: str | None = None


def decode_alert(partition: int, offset: int, raw: bytes | None) -> AlertRecord:
    """Validate a record value against the Alert contract; never raises."""
    if raw is None:
        return AlertRecord(partition, offset, raw, None, "the record has no value (a tombstone)")
    try:
        alert = Alert.model_validate_json(raw)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        first = errors[0]
        where = ".".join(str(part) for part in first["loc"]) or "value"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        return AlertRecord(partition, offset, raw, None, f"{where}: {first['msg']}{more}")
    return AlertRecord(partition, offset, raw, alert.model_dump(mode="json"))


def pair_label(record: dict[str, Any]) -> str:
    """``kazbegi-upper-lars RU→GE`` for a post, ``border RU→FI`` for a whole border."""
    pair = f"{record['from_country']}{ARROW}{record['to_country']}"
    crossing = record.get("crossing_id")
    return f"{crossing} {pair}" if crossing else f"border {pair}"


def short_time(value: str | datetime) -> str:
    """An RFC 3339 time as ``2022-09-21 14:05Z`` (UTC, minutes)."""
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%MZ")


def episode_evidence(record: dict[str, Any]) -> str:
    """The sequential test's evidence: the ratio since the change point (and its lower end)."""
    if record.get("episode_ratio") is None or not record.get("change_point"):
        return ""
    low = record.get("episode_ratio_low")
    bound = f" (>={float(low):.2f})" if low is not None else ""
    ratio = f"{TIMES}{float(record['episode_ratio']):.2f}{bound}"
    return f"  since {short_time(record['change_point'])} {ratio}"


def format_alert(record: dict[str, Any], color: bool) -> str:
    """One alert as one line: window end (event time), status, severity, scope, subject,
    observed vs expected, ratio and alert_id, then the episode's evidence (its change point and
    the ratio since then) when the sequential test gave it; ANSI-coloured when ``color``."""
    line = (
        f"{short_time(record['window_end'])}  {record['status']:<8} {record['severity']:<8} "
        f"{record['scope']:<8} {pair_label(record):<28} "
        f"{record['observed']:>7,} vs {float(record['expected']):>9,.1f} expected  "
        f"{TIMES}{float(record['ratio']):.2f}  {record['alert_id']}"
    )
    line += episode_evidence(record)
    if not color:
        return line
    if record["status"] == "resolved":
        tint = GREEN
    else:
        tint = RED if record["severity"] == "critical" else YELLOW
    return f"{tint}{line}{RESET}"


def format_invalid(partition: int, offset: int, error: object) -> str:
    return f"warning: invalid alert record at partition {partition} offset {offset}: {error}"


def render(record: AlertRecord, *, as_json: bool, color: bool) -> tuple[str, bool]:
    """The line to print for a record and whether it is a warning (an invalid record)."""
    if record.alert is None or record.raw is None:
        return format_invalid(record.partition, record.offset, record.error), True
    if as_json:
        text = record.raw.decode()
        # One record per line, whatever whitespace the producer used.
        return (json.dumps(json.loads(text), ensure_ascii=False) if "\n" in text else text), False
    try:
        return format_alert(record.alert, color), False
    except (KeyError, TypeError, ValueError) as exc:  # a contract change the formatter lacks
        return format_invalid(record.partition, record.offset, repr(exc)), True


def use_color(stream: TextIO) -> bool:
    """ANSI colours only on a terminal, and not when NO_COLOR is set (no-color.org)."""
    return stream.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


class AlertFollower:
    """A group-less, read_committed consumer of every partition of the alerts topic."""

    def __init__(self, settings: Settings, *, from_beginning: bool) -> None:
        self.topic = settings.alerts_topic
        self.from_beginning = from_beginning
        self.consumer = AIOKafkaConsumer(
            **client_kwargs(settings),
            client_id=f"{settings.app_id}-alerts-reader",
            enable_auto_commit=False,
            # Alerts are written in transactions: never show one that may still be aborted.
            isolation_level="read_committed",
        )
        self._tps: list[TopicPartition] = []

    async def __aenter__(self) -> Self:
        consumer = self.consumer
        await consumer.start()
        try:
            if not consumer.partitions_for_topic(self.topic):  # a new topic: not cached yet
                await consumer._client.force_metadata_update()
            parts = sorted(consumer.partitions_for_topic(self.topic) or ())
            if not parts:
                raise BorderSurgeError(
                    f"topic {self.topic!r} does not exist (create it: border-surge topics create)"
                )
            self._tps = [TopicPartition(self.topic, p) for p in parts]
            consumer.assign(self._tps)
            seek = consumer.seek_to_beginning if self.from_beginning else consumer.seek_to_end
            await seek(*self._tps)
            for tp in self._tps:  # resolve the positions now, not at the first fetch
                await consumer.position(tp)
        except BaseException:
            await consumer.stop()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.consumer.stop()

    async def poll(self, wait_s: float) -> list[AlertRecord]:
        """The records that arrive within ``wait_s`` seconds, in offset order per partition."""
        batch = await self.consumer.getmany(timeout_ms=int(wait_s * 1000), max_records=1000)
        return [
            decode_alert(tp.partition, r.offset, r.value)
            for tp, records in sorted(batch.items(), key=lambda item: item[0].partition)
            for r in records
        ]

    async def read_available(self, idle_s: float = 1.0) -> list[AlertRecord]:
        """Every record up to the end offsets as of now (the last stable offsets)."""
        ends = await self.consumer.end_offsets(self._tps)
        out: list[AlertRecord] = []
        empty = 0
        while empty < _MAX_EMPTY_POLLS:
            positions = [await self.consumer.position(tp) for tp in self._tps]
            if all(pos >= ends[tp] for pos, tp in zip(positions, self._tps, strict=True)):
                return out
            records = await self.poll(idle_s)
            out.extend(records)
            empty = 0 if records else empty + 1
        logger.warning("%s: stopped short of the end offsets %s", self.topic, ends)
        return out


# -- the `alerts` command ------------------------------------------------------------------


async def print_alerts(
    settings: Settings,
    out: TextIO,
    err: TextIO,
    *,
    follow: bool,
    as_json: bool,
    from_beginning: bool,
) -> int:
    """`border-surge alerts`: print what is there (history is implied without --follow), then,
    with ``follow``, every new record until interrupted."""
    color = not as_json and use_color(out)
    async with AlertFollower(settings, from_beginning=from_beginning or not follow) as follower:
        for record in await follower.read_available():
            emit(record, out, err, as_json=as_json, color=color)
        if follow:
            await stream_alerts(follower, out, err, as_json=as_json, color=color)
    return 0


async def stream_alerts(
    follower: AlertFollower, out: TextIO, err: TextIO, *, as_json: bool, color: bool
) -> None:
    """Print every new record until cancelled."""
    # A progress bar on the same terminal redraws itself with \r: clear its line first.
    clear = "\r\x1b[K" if out.isatty() and err.isatty() and not as_json else ""
    while True:
        for record in await follower.poll(1.0):
            emit(record, out, err, as_json=as_json, color=color, prefix=clear)


def emit(
    record: AlertRecord, out: TextIO, err: TextIO, *, as_json: bool, color: bool, prefix: str = ""
) -> None:
    line, warning = render(record, as_json=as_json, color=color)
    # In --json mode stdout stays valid JSON lines; warnings go to stderr.
    stream = err if warning and as_json else out
    print(prefix + line, file=stream, flush=True)
