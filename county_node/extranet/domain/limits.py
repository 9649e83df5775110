"""The portal's rate limits (限流): how many requests a key (a client, a case number) may make in a window.

Pure and in memory, on an injected monotonic clock: :class:`SlidingWindow` keeps, per key, the moments of the
requests counted in the last ``window`` seconds; the request over ``limit`` is refused with the seconds until the
oldest counted one leaves the window (the ``Retry-After`` the portal answers). Keys idle for a window are dropped,
and at most ``max_keys`` are held (the oldest goes first), so a flood of addresses cannot grow it without bound.

:class:`PortalLimits` holds the portal's three: every request per client address, applications and complaints
per client address, status queries and ratings per case (or submission) number — the last stops anyone trying
query codes against one number, from however many addresses.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

from federation.errors import RateLimited

__all__ = ["PortalLimits", "SlidingWindow"]

MonotonicClock = Callable[[], float]


class SlidingWindow:
    """At most ``limit`` counted requests per key in any ``window`` seconds (thread-safe)."""

    def __init__(self, limit: int, window: float, clock: MonotonicClock, *, max_keys: int = 100_000) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("a rate limit needs limit >= 1 and a positive window")
        self.limit = limit
        self.window = window
        self._clock = clock
        self._max_keys = max_keys
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        hits = self._hits.get(key)
        if hits is None:
            hits = deque()
            self._hits[key] = hits
            while len(self._hits) > self._max_keys:
                self._hits.popitem(last=False)
        else:
            self._hits.move_to_end(key)
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        return hits

    def wait(self, key: str) -> int:
        """Seconds until ``key`` may make one more counted request (0: it may now); counts nothing."""
        with self._lock:
            now = self._clock()
            hits = self._recent(key, now)
            if len(hits) < self.limit:
                return 0
            return max(1, math.ceil(hits[0] + self.window - now))

    def hit(self, key: str) -> int:
        """Count one request of ``key`` if it may make it (returns 0), else count nothing and return the wait."""
        with self._lock:
            now = self._clock()
            hits = self._recent(key, now)
            if len(hits) >= self.limit:
                return max(1, math.ceil(hits[0] + self.window - now))
            hits.append(now)
            self._prune(now)
            return 0

    def _prune(self, now: float) -> None:
        """Drop a few keys idle for a whole window (the least recently used first): amortised, bounded work."""
        for _ in range(2):
            if not self._hits:
                return
            key, hits = next(iter(self._hits.items()))
            if hits and hits[-1] > now - self.window:
                return
            del self._hits[key]


def _wait_text(seconds: int) -> str:
    return f"{seconds} 秒" if seconds < 120 else f"{math.ceil(seconds / 60)} 分钟"


@dataclass
class PortalLimits:
    """The extranet portal's limits (``[extranet]``: client_per_minute, submissions_per_hour, case_per_minute)."""

    client: SlidingWindow
    submissions: SlidingWindow
    case: SlidingWindow

    @classmethod
    def per_config(
        cls, *, client_per_minute: int, submissions_per_hour: int, case_per_minute: int, clock: MonotonicClock
    ) -> PortalLimits:
        return cls(
            SlidingWindow(client_per_minute, 60.0, clock),
            SlidingWindow(submissions_per_hour, 3600.0, clock),
            SlidingWindow(case_per_minute, 60.0, clock),
        )

    def request(self, client: str) -> None:
        """Every request of a client address counts (RateLimited beyond the limit)."""
        wait = self.client.hit(client)
        if wait:
            raise RateLimited(
                f"访问过于频繁，请 {_wait_text(wait)}后再试（每个访问者每分钟至多 {self.client.limit} 次）",
                retry_after=wait,
                limit="client",
            )

    def check_submission(self, client: str) -> None:
        """Before an application or a complaint: refused when the client made its hourly share already."""
        wait = self.submissions.wait(client)
        if wait:
            raise RateLimited(
                f"提交过于频繁，请 {_wait_text(wait)}后再试（每个访问者每小时至多提交 {self.submissions.limit} 次"
                "申报或投诉）",
                retry_after=wait,
                limit="submissions",
            )

    def count_submission(self, client: str) -> None:
        """After an application or a complaint was stored: it counts against the client's hourly share."""
        self.submissions.hit(client)

    def lookup(self, number: str) -> None:
        """Every status query and rating of one case (or submission) number counts, whoever asks."""
        wait = self.case.hit(number)
        if wait:
            raise RateLimited(
                f"该编号查询过于频繁，请 {_wait_text(wait)}后再试（每个编号每分钟至多 {self.case.limit} 次）",
                retry_after=wait,
                limit="case",
            )
