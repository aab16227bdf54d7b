"""The worker's HTTP API: rolling counts per crossing and direction, borders, health, /metrics."""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any

from faust.web import Request, Response, View

from streams.count.counter import PartitionCounter
from streams.count.model import Direction
from streams.count.windows import DAY_MS, MINUTE_MS, to_rfc3339
from streams.detect.config import crossing_key

if TYPE_CHECKING:
    from streams.web.worker_view import WorkerView

CROSSING_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


def direction_view(service: WorkerView, counter: PartitionCounter, d: Direction) -> dict[str, Any]:
    """One direction's rolling windows, ending at the partition's last closed bucket."""
    end = counter.closed_until or 0
    windows = {}
    for minutes in service.settings.window_minutes:
        travellers, events = counter.window_sum(d, end, minutes * MINUTE_MS)
        windows[f"{minutes}m"] = {"travellers": travellers, "events": events}
    return {
        "crossing_id": d[0],
        "from_country": d[1],
        "to_country": d[2],
        "last_bucket_end": to_rfc3339(end) if end else None,
        "windows": windows,
        "detection": detection_view(service, crossing_key(*d)),
    }


def detection_view(service: WorkerView, subject: str) -> dict[str, Any] | None:
    """The subject's latest evaluation (expected, ratio, state, open alert), if held here."""
    for part in service.detection.partitions.values():
        det = part.detectors.get(subject)
        if det is not None:
            snap = det.snapshot()
            return {
                "state": snap.state.value,
                "severity": snap.severity.value if snap.severity else None,
                "alert_id": snap.alert_id,
                "window_end": to_rfc3339(snap.window_end_ms) if snap.window_end_ms else None,
                "observed": snap.observed,
                "expected": None if snap.expected is None else round(snap.expected, 2),
                "ratio": None if snap.ratio is None else round(snap.ratio, 3),
                "baseline": snap.baseline_source,
            }
    return None


def register(service: WorkerView) -> None:
    app = service.app
    counting = service.counting

    @app.page("/crossings")
    class Crossings(View):
        async def get(self, request: Request) -> Response:
            items = [
                direction_view(service, counter, d)
                for counter in counting.counters.values()
                for d in counter.directions()
            ]
            items.sort(key=lambda x: (x["crossing_id"], x["from_country"], x["to_country"]))
            return self.json(
                {"directions": items, "generated_at": to_rfc3339(int(time.time() * 1000))}
            )

    @app.page("/borders")
    class Borders(View):
        async def get(self, request: Request) -> Response:
            items = []
            for part in service.detection.partitions.values():
                for border, state in part.borders.items():
                    posts = sorted({d[0] for d in state.first_bucket})
                    items.append(
                        {
                            "border": border,
                            "posts": posts,
                            "detection": detection_view(service, border),
                        }
                    )
            items.sort(key=lambda x: str(x["border"]))
            return self.json({"borders": items})

    @app.page("/crossings/{crossing_id}")
    class Crossing(View):
        async def get(self, request: Request, crossing_id: str) -> Response:
            if not CROSSING_RE.match(crossing_id):
                return self.json({"error": "invalid crossing_id"}, status=400)
            local = [
                (counter, d)
                for counter in counting.counters.values()
                for d in counter.directions()
                if d[0] == crossing_id
            ]
            if not local:
                try:
                    return await app.router.route_req(
                        service.table.name, crossing_id.encode(), self.web, request
                    )
                except Exception:
                    pass
                return self.json({"error": f"unknown crossing {crossing_id!r}"}, status=404)
            directions = []
            for counter, d in local:
                view = direction_view(service, counter, d)
                end = counter.closed_until or 0
                view["buckets"] = [
                    {
                        "bucket_start": to_rfc3339(b.start_ms),
                        "travellers": b.travellers,
                        "events": b.events,
                        "revision": b.revision,
                    }
                    for b in counter.buckets(d, max(end - DAY_MS, counter.first_bucket[d]), end)
                ]
                directions.append(view)
            return self.json({"crossing_id": crossing_id, "directions": directions})


def register_health(service: WorkerView) -> None:
    app = service.app

    @app.page("/healthz")
    class Health(View):
        async def get(self, request: Request) -> Response:
            return self.json({"status": "alive"})

    @app.page("/readyz")
    class Ready(View):
        async def get(self, request: Request) -> Response:
            checks = service.readiness()
            ok = all(checks.values())
            return self.json({"ready": ok, "checks": checks}, status=200 if ok else 503)


def register_metrics(service: WorkerView) -> None:
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    @service.app.page("/metrics")
    class Metrics(View):
        async def get(self, request: Request) -> Response:
            service.metrics.refresh(service)
            body = generate_latest(service.metrics.registry)
            # aiohttp rejects a charset inside content_type=; the header carries it whole.
            return self.bytes(body, headers={"Content-Type": CONTENT_TYPE_LATEST})
