"""A border-surge worker as a child process: started with bench settings, watched, stopped."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WORKER = REPO / ".venv" / "bin" / "border-surge"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Worker:
    """One `border-surge worker` process; several may share an app id (a consumer group)."""

    def __init__(
        self, bootstrap: str, run_id: str, events_topic: str, workdir: Path, **extra: str
    ) -> None:
        self.port = free_port()
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.env = {
            **os.environ,
            "BORDER_SURGE_BROKER": f"kafka://{bootstrap}",
            "BORDER_SURGE_TOPIC_PREFIX": run_id,
            "BORDER_SURGE_APP_ID": run_id,
            "BORDER_SURGE_EVENTS_TOPIC_NAME": events_topic,
            "BORDER_SURGE_WEB_PORT": str(self.port),
            "BORDER_SURGE_DATA_DIR": str(workdir / "data"),
            **extra,
        }
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> None:
        log = (self.workdir / f"worker-{self.port}.log").open("ab")
        self.proc = subprocess.Popen(
            [str(WORKER), "worker"], env=self.env, stdout=log, stderr=subprocess.STDOUT
        )

    def get(self, path: str, timeout: float = 2.0) -> tuple[int, bytes]:
        url = f"http://127.0.0.1:{self.port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()
        except OSError:
            return 0, b""

    def ready(self) -> bool:
        return self.get("/readyz")[0] == 200

    def wait_ready(self, timeout: float = 120.0, interval: float = 0.05) -> float:
        """Wall time at which /readyz first answered 200."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"worker exited ({self.proc.returncode}); see {self.workdir}")
            if self.ready():
                return time.time()
            time.sleep(interval)
        raise TimeoutError(f"worker not ready after {timeout} s; see {self.workdir}")

    def metrics(self) -> dict[str, float]:
        """Counter totals from /metrics, labels summed."""
        status, body = self.get("/metrics")
        out: dict[str, float] = {}
        if status != 200:
            return out
        for line in body.decode().splitlines():
            if not line or line[0] == "#":
                continue
            name, _, value = line.rpartition(" ")
            name = name.split("{", 1)[0]
            try:
                out[name] = out.get(name, 0.0) + float(value)
            except ValueError:
                continue
        return out

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def settled(metrics: dict[str, float]) -> float:
    """Input records the worker has finished with: counted, duplicates, dead-lettered."""
    return (
        metrics.get("border_events_counted_total", 0.0)
        + metrics.get("border_events_duplicate_total", 0.0)
        + metrics.get("border_events_dead_lettered_total", 0.0)
    )
