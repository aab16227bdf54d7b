"""Fast encoders for the records counting writes, and the by-border report's decoder (schemas/)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from streams.count.model import ClosedBucket, Direction
from streams.count.windows import to_rfc3339


def count_record(bucket: ClosedBucket) -> bytes:
    """A `border.counts` value (schemas.counts.CountRecord), written without model overhead."""
    crossing, src, dst = bucket.direction
    return (
        f'{{"crossing_id":"{crossing}","from_country":"{src}","to_country":"{dst}",'
        f'"bucket_start":"{to_rfc3339(bucket.start_ms)}","bucket_end":"{to_rfc3339(bucket.end_ms)}",'
        f'"travellers":{bucket.travellers},"events":{bucket.events},'
        f'"revision":{bucket.revision},"schema_version":1}}'
    ).encode()


@dataclass(frozen=True, slots=True)
class BucketReport:
    """One closed bucket of a post direction, as sent on the by-border topic."""

    direction: Direction
    start_ms: int
    travellers: int
    events: int
    revision: int

    @property
    def border(self) -> str:
        return f"{self.direction[1]}-{self.direction[2]}"  # the record key encode_report writes


def encode_report(b: ClosedBucket) -> tuple[bytes, bytes]:
    """Key (the border) and value of a by-border record."""
    c, f, t = b.direction
    value = f'["{c}","{f}","{t}",{b.start_ms},{b.travellers},{b.events},{b.revision}]'
    return f"{f}-{t}".encode(), value.encode()


def decode_report(value: bytes) -> BucketReport:
    # str, not bytes: json.loads would first guess the encoding of bytes, in Python
    c, f, t, start, travellers, events, revision = json.loads(value.decode())
    return BucketReport((c, f, t), start, travellers, events, revision)
