"""The launcher's supervision: a long-running process (a node, an agent, an extranet node) that exits without
having been told to is started again with the same command line — after a backoff, each restart reported.

The backoff is 0.5 s, doubling to 10 s; a process that then runs for ``STEADY_S`` starts from 0.5 s again. A
process that exits ``GIVE_UP_AFTER`` times in a row without running steadily is left stopped and reported as
failed (:meth:`Supervisor.failed`): a configuration it cannot start with is not retried for ever. Workloads are
jobs, not services: they end by themselves and are not restarted.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from federation.timeutil import utcnow

__all__ = ["FIRST_DELAY_S", "GIVE_UP_AFTER", "MAX_DELAY_S", "STEADY_S", "Restart", "Supervisor", "backoff_s"]

FIRST_DELAY_S = 0.5
MAX_DELAY_S = 10.0
STEADY_S = 30.0  # running this long after a restart: the next exit starts the backoff afresh
GIVE_UP_AFTER = 8  # exits in a row without running steadily: left stopped, reported failed
_TICK_S = 0.2


def backoff_s(attempt: int) -> float:
    """The wait before restart number ``attempt`` (1, 2, …) of a run of failures."""
    return float(min(MAX_DELAY_S, FIRST_DELAY_S * 2 ** max(0, attempt - 1)))


@dataclass(frozen=True, slots=True)
class Restart:
    """One restart: which process, how it had exited, which restart of its current run of failures, when."""

    key: str
    exit_code: int | None
    attempt: int
    delay_s: float
    at: datetime


@dataclass
class _Watch:
    failures: int = 0  # exits in a row without a steady run
    due: float | None = None  # monotonic moment of the restart scheduled, if any
    exit_code: int | None = None


@dataclass
class Supervisor:
    """Watches the processes ``keys()`` names (each ``exited(key)`` → its exit code or None while it runs;
    ``started_at(key)`` → the monotonic moment it was last started) and ``restart(key)``\\ s those that exited,
    except those ``stopping(key)`` says are being stopped. ``report`` hears of every restart and every give-up."""

    keys: Callable[[], Iterable[str]]
    exited: Callable[[str], int | None]
    started_at: Callable[[str], float]
    stopping: Callable[[str], bool]
    restart: Callable[[str], object]
    report: Callable[[str], None] = lambda _line: None
    clock: Callable[[], float] = time.monotonic
    restarts: list[Restart] = field(default_factory=list)
    _watches: dict[str, _Watch] = field(default_factory=dict)
    _failed: dict[str, int | None] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="supervisor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)

    def failed(self) -> dict[str, int | None]:
        """The processes given up on, with their last exit code."""
        return dict(self._failed)

    def _run(self) -> None:
        # this thread must outlive the processes it restarted: they are told to stop when the thread that started
        # them ends (PR_SET_PDEATHSIG follows the thread), so no error may end it before stop()
        while not self._stop.wait(_TICK_S):
            try:
                self.tick()
            except Exception as exc:
                self.report(f"进程监护出错（继续监护）：{exc}")

    def tick(self) -> None:
        """One look at every process: schedule the restart of one that exited, restart one whose time has come."""
        now = self.clock()
        for key in list(self.keys()):
            if key in self._failed or self.stopping(key):
                continue
            watch = self._watches.setdefault(key, _Watch())
            code = self.exited(key)
            if code is None:
                if watch.failures and now - self.started_at(key) >= STEADY_S:
                    watch.failures = 0  # a steady run: the next exit starts the backoff afresh
                continue
            if watch.due is None:
                self._schedule(key, watch, code, now)
            elif now >= watch.due:
                watch.due = None
                try:
                    self.restart(key)
                except Exception as exc:  # it could not even be started: a failure like any exit, the others go on
                    self.report(f"进程 {key} 无法重新启动：{exc}")
                    continue
                self.report(f"进程 {key} 已重新启动（连续第 {watch.failures} 次）")

    def _schedule(self, key: str, watch: _Watch, code: int, now: float) -> None:
        if now - self.started_at(key) >= STEADY_S:
            watch.failures = 0
        watch.failures += 1
        if watch.failures > GIVE_UP_AFTER:
            self._failed[key] = code
            self.report(f"进程 {key} 连续 {GIVE_UP_AFTER} 次重启后仍退出（退出码 {code}），不再重启")
            return
        delay = backoff_s(watch.failures)
        watch.due = now + delay
        watch.exit_code = code
        self.restarts.append(Restart(key, code, watch.failures, delay, utcnow()))
        self.report(f"进程 {key} 意外退出（退出码 {code}），{delay:g} 秒后重新启动")
