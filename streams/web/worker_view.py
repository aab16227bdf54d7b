"""The worker as the web views see it: the stage interface plus the stages' live state."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from streams.worker import Worker

if TYPE_CHECKING:
    from streams.count.agent import Counting
    from streams.detect.agent import Detection


class WorkerView(Worker, Protocol):
    """What /crossings, /borders, health and the dashboard read; `streams.app.Service` has it."""

    counting: Counting
    detection: Detection
    table: Any

    def readiness(self) -> dict[str, bool]: ...
