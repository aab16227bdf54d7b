"""How one UTC day of a subject's bucket history is saved (`h|SUBJECT|DAY` state records).

Detection writes a subject's day again on every batch that closes one of its buckets, so the
encoding is the ring buffer's own slices, copied as they are:

* version 1: the byte 0x01, then `count` travellers and `count` events, uint32 little-endian,
  travellers 0xFFFFFFFF for a bucket that is absent (never closed, or expired);
* the layout before (version 0, still read): the JSON list `[t0, n0, t1, n1, ...]`, -1 for
  both values of an absent bucket. It starts with `[`, so the first byte tells them apart.

JSON of a full day cost ~200 µs of Python a write (one number at a time); this is two copies.
A worker older than version 1 cannot read version 1 days: downgrading needs a fresh state.
"""

from __future__ import annotations

import json
import sys
from array import array
from collections.abc import Iterator

from streams.detect.history import ABSENT

VERSION = 1
_JSON_START = ord("[")


def encode_day(travellers: array[int], events: array[int]) -> bytes:
    """A day's record from its buckets' slots (uint32 arrays of equal length)."""
    if len(travellers) != len(events):
        raise ValueError("travellers and events must cover the same buckets")
    if travellers.itemsize != 4 or events.itemsize != 4:
        raise ValueError("history slots are uint32")
    if sys.byteorder == "big":  # the encoding is little-endian whatever the host
        travellers, events = array("I", travellers), array("I", events)
        travellers.byteswap()
        events.byteswap()
    return bytes((VERSION,)) + travellers.tobytes() + events.tobytes()


def decode_day(raw: bytes) -> Iterator[tuple[int, int, int]]:
    """(bucket index in the day, travellers, events) of every present bucket of a record of
    either version."""
    if not raw:
        raise ValueError("empty history day record")
    if raw[0] == _JSON_START:
        values = json.loads(raw)
        for i in range(0, len(values), 2):
            if values[i] >= 0:
                yield i // 2, values[i], values[i + 1]
        return
    if raw[0] != VERSION:
        raise ValueError(f"history day record of unknown version {raw[0]}")
    if (len(raw) - 1) % 8:
        raise ValueError(f"history day record of {len(raw)} bytes is truncated")
    slots = array("I")
    slots.frombytes(raw[1:])
    if sys.byteorder == "big":
        slots.byteswap()
    count = len(slots) // 2
    for i in range(count):
        t = slots[i]
        if t != ABSENT:
            yield i, t, slots[count + i]
