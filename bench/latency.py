"""``latency``: county commit → visible at the province, p50 and p99, under 1,000 events/s of background load.

**The federation.** The demo's seven nodes (the province 370000, the cities 371100 and 371300, the counties
371122, 371121, 371323 and 371324), each node and each sync agent its own process on loopback
(:class:`province_center.demo.launcher.Federation`, agents with ``linger_ms=20``), in a temporary directory; every
process is stopped at the end, also on failure.

**Background load.** One load-generator process per county writes case transitions (submit → accept → review →
decide → conclude, up to 16 cases in progress; each transition one transaction writing the case, its event and
two outbox rows) straight into the county's SQLite database through
:class:`~county_node.approval.services.ApprovalService`, as the county's HTTP API would. Each paces itself
with a token bucket (a burst of at most 50 ms) at 1,000 ÷ 4 = 250 events/s, so the aggregate target is
1,000 events/s; a generator that cannot keep up loses its surplus tokens, and the rate it achieved over the
measurement window is what is reported (``background_events_per_s``).

**Probes.** Every 100 ms a marker case is submitted at a county, rotating over the four: generator ``i``
submits one every 400 ms, offset by ``i`` × 100 ms, ahead of its background work when due (so a probe never
waits behind a writer of another process for its county's write lock, and the probe schedule holds when the
generator lags), taking ``time.time()`` right after the commit and then looking up its event's outbox seq. A
dedicated thread of the benchmark polls the province's database every 5 ms while probes are outstanding, in a
fresh read-only transaction: the province's ``replication_marks.high_water`` of each county. The mark advances
in the same transaction as the applied records (DESIGN.md §4), so a mark ≥ the probe's seq means its event is
visible at the province; the visible time is taken right after that read (an over- rather than an
under-estimate, by at most one poll). Latency = visible time − commit time. Probes committed during the
warm-up (5 s at scale 1, at least 1 s) are not counted. After the run every probe's event is looked up in the
province's ``case_events`` (``probes_missing`` must be 0).

**Where the time goes** (``stages``, cumulative from the commit, p50 and p99): ``sealed`` — the county's
``batch_log.sealed_at`` of the batch holding the probe (its agent sealed it); ``at_city`` — the city's
``batch_log.sealed_at`` of that batch, which a relaying receiver stamps on arrival, before it applies it;
``at_province`` — the latency itself.

Measurement lasts 60 s at scale 1 (at least 3 s); the background rate does not scale. Probes not visible
within 60 s of the end count as infinitely late (a percentile that falls on one is null). Besides ``p50_ms``,
``p99_ms``, ``max_ms``, ``probes`` and ``background_events_per_s``: the province's received county records per
second over the window, the backlog it had left when the load stopped, and how long the probes' own submits
took (``probe_write_*``).
"""

from __future__ import annotations

import math
import multiprocessing
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection as Pipe
from multiprocessing.connection import wait as wait_any
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event as MpEvent
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, bindparam, func, select

from bench.harness import Options, progress
from county_node.approval.domain import Action, event_id
from county_node.approval.services import ApprovalService
from federation.config import load_config
from federation.errors import SunshineError
from federation.identities import DivisionLevel
from federation.storage import outbox as outbox_store
from federation.storage.engine import make_engine
from federation.storage.tables import batch_log, case_events, outbox, replication_marks
from federation.storage.uow import UnitOfWork
from federation.timeutil import utcnow
from province_center.demo.launcher import DEMO_TOPOLOGY, Federation

__all__ = ["TARGET_BACKGROUND_PER_S", "TARGET_P99_MS", "run"]

NAME = "latency"
TARGET_P99_MS = 1000
TARGET_BACKGROUND_PER_S = 1000
BASE_MEASURE_S = 60.0
MIN_MEASURE_S = 3.0
BASE_WARMUP_S = 5.0
MIN_WARMUP_S = 1.0
PROBE_EVERY_S = 0.1
POLL_EVERY_S = 0.005
BURST_S = 0.05  # the token bucket holds at most this many seconds' worth of transitions
DRAIN_TIMEOUT_S = 60.0  # how long outstanding probes may still become visible once the measurement ends
READY_TIMEOUT_S = 120.0
PROGRESS_EVERY_S = 10.0
LINGER_MS = 20  # what Federation.write_agent_config gives every agent

