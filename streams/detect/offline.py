"""Offline evaluation: a scenario's messages through the service's pure pieces, with delays.

Messages from `streams.simulate.generate` go through what the service runs, minus Kafka:
`parse_event` (invalid records are dropped, as the dead-letter topic would take them), one
`PartitionCounter` per simulated partition of the keyed topic (key = crossing id, Kafka's
default partitioner), closed buckets as by-border reports into one `DetectPartition` per
partition of the border topic. What comes out is every alert transition, and for every
subject a surge touches, when its true ratio (from the scenario's own rates, with and without
the surges) first reaches the warning and critical ratios, and how long the detector took.

    python -m streams.detect.offline --scenario mobilization-2022
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiokafka.partitioner import murmur2

from schemas.event import InvalidEvent, parse_event
from streams.counting import BatchResult, ClosedBucket, CountedEvent, CounterConfig, PartitionCounter
from streams.detect.config import DetectConfig, Thresholds, border_key, crossing_key, load_config
from streams.detect.detector import SubjectDetector
from streams.detect.lifecycle import Severity, Status
from streams.detection import Alerting, BucketReport, DetectPartition
from streams.simulate.generator import generate
from streams.simulate.scenario import Scenario, lanes, load_scenario

MINUTE_MS = 60_000
BATCH = 500  # records per counting batch, about what the service's batches hold


@dataclass(frozen=True, slots=True)
class SubjectOutcome:
    """One subject (crossing direction or border) that some surge touches."""

    subject: str
    scope: str  # "crossing" or "border"
    surges: tuple[str, ...]
    peak_ratio: float  # highest true ratio over a rolling window of the subject
    warning_at_ms: int | None  # first minute the true ratio reaches the warning ratio
    critical_at_ms: int | None  # first minute it reaches the critical ratio
    first_alert: Alerting | None  # first firing transition of the subject
    first_critical: Alerting | None  # first firing transition with critical severity

    @property
    def expected(self) -> bool:
        """Whether an alert is required: the true ratio reaches the warning ratio."""
        return self.warning_at_ms is not None

    @property
    def delay_ms(self) -> int | None:
        """From the true ratio reaching warning to the end of the window that fired."""
        if self.first_alert is None or self.warning_at_ms is None:
            return None
        return self.first_alert.transition.window_end_ms - self.warning_at_ms

    @property
    def critical_delay_ms(self) -> int | None:
        if self.first_critical is None or self.critical_at_ms is None:
            return None
        return self.first_critical.transition.window_end_ms - self.critical_at_ms


@dataclass(slots=True)
class OfflineResult:
    scenario: Scenario
    alerts: list[Alerting]  # every transition, in the order the detectors emitted them
    outcomes: list[SubjectOutcome]  # subjects some surge touches, sorted by subject
    false_alerts: list[Alerting]  # episodes opened on a subject whose true ratio was < resolve
    messages: int = 0
    invalid: int = 0
    counted: int = 0
    duplicates: int = 0
    late: int = 0
    reports: int = 0
    elapsed_s: float = 0.0
    true_ratio: dict[str, list[float]] = field(default_factory=dict)  # per minute, per subject
    detect_partitions: list[DetectPartition] = field(default_factory=list)  # final state

    def detector(self, subject: str) -> SubjectDetector:
        for part in self.detect_partitions:
            if subject in part.detectors:
                return part.detectors[subject]
        raise KeyError(subject)

    def outcome(self, subject: str) -> SubjectOutcome:
        for o in self.outcomes:
            if o.subject == subject:
                return o
        raise KeyError(subject)

    def firings(self, subject: str | None = None) -> list[Alerting]:
        """New episodes (first firing transition of each alert id), optionally of one subject."""
        seen: set[str] = set()
        out = []
        for a in self.alerts:
            t = a.transition
            if t.status is Status.FIRING and t.alert_id not in seen:
                seen.add(t.alert_id)
                if subject is None or t.subject == subject:
                    out.append(a)
        return out


def partition_of(key: str, partitions: int) -> int:
    """Kafka's default partitioner (murmur2 of the key), as the service's producers use it."""
    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions


def _subject_lanes(scenario: Scenario) -> dict[str, tuple[str, list[tuple[str, str, str]]]]:
    """subject -> (scope, the direction keys it sums)."""
    subjects: dict[str, tuple[str, list[tuple[str, str, str]]]] = {}
    for post in scenario.posts:
        for d in post.directions:
            key = (post.crossing_id, d.from_country, d.to_country)
            subjects[crossing_key(*key)] = ("crossing", [key])
            border = border_key(d.from_country, d.to_country)
            subjects.setdefault(border, ("border", []))[1].append(key)
    return subjects


def true_ratios(scenario: Scenario) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Per subject and minute, travellers expected with the surges and without them."""
    with_surges = {lane.key: lane for lane in lanes(scenario)}
    calm = {lane.key: lane for lane in lanes(scenario.model_copy(update={"surges": []}))}
    surged: dict[str, list[float]] = {}
    normal: dict[str, list[float]] = {}
    for subject, (_, keys) in _subject_lanes(scenario).items():
        n = scenario.minutes
        s, c = [0.0] * n, [0.0] * n
        for k in keys:
            size = with_surges[k].mean_size
            for i, (a, b) in enumerate(zip(with_surges[k].rates, calm[k].rates, strict=True)):
                s[i] += a * size
                c[i] += b * size
        surged[subject], normal[subject] = s, c
    return surged, normal


