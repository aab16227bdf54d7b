"""Fast encoders for the service's output records (shapes fixed in schemas/)."""

from __future__ import annotations

from streams.counting import ClosedBucket
from streams.windows import to_rfc3339


def count_record(bucket: ClosedBucket) -> bytes:
    """A `border.counts` value (schemas.counts.CountRecord), written without model overhead."""
    crossing, src, dst = bucket.direction
    return (
        f'{{"crossing_id":"{crossing}","from_country":"{src}","to_country":"{dst}",'
        f'"bucket_start":"{to_rfc3339(bucket.start_ms)}","bucket_end":"{to_rfc3339(bucket.end_ms)}",'
        f'"travellers":{bucket.travellers},"events":{bucket.events},'
        f'"revision":{bucket.revision},"schema_version":1}}'
    ).encode()