ITEM = "XK00003000"  # 食品经营许可 (promised), key fields 统一社会信用代码;经营场所
STEPS: tuple[tuple[Action, dict[str, Any]], ...] = (
    (Action.ACCEPT, {}),
    (Action.REVIEW, {"opinion": "同意"}),
    (Action.DECIDE, {"outcome": "approve", "fee_charged": "79.5"}),
    (Action.CONCLUDE, {}),
)
OPEN_CASES = 16
Say = Callable[[str], None]


def _county_service(config_path: Path) -> tuple[ApprovalService, Engine]:
    """The county's service over its own database, as the node builds it (real clock, the node's clock config)."""
    cfg = load_config(config_path, environ={})
    engine = make_engine(cfg.database_url, sqlite_synchronous=cfg.database.sqlite_synchronous)
    return ApprovalService(engine, cfg.node.division, utcnow, cfg.clock), engine


def _data(division: str, n: int) -> dict[str, str]:
    return {"统一社会信用代码": "91371122MA3C000001", "经营场所": f"{division} 城阳街道 {n} 号"}


# -- the load generators (one process per county) -----------------------------------------------------------------


class _Writer:
    """Transitions of up to ``OPEN_CASES`` cases in progress, each taken submit → … → conclude."""

    def __init__(self, service: ApprovalService) -> None:
        self._service = service
        self._open: deque[tuple[str, int]] = deque()
        self._n = 0

    def step(self) -> None:
        self._n += 1
        if len(self._open) < OPEN_CASES:
            case = self._service.submit(
                item_code=ITEM, applicant="张三", data=_data(self._service.division, self._n), actor="窗口 1"
            )
            self._open.append((case.case_no, 0))
            return
        case_no, k = self._open.popleft()
        action, params = STEPS[k]
        self._service.act(case_no, action, actor="审批员", params=params)
        if k + 1 < len(STEPS):
            self._open.append((case_no, k + 1))


@dataclass(frozen=True)
class _Probe:
    county: str
    case_no: str
    seq: int  # the outbox seq of its event at the county
    committed: float  # time.time() right after the commit
    write_s: float  # how long the submit took (waiting for the county's write lock included)


@dataclass(frozen=True)
class _Spec:
    """One generator: its county, rate and probe schedule, and what it shares with the benchmark."""

    config_path: str
    division: str
    rate: float
    probe_offset_s: float
    probe_every_s: float
    count: Synchronized[int]  # transitions written (background only); only the generator writes it
    go: MpEvent
    stop: MpEvent
    report: Pipe


def _probe(service: ApprovalService, engine: Engine, n: int) -> _Probe:
    before = time.perf_counter()
    case_no = service.submit(
        item_code=ITEM, applicant="探针", data=_data(service.division, n), actor="基准探针"
    ).case_no
    committed = time.time()
    write_s = time.perf_counter() - before
    return _Probe(service.division, case_no, _event_seq(engine, service.division, case_no), committed, write_s)


def _generate(spec: _Spec) -> None:
    """A load generator's process: ``rate`` transitions per second into one county until ``stop``, and a probe
    every ``probe_every_s`` (first at ``probe_offset_s``) sent to the benchmark as it is committed."""
    from federation.logging import configure_logging

    configure_logging(level="warning")  # to stderr: stdout carries only the benchmark's result line
    engine: Engine | None = None
    report = spec.report
    try:
        service, engine = _county_service(Path(spec.config_path))
        writer = _Writer(service)
        writer.step()  # standards loaded, connection open: the first timed transition costs what the others do
        report.send(("ready", None))
        if not spec.go.wait(READY_TIMEOUT_S):
            return
        rate, capacity = spec.rate, max(1.0, spec.rate * BURST_S)
        tokens, last = 0.0, time.monotonic()
        next_probe, probes = last + spec.probe_offset_s, 0
        while not spec.stop.is_set():
            now = time.monotonic()
            if now >= next_probe:  # a probe is due: it goes before the background, as a marker on its schedule
                report.send(("probe", _probe(service, engine, probes)))
                probes += 1
                next_probe = max(next_probe + spec.probe_every_s, now)
                continue
            tokens = min(capacity, tokens + (now - last) * rate)
            last = now
            if tokens >= 1.0:
                writer.step()
                tokens -= 1.0
                spec.count.value += 1
            else:
                time.sleep(min((1.0 - tokens) / rate, next_probe - now))
        report.send(("done", None))
    except BaseException as exc:  # reported to the benchmark, which fails the run with it
        report.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        if engine is not None:
            engine.dispose()
        report.close()


