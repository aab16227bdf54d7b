"""The worker `border-surge run` starts in the background: pid file, readiness, stop."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TextIO

from streams.errors import BorderSurgeError
from streams.settings import Settings

STOP_TIMEOUT_S = 30.0
READY_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class WorkerProcess:
    pid: int
    started: bool
    """Started by this run (so Ctrl-C stops it), not reused."""
    log: Path


def pid_file(settings: Settings) -> Path:
    return settings.data_dir / "worker.pid"


def base_url(settings: Settings) -> str:
    host = settings.web_host
    host = "127.0.0.1" if host in ("", "0.0.0.0") else f"[{host}]" if ":" in host else host
    return f"http://{host}:{settings.web_port}"


def dashboard_url(settings: Settings) -> str:
    return base_url(settings) + "/"


def http_get(url: str, timeout: float = 3.0) -> tuple[int, Any]:
    """(status, JSON body or None); status 0 when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, None
    except (OSError, ValueError):
        return 0, None


def alive(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our own child and has exited
    try:
        os.kill(pid, 0)
    except PermissionError:  # alive, but another user's: a recycled pid
        return True
    except ProcessLookupError:
        return False
    return True


def is_worker(pid: int, app_id: str | None = None) -> bool:
    """Guards against a recycled pid: the process must be a border-surge worker, and (when
    app_id is given) one of this app, not another worker that reused the number."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return sys.platform != "linux"  # no /proc to ask: trust the pid file
    if not (b"worker" in argv and any(b"streams.cli" in a or b"border-surge" in a for a in argv)):
        return False
    if app_id is None:
        return True
    ids = [e.split(b"=", 1)[1] for e in environ if e.startswith(b"BORDER_SURGE_APP_ID=")]
    return (ids[-1] if ids else b"border-surge") == app_id.encode()


def running_worker(settings: Settings) -> int | None:
    """The pid from the pid file, if that process is a live worker."""
    with contextlib.suppress(OSError, ValueError):
        pid = int(pid_file(settings).read_text().strip())
        return pid if alive(pid) and is_worker(pid, settings.app_id) else None
    return None


def start_or_reuse(settings: Settings, out: TextIO) -> WorkerProcess:
    log, url = settings.data_dir / "worker.log", base_url(settings)
    if (pid := running_worker(settings)) is not None:
        state = "ready" if http_get(url + "/readyz")[0] == 200 else "not ready yet"
        print(f"worker: reusing the running one (pid {pid}, {state})", file=out)
        return WorkerProcess(pid, False, log)
    if http_get(url + "/readyz")[0] != 0:
        where = f"{url} (no worker in {pid_file(settings)})"
        raise BorderSurgeError(f"something else answers on {where}: set BORDER_SURGE_WEB_PORT")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "worker"],
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C in the terminal is for `run`, which then stops it
        )
    pid_file(settings).write_text(f"{proc.pid}\n")
    print(f"worker: started (pid {proc.pid}), log {log}", file=out)
    return WorkerProcess(proc.pid, True, log)


def fail(worker: WorkerProcess, problem: str) -> NoReturn:
    lines = worker.log.read_text(errors="replace").splitlines() if worker.log.exists() else []
    tail = "\n".join(lines[-30:])
    raise BorderSurgeError(f"the worker (pid {worker.pid}) {problem}; its log ends:\n{tail}")


async def wait_ready(
    settings: Settings, worker: WorkerProcess, limit_s: float = READY_TIMEOUT_S
) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if not alive(worker.pid):
            fail(worker, "exited")
        if (await asyncio.to_thread(http_get, base_url(settings) + "/readyz"))[0] == 200:
            return
        await asyncio.sleep(0.5)
    fail(worker, f"is not ready after {limit_s:.0f} s")


def terminate(pid: int, timeout: float = STOP_TIMEOUT_S) -> str:
    """SIGTERM, wait up to ``timeout``, then SIGKILL; says which one it took."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10.0)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if not alive(pid):
            return "stopped" if sig == signal.SIGTERM else f"killed after {timeout:.0f} s"
    raise BorderSurgeError(f"process {pid} did not exit after SIGKILL")


def stop(settings: Settings, out: TextIO) -> int:
    """`border-surge stop`: stop the worker from the pid file, if it runs. Idempotent."""
    if (pid := running_worker(settings)) is None:
        print("no worker running", file=out)
    else:
        print(f"stopping the worker (pid {pid}) ...", file=out, flush=True)
        print(f"worker {terminate(pid)}", file=out)
    pid_file(settings).unlink(missing_ok=True)
    return 0
