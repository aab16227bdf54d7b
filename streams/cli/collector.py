"""The worker's settings of Python's cyclic garbage collector.

By default the collector scans the young generation every 700 allocations (net), the middle
one every tenth young collection and everything every tenth of those. The worker makes several
short-lived objects per record (messages, records, tuples), nearly none of them in reference
cycles, and holds much long-lived state (windows, histories), which every older collection
walks again. A young generation of 50,000 objects made the worker use 27% less CPU per event
side by side (10,000 gained 11%; peak memory stayed within the runs' spread; docs/benchmarks.md,
"The garbage collector"). What start-up built (modules, the Faust app, settings) is frozen, so no
later collection walks it.
"""

from __future__ import annotations

import gc

YOUNG_OBJECTS = 50_000  # net allocations between young collections (Python's default: 700)
OLDER_EVERY = (10, 10)  # Python's own: how many younger collections make an older one


def tune_for_the_worker() -> None:
    """Call once start-up has built the app, before the worker runs."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_OBJECTS, *OLDER_EVERY)
