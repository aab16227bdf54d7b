"""Text reports of an offline run: delays per subject, false alerts, every transition."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from streams.detect.outcome import OfflineResult

MINUTE_MS = 60_000


def _stamp(t_ms: int | None) -> str:
    if t_ms is None:
        return "-"
    return datetime.fromtimestamp(t_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%MZ")


def _minutes(ms: int | None) -> str:
    return "-" if ms is None else f"{ms / MINUTE_MS:+.0f} min"


def format_report(result: OfflineResult) -> str:
    """One row per subject a surge touches, then the false alerts and the run's counts."""
    rows = [
        (
            "subject",
            "true >= warning",
            "first firing",
            "severity",
            "delay",
            "oracle",
            "first critical",
            "delay",
            "oracle",
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
                _minutes(o.oracle_delay_ms),
                _stamp(crit.window_end_ms if crit else None),
                _minutes(o.critical_delay_ms),
                _minutes(o.oracle_critical_delay_ms),
                f"{o.peak_ratio:.2f}",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append("")
    lines.append(
        "oracle: the same sequential test and budget fed the simulator's true normal rates"
    )
    lines.append("(streams/detect/oracle.py): what no detector held to that budget can beat")
    lines.append(
        f"false alerts: {len(result.false_alerts)} (oracle: {len(result.oracle_false_alerts)})"
    )
    for a in result.false_alerts:
        t = a.transition
        lines.append(
            f"  {t.subject} {t.severity.value} at {_stamp(t.window_end_ms)}: observed "
            f"{t.observed}, expected {t.expected:.1f}, ratio {t.ratio:.2f}"
        )
    lines.append(
        f"{result.messages} messages ({result.invalid} invalid), {result.counted} counted, "
        f"{result.duplicates} duplicates, {result.late} late; {len(result.alerts)} transitions "
        f"in {len(result.firings())} episodes; {result.elapsed_s:.1f} s"
    )
    return "\n".join(lines)


def format_transitions(result: OfflineResult) -> str:
    lines = []
    for a in result.alerts:
        t = a.transition
        lines.append(
            f"{_stamp(t.window_end_ms)}  {t.subject}  {t.status.value} {t.severity.value}: "
            f"observed {t.observed}, expected {t.expected:.1f}, ratio {t.ratio:.2f}"
        )
    return "\n".join(lines)
