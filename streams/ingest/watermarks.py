"""Ingest's watermarks: how far each input partition has been forwarded, told to every keyed
partition, so that counting moves event time on with the slowest source (streams/count/counter.py).

Pure bookkeeping and the record format, no Kafka. A watermark record goes to every partition
of the keyed topic, after the events it covers; its key starts with a NUL byte, which no
crossing id has, so counting tells it from an event without parsing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

KEY = b"\x00watermark"
HEADER = "x-watermark"


@dataclass(frozen=True, slots=True)
class Watermark:
    source: int  # partition of the input topic
    of: int  # how many partitions the input topic has
    event_ms: int  # every valid event of this source up to here has been forwarded
    idle: bool  # the source was caught up: nothing more to forward for now


def encode(w: Watermark) -> bytes:
    return json.dumps({"source": w.source, "of": w.of, "event_ms": w.event_ms, "idle": w.idle},
                      separators=(",", ":")).encode()  # fmt: skip


def decode(value: bytes) -> Watermark:
    d = json.loads(value)
    return Watermark(int(d["source"]), int(d["of"]), int(d["event_ms"]), bool(d["idle"]))


def is_watermark(key: bytes | None) -> bool:
    return key is not None and key[:1] == b"\x00" and key == KEY


class SourceProgress:
    """Per input partition this worker reads: how far its events are forwarded *for good*, and
    what was last announced, to say only what changed (and repeat idleness now and then).

    A watermark promises that no event it covers is sent again. After a crash ingest sends
    again what it had not committed, so a batch's event times count only once its offsets are
    committed (`forward`, then `committed`); announced earlier, a watermark could move
    counting's clock (and its dedupe memory, a day of event time) past records that come
    again. And a source announced idle, or never announced by this worker (another may have
    called it idle), is announced active before its records are forwarded (`resuming`):
    counting would otherwise let the clock run on with the other sources over records that
    are not yet committed.
    """

    def __init__(self, repeat_idle_s: float = 10.0) -> None:
        self.forwarded: dict[int, int] = {}  # source -> largest event time forwarded for good
        # source -> (offset after a batch, largest event time in it), forwarded, not committed
        self._pending: dict[int, list[tuple[int, int]]] = {}
        self._announced: dict[int, tuple[int, bool, float]] = {}
        self.repeat_idle_s = repeat_idle_s

    def forward(self, source: int, event_ms: int, next_offset: int) -> None:
        """Events of source up to event_ms were written, from records before next_offset."""
        self._pending.setdefault(source, []).append((next_offset, event_ms))

    def committed(self, source: int, offset: int) -> bool:
        """The input offsets of source before `offset` are committed; whether that moved it."""
        pending = self._pending.get(source)
        if not pending:
            return False
        done = [event_ms for next_offset, event_ms in pending if next_offset <= offset]
        if not done:
            return False
        self._pending[source] = [p for p in pending if p[0] > offset]
        before = self.forwarded.get(source, -1)
        self.forwarded[source] = max(before, *done)
        return self.forwarded[source] != before

    def resuming(self, source: int) -> bool:
        """Whether source must be announced active before its records are forwarded."""
        last = self._announced.get(source)
        return last is None or last[1]

    def revoked(self, source: int) -> None:
        """Another worker may announce it now: when it comes back, it is resumed first."""
        self._announced.pop(source, None)

    def due(self, source: int, idle: bool, now_s: float) -> bool:
        """Whether to announce source now: it moved, its idleness changed, or an idle
        announcement is old (a counter restored from older state hears it again)."""
        event_ms = self.forwarded.get(source, 0)
        last = self._announced.get(source)
        if last is None or last[0] != event_ms or last[1] != idle:
            return True
        return idle and now_s - last[2] >= self.repeat_idle_s

    def announced(self, source: int, of: int, idle: bool, now_s: float) -> Watermark:
        event_ms = self.forwarded.get(source, 0)
        self._announced[source] = (event_ms, idle, now_s)
        return Watermark(source, of, event_ms, idle)