def _thresholds(config: DetectConfig, subject: str) -> Thresholds:
    if ":" in subject:
        crossing, pair = subject.split(":")
        src, dst = pair.split("-")
        return config.for_crossing(crossing, src, dst)
    src, dst = subject.split("-")
    return config.for_border(src, dst)


def _windowed(values: list[float], width: int) -> list[float]:
    """Sum of the `width` minutes ending with each minute (fewer at the start)."""
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= width:
            total -= values[i - width]
        out.append(total)
    return out


def run_scenario(
    scenario: Scenario,
    config: DetectConfig | None = None,
    *,
    seed: int | None = None,
    partitions: int = 6,
    counter_config: CounterConfig | None = None,
) -> OfflineResult:
    """Run every message of `scenario` through parsing, counting and detection; no Kafka."""
    config = config or DetectConfig()
    ccfg = counter_config or CounterConfig()
    started = time.perf_counter()
    counters = [PartitionCounter(ccfg) for _ in range(partitions)]
    offsets = [0] * partitions
    detects = [DetectPartition(config, ccfg.bucket_ms) for _ in range(partitions)]
    batches: list[list[CountedEvent]] = [[] for _ in range(partitions)]
    alerts: list[Alerting] = []
    result = OfflineResult(scenario, alerts, [], [], detect_partitions=detects)
    part_of: dict[str, int] = {}

    def detect(closed: Iterable[ClosedBucket]) -> None:
        by_part: dict[int, list[BucketReport]] = {}
        for b in closed:
            r = BucketReport(b.direction, b.start_ms, b.travellers, b.events, b.revision)
            q = part_of.get(r.border)
            if q is None:
                q = part_of[r.border] = partition_of(r.border, partitions)
            by_part.setdefault(q, []).append(r)
            result.reports += 1
        for q, reports in sorted(by_part.items()):
            alerts.extend(detects[q].apply(reports).alerts)

    def flush(p: int) -> None:
        got = counters[p].apply_batch(batches[p])
        batches[p] = []
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
        key = ev.crossing_id
        p = part_of.get(key)
        if p is None:
            p = part_of[key] = partition_of(key, partitions)
        batches[p].append(
            CountedEvent(
                (key, ev.from_country, ev.to_country),
                ev.event_id,
                ev.event_time_ms,
                ev.travellers,
                offsets[p],
            )
        )
        offsets[p] += 1
        if len(batches[p]) >= BATCH:
            flush(p)
    for p in range(partitions):
        flush(p)
    # The idle closer: event time moves on with the wall clock until the last bucket closes.
    end_ms = int(scenario.end.timestamp() * 1000) + ccfg.lateness_ms + ccfg.bucket_ms
    for c in counters:
        if c.max_event_ms is not None:
            detect(c.advance(BatchResult(), idle_to_ms=end_ms).closed)

    _judge(result, config)
    result.elapsed_s = time.perf_counter() - started
    return result


