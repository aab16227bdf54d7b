"""Alert messages as Alertmanager API v2 alerts, and the set of alerts currently firing.

Pure: no HTTP, no Kafka, no clock (times are passed in). Alertmanager identifies an alert by
its labels, and expires one posted without endsAt after its resolve_timeout, so the bridge
keeps every firing alert here and posts it again until the resolved message comes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from schemas.alert import Alert

ALERTNAME = "BorderSurge"


def labels_of(alert: Alert) -> dict[str, str]:
    """What Alertmanager groups, routes, silences and inhibits on.

    `crossing_id` carries the border (FROM-TO) for scope border, so one label names the
    subject in either scope; `border` is there for grouping a border's posts together.
    """
    border = f"{alert.from_country}-{alert.to_country}"
    return {
        "alertname": ALERTNAME,
        "scope": alert.scope,
        "crossing_id": alert.crossing_id or border,
        "border": border,
        "from_country": alert.from_country,
        "to_country": alert.to_country,
        "severity": alert.severity,
    }


def annotations_of(alert: Alert) -> dict[str, str]:
    where = alert.crossing_id or "border"
    return {
        "summary": (
            f"{where} {alert.from_country}→{alert.to_country}: {alert.observed} travellers "
            f"vs {alert.expected:g} expected (\u00d7{alert.ratio:.2f})"
        ),
        "observed": str(alert.observed),
        "expected": f"{alert.expected:g}",
        "ratio": f"{alert.ratio:g}",
        "alert_id": alert.alert_id,
        "window_start": rfc3339(alert.window_start),
        "window_end": rfc3339(alert.window_end),
    }


def rfc3339(t: datetime) -> str:
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Post:
    """One alert to post; `ends_at` None means firing: rendered as now + keep_for at send time,
    so a post retried through a long outage does not arrive already expired."""

    alert: Alert
    labels: dict[str, str]
    starts_at: datetime
    ends_at: datetime | None = None


def render(posts: list[Post], now: datetime, keep_for: timedelta) -> list[dict[str, Any]]:
    """The POST /api/v2/alerts body."""
    body = []
    for p in posts:
        ends_at = p.ends_at if p.ends_at is not None else now + keep_for
        body.append(
            {
                "labels": p.labels,
                "annotations": annotations_of(p.alert),
                "startsAt": rfc3339(p.starts_at),
                "endsAt": rfc3339(max(ends_at, p.starts_at)),  # never before startsAt: a 400
            }
        )
    return body


@dataclass
class Firing:
    """An alert Alertmanager should show as firing: its latest message and its start."""

    alert: Alert
    labels: dict[str, str]
    starts_at: datetime


@dataclass
class FiringSet:
    """Firing alerts by alert_id, for the partitions of the alerts topic this bridge owns.

    `apply` turns each alert message into what to post now: the alert itself, and on a
    change of severity (a new label set, so a new alert to Alertmanager) the old one ended.
    """

    firing: dict[str, Firing] = field(default_factory=dict)
    partition_of: dict[str, int] = field(default_factory=dict)

    def apply(self, alert: Alert, partition: int, now: datetime) -> list[Post]:
        previous = self.firing.get(alert.alert_id)
        labels = labels_of(alert)
        if alert.status == "resolved":
            self.firing.pop(alert.alert_id, None)
            self.partition_of.pop(alert.alert_id, None)
            ended = alert.emitted_at
            if previous is None:
                return [Post(alert, labels, ended, ended)]
            return [Post(alert, previous.labels, previous.starts_at, ended)]
        out = []
        starts_at = alert.emitted_at
        if previous is not None:
            if previous.labels == labels:
                starts_at = previous.starts_at
            else:
                # The old severity ended when the change was emitted (as a resolution does).
                out.append(Post(previous.alert, previous.labels, previous.starts_at, starts_at))
        self.firing[alert.alert_id] = Firing(alert, labels, starts_at)
        self.partition_of[alert.alert_id] = partition
        out.append(Post(alert, labels, starts_at))
        return out

    def still_firing(self) -> list[Post]:
        """Every firing alert, to post again before Alertmanager lets it expire."""
        return [Post(f.alert, f.labels, f.starts_at) for f in self.firing.values()]

    def drop_partitions(self, partitions: set[int]) -> None:
        for alert_id in [a for a, p in self.partition_of.items() if p in partitions]:
            self.firing.pop(alert_id, None)
            self.partition_of.pop(alert_id, None)
