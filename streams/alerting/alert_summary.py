"""The summary of a whole alerts topic that `border-surge run` prints: a row per border and post."""

from __future__ import annotations

import textwrap
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from streams.alerting.follow import (
    ARROW,
    NBSP,
    SEVERITY_RANK,
    TIMES,
    AlertRecord,
    Subject,
    short_time,
)


@dataclass(frozen=True)
class SummaryRow:
    subject: Subject
    peak_ratio: float | None
    first_alert: datetime | None
    """Event time: the window_end of the earliest firing alert."""
    max_severity: str | None
    messages: int
    episodes: int
    """Distinct alert_ids: a firing and its resolved record are one episode."""

    @property
    def label(self) -> str:
        return f"{self.subject[0] or 'border'} {self.subject[1]}{ARROW}{self.subject[2]}"


def summary_rows(
    alerts: Iterable[dict[str, Any]], subjects: Iterable[Subject] = ()
) -> list[SummaryRow]:
    """One row per border and per post (each direction), from valid alerts in their JSON form;
    ``subjects`` without alerts get an empty row. Each border comes before its posts."""
    groups: dict[Subject, list[dict[str, Any]]] = {s: [] for s in subjects}
    for a in alerts:
        groups.setdefault((a.get("crossing_id"), a["from_country"], a["to_country"]), []).append(a)
    rows = []
    for subject, items in groups.items():
        firing = [a for a in items if a["status"] == "firing"] or items
        severities = [a["severity"] for a in items]
        rows.append(
            SummaryRow(
                subject=subject,
                peak_ratio=max((float(a["ratio"]) for a in items), default=None),
                first_alert=min(
                    (datetime.fromisoformat(a["window_end"]) for a in firing), default=None
                ),
                max_severity=max(severities, key=SEVERITY_RANK.__getitem__, default=None),
                messages=len(items),
                episodes=len({a["alert_id"] for a in items}),
            )
        )
    rows.sort(key=lambda r: (r.subject[1], r.subject[2], r.subject[0] or ""))
    return rows


def format_summary(rows: list[SummaryRow]) -> list[str]:
    width = max([len(r.label) for r in rows] + [13])
    head = "peak ratio  first alert (event)  max severity  alerts  episodes"
    lines = [f"{'border / post':<{width}}  {head}"]
    for r in rows:
        peak = f"{TIMES}{r.peak_ratio:.2f}" if r.peak_ratio is not None else "-"
        first = short_time(r.first_alert) if r.first_alert else "-"
        lines.append(
            f"{r.label:<{width}}  {peak:>10}  {first:<19}  {r.max_severity or '-':<12}  "
            f"{r.messages:>6}  {r.episodes:>8}"
        )
    return lines


def summary_report(records: list[AlertRecord], subjects: Iterable[Subject] = ()) -> list[str]:
    """Lines that sum up a whole alerts topic: the count, a table of the borders and posts that
    had alerts, then the ``subjects`` that had none (or just "no alerts")."""
    alerts = [r.alert for r in records if r.alert is not None]
    bad = len(records) - len(alerts)
    invalid = f", {bad} invalid records" if bad else ""
    if not alerts:
        return [f"no alerts{invalid}"]
    rows = summary_rows(alerts, subjects)
    # Wrapped between labels only: no-break spaces inside them until the lines are made.
    quiet = ", ".join(r.label.replace(" ", NBSP) for r in rows if not r.messages)
    tail = textwrap.wrap(f"no alerts: {quiet}", 96, subsequent_indent="  ", break_on_hyphens=False)
    head = [f"{len(alerts)} alert messages{invalid}"]
    quiet_lines = [t.replace(NBSP, " ") for t in tail if quiet]
    return head + format_summary([r for r in rows if r.messages]) + quiet_lines
