"""The worker's HTTP API: bound to 127.0.0.1 by default; every path and query input is
validated (400 or 404 as JSON), and no request shows a stack trace."""

from __future__ import annotations

import asyncio
import json
import socket
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from streams.kafka.admin import ensure_topics
from streams.settings import Settings
from tests.support import WorkerProcess, produce, settings_from, synthetic_events, wait_until

pytestmark = pytest.mark.integration


def listening_addresses(port: int) -> set[str]:
    """Local addresses with a listening TCP socket on `port` (from /proc/net/tcp and tcp6)."""
    found = set()
    for name in ("tcp", "tcp6"):
        path = Path(f"/proc/net/{name}")
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            addr, port_hex = local.split(":")
            if state == "0A" and int(port_hex, 16) == port:  # 0A = LISTEN
                if name == "tcp":
                    found.add(socket.inet_ntop(socket.AF_INET, bytes.fromhex(addr)[::-1]))
                else:
                    found.add(addr)
    return found


def request(url: str, method: str = "GET") -> tuple[int, str, bytes]:
    req = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read()


def test_default_bind_address_is_loopback() -> None:
    assert Settings().web_host == "127.0.0.1"


def test_api_inputs_are_validated_without_stack_traces(service_env, tmp_path) -> None:
    settings = settings_from(service_env)
    asyncio.run(ensure_topics(settings))
    worker = WorkerProcess(service_env, tmp_path / "worker.log").start()
    try:
        worker.wait_ready()
        assert listening_addresses(worker.port) == {"127.0.0.1"}
        messages = synthetic_events(2000, 4, seed=5, span_ms=7_200_000)
        asyncio.run(produce(settings.bootstrap_servers, settings.events_topic, messages))
        wait_until(lambda: worker.get_json("/crossings/post-0")[0] == 200, 60)

        base = f"http://127.0.0.1:{worker.port}"
        cases = {
            "/crossings/post-0": 200,
            "/crossings/post-0?window=abc&x=%00": 200,  # no query parameters: ignored
            "/crossings?limit=-1": 200,
            "/crossings/no-such-post": 404,
            "/crossings/Post-0": 400,
            "/crossings/-post": 400,
            "/crossings/post_0": 400,
            "/crossings/" + "a" * 64: 400,
            "/crossings/" + "a" * 5000: 400,
            "/crossings/%C3%A9": 400,
            "/crossings/%FF%FE": 400,
            "/crossings/%00": 400,
            "/crossings/post-0%0Aevil": 400,
            "/crossings/..%2F..%2Fetc": 400,
            "/crossings/%20": 400,
            "/nowhere": 404,
            "/crossings/post-0/extra": 404,
        }
        for path, expected in cases.items():
            status, content_type, body = request(base + path)
            assert status == expected, (path, status, body[:300])
            assert b"Traceback" not in body and b'File "' not in body, (path, body[:300])
            if path.startswith("/crossings") and path.count("/") <= 2:  # our handlers
                assert content_type.startswith("application/json"), (path, content_type)
                doc = json.loads(body)
                if expected != 200:
                    assert isinstance(doc.get("error"), str), (path, doc)
        status, _, body = request(base + "/crossings", method="POST")
        assert status == 405 and b"Traceback" not in body
        assert worker.proc is not None and worker.proc.poll() is None
    finally:
        worker.stop()
    assert "Traceback" not in worker.log_path.read_text(errors="replace")
