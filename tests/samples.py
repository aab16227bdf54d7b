"""Sample records shared by tests: one valid alert message as it appears on the alerts topic."""

from __future__ import annotations

import json
from typing import Any

ALERT_ID = "kazbegi-upper-lars:RU-GE:2022-09-21T14:00:00Z"


def sample_alert(**changes: Any) -> dict[str, Any]:
    """A valid firing critical alert of the Georgian post, JSON-ready, with `changes` applied."""
    base: dict[str, Any] = {
        "alert_id": ALERT_ID,
        "status": "firing",
        "severity": "critical",
        "scope": "crossing",
        "crossing_id": "kazbegi-upper-lars",
        "from_country": "RU",
        "to_country": "GE",
        "window_start": "2022-09-21T13:00:00Z",
        "window_end": "2022-09-21T14:05:00Z",
        "observed": 1234,
        "expected": 579.6,
        "ratio": 2.1291,
        "emitted_at": "2022-09-21T14:05:01Z",
        "schema_version": 1,
    }
    return {**base, **changes}


def event_line(event_id: str, crossing: str = "vaalimaa", **changes: object) -> bytes:
    """One valid event into Finland as a JSON line, with `changes` applied."""
    event = {
        "event_id": event_id,
        "crossing_id": crossing,
        "occurred_at": "2022-09-21T10:05:00Z",
        "from_country": "RU",
        "to_country": "FI",
        "travellers": 2,
        **changes,
    }
    return json.dumps(event).encode()
