"""A real Prometheus Alertmanager for tests, and a webhook receiver recording its notifications."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ALERTMANAGER = "/usr/bin/prometheus-alertmanager"


class Webhook:
    """Records every notification Alertmanager sends (JSON bodies), on 127.0.0.1."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def notified(self, status: str, alert_id: str, severity: str | None = None) -> bool:
        return any(
            a["status"] == status
            and a["annotations"].get("alert_id") == alert_id
            and (severity is None or a["labels"].get("severity") == severity)
            for n in self.received
            for a in n["alerts"]
        )

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class AlertmanagerProcess:
    """prometheus-alertmanager on 127.0.0.1:port, clustering off, its storage under `home`."""

    def __init__(self, home: Path, port: int, webhook_url: str) -> None:
        self.home = home
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.config = home / "alertmanager.yml"
        self.proc: subprocess.Popen[bytes] | None = None
        home.mkdir(parents=True, exist_ok=True)
        self.config.write_text(
            "route:\n"
            "  receiver: hook\n"
            "  group_by: [alertname, crossing_id, severity]\n"
            "  group_wait: 1s\n"
            "  group_interval: 1s\n"
            "  repeat_interval: 1h\n"
            "receivers:\n"
            "  - name: hook\n"
            "    webhook_configs:\n"
            f"      - url: {webhook_url}\n"
            "        send_resolved: true\n"
        )

    def start(self, fresh: bool = False) -> AlertmanagerProcess:
        if not Path(ALERTMANAGER).exists():
            raise AssertionError(
                f"{ALERTMANAGER} is missing: apt-get install prometheus-alertmanager"
            )
        storage = self.home / "data"
        if fresh:
            shutil.rmtree(storage, ignore_errors=True)
        log = open(self.home / "alertmanager.log", "ab")
        self.proc = subprocess.Popen(
            [
                ALERTMANAGER,
                f"--config.file={self.config}",
                f"--storage.path={storage}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--cluster.listen-address=",
                "--log.level=warn",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"alertmanager exited: {self.tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as r:
                    if r.status == 200:
                        return self
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.2)
        raise AssertionError(f"alertmanager not ready: {self.tail()}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def alerts(self) -> list[dict[str, Any]]:
        """GET /api/v2/alerts: the alerts it holds as active (not resolved)."""
        with urllib.request.urlopen(f"{self.url}/api/v2/alerts", timeout=5) as r:
            return list(json.loads(r.read()))

    def tail(self, n: int = 30) -> str:
        try:
            lines = (self.home / "alertmanager.log").read_text(errors="replace").splitlines()
            return "\n".join(lines[-n:])
        except OSError:
            return ""
