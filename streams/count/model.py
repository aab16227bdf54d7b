"""What the counter takes and gives: counted events, closed buckets, batch results, its config."""

from __future__ import annotations

from dataclasses import dataclass, field

from streams.count.windows import DAY_MS

Direction = tuple[str, str, str]  # (crossing_id, from_country, to_country)


@dataclass(frozen=True, slots=True)
class CountedEvent:
    """A validated event as the counter needs it; offset is its position in the partition."""

    direction: Direction
    event_id: str
    event_time_ms: int
    travellers: int
    offset: int


@dataclass(frozen=True, slots=True)
class ClosedBucket:
    """A bucket published to the counts topic: first close (revision 0) or a late correction."""

    direction: Direction
    start_ms: int
    end_ms: int
    travellers: int
    events: int
    revision: int

    @property
    def is_correction(self) -> bool:
        return self.revision > 0


@dataclass(slots=True)
class BatchResult:
    counted: int = 0
    replayed: int = 0  # counted before a restart already (its state was saved): not again
    duplicates: int = 0
    late: int = 0  # counted into an already closed bucket
    expired: list[CountedEvent] = field(default_factory=list)  # older than the kept history
    closed: list[ClosedBucket] = field(default_factory=list)
    dirty_chunks: set[tuple[Direction, int]] = field(default_factory=set)
    # chunk -> the indexes of its buckets this batch changed (absent: save the chunk whole)
    changed_buckets: dict[tuple[Direction, int], set[int]] = field(default_factory=dict)
    # Event ids this batch newly remembered: bucket start -> [(crossing_id, event_id, offset)]
    remembered: dict[int, list[tuple[str, str, int]]] = field(default_factory=dict)
    dropped_chunks: set[tuple[Direction, int]] = field(default_factory=set)
    dropped_dedupe: set[int] = field(default_factory=set)  # buckets whose ids were forgotten
    evicted_ids: int = 0  # event ids forgotten early to keep the dedupe memory under its cap


@dataclass(frozen=True, slots=True)
class SourceClock:
    """How far one input partition has been forwarded: its largest event time, and whether it
    was caught up (nothing more to send) when ingest said so."""

    event_ms: int
    idle: bool


@dataclass(frozen=True, slots=True)
class CounterConfig:
    bucket_ms: int = 300_000
    lateness_ms: int = 600_000
    history_ms: int = 35 * DAY_MS
    dedupe_ms: int = 24 * 3_600_000
    # Event ids remembered per partition at most, whatever the rate: past it the oldest
    # buckets' ids are forgotten before their time (a duplicate of one then counts again).
    dedupe_max_ids: int = 1_000_000
    # Whether event time waits for ingest's source reports (the service: its ingest always
    # sends them). Without, the clock is the largest event time seen (event-time-ordered input).
    await_sources: bool = False

    def __post_init__(self) -> None:
        if DAY_MS % self.bucket_ms:
            raise ValueError("bucket length must divide a day evenly (e.g. 60, 300, 900 s)")

    @property
    def per_day(self) -> int:
        return DAY_MS // self.bucket_ms
