"""Where a receiver's time goes: seconds per stage of receiving batches, summed since the process started.

A :class:`StageClock` is kept by each :class:`~sync_agent.store.SqlBatchSink` (and fed by the servicer that
decodes and verifies for it); ``bench replication`` prints its summary, top stages first. Taking the time costs
two ``perf_counter`` calls per stage per group of batches, never per record.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["StageClock"]


class StageClock:
    """Seconds spent per named stage (thread-safe: a receiver's streams add to one clock)."""

    def __init__(self) -> None:
        self._seconds: dict[str, float] = {}
        self._lock = threading.Lock()

    def add(self, stage: str, seconds: float) -> None:
        with self._lock:
            self._seconds[stage] = self._seconds.get(stage, 0.0) + seconds

    @contextmanager
    def timing(self, stage: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.add(stage, time.perf_counter() - started)

    def snapshot(self) -> dict[str, float]:
        """Every stage's seconds, the largest first."""
        with self._lock:
            return dict(sorted(self._seconds.items(), key=lambda kv: -kv[1]))
