"""Exponential backoff with full jitter, for reconnecting links and parked origins."""

from __future__ import annotations

import random

__all__ = ["Backoff"]


class Backoff:
    """Exponential backoff with full jitter: the n-th delay is uniform in [0, min(maximum, initial·2ⁿ)]."""

    def __init__(self, initial: float = 0.2, maximum: float = 10.0, rng: random.Random | None = None) -> None:
        self.initial = initial
        self.maximum = maximum
        self.attempts = 0
        self._rng = rng or random.Random()

    def next_delay(self) -> float:
        ceiling = min(self.maximum, self.initial * 2 ** min(self.attempts, 32))
        self.attempts += 1
        return self._rng.uniform(0, ceiling)

    def reset(self) -> None:
        self.attempts = 0
