"""Contender 2, the peer: Quix Streams, per-direction 60-minute hopping sum, 5-minute step.

Runs in its own virtualenv (bench/.venv-quix). Run: python quix_hopping.py BOOTSTRAP TOPIC
GROUP STATE_DIR EXPECTED. Windows follow event time (occurred_at); the record key is the
direction, so no repartition is needed.
"""

from __future__ import annotations

import logging
import sys
from datetime import datetime

from quixstreams import Application

sys.path.insert(0, __file__.rsplit("/", 2)[0])
from proc import mark

bootstrap, topic_name, group, state_dir, expected = sys.argv[1:6]
EXPECTED = int(expected)


def event_time(value: dict, headers: object, timestamp: int, kind: object) -> int:
    return int(datetime.fromisoformat(value["occurred_at"]).timestamp() * 1000)


seen = 0


def tick(value: dict) -> None:
    global seen
    seen += 1
    if seen == 1:
        mark("START")
    elif seen == EXPECTED:
        mark("DONE", seen)


def main() -> None:
    app = Application(
        broker_address=bootstrap,
        consumer_group=group,
        auto_offset_reset="earliest",
        state_dir=state_dir,
        loglevel=logging.WARNING,
    )
    topic = app.topic(
        topic_name,
        key_deserializer="str",
        value_deserializer="json",
        timestamp_extractor=event_time,
    )
    sdf = app.dataframe(topic)
    sdf = sdf.update(tick)
    sdf = sdf.apply(lambda v: v["travellers"])
    sdf = sdf.hopping_window(duration_ms=3_600_000, step_ms=300_000).sum().final()
    mark("READY")
    app.run(sdf)


if __name__ == "__main__":
    main()