def _judge(result: OfflineResult, config: DetectConfig) -> None:
    """Compare the alerts with the true ratios: delays, and alerts where nothing happened."""
    scenario = result.scenario
    start_ms = int(scenario.start.timestamp() * 1000)
    surged, normal = true_ratios(scenario)
    scopes = _subject_lanes(scenario)
    touched: dict[str, list[str]] = {}
    for surge in scenario.surges:
        for subject, (_, keys) in scopes.items():
            if any(surge.applies_to(k) for k in keys):
                touched.setdefault(subject, []).append(surge.name)
    window_ratio: dict[str, list[float]] = {}
    for subject in scopes:
        th = _thresholds(config, subject)
        width = th.window_minutes
        s, c = _windowed(surged[subject], width), _windowed(normal[subject], width)
        window_ratio[subject] = [a / b if b > 0 else 1.0 for a, b in zip(s, c, strict=True)]
        inst = [
            a / b if b > 0 else 1.0 for a, b in zip(surged[subject], normal[subject], strict=True)
        ]
        result.true_ratio[subject] = inst
        if subject not in touched:
            continue
        firings = result.firings(subject)
        critical = [
            a
            for a in result.alerts
            if a.transition.subject == subject
            and a.transition.status is Status.FIRING
            and a.transition.severity is Severity.CRITICAL
        ]
        warn_i = next((i for i, r in enumerate(inst) if r >= th.warning_ratio), None)
        crit_i = next((i for i, r in enumerate(inst) if r >= th.critical_ratio), None)
        result.outcomes.append(
            SubjectOutcome(
                subject=subject,
                scope=scopes[subject][0],
                surges=tuple(touched[subject]),
                peak_ratio=max(window_ratio[subject][width - 1 :], default=1.0),
                warning_at_ms=None if warn_i is None else start_ms + warn_i * MINUTE_MS,
                critical_at_ms=None if crit_i is None else start_ms + crit_i * MINUTE_MS,
                first_alert=firings[0] if firings else None,
                first_critical=critical[0] if critical else None,
            )
        )
    result.outcomes.sort(key=lambda o: o.subject)
    for a in result.firings():
        t = a.transition
        th = _thresholds(config, t.subject)
        minute = (t.window_end_ms - start_ms) // MINUTE_MS - 1
        ratios = window_ratio[t.subject]
        if not 0 <= minute < len(ratios) or ratios[minute] < th.resolve_ratio:
            result.false_alerts.append(a)


# -- the command line ---------------------------------------------------------------------------


def _stamp(t_ms: int | None) -> str:
    if t_ms is None:
        return "-"
    return datetime.fromtimestamp(t_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%MZ")


def _minutes(ms: int | None) -> str:
    return "-" if ms is None else f"{ms / MINUTE_MS:+.0f} min"


def format_report(result: OfflineResult) -> str:
    """The table the CLI prints: one row per subject a surge touches, then false alerts."""
    rows = [
        (
            "subject",
            "true >= warning",
            "first firing",
            "severity",
            "delay",
            "first critical",
            "delay",
            "peak ratio",
        )
    ]
    for o in result.outcomes:
        first = o.first_alert.transition if o.first_alert else None
        crit = o.first_critical.transition if o.first_critical else None
        rows.append(
            (
                o.subject,
                _stamp(o.warning_at_ms),
                _stamp(first.window_end_ms if first else None),
                first.severity.value if first else "-",
                _minutes(o.delay_ms),
                _stamp(crit.window_end_ms if crit else None),
                _minutes(o.critical_delay_ms),
                f"{o.peak_ratio:.2f}",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append("")
    lines.append(f"false alerts: {len(result.false_alerts)}")
    for a in result.false_alerts:
        t = a.transition
        lines.append(
            f"  {t.subject} {t.severity.value} at {_stamp(t.window_end_ms)} "
            f"observed {t.observed} expected {t.expected:.1f} ratio {t.ratio:.2f}"
        )
    lines.append(
        f"{result.messages} messages, {result.invalid} invalid, {result.counted} counted, "
        f"{result.duplicates} duplicates, {result.late} late; {len(result.alerts)} transitions; "
        f"{result.elapsed_s:.1f} s"
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m streams.detect.offline",
        description="Run a simulator scenario through counting and detection, without Kafka.",
    )
    parser.add_argument("--scenario", default="mobilization-2022", help="name or .toml path")
    parser.add_argument("--config", default=None, help="detection thresholds (TOML)")
    parser.add_argument("--seed", type=int, default=None, help="instead of the scenario's")
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--transitions", action="store_true", help="list every transition")
    args = parser.parse_args(argv)
    result = run_scenario(
        load_scenario(args.scenario),
        load_config(args.config),
        seed=args.seed,
        partitions=args.partitions,
    )
    if args.transitions:
        for a in result.alerts:
            t = a.transition
            print(
                f"{_stamp(t.window_end_ms)} {t.subject} {t.status.value} {t.severity.value} "
                f"observed {t.observed} expected {t.expected:.1f} ratio {t.ratio:.2f}"
            )
        print()
    print(format_report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
