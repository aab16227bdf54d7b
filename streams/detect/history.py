"""Per-subject ring buffer of closed 5-minute buckets: what baselines are learned from."""

from __future__ import annotations

import base64
import sys
import zlib
from array import array
from typing import Any

BUCKET_MS = 300_000
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
WEEK_MS = 7 * DAY_MS
# 35 days: four weeks of lookback plus the window and neighbours, with a week to spare.
DEFAULT_CAPACITY = 35 * DAY_MS // BUCKET_MS
_MISSING = 0xFFFFFFFF  # a slot never filled (or expired); zero-traffic buckets are stored as 0
ABSENT = _MISSING  # the travellers of an absent bucket in `slots()`
_MAX_VALUE = _MISSING - 1


def _pack(values: array[int]) -> str:
    data = array("I", values)
    if sys.byteorder == "big":  # the encoding is little-endian whatever the host
        data.byteswap()
    return base64.b64encode(zlib.compress(data.tobytes(), 6)).decode("ascii")


def _unpack(text: str) -> array[int]:
    data = array("I")
    data.frombytes(zlib.decompress(base64.b64decode(text)))
    if sys.byteorder == "big":
        data.byteswap()
    return data


class BucketHistory:
    """Travellers and events per closed bucket for the last `capacity` buckets of event time.

    Two uint32 ring buffers (80 KB for 35 days); slot = bucket index % capacity. Writing a bucket
    newer than the latest expires the slots it skips; a bucket older than the ring is ignored.
    Running sums of T^2, TN and N^2 give the group-size dispersion in O(1).
    """

    __slots__ = ("_bucket_ms", "_cap", "_evts", "_latest", "_sums", "_trav")

    def __init__(self, capacity: int = DEFAULT_CAPACITY, bucket_ms: int = BUCKET_MS) -> None:
        self._cap = capacity
        self._bucket_ms = bucket_ms
        self._trav = array("I", [_MISSING]) * capacity
        self._evts = array("I", [0]) * capacity
        self._latest: int | None = None
        self._sums = [0, 0, 0, 0, 0]  # sum T, N, T*T, T*N, N*N over present buckets

    @property
    def bucket_ms(self) -> int:
        return self._bucket_ms

    @property
    def capacity_ms(self) -> int:
        return self._cap * self._bucket_ms

    @property
    def latest_bucket_ms(self) -> int | None:
        return None if self._latest is None else self._latest * self._bucket_ms

    @property
    def nbytes(self) -> int:
        """Bytes held by the ring buffers, the bulk of a subject's memory."""
        return self._trav.itemsize * len(self._trav) + self._evts.itemsize * len(self._evts)

    def _account(self, t: int, n: int, sign: int) -> None:
        s = self._sums
        s[0] += sign * t
        s[1] += sign * n
        s[2] += sign * t * t
        s[3] += sign * t * n
        s[4] += sign * n * n

    def _clear(self, slot: int) -> None:
        t = self._trav[slot]
        if t != _MISSING:
            self._account(t, self._evts[slot], -1)
            self._trav[slot] = _MISSING
            self._evts[slot] = 0

    def set(self, bucket_start_ms: int, travellers: int, events: int) -> bool:
        """Store one bucket's counts, replacing any earlier value (a correction is a set).

        Returns False when the bucket is older than the ring and was dropped.
        """
        if travellers < 0 or events < 0:
            raise ValueError("travellers and events must be non-negative")
        idx = bucket_start_ms // self._bucket_ms
        if self._latest is None:
            self._latest = idx
        elif idx > self._latest:
            if idx - self._latest >= self._cap:
                for slot in range(self._cap):
                    self._clear(slot)
            else:
                for i in range(self._latest + 1, idx + 1):
                    self._clear(i % self._cap)
            self._latest = idx
        elif idx <= self._latest - self._cap:
            return False
        slot = idx % self._cap
        self._clear(slot)
        t, n = min(travellers, _MAX_VALUE), min(events, _MAX_VALUE)
        self._trav[slot] = t
        self._evts[slot] = n
        self._account(t, n, 1)
        return True

    def get(self, bucket_start_ms: int) -> tuple[int, int] | None:
        """(travellers, events) of one bucket, or None if it was never closed or has expired."""
        t, n = self._fetch(bucket_start_ms // self._bucket_ms, 1)
        return None if t[0] == _MISSING else (t[0], n[0])

    def slots(self, first_ms: int, count: int) -> tuple[array[int], array[int]]:
        """Copies of the travellers and events of `count` buckets from first_ms, travellers
        ABSENT where a bucket is absent: what a stored day is encoded from."""
        return self._fetch(first_ms // self._bucket_ms, count)

    def _fetch(self, first: int, count: int) -> tuple[array[int], array[int]]:
        """Slots for bucket indices first..first+count-1, _MISSING where absent."""
        latest = self._latest
        if latest is None:
            return array("I", [_MISSING]) * count, array("I", [0]) * count
        lo = max(first, latest - self._cap + 1)  # the part the ring still holds: [lo, hi)
        hi = min(first + count, latest + 1)
        if lo == first and hi == first + count:
            return self._ring(lo, count)
        trav = array("I", [_MISSING]) * count
        evts = array("I", [0]) * count
        if lo < hi:  # one slice, not a lookup per bucket (a day being filled is re-saved often)
            trav[lo - first : hi - first], evts[lo - first : hi - first] = self._ring(lo, hi - lo)
        return trav, evts

    def _ring(self, first: int, count: int) -> tuple[array[int], array[int]]:
        """Copies of the slots of `count` (at most the capacity) buckets the ring holds."""
        lo = first % self._cap
        hi = lo + count
        if hi <= self._cap:
            return self._trav[lo:hi], self._evts[lo:hi]
        return (
            self._trav[lo:] + self._trav[: hi - self._cap],
            self._evts[lo:] + self._evts[: hi - self._cap],
        )

    def window_buckets(self, end_ms: int, length_ms: int) -> list[tuple[int, int]]:
        """(travellers, events) of the present buckets of the window [end - length, end)."""
        first = (end_ms - length_ms) // self._bucket_ms
        trav, evts = self._fetch(first, length_ms // self._bucket_ms)
        return [(t, n) for t, n in zip(trav, evts, strict=True) if t != _MISSING]

    def window_sum(self, end_ms: int, length_ms: int) -> tuple[int, int, int]:
        """(travellers, events, buckets present) over the window [end - length, end)."""
        first = (end_ms - length_ms) // self._bucket_ms
        trav, evts = self._fetch(first, length_ms // self._bucket_ms)
        if _MISSING not in trav:
            return sum(trav), sum(evts), len(trav)
        t = n = present = 0
        for tv, nv in zip(trav, evts, strict=True):
            if tv != _MISSING:
                t, n, present = t + tv, n + nv, present + 1
        return t, n, present

    def group_size(self) -> tuple[float, float, int]:
        """(mean group size, E[G^2]/E[G], events seen) estimated from all stored buckets.

        Given N_b groups in bucket b, T_b - m*N_b has variance N_b*Var(G), so the pooled
        residual gives Var(G) without ever seeing a single group.
        """
        st, sn, stt, stn, snn = self._sums
        if sn == 0:
            return 1.0, 1.0, 0
        m = st / sn
        var_g = max(0.0, (stt - 2.0 * m * stn + m * m * snn) / sn)
        return m, max(1.0, (var_g + m * m) / m), sn

    def to_dict(self) -> dict[str, Any]:
        """Compact JSON-able form: zlib+base64 of the ring buffers (about 10-30 KB)."""
        return {
            "capacity": self._cap,
            "bucket_ms": self._bucket_ms,
            "latest": self._latest,
            "travellers": _pack(self._trav),
            "events": _pack(self._evts),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BucketHistory:
        hist = cls(int(data["capacity"]), int(data["bucket_ms"]))
        hist._latest = None if data["latest"] is None else int(data["latest"])
        hist._trav = _unpack(data["travellers"])
        hist._evts = _unpack(data["events"])
        if len(hist._trav) != hist._cap or len(hist._evts) != hist._cap:
            raise ValueError("history buffers do not match the capacity")
        for t, n in zip(hist._trav, hist._evts, strict=True):
            if t != _MISSING:
                hist._account(t, n, 1)
        return hist
