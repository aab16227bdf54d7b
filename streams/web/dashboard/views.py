"""The dashboard's routes: the page at `/`, its static files, and the JSON it polls."""

from __future__ import annotations

import hashlib
import json
import re
from importlib import resources
from typing import TYPE_CHECKING, Any

from faust.web import Request, Response, View

from streams.web.dashboard.feed import AlertFeed
from streams.web.dashboard.overview import find_detector, overview
from streams.web.dashboard.series import SeriesCache, series

if TYPE_CHECKING:
    from streams.web.worker_view import WorkerView

SUBJECT_RE = re.compile(r"^(?:[a-z0-9][a-z0-9-]{0,62}:)?[A-Z]{2}-[A-Z]{2}$")
STATIC = {
    "index.html": "text/html",
    "app.js": "text/javascript",
    "style.css": "text/css",
}
# Only this origin, nothing inline: the page makes no request anywhere else.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
MAX_HOURS = 7 * 24
MAX_LIMIT = 1000


def static_file(name: str) -> bytes:
    return (resources.files("streams.web.dashboard") / "static" / name).read_bytes()


def _body(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int | None:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        return None
    return value if low <= value <= high else None


class _Json(View):
    """JSON with an ETag: an unchanged answer costs a 304 and no bytes."""

    def conditional(self, request: Request, data: Any) -> Response:
        body = _body(data)
        tag = '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
        headers = {"ETag": tag, "Cache-Control": "no-cache"}
        if request.headers.get("If-None-Match") == tag:
            return self.bytes(b"", status=304, headers=headers)
        headers["Content-Type"] = "application/json; charset=utf-8"
        return self.bytes(body, headers=headers)

    def fail(self, status: int, message: str) -> Response:
        return self.bytes(
            _body({"error": message}),
            status=status,
            headers={"Content-Type": "application/json; charset=utf-8"},
        )


def register(service: WorkerView) -> AlertFeed:
    app = service.app
    feed = AlertFeed(service)
    app.add_dependency(feed)
    cache = SeriesCache()
    refresh = service.settings.dashboard_refresh_seconds

    @app.page("/")
    class Page(View):
        async def get(self, request: Request) -> Response:
            return self.bytes(
                static_file("index.html"),
                headers={
                    "Content-Type": "text/html; charset=utf-8",
                    "Content-Security-Policy": CSP,
                    "Cache-Control": "no-cache",
                },
            )

    @app.page("/static/{name}")
    class Static(View):
        async def get(self, request: Request, name: str) -> Response:
            kind = STATIC.get(name)
            if kind is None:
                return self.bytes(b"not found", status=404, headers={"Content-Type": "text/plain"})
            return self.bytes(
                static_file(name),
                headers={"Content-Type": f"{kind}; charset=utf-8", "Cache-Control": "no-cache"},
            )

    @app.page("/dashboard/overview")
    class Overview(_Json):
        async def get(self, request: Request) -> Response:
            parts = list(service.detection.partitions.values())
            borders = overview(parts)
            return self.conditional(
                request,
                {
                    "borders": borders,
                    "directions": sum(len(b["posts"]) for b in borders),
                    "refresh_seconds": refresh,
                },
            )

    @app.page("/dashboard/series/{subject}")
    class Series(_Json):
        async def get(self, request: Request, subject: str) -> Response:
            if not SUBJECT_RE.match(subject):
                return self.fail(400, "invalid subject: use CROSSING:FROM-TO or FROM-TO")
            hours = _int_param(request, "hours", 48, 1, MAX_HOURS)
            if hours is None:
                return self.fail(400, f"hours must be an integer from 1 to {MAX_HOURS}")
            det = find_detector(service.detection.partitions.values(), subject)
            if det is None:
                return self.fail(404, f"no detector for {subject!r} on this worker")
            data = series(det, hours, cache)
            if data is None:
                return self.fail(404, f"{subject!r} has not been evaluated yet")
            return self.conditional(request, data)

    @app.page("/dashboard/alerts")
    class Alerts(_Json):
        async def get(self, request: Request) -> Response:
            limit = _int_param(request, "limit", 100, 0, MAX_LIMIT)
            if limit is None:
                return self.fail(400, f"limit must be an integer from 0 to {MAX_LIMIT}")
            view = feed.timeline.view(limit)
            view["lookback_per_partition"] = feed.lookback
            view["max_episodes"] = feed.timeline.max_episodes
            return self.conditional(request, view)

    return feed
