"""What one counted batch tells the metrics and the log: counted, duplicates, late, replays."""

from __future__ import annotations

import logging
from typing import Any

from streams.count.model import BatchResult
from streams.metrics import Metrics

logger = logging.getLogger("streams.count.agent")


def report_batch(
    metrics: Metrics, partition: int, result: BatchResult, messages: list[Any], max_ids: int
) -> None:
    metrics.counted.inc(result.counted)
    metrics.duplicates.inc(result.duplicates)
    metrics.late.inc(result.late)
    if result.replayed:  # expected after a restart or a move; the first clue to a short count
        logger.info(
            "partition %d: %d records already counted (offsets %d-%d)",
            partition,
            result.replayed,
            messages[0].offset,
            messages[-1].offset,
        )
    if result.evicted_ids:
        metrics.dedupe_evicted.inc(result.evicted_ids)
        logger.warning(
            "partition %d: %d event ids forgotten before their dedupe horizon "
            "(BORDER_SURGE_DEDUPE_MAX_IDS=%d); a duplicate of one would count again",
            partition,
            result.evicted_ids,
            max_ids,
        )
