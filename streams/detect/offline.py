"""Offline evaluation: a scenario's messages through the service's pure pieces, with delays.

Messages from `streams.simulate.generate` go through what the service runs, minus Kafka:
`parse_event` (invalid records are dropped, as ingest would dead-letter them), one
`PartitionCounter` per partition of the keyed topic (key = crossing id, Kafka's default
partitioner), the closed buckets as by-border reports into one `DetectPartition` per partition
of the border topic, and the idle closer at the end. What comes out is every alert transition
and, for every subject a surge touches, when its true ratio (the scenario's own rates with and
without the surges) first reaches the warning and critical ratios and how long the detector
took to follow.

    python -m streams.detect.offline --scenario mobilization-2022
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterable, Sequence

from aiokafka.partitioner import murmur2

from schemas.event import InvalidEvent, parse_event
from streams.count.counter import PartitionCounter
from streams.count.model import BatchResult, ClosedBucket, CountedEvent, CounterConfig
from streams.count.records import BucketReport
from streams.detect.config import DetectConfig, Thresholds, load_config
from streams.detect.lifecycle import Severity, Status
from streams.detect.oracle import run_oracle
from streams.detect.outcome import OfflineResult, SubjectOutcome
from streams.detect.partition import DetectPartition
from streams.detect.report import format_report, format_transitions
from streams.detect.truth import Truth, detection_limit
from streams.simulate.generator import generate
from streams.simulate.scenario import Scenario, load_scenario

MINUTE_MS = 60_000
WEEK_MINUTES = 7 * 24 * 60


def partition_of(key: str, partitions: int) -> int:
    """Kafka's default partitioner (murmur2 of the key), as the service's producers use it."""
    return (int(murmur2(key.encode())) & 0x7FFFFFFF) % partitions


def run_scenario(
    scenario: Scenario | str,
    config: DetectConfig | None = None,
    *,
    seed: int | None = None,
    partitions: int = 6,
    batch_size: int = 2000,
    counter_config: CounterConfig | None = None,
) -> OfflineResult:
    """Run every message of `scenario` (a Scenario, name or path) through parsing, counting and
    detection as the service does, then compare the alerts with the scenario's true ratios.

    `partitions` and `batch_size` are the service's settings of the same names: they decide
    which events share a watermark and whether a late event reaches its bucket before it
    closes (counted) or after (a correction, which re-judges the windows that hold it).
    """
    if isinstance(scenario, str):
        scenario = load_scenario(scenario)
    if seed is not None and seed != scenario.seed:
        # The seed also draws the day-to-day levels, which the truth must see.
        scenario = scenario.model_copy(update={"seed": seed})
    config = config or DetectConfig()
    ccfg = counter_config or CounterConfig()
    started = time.perf_counter()
    counters = [PartitionCounter(ccfg) for _ in range(partitions)]
    detects = [DetectPartition(config, ccfg.bucket_ms) for _ in range(partitions)]
    result = OfflineResult(scenario, config, partitions=detects)
    offsets = [0] * partitions
    batch: list[tuple[int, CountedEvent]] = []
    partition_by_key: dict[str, int] = {}

    def partition(key: str) -> int:
        p = partition_by_key.get(key)
        if p is None:
            p = partition_by_key[key] = partition_of(key, partitions)
        return p

    def detect(closed: Iterable[ClosedBucket]) -> None:
        by_partition: dict[int, list[BucketReport]] = {}
        for b in closed:
            r = BucketReport(b.direction, b.start_ms, b.travellers, b.events, b.revision)
            by_partition.setdefault(partition(r.border), []).append(r)
            result.reports += 1
        for q, reports in sorted(by_partition.items()):
            result.alerts.extend(detects[q].apply(reports).alerts)

    def flush() -> None:
        # As the counting agent takes a batch: split by partition, count, close, report.
        by_partition: dict[int, list[CountedEvent]] = {}
        for p, ev in batch:
            by_partition.setdefault(p, []).append(ev)
        batch.clear()
        for p, events in sorted(by_partition.items()):
            got = counters[p].apply_batch(events)
            result.counted += got.counted
            result.duplicates += got.duplicates
            result.late += got.late
            detect(got.closed)

    for message in generate(scenario, seed=seed):
        result.messages += 1
        try:
            ev = parse_event(message.value)
        except InvalidEvent:
            result.invalid += 1
            continue
        p = partition(ev.crossing_id)
        direction = (ev.crossing_id, ev.from_country, ev.to_country)
        batch.append(
            (p, CountedEvent(direction, ev.event_id, ev.event_time_ms, ev.travellers, offsets[p]))
        )
        offsets[p] += 1
        if len(batch) >= batch_size:
            flush()
    flush()
    # The idle closer: event time moves on with the wall clock until every bucket has closed.
    end_ms = int(scenario.end.timestamp() * 1000) + ccfg.lateness_ms + ccfg.bucket_ms
    for counter in counters:
        if counter.max_event_ms is not None:
            detect(counter.advance(BatchResult(), idle_to_ms=end_ms).closed)
    _judge(result)
    result.elapsed_s = time.perf_counter() - started
    return result


def _thresholds(config: DetectConfig, subject: str) -> Thresholds:
    if ":" in subject:
        crossing, pair = subject.split(":")
        src, dst = pair.split("-")
        return config.for_crossing(crossing, src, dst)
    src, dst = subject.split("-")
    return config.for_border(src, dst)


def _judge(result: OfflineResult) -> None:
    """Compare the alerts with the true ratios: delays, and alerts where nothing happened."""
    scenario, config = result.scenario, result.config
    start_ms = int(scenario.start.timestamp() * 1000)
    truth = Truth(scenario)
    touched: dict[str, list[str]] = {}
    for surge in scenario.surges:
        for subject, (_, keys) in truth.subjects.items():
            if any(surge.applies_to(k) for k in keys):
                touched.setdefault(subject, []).append(surge.name)
    firings = result.firings()
    windowed: dict[str, list[float]] = {}
    oracle = _oracle(result, truth, start_ms)
    for subject in sorted(touched):
        th = _thresholds(config, subject)
        instant = truth.instant_ratio(subject)
        warn = next((i for i, r in enumerate(instant) if r >= th.warning_ratio), None)
        crit = next((i for i, r in enumerate(instant) if r >= th.critical_ratio), None)
        windowed[subject] = truth.window_ratio(subject, th.window_minutes)
        critical = [
            a
            for a in result.alerts
            if a.transition.subject == subject
            and a.transition.status is Status.FIRING
            and a.transition.severity is Severity.CRITICAL
        ]
        mine = [a for a in firings if a.transition.subject == subject]
        o_alarms, o_criticals = oracle.get(subject, ([], []))
        o_first = o_alarms[0] if o_alarms and warn is not None else None
        limit = None
        if warn is not None:
            weeks = min(4, warn // WEEK_MINUTES)
            at = detection_limit(truth, subject, warn, th, weeks)
            limit = None if at is None else start_ms + at * MINUTE_MS
        result.outcomes.append(
            SubjectOutcome(
                subject=subject,
                scope=truth.subjects[subject][0],
                surges=tuple(touched[subject]),
                peak_ratio=max(windowed[subject][th.window_minutes - 1 :], default=1.0),
                warning_at_ms=None if warn is None else start_ms + warn * MINUTE_MS,
                critical_at_ms=None if crit is None else start_ms + crit * MINUTE_MS,
                first_alert=mine[0] if mine else None,
                first_critical=critical[0] if critical else None,
                limit_at_ms=limit,
                oracle_alert_ms=o_first,
                oracle_critical_ms=next(
                    (t for t in o_criticals if o_first is not None and t >= o_first), None
                ),
            )
        )
    for a in firings:
        t = a.transition
        if t.subject not in touched:
            result.false_alerts.append(a)
            continue
        th = _thresholds(config, t.subject)
        minute = (t.window_end_ms - start_ms) // MINUTE_MS - 1
        ratios = windowed[t.subject]
        if not 0 <= minute < len(ratios) or ratios[minute] < th.resolve_ratio:
            result.false_alerts.append(a)


def _oracle(
    result: OfflineResult, truth: Truth, start_ms: int
) -> dict[str, tuple[list[int], list[int]]]:
    """The oracle (streams/detect/oracle.py) on every subject: its alarms where the true ratio
    was raised, and its criticals; alarms where it was not go to `result.oracle_false_alerts`."""
    out: dict[str, tuple[list[int], list[int]]] = {}
    for subject in truth.subjects:
        try:
            det = result.detector(subject)
        except KeyError:
            continue
        if det.first_bucket_ms is None:
            continue
        th = _thresholds(result.config, subject)
        bms = det.history.bucket_ms
        per = bms // MINUTE_MS
        _, normal = truth.groups(subject)
        buckets = [sum(normal[i : i + per]) for i in range(0, len(normal) - per + 1, per)]
        windowed = truth.window_ratio(subject, th.window_minutes)
        calm = [
            windowed[min(len(windowed) - 1, i * per + per - 1)] < th.resolve_ratio
            for i in range(len(buckets))
        ]
        run = run_oracle(
            det.history, buckets, start_ms, det.first_bucket_ms + th.learning_ms, th, calm=calm
        )
        raised: list[int] = []
        for t in run.alarms:
            minute = (t - start_ms) // MINUTE_MS - 1
            if 0 <= minute < len(windowed) and windowed[minute] >= th.resolve_ratio:
                raised.append(t)
            else:
                result.oracle_false_alerts.append((subject, t))
        out[subject] = (raised, run.criticals)
    return out


# -- the command line ---------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m streams.detect.offline",
        description="Run a simulator scenario through counting and detection, without Kafka.",
    )
    parser.add_argument("--scenario", default="mobilization-2022", help="name or .toml path")
    parser.add_argument("--config", default=None, help="detection thresholds (TOML)")
    parser.add_argument("--seed", type=int, default=None, help="instead of the scenario's own")
    parser.add_argument("--partitions", type=int, default=6, help="of the service's topics")
    parser.add_argument("--batch-size", type=int, default=2000, help="records per counting batch")
    parser.add_argument("--transitions", action="store_true", help="list every transition too")
    args = parser.parse_args(argv)
    result = run_scenario(
        args.scenario,
        load_config(args.config),
        seed=args.seed,
        partitions=args.partitions,
        batch_size=args.batch_size,
    )
    if args.transitions:
        print(format_transitions(result))
        print()
    print(format_report(result))
    return 1 if result.false_alerts else 0


if __name__ == "__main__":
    sys.exit(main())
