"""Capped exponential backoff with jitter, for retrying a service that is down."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """Delay before retry n (0-based): initial * factor^n, capped, less up to `jitter` of it.

    Jitter spreads the retries of several workers so they do not hit a recovering service
    in step; it only shortens a delay, so `maximum` stays a true bound.
    """

    initial: float = 0.5
    maximum: float = 60.0
    factor: float = 2.0
    jitter: float = 0.2

    def delay(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        base = min(self.maximum, self.initial * self.factor ** min(attempt, 64))
        return base * (1 - self.jitter * rand())
