"""When an alert became decidable: the append time of the input record that closed its bucket.

An alert for the window ending at E can only be decided once the bucket ending at E is closed,
and counting closes it on a partition of the keyed topic when that partition's watermark
(its largest event time so far, less the lateness) reaches E: on the first record, in offset
order, whose event time is at least E + lateness. Append -> alert is measured from that
record's append to the alert's, which is the part of the path the service controls; the
event-time wait before it (bucket length plus lateness) is a setting, not a cost.

A crossing alert needs its post's bucket; a border alert needs the bucket of every post of
the border in that direction, so it is decidable at the latest of their closing records.

Pure functions, no Kafka: bench/latency.py reads the topics and feeds them in.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass
class PartitionClock:
    """One keyed partition in offset order: the running largest event time, and append times.

    Only the records that raise the largest event time are kept: the first record reaching a
    threshold is always one of them.
    """

    max_event_ms: list[int] = field(default_factory=list)
    append_ms: list[int] = field(default_factory=list)

    def add(self, event_ms: int, append_ms: int) -> None:
        if not self.max_event_ms or event_ms > self.max_event_ms[-1]:
            self.max_event_ms.append(event_ms)
            self.append_ms.append(append_ms)

    def first_append_reaching(self, event_ms: int) -> int | None:
        """Append time of the first record with event time >= event_ms; None if none yet."""
        i = bisect.bisect_left(self.max_event_ms, event_ms)
        return self.append_ms[i] if i < len(self.max_event_ms) else None


@dataclass(frozen=True)
class AlertSeen:
    scope: str  # "crossing" or "border"
    crossing_id: str | None
    from_country: str
    to_country: str
    window_end_ms: int
    append_ms: int  # the alert record's timestamp
    visible_ms: int | None = None  # when a read_committed reader received it


def decidable_ms(
    alert: AlertSeen,
    lateness_ms: int,
    clocks: dict[int, PartitionClock],
    partition_of: dict[str, int],
    posts: dict[tuple[str, str], Iterable[str]],
) -> int | None:
    """Append time of the input record after which the alert's window could be decided."""
    if alert.scope == "crossing":
        assert alert.crossing_id is not None
        crossings: Iterable[str] = [alert.crossing_id]
    else:
        crossings = posts.get((alert.from_country, alert.to_country), ())
    threshold = alert.window_end_ms + lateness_ms
    times = []
    for c in crossings:
        p = partition_of.get(c)
        t = None if p is None else clocks[p].first_append_reaching(threshold)
        if t is None:
            return None
        times.append(t)
    return max(times) if times else None


def percentile(values: list[float], q: float) -> float:
    """The q-quantile by rank (no interpolation): what a reader of a sorted list would say."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
