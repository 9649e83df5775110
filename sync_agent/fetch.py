"""The ``Fetch`` RPC's work at a receiver (:class:`sync_agent.server.ReplicationServicer` answers it): the batches
of one origin held here, streamed back unchanged to a node below that may take them (``fetch_policy``: its own
origin, for its recovery, and its ancestors'), in seq order.

A fetch holds a worker thread as a stream does, so it counts against the caller's streams (``StreamLimits``); a
caller has one fetch at a time; one fetch reads a few batches at a time (what it holds while its reader is slow)
and ends after an hour (the recovery goes on from where it got, with another).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence

import structlog

from federation.errors import Forbidden, LimitExceeded, ValidationError
from sync_agent.answers import AllowPolicy
from sync_agent.domain import Batch, excerpt
from sync_agent.stream_guard import StreamGuard

__all__ = ["BatchesAfter", "Fetching"]

log = structlog.get_logger(__name__)

BatchesAfter = Callable[[str, int, int], Sequence[Batch]]
"""``batches_after(origin, high_water, limit)``: batches held here, consecutive from ``high_water + 1``, unchanged
(``SqlBatchSource.batches_after``)."""

_MAX_SEQ = 2**63 - 1  # the stores' 64-bit integers


class Fetching:
    def __init__(
        self,
        batches_after: BatchesAfter,
        allowed: AllowPolicy,
        guard: StreamGuard,
        *,
        page: int = 16,
        limit_s: float = 3600.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._batches_after = batches_after
        self._allowed = allowed
        self._guard = guard
        self._page = page
        self._limit_s = limit_s
        self._monotonic = monotonic
        self._callers: set[str] = set()  # callers with a fetch under way
        self._lock = threading.Lock()

    def batches(self, caller: str, origin: str, after_seq: int, active: Callable[[], bool]) -> Iterator[Batch]:
        """The batches of ``origin`` after ``after_seq`` for ``caller`` (its certificate's division), while
        ``active()``; Forbidden, ValidationError or LimitExceeded before the first when it may not have them."""
        if not self._allowed(caller, origin):
            raise Forbidden(
                f"节点 {caller} 无权取回来源 {excerpt(origin)} 的记录：只能取回本节点自己的记录及上级下发的记录",
                caller=caller,
                origin=excerpt(origin),
            )
        if after_seq > _MAX_SEQ:
            raise ValidationError(f"取回的起点序号 {after_seq} 超出范围")
        with self._lock:
            if caller in self._callers:
                raise LimitExceeded(f"节点 {caller} 已有一次取回在进行，请等它结束", caller=caller)
            self._guard.open(caller)
            self._callers.add(caller)
        try:
            yield from self._pages(caller, origin, after_seq, active)
        finally:
            with self._lock:
                self._callers.discard(caller)
            self._guard.close(caller)

    def _pages(self, caller: str, origin: str, after: int, active: Callable[[], bool]) -> Iterator[Batch]:
        sent, started = 0, self._monotonic()
        log.info("replication.fetch_started", caller=caller, origin=origin, after=after)
        while active():
            if self._monotonic() - started > self._limit_s:
                raise LimitExceeded(f"一次取回超过 {self._limit_s:g} 秒，已结束；请从第 {after} 条之后继续")
            page = self._batches_after(origin, after, self._page)
            if not page:
                break
            yield from page
            sent += len(page)
            after = page[-1].last_seq
        log.info("replication.fetch_done", caller=caller, origin=origin, batches=sent, last_seq=after)