@dataclass
class _Generator:
    division: str
    process: multiprocessing.process.BaseProcess
    count: Synchronized[int]
    report: Pipe
    done: bool = False


class _Load:
    """The load-generator processes: started, readied, released together, stopped (also on failure).

    Generator ``i`` of ``n`` probes every ``n × PROBE_EVERY_S`` from ``i × PROBE_EVERY_S`` after the release,
    so that the federation sees one probe every ``PROBE_EVERY_S``, rotating over the counties."""

    def __init__(self, fed: Federation, counties: Sequence[str], total_rate: float) -> None:
        ctx = multiprocessing.get_context("spawn")  # no fork of a process that may hold threads and connections
        self._go = ctx.Event()
        self._stop = ctx.Event()
        self.generators: list[_Generator] = []
        for i, division in enumerate(counties):
            receive, send = ctx.Pipe(duplex=False)
            count: Synchronized[int] = ctx.Value("q", 0)
            spec = _Spec(
                config_path=str(fed.config(division)),
                division=division,
                rate=total_rate / len(counties),
                probe_offset_s=i * PROBE_EVERY_S,
                probe_every_s=len(counties) * PROBE_EVERY_S,
                count=count,
                go=self._go,
                stop=self._stop,
                report=send,
            )
            process = ctx.Process(target=_generate, args=(spec,), name=f"bench-load-{division}", daemon=True)
            self.generators.append(_Generator(division, process, count, receive))
            process.start()
            send.close()  # the child holds its end: EOF here once it exits

    def _receive(self, g: _Generator) -> tuple[str, Any]:
        try:
            kind, detail = g.report.recv()
        except (EOFError, OSError):
            kind, detail = "error", f"exited with code {g.process.exitcode}"
        if kind == "error":
            g.done = True
            raise SunshineError(f"load generator of {g.division} failed: {detail}")
        if kind == "done":
            g.done = True
        return str(kind), detail

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        for g in self.generators:
            if not g.report.poll(max(0.0, deadline - time.monotonic())):
                raise SunshineError(f"load generator of {g.division} not ready in {READY_TIMEOUT_S:.0f}s")
            kind, _ = self._receive(g)
            if kind != "ready":
                raise SunshineError(f"load generator of {g.division} said {kind!r} instead of ready")

    def start(self) -> None:
        self._go.set()

    def collect(self, timeout: float) -> list[_Probe]:
        """The probes committed since the last call (waiting up to ``timeout`` for one); fail when a generator
        reported an error or died."""
        live = {g.report: g for g in self.generators if not g.done}
        probes: list[_Probe] = []
        for ready in wait_any(list(live), timeout):
            g = live[ready]  # type: ignore[index]
            while not g.done and g.report.poll(0):
                kind, detail = self._receive(g)
                if kind == "probe":
                    probes.append(detail)
        for g in self.generators:
            if not g.done and not g.process.is_alive() and not g.report.poll(0):
                raise SunshineError(f"load generator of {g.division} exited (code {g.process.exitcode})")
        return probes

    def transitions(self) -> int:
        return sum(g.count.value for g in self.generators)

    def stop(self) -> None:
        self._stop.set()
        self._go.set()  # release any generator still waiting to start, so that it exits
        for g in self.generators:
            g.process.join(10.0)
            if g.process.is_alive():
                g.process.terminate()
                g.process.join(5.0)
            g.report.close()


# -- the probes ---------------------------------------------------------------------------------------------------


@dataclass
class _Seen:
    probe: _Probe
    visible: float | None = None  # time.time() right after the province's read that showed it

    @property
    def latency_s(self) -> float:
        return math.inf if self.visible is None else self.visible - self.probe.committed


class _Watcher:
    """A thread polling the province's replication marks every ``POLL_EVERY_S`` while probes are outstanding."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._pending: list[_Seen] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self.polls = 0
        self._thread = threading.Thread(target=self._run, name="bench-latency-watch", daemon=True)
        self._thread.start()

    def add(self, seen: _Seen) -> None:
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


def _event_seq(engine: Engine, county: str, case_no: str) -> int:
    """The outbox seq of the submit event of ``case_no`` at its county (found from the newest end)."""
    query = (
        select(outbox.c.seq)
        .where(outbox.c.origin == county, outbox.c.record_id == event_id(case_no, 1))
        .order_by(outbox.c.seq.desc())
        .limit(1)
    )
    with UnitOfWork(engine, readonly=True) as uow:
        seq = uow.conn.execute(query).scalar_one_or_none()
    if seq is None:
        raise SunshineError(f"probe {case_no}: no outbox row for its event at {county}")
    return int(seq)


def _percentile(sorted_s: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile in milliseconds; None when it falls on a probe never seen."""
    if not sorted_s:
        return None
    value = sorted_s[max(0, math.ceil(q * len(sorted_s)) - 1)]
    return None if math.isinf(value) else round(value * 1000, 1)


