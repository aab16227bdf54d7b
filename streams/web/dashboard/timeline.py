"""Alert episodes from the messages of the alerts topic: open ones first, then resolved; bounded.

Pure. Messages are the Alert contract in JSON form (`schemas/alert.py`); one episode per
alert_id: a firing message when it starts, one per change of severity, a resolved one at the
end. Replayed or duplicated messages change nothing (each is keyed by its window end).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

_STAMP = re.compile(r":(\d{8}T\d{4}Z)$")


def fired_at(alert_id: str) -> str | None:
    """The window end the episode fired at, from the id's stamp (``…:20220921T1645Z``)."""
    m = _STAMP.search(alert_id)
    if m is None:
        return None
    when = datetime.strptime(m.group(1), "%Y%m%dT%H%MZ").replace(tzinfo=UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _iso(value: str | datetime) -> str:
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Episode:
    alert_id: str
    scope: str
    crossing_id: str | None
    from_country: str
    to_country: str
    started: str | None
    severity: str = "warning"
    resolved: str | None = None  # window end of the resolved message (event time)
    peak_ratio: float = 0.0
    last_ratio: float = 0.0
    observed: int = 0
    expected: float = 0.0
    last_end: str = ""
    # (window end, status, severity, ratio) of each message, oldest first
    history: list[tuple[str, str, str, float]] = field(default_factory=list)

    @property
    def subject(self) -> str:
        pair = f"{self.from_country}-{self.to_country}"
        return f"{self.crossing_id}:{pair}" if self.crossing_id else pair

    def view(self) -> dict[str, Any]:
        return {
            "alert_id": self.alert_id,
            "subject": self.subject,
            "scope": self.scope,
            "crossing_id": self.crossing_id,
            "from_country": self.from_country,
            "to_country": self.to_country,
            "status": "resolved" if self.resolved else "open",
            "severity": self.severity,
            "started": self.started,
            "resolved": self.resolved,
            "peak_ratio": round(self.peak_ratio, 2),
            "ratio": round(self.last_ratio, 2),
            "observed": self.observed,
            "expected": round(self.expected, 1),
            "history": [
                {"at": at, "status": st, "severity": sev, "ratio": round(r, 2)}
                for at, st, sev, r in self.history
            ],
        }


class Timeline:
    """At most `max_episodes` episodes (the oldest resolved ones go first), each with at most
    `max_history` messages (the first one and the latest ones are kept)."""

    def __init__(self, max_episodes: int = 1000, max_history: int = 50) -> None:
        self.max_episodes = max_episodes
        self.max_history = max_history
        self._episodes: OrderedDict[str, Episode] = OrderedDict()
        self.messages = 0
        self.version = 0  # bumped on every change, for the page's conditional requests

    def __len__(self) -> int:
        return len(self._episodes)

    def add(self, alert: dict[str, Any]) -> None:
        """Take one alert message (already validated against the contract)."""
        self.messages += 1
        alert_id = alert["alert_id"]
        ep = self._episodes.get(alert_id)
        end = _iso(alert["window_end"])
        if ep is None:
            ep = Episode(
                alert_id=alert_id,
                scope=alert["scope"],
                crossing_id=alert.get("crossing_id"),
                from_country=alert["from_country"],
                to_country=alert["to_country"],
                started=fired_at(alert_id) or end,
            )
            self._episodes[alert_id] = ep
        entry = (end, alert["status"], alert["severity"], float(alert["ratio"]))
        if entry in ep.history:
            return
        ep.history.append(entry)
        ep.history.sort(key=lambda h: h[0])
        if len(ep.history) > self.max_history:
            del ep.history[1]  # keep how it started; drop the oldest change after that
        latest = ep.history[-1]
        ep.last_end, _, ep.severity, ep.last_ratio = latest[0], latest[1], latest[2], latest[3]
        if end == latest[0]:
            ep.observed, ep.expected = int(alert["observed"]), float(alert["expected"])
        ep.peak_ratio = max(ep.peak_ratio, entry[3])
        if alert["status"] == "resolved":
            ep.resolved = end
        self.version += 1
        self._evict()

    def observe(self, alert_id: str, ratio: float) -> None:
        """A live evaluation of an open episode's subject: it may raise the peak."""
        ep = self._episodes.get(alert_id)
        if ep is not None and ep.resolved is None and ratio > ep.peak_ratio:
            ep.peak_ratio = ratio
            self.version += 1

    def _evict(self) -> None:
        while len(self._episodes) > self.max_episodes:
            victim = next(
                (k for k, e in self._episodes.items() if e.resolved is not None),
                next(iter(self._episodes)),
            )
            del self._episodes[victim]

    def view(self, limit: int = 100) -> dict[str, Any]:
        """Open episodes (latest start first), then up to `limit` resolved ones (latest end
        first)."""
        episodes = list(self._episodes.values())
        open_ = sorted(
            (e for e in episodes if e.resolved is None),
            key=lambda e: (e.started or "", e.alert_id),
            reverse=True,
        )
        resolved = sorted(
            (e for e in episodes if e.resolved is not None),
            key=lambda e: (e.resolved or "", e.alert_id),
            reverse=True,
        )
        return {
            "open": [e.view() for e in open_],
            "resolved": [e.view() for e in resolved[:limit]],
            "resolved_total": len(resolved),
            "messages": self.messages,
        }
