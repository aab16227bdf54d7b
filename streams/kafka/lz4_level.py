"""The lz4 level of the worker's producers.

aiokafka compresses lz4 at level 9 (the broker's default, KIP-390) and has no setting for it.
In the worker's profile level 9 was about 7% of the CPU (docs/benchmarks.md); level 1 costs a
tenth of that per batch for about 30% more bytes (measured: `tests/unit/kafka/test_lz4_level.py`
and docs/benchmarks.md). The level is set by handing aiokafka's record batch builders (its C
and its Python ones) an lz4 encoder with that level; any consumer reads any level. Faust's
producer and ours are aiokafka's, so every producer of the worker process uses it.
"""

from __future__ import annotations

import importlib
from functools import partial
from typing import Any

from aiokafka import codec

# The modules whose batch builders call `lz4_encode` by that name.
BUILDERS = (
    "aiokafka.record.default_records",
    "aiokafka.record.legacy_records",
    "aiokafka.record._crecords.default_records",
    "aiokafka.record._crecords.legacy_records",
)


def use_lz4_level(level: int) -> list[str]:
    """Make aiokafka compress lz4 at `level`; returns the builder modules it applies to."""
    encode = partial(codec.lz4_encode, level=level)
    applied = []
    for name in BUILDERS:
        try:
            module: Any = importlib.import_module(name)
        except ImportError:  # aiokafka built without its C extensions
            continue
        if hasattr(module, "lz4_encode"):
            module.lz4_encode = encode
            applied.append(name)
    return applied