# -- the run ------------------------------------------------------------------------------------------------------


@dataclass
class _Window:
    started: float  # time.monotonic()
    wall: float  # time.time()
    transitions: int
    province_records: int


def _province_records(engine: Engine, counties: Sequence[str]) -> dict[str, tuple[int, int]]:
    """Per county: the province's mark (high water, records received)."""
    query = select(replication_marks.c.origin, replication_marks.c.high_water, replication_marks.c.records).where(
        replication_marks.c.origin.in_(counties)
    )
    with UnitOfWork(engine, readonly=True) as uow:
        return {str(r.origin): (int(r.high_water), int(r.records)) for r in uow.conn.execute(query)}


def _backlog(province: Engine, county_engines: dict[str, Engine]) -> int:
    """County outbox records not yet applied at the province, over every county."""
    marks = _province_records(province, list(county_engines))
    total = 0
    for county, engine in county_engines.items():
        with UnitOfWork(engine, readonly=True) as uow:
            last = outbox_store.high_water(uow.conn, county)
        total += max(0, last - marks.get(county, (0, 0))[0])
    return total


def _missing_at_province(engine: Engine, probes: Sequence[_Seen]) -> int:
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


def _stages(fed: Federation, engines: dict[str, Engine], probes: Sequence[_Seen]) -> dict[str, dict[str, Any]]:
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
        name: {"p50_ms": _percentile(sorted(v), 0.5), "p99_ms": _percentile(sorted(v), 0.99)}
        for name, v in stages.items()
    }


def _measure(
    fed: Federation,
    load: _Load,
    watcher: _Watcher,
    province: Engine,
    counties: Sequence[str],
    *,
    warmup_s: float,
    measure_s: float,
    say: Say,
) -> tuple[list[_Seen], _Window, _Window]:
    load.start()
    say(f"background load released; warming up {warmup_s:.1f}s")
    deadline = time.monotonic() + warmup_s
    while time.monotonic() < deadline:
        load.collect(0.2)  # the warm-up's probes are not counted
        fed.check_alive()
    marks = _province_records(province, counties)
    start = _Window(time.monotonic(), time.time(), load.transitions(), sum(r for _, r in marks.values()))
    say(f"measuring {measure_s:.1f}s: a probe every {PROBE_EVERY_S * 1000:.0f} ms, rotating over {len(counties)}")
    probes: list[_Seen] = []

    def take(batch: Sequence[_Probe], until: float) -> None:
        for probe in batch:
            if start.wall <= probe.committed <= until:
                seen = _Seen(probe)
                watcher.add(seen)
                probes.append(seen)

    end_at = start.started + measure_s
    next_report = start.started + PROGRESS_EVERY_S
    while (now := time.monotonic()) < end_at:
        take(load.collect(min(0.1, end_at - now)), math.inf)
        fed.check_alive()
        watcher.check()
        if now >= next_report:
            seen = sorted(p.latency_s for p in probes if p.visible is not None)
            rate = (load.transitions() - start.transitions) / (now - start.started)
            say(
                f"{now - start.started:.0f}s: {len(probes)} probes, p50 {_percentile(seen, 0.5)} ms, "
                f"p99 {_percentile(seen, 0.99)} ms, {watcher.outstanding()} outstanding; background {rate:,.0f}/s"
            )
            next_report = now + PROGRESS_EVERY_S
    marks = _province_records(province, counties)
    end = _Window(time.monotonic(), time.time(), load.transitions(), sum(r for _, r in marks.values()))
    take(load.collect(0.5), end.wall)  # probes committed in the window, still in their pipes
    return probes, start, end


@dataclass(frozen=True)
class _Outcome:
    unseen: int  # probes never seen at the province within DRAIN_TIMEOUT_S of the end
    missing: int  # probes whose event is not in the province's case_events
    backlog: int  # county records not yet at the province when the load stopped
    polls: int  # reads of the province's marks
    stages: dict[str, dict[str, Any]]  # where the time goes (see _stages)


