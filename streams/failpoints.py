"""Named pauses in the pipeline, off unless a test arms them, to inject a fault at an exact moment.

A reliability test sets `BORDER_SURGE_FAILPOINTS` to a comma-separated list of names (for
example `ingest.write,detect.commit`). The first time the worker reaches an armed point it
writes `<data dir>/failpoints/<name>.reached` and waits, its event loop running (heartbeats,
producer retries), until the test creates `<name>.release`. Between the two the test can stop
the broker, kill a process, or anything else, and know where the worker stood. Points fire
once each. With the variable unset (always, in production) `reached` returns at once.

A loss point (`ingest.deliver`) is not a pause: once armed, the next `LOSS_COUNT` records of
one partition from offset `LOSS_FROM` on are dropped on their first delivery to a batch
channel, as Faust's fetch loop can drop records (streams/kafka/continuity.py). Likewise
`fetch.changelog`: the records of the first fetch that returns a table's changelog records are
withheld from Faust, as its `getmany` drops records during a rebalance
(streams/kafka/fetch_again.py must fetch them again).

The points: `ingest.write` (a validated batch, before it is written to the keyed topic),
`ingest.commit` (a batch written to the keyed topic, its input offsets not yet committed),
`count.save` (counted, bucket records written, before the state and offset are saved),
`detect.begin` (a transaction begun, nothing sent in it yet: the sends then meet the outage)
and `detect.commit` (alerts and detector state sent in the transaction, before its commit).
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

ENV = "BORDER_SURGE_FAILPOINTS"
_armed: set[str] = {n.strip() for n in os.environ.get(ENV, "").split(",") if n.strip()}
_directory: Path | None = None


def configure(data_dir: Path) -> None:
    global _directory
    _directory = data_dir / "failpoints"
    if _armed:
        _directory.mkdir(parents=True, exist_ok=True)
        logger.warning("failpoints armed (a test): %s", ", ".join(sorted(_armed)))


async def reached(name: str) -> None:
    if not _armed or name not in _armed:
        return
    _armed.discard(name)
    directory = _directory or Path(".")
    release = directory / f"{name}.release"
    (directory / f"{name}.reached").write_text("")
    logger.warning("failpoint %s reached; waiting for %s", name, release)
    while not release.exists():  # noqa: ASYNC110 - the signal is a file another process writes
        await asyncio.sleep(0.05)
    logger.warning("failpoint %s released", name)


LOSS_FROM = 100
LOSS_COUNT = 50
_losses: dict[str, tuple[Any, int, set[int]]] = {}  # point -> (partition, first lost, dropped)


def armed(name: str) -> bool:
    return name in _armed


def fire(name: str, what: str) -> bool:
    """Whether an armed one-shot point fires now (then it is disarmed)."""
    if name not in _armed:
        return False
    _armed.discard(name)
    logger.warning("failpoint %s: %s", name, what)
    return True


def lost(name: str, tp: Any, offset: int) -> bool:
    """Whether an armed loss point drops this delivered record (each offset once)."""
    loss = _losses.get(name)
    if loss is None:
        if name not in _armed or offset < LOSS_FROM:
            return False
        _armed.discard(name)
        loss = _losses[name] = (tp, offset, set())
        logger.warning(
            "failpoint %s: dropping %d records of %s from offset %d", name, LOSS_COUNT, tp, offset
        )
    lost_tp, first, dropped = loss
    if tp != lost_tp or not first <= offset < first + LOSS_COUNT or offset in dropped:
        return False
    dropped.add(offset)
    return True
