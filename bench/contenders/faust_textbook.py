"""Contender 3, textbook Faust: a hopping windowed table `+=` per event, as Faust's docs show.

Run: python faust_textbook.py BOOTSTRAP TOPIC APP_ID DATADIR EXPECTED. The table key is the
direction, which is also the record key: no repartition is needed.
"""

from __future__ import annotations

import sys
from datetime import datetime, timedelta

import faust

sys.path.insert(0, __file__.rsplit("/", 2)[0])
from proc import mark

bootstrap, topic_name, app_id, datadir, expected = sys.argv[1:6]
EXPECTED = int(expected)


class CrossingEvent(faust.Record, serializer="json", isodates=True):
    event_id: str
    crossing_id: str
    occurred_at: datetime
    from_country: str
    to_country: str
    travellers: int
    mode: str = "other"
    schema_version: int = 1


app = faust.App(
    app_id,
    broker=f"kafka://{bootstrap}",
    store="memory://",
    datadir=datadir,
    topic_partitions=6,
    consumer_auto_offset_reset="earliest",
    web_enabled=False,
)
events = app.topic(topic_name, key_type=str, value_type=CrossingEvent)
travellers = (
    app.Table("travellers", default=int)
    .hopping(timedelta(minutes=60), timedelta(minutes=5), expires=timedelta(hours=2))
    .relative_to_field(CrossingEvent.occurred_at)
)
seen = 0


@app.agent(events)
async def count(stream: faust.StreamT[CrossingEvent]) -> None:
    global seen
    async for ev in stream:
        travellers[f"{ev.crossing_id}|{ev.from_country}|{ev.to_country}"] += ev.travellers
        seen += 1
        if seen == 1:
            mark("START")
        elif seen == EXPECTED:
            mark("DONE", seen)


@app.task
async def ready() -> None:
    mark("READY")


if __name__ == "__main__":
    # info, not warn: at warn and above Faust's worker sets the root logger to DEBUG for its
    # terminal spinner, and every debug call in the process then builds a log record.
    sys.argv = [sys.argv[0], "worker", "-l", "info", "--without-web"]
    app.main()
