"""Event-time bucket arithmetic: pure functions over UTC epoch milliseconds."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
WEEK_MS = 7 * DAY_MS


def bucket_start(t_ms: int, bucket_ms: int) -> int:
    """Start of the bucket holding t_ms; buckets are aligned to the Unix epoch (UTC, no DST)."""
    return t_ms - t_ms % bucket_ms


def buckets_between(start_ms: int, end_ms: int, bucket_ms: int) -> range:
    """Starts of the buckets that lie wholly in [start_ms, end_ms), both aligned."""
    return range(start_ms, end_ms, bucket_ms)


def window_buckets(window_end_ms: int, window_ms: int, bucket_ms: int) -> range:
    """Starts of the buckets a rolling window ending at window_end_ms (exclusive) covers."""
    return range(window_end_ms - window_ms, window_end_ms, bucket_ms)


def closable_until(watermark_ms: int, bucket_ms: int) -> int:
    """End of the last bucket the watermark has passed: every bucket ending at or before it."""
    return bucket_start(watermark_ms, bucket_ms)


def to_datetime(t_ms: int) -> datetime:
    return datetime.fromtimestamp(t_ms / 1000, tz=UTC)


@lru_cache(maxsize=4096)  # bucket bounds: every direction's records name the same few
def to_rfc3339(t_ms: int) -> str:
    """Compact RFC 3339 UTC with 'Z', seconds precision unless milliseconds are set."""
    seconds, ms = divmod(t_ms, 1000)
    base = datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{ms:03d}Z" if ms else f"{base}Z"
