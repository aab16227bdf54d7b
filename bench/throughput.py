"""The side-by-side throughput runs: each contender reads the same pre-loaded topic to its end."""

from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from kafka_util import Lag, delete_topics, topic_bytes
from proc import cpu_seconds, peak_rss_mb
from worker import REPO, Worker, settled

HERE = Path(__file__).resolve().parent
MAIN_PY = REPO / ".venv" / "bin" / "python"
QUIX_PY = HERE / ".venv-quix" / "bin" / "python"
CONTENDERS = ("raw_limit", "quix", "faust_textbook", "border_surge")


@dataclass
class Run:
    contender: str
    events: int
    seconds: float
    cpu_seconds: float
    peak_rss_mb: float

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds

    @property
    def cpu_s_per_million(self) -> float:
        return self.cpu_seconds / self.events * 1e6

    def as_dict(self) -> dict[str, float | str | int]:
        return {
            **asdict(self),
            "events_per_s": round(self.events_per_s, 1),
            "cpu_s_per_million": round(self.cpu_s_per_million, 2),
        }


def timeout_for(events: int) -> float:
    # Generous (a shared machine may be slow), yet a stuck run must still end.
    return 300 + events / 100


def _script(
    contender: str, bootstrap: str, topic: str, events: int, run_id: str, tmp: Path
) -> list[str]:
    c = HERE / "contenders"
    if contender == "raw_limit":
        return [str(MAIN_PY), str(c / "raw_limit.py"), bootstrap, topic, str(events), "6"]
    if contender == "quix":
        return [
            str(QUIX_PY),
            str(c / "quix_hopping.py"),
            bootstrap,
            topic,
            run_id,
            str(tmp),
            str(events),
        ]
    if contender == "faust_textbook":
        return [
            str(MAIN_PY),
            str(c / "faust_textbook.py"),
            bootstrap,
            topic,
            run_id,
            str(tmp),
            str(events),
        ]
    raise ValueError(contender)


def run_script(
    contender: str, bootstrap: str, topic: str, events: int, run_id: str, tmp: Path
) -> Run:
    """A contender script prints START and DONE marks (wall, cpu, peak rss) on stdout."""
    tmp.mkdir(parents=True, exist_ok=True)
    log = (tmp / "stderr.log").open("wb")
    proc = subprocess.Popen(
        _script(contender, bootstrap, topic, events, run_id, tmp),
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    marks: dict[str, list[str]] = {}
    deadline = time.time() + timeout_for(events)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            parts = line.split()
            if parts and parts[0] in ("READY", "START", "DONE"):
                marks[parts[0]] = parts
            if "DONE" in marks or time.time() > deadline:
                break
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if "DONE" not in marks or "START" not in marks:
        raise RuntimeError(f"{contender} did not finish; see {tmp / 'stderr.log'}")
    start, done = marks["START"], marks["DONE"]
    return Run(
        contender,
        events,
        float(done[1]) - float(start[1]),
        float(done[2]) - float(start[2]),
        float(done[3]),
    )


async def _wait_pipeline(
    w: Worker, bootstrap: str, run_id: str, topic: str, events: int
) -> tuple[float, float, float, float]:
    """Walls at ready, counted and done, and the CPU time at ready."""
    t_ready = await asyncio.to_thread(w.wait_ready, 180.0)
    cpu0 = cpu_seconds(w.pid)
    deadline = time.time() + timeout_for(events)
    t_counted = 0.0
    while time.time() < deadline:
        if settled(await asyncio.to_thread(w.metrics)) >= events:
            t_counted = time.time()
            break
        await asyncio.sleep(0.5)
    else:
        raise RuntimeError(f"border-surge did not count {events} events; see {w.workdir}")
    # Every stage's input committed to its end: ingest, counting and detection are done.
    lag = Lag(bootstrap)
    await lag.start()
    try:
        topics = [topic, f"{run_id}.events.by-crossing", f"{run_id}.buckets.by-border"]
        while time.time() < deadline:
            if await lag.lag(run_id, topics) == 0:
                return t_ready, t_counted, time.time(), cpu0
            await asyncio.sleep(0.5)
    finally:
        await lag.stop()
    raise RuntimeError(f"border-surge did not commit every stage; see {w.workdir}")


def run_border_surge(
    bootstrap: str, topic: str, events: int, run_id: str, tmp: Path
) -> tuple[Run, float, dict[str, int]]:
    """The worker with production settings: the run, its rate up to 'counted', its work."""
    w = Worker(bootstrap, run_id, topic, tmp)
    w.start()
    try:
        t_ready, t_counted, t_done, cpu0 = asyncio.run(
            _wait_pipeline(w, bootstrap, run_id, topic, events)
        )
        cpu1 = cpu_seconds(w.pid)
        rss = peak_rss_mb(w.pid)
        final = w.metrics()
    finally:
        w.stop()
    work = {  # what the pipeline did besides reading: buckets published, late corrections
        k: int(final.get(f"border_{k}_total", 0))
        for k in ("events_counted", "events_late", "buckets_closed", "alert_messages")
    }
    # Bytes on the broker (lz4 batches, before any compaction) of counting's state changelog
    # and of the keyed topic counting reads (issue #19).
    changelog, keyed = f"{run_id}-state-changelog", f"{run_id}.events.by-crossing"
    sizes = topic_bytes(bootstrap, [changelog, keyed])
    work |= {"changelog_bytes": sizes[changelog], "keyed_topic_bytes": sizes[keyed]}
    run = Run("border_surge", events, t_done - t_ready, cpu1 - cpu0, rss)
    return run, events / (t_counted - t_ready), work


def run_one(
    contender: str, bootstrap: str, topic: str, events: int, run_id: str, tmp: Path, cap: int
) -> dict:
    """One run of one contender; textbook Faust reads only the first `cap` records (it is slow)."""
    if contender == "faust_textbook":
        events = min(events, cap)
    try:
        if contender == "border_surge":
            run, counted_rate, work = run_border_surge(bootstrap, topic, events, run_id, tmp)
            out = run.as_dict() | {"events_per_s_to_counted": round(counted_rate, 1), **work}
        else:
            out = run_script(contender, bootstrap, topic, events, run_id, tmp).as_dict()
    finally:
        asyncio.run(delete_topics(bootstrap, run_id))
    shutil.rmtree(tmp, ignore_errors=True)  # kept, with its logs, when the run failed
    print(
        f"  {contender:15s} {out['events_per_s']:>10,.0f} ev/s  {out['cpu_s_per_million']:>8.1f} "
        f"CPU s/M  {out['peak_rss_mb']:>7.1f} MB  ({out['seconds']:.1f} s)",
        file=sys.stderr,
        flush=True,
    )
    return out
