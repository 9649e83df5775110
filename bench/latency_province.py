"""What the ``latency`` benchmark reads at the province and its cities (see :mod:`bench.latency`): a thread that
sees the probes become visible, the province's marks and backlog, and after the run what became of each probe
(missing, and where its time went).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, bindparam, func, select

from bench.latency_load import Probe
from federation.errors import SunshineError
from federation.storage import outbox as outbox_store
from federation.storage.tables import batch_log, case_events, replication_marks
from federation.storage.uow import UnitOfWork
from province_center.demo.launcher import Federation

__all__ = [
    "Seen",
    "Watcher",
    "missing_at_province",
    "percentile",
    "province_backlog",
    "province_records",
    "stage_percentiles",
]

POLL_EVERY_S = 0.005


# -- the probes ---------------------------------------------------------------------------------------------------


@dataclass
class Seen:
    probe: Probe
    visible: float | None = None  # time.time() right after the province's read that showed it

    @property
    def latency_s(self) -> float:
        return math.inf if self.visible is None else self.visible - self.probe.committed


class Watcher:
    """A thread polling the province's replication marks every ``POLL_EVERY_S`` while probes are outstanding."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._pending: list[Seen] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self.polls = 0
        self._thread = threading.Thread(target=self._run, name="bench-latency-watch", daemon=True)
        self._thread.start()

    def add(self, seen: Seen) -> None:
        with self._lock:
            self._pending.append(seen)

    def outstanding(self) -> int:
        with self._lock:
            return len(self._pending)

    def _run(self) -> None:
        query = select(replication_marks.c.origin, replication_marks.c.high_water)
        try:
            while not self._stop.is_set():
                with self._lock:
                    waiting = bool(self._pending)
                if waiting:
                    with UnitOfWork(self._engine, readonly=True) as uow:
                        marks = {str(o): int(hw) for o, hw in uow.conn.execute(query)}
                    seen = time.time()
                    self.polls += 1
                    with self._lock:
                        still = []
                        for p in self._pending:
                            if marks.get(p.probe.county, 0) >= p.probe.seq:
                                p.visible = seen
                            else:
                                still.append(p)
                        self._pending = still
                self._stop.wait(POLL_EVERY_S)
        except BaseException as exc:  # re-raised in the benchmark's thread by check()
            self._error = exc

    def check(self) -> None:
        if self._error is not None:
            raise SunshineError(f"province watcher failed: {type(self._error).__name__}: {self._error}")

    def drain(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.outstanding() and time.monotonic() < deadline:
            self.check()
            time.sleep(0.05)
        self.check()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10.0)


def percentile(sorted_s: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile in milliseconds; None when it falls on a probe never seen."""
    if not sorted_s:
        return None
    value = sorted_s[max(0, math.ceil(q * len(sorted_s)) - 1)]
    return None if math.isinf(value) else round(value * 1000, 1)


def province_records(engine: Engine, counties: Sequence[str]) -> dict[str, tuple[int, int]]:
    """Per county: the province's mark (high water, records received)."""
    query = select(replication_marks.c.origin, replication_marks.c.high_water, replication_marks.c.records).where(
        replication_marks.c.origin.in_(counties)
    )
    with UnitOfWork(engine, readonly=True) as uow:
        return {str(r.origin): (int(r.high_water), int(r.records)) for r in uow.conn.execute(query)}


def province_backlog(province: Engine, county_engines: dict[str, Engine]) -> int:
    """County outbox records not yet applied at the province, over every county."""
    marks = province_records(province, list(county_engines))
    total = 0
    for county, engine in county_engines.items():
        with UnitOfWork(engine, readonly=True) as uow:
            last = outbox_store.high_water(uow.conn, county)
        total += max(0, last - marks.get(county, (0, 0))[0])
    return total


def missing_at_province(engine: Engine, probes: Sequence[Seen]) -> int:
    """Probes whose event is not in the province's ``case_events`` (0 unless a record was quarantined)."""
    found = 0
    with UnitOfWork(engine, readonly=True) as uow:
        for i in range(0, len(probes), 500):
            chunk = [p.probe.case_no for p in probes[i : i + 500]]
            found += int(
                uow.conn.execute(
                    select(func.count())
                    .select_from(case_events)
                    .where(case_events.c.case_no.in_(chunk), case_events.c.n == 1)
                ).scalar_one()
            )
    return len(probes) - found


def _stored_at(engine: Engine, origin: str, seqs: Sequence[int]) -> dict[int, float]:
    """Per seq, when the batch holding it was stored at this node (``batch_log.sealed_at``: at its county, when
    sealed; at a city, when the batch arrived, before its apply), as ``time.time()`` seconds."""
    query = (
        select(batch_log.c.sealed_at)
        .where(batch_log.c.origin == bindparam("origin"), batch_log.c.last_seq >= bindparam("seq"))
        .order_by(batch_log.c.last_seq)
        .limit(1)
    )
    found: dict[int, float] = {}
    with UnitOfWork(engine, readonly=True) as uow:
        for seq in seqs:
            at = uow.conn.execute(query, {"origin": origin, "seq": seq}).scalar_one_or_none()
            if at is not None:
                found[seq] = at.timestamp()
    return found


def stage_percentiles(fed: Federation, engines: dict[str, Engine], probes: Sequence[Seen]) -> dict[str, dict[str, Any]]:
    """Where the time goes, cumulative from the commit: sealed at the county, arrived at its city, visible at
    the province (p50 and p99 of each, milliseconds)."""
    sealed: list[float] = []
    at_city: list[float] = []
    for county in sorted({p.probe.county for p in probes}):
        mine = [p.probe for p in probes if p.probe.county == county]
        seqs = [p.seq for p in mine]
        city = fed.by_code[county].parent
        at_county = _stored_at(engines[county], county, seqs)
        arrived = _stored_at(engines[city], county, seqs) if city else {}
        sealed += [at_county.get(p.seq, math.inf) - p.committed for p in mine]
        at_city += [arrived.get(p.seq, math.inf) - p.committed for p in mine]
    stages = {"sealed": sealed, "at_city": at_city, "at_province": [p.latency_s for p in probes]}
    return {
        name: {"p50_ms": percentile(sorted(v), 0.5), "p99_ms": percentile(sorted(v), 0.99)}
        for name, v in stages.items()
    }