def run(options: Options) -> dict[str, Any]:
    """Run the benchmark; return its figures (the caller prints them as the result line)."""

    def say(message: str) -> None:
        progress(NAME, message)

    measure_s = max(MIN_MEASURE_S, BASE_MEASURE_S * options.scale)
    warmup_s = max(MIN_WARMUP_S, min(BASE_WARMUP_S, BASE_WARMUP_S * options.scale))
    province_code = next(s.division for s in DEMO_TOPOLOGY if s.level is DivisionLevel.PROVINCE)
    counties = [s.division for s in DEMO_TOPOLOGY if s.level is DivisionLevel.COUNTY]
    with tempfile.TemporaryDirectory(prefix="sunshine-bench-latency-") as tmp:
        fed = Federation(Path(tmp), DEMO_TOPOLOGY)
        engines: dict[str, Engine] = {}
        load: _Load | None = None
        watcher: _Watcher | None = None
        try:
            started = time.perf_counter()
            fed.init_all()
            say(f"{len(DEMO_TOPOLOGY)} nodes initialised, standards published in {time.perf_counter() - started:.1f}s")
            started = time.perf_counter()
            fed.start_all()
            fed.wait_for_standards()
            say(
                f"{len(fed.procs)} processes (nodes and agents, linger {LINGER_MS} ms) up, standards at every "
                f"county in {time.perf_counter() - started:.1f}s"
            )
            load = _Load(fed, counties, TARGET_BACKGROUND_PER_S)
            for division in (s.division for s in DEMO_TOPOLOGY):
                cfg = load_config(fed.config(division), environ={})
                engines[division] = make_engine(cfg.database_url, sqlite_synchronous=cfg.database.sqlite_synchronous)
            province = engines[province_code]
            watcher = _Watcher(province)
            load.wait_ready()
            say(f"{len(counties)} load generators ready, {TARGET_BACKGROUND_PER_S / len(counties):,.0f} events/s each")
            probes, start, end = _measure(
                fed, load, watcher, province, counties, warmup_s=warmup_s, measure_s=measure_s, say=say
            )
            load.stop()
            backlog = _backlog(province, {c: engines[c] for c in counties})
            say(f"load stopped; province backlog {backlog:,} records; waiting for {watcher.outstanding()} probes")
            watcher.drain(DRAIN_TIMEOUT_S)
            outcome = _Outcome(
                unseen=watcher.outstanding(),
                missing=_missing_at_province(province, probes),
                backlog=backlog,
                polls=watcher.polls,
                stages=_stages(fed, engines, probes),
            )
        finally:
            if watcher is not None:
                watcher.stop()
            if load is not None:
                load.stop()
            for engine in engines.values():
                engine.dispose()
            fed.stop_all()
    return _result(probes, start, end, outcome, counties=len(counties), say=say)


def _result(
    probes: Sequence[_Seen], start: _Window, end: _Window, outcome: _Outcome, *, counties: int, say: Say
) -> dict[str, Any]:
    latencies = sorted(p.latency_s for p in probes)
    writes = sorted(p.probe.write_s for p in probes)
    window = end.started - start.started
    background = (end.transitions - start.transitions) / window
    p99 = _percentile(latencies, 0.99)
    result = {
        "bench": NAME,
        "p50_ms": _percentile(latencies, 0.5),
        "p99_ms": p99,
        "max_ms": _percentile(latencies, 1.0),
        "target_p99_ms": TARGET_P99_MS,
        "p99_within_target": p99 is not None and p99 < TARGET_P99_MS,
        "probes": len(probes),
        "probes_unseen": outcome.unseen,
        "probes_missing": outcome.missing,
        "background_events_per_s": round(background, 1),
        "background_target_per_s": TARGET_BACKGROUND_PER_S,
        "province_records_per_s": round((end.province_records - start.province_records) / window, 1),
        "backlog_records_at_end": outcome.backlog,
        "measure_s": round(window, 1),
        "counties": counties,
        "linger_ms": LINGER_MS,
        "province_polls": outcome.polls,
        "probe_write_p50_ms": _percentile(writes, 0.5),
        "probe_write_max_ms": _percentile(writes, 1.0),
        "stages": outcome.stages,
    }
    say(
        f"p50 {result['p50_ms']} ms, p99 {p99} ms, max {result['max_ms']} ms over {len(probes)} probes; "
        f"background {background:,.0f} events/s (target {TARGET_BACKGROUND_PER_S:,})"
    )
    return result
