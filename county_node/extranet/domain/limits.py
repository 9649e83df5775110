"""The portal's rate limits (限流): how many requests a key (a client, a case number) may make in a window.

Pure and in memory, on an injected monotonic clock: :class:`SlidingWindow` keeps, per key, the moments of the
requests counted in the last ``window`` seconds; the request over ``limit`` is refused with the seconds until the
oldest counted one leaves the window (the ``Retry-After`` the portal answers). Keys idle for a window are dropped,
and at most ``max_keys`` are held (the oldest goes first), so a flood of addresses cannot grow it without bound.

:class:`PortalLimits` holds the portal's four: every request per client, applications and complaints per client
(taken atomically before the write, given back when nothing was stored), and the failed query-code checks of a
case (or submission) number — per number and client, and per number from anyone (:data:`CASE_SPREAD` times as
many). Only a failure counts, so nobody locks an applicant out by asking about their number; a locked number is
refused before its code is checked, right or wrong, so the lock tells nothing about the code. A client is an IPv4
address or an IPv6 /64 (:func:`~county_node.extranet.entrypoints.client.client_network`).
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from federation.errors import NotFound, RateLimited

__all__ = ["CASE_SPREAD", "PortalLimits", "SlidingWindow"]

CASE_SPREAD = 10
"""A number's failed code checks from anyone, per minute: this many times ``case_per_minute`` (one client's share).
A brute force from many addresses still stops; locking the number needs this many addresses' worth of failures."""

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
        return self.take(key)[0]

    def take(self, key: str) -> tuple[int, float]:
        """:meth:`hit`, atomically, also giving the moment counted (for :meth:`give_back`)."""
        with self._lock:
            now = self._clock()
            hits = self._recent(key, now)
            if len(hits) >= self.limit:
                return max(1, math.ceil(hits[0] + self.window - now)), now
            hits.append(now)
            self._prune(now)
            return 0, now

    def give_back(self, key: str, moment: float) -> None:
        """Uncount the request of ``key`` counted at ``moment`` (by :meth:`take`); nothing if it left already."""
        with self._lock:
            hits = self._hits.get(key)
            if hits is not None and moment in hits:
                hits.remove(moment)

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
    case_client: SlidingWindow  # failed code checks per (number, client)
    case: SlidingWindow  # failed code checks per number, from anyone

    @classmethod
    def per_config(
        cls, *, client_per_minute: int, submissions_per_hour: int, case_per_minute: int, clock: MonotonicClock
    ) -> PortalLimits:
        return cls(
            SlidingWindow(client_per_minute, 60.0, clock),
            SlidingWindow(submissions_per_hour, 3600.0, clock),
            SlidingWindow(case_per_minute, 60.0, clock),
            SlidingWindow(CASE_SPREAD * case_per_minute, 60.0, clock),
        )

    def request(self, client: str) -> None:
        """Every request of a client counts (RateLimited beyond the limit)."""
        wait = self.client.hit(client)
        if wait:
            raise RateLimited(
                f"访问过于频繁，请 {_wait_text(wait)}后再试（每个访问者每分钟至多 {self.client.limit} 次）",
                retry_after=wait,
                limit="client",
            )

    @contextmanager
    def submission(self, client: str) -> Iterator[None]:
        """Around an application or a complaint: its slot of the client's hourly share is taken atomically before
        (RateLimited when none is left — concurrent requests cannot all pass), and given back if the body raises
        (bad input, a refusal: nothing was stored, so nothing is counted)."""
        wait, moment = self.submissions.take(client)
        if wait:
            raise RateLimited(
                f"提交过于频繁，请 {_wait_text(wait)}后再试（每个访问者每小时至多提交 {self.submissions.limit} 次"
                "申报或投诉）",
                retry_after=wait,
                limit="submissions",
            )
        try:
            yield
        except BaseException:
            self.submissions.give_back(client, moment)
            raise

    @contextmanager
    def lookup(self, number: str, client: str) -> Iterator[None]:
        """Around a status query or a rating of ``number`` by ``client``: refused (RateLimited) before the code is
        checked when the pair, or the number from anyone, has failed its share in the last minute; a failure (the
        body raises NotFound: a wrong code or an unknown number) counts against both, anything else does not.

        The slots are taken before the body runs and given back unless it failed, so concurrent guesses cannot
        overrun the limit either."""
        pair = f"{number}\n{client}"
        wait, mine = self.case_client.take(pair)
        if wait:
            raise RateLimited(
                f"该编号查询码输错次数过多，请 {_wait_text(wait)}后再试（每个访问者对每个编号每分钟至多输错"
                f" {self.case_client.limit} 次）",
                retry_after=wait,
                limit="case",
            )
        wait, anyone = self.case.take(number)
        if wait:
            self.case_client.give_back(pair, mine)
            raise RateLimited(
                f"该编号近期查询码输错次数过多，已暂停查询，请 {_wait_text(wait)}后再试",
                retry_after=wait,
                limit="case",
            )
        failed = False
        try:
            yield
        except NotFound:
            failed = True
            raise
        finally:
            if not failed:
                self.case_client.give_back(pair, mine)
                self.case.give_back(number, anyone)
