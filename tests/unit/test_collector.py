"""The worker's garbage-collector settings (streams/cli/collector.py)."""

from __future__ import annotations

import gc

from streams.cli import collector


def test_the_worker_collects_young_objects_less_often_and_skips_what_start_up_built() -> None:
    before = gc.get_threshold()
    try:
        collector.tune_for_the_worker()
        assert gc.get_threshold() == (collector.YOUNG_OBJECTS, *collector.OLDER_EVERY)
        assert gc.get_freeze_count() > 0  # start-up's objects: out of every later collection
        assert collector.YOUNG_OBJECTS > before[0]
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
