"""The ``latency`` benchmark's load generators, one process per county (see :mod:`bench.latency`): background
case transitions paced by a token bucket, and probes (marker cases) on a fixed schedule, reported as committed.
"""

from __future__ import annotations

import multiprocessing
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection as Pipe
from multiprocessing.connection import wait as wait_any
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event as MpEvent
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from county_node.approval.domain import Action, event_id
from county_node.approval.services import ApprovalService
from federation.config import load_config
from federation.errors import SunshineError
from federation.storage.engine import engine_from_config
from federation.storage.tables import outbox
from federation.storage.uow import UnitOfWork
from federation.timeutil import utcnow
from province_center.demo.launcher import Federation

__all__ = ["PROBE_EVERY_S", "Load", "Probe"]

PROBE_EVERY_S = 0.1
BURST_S = 0.05  # the token bucket holds at most this many seconds' worth of transitions
READY_TIMEOUT_S = 120.0

ITEM = "XK00003000"  # 食品经营许可 (promised), key fields 统一社会信用代码;经营场所
STEPS: tuple[tuple[Action, dict[str, Any]], ...] = (
    (Action.ACCEPT, {}),
    (Action.REVIEW, {"opinion": "同意"}),
    (Action.DECIDE, {"outcome": "approve", "fee_charged": "79.5"}),
    (Action.CONCLUDE, {}),
)
OPEN_CASES = 16


def _county_service(config_path: Path) -> tuple[ApprovalService, Engine]:
    """The county's service over its own database, as the node builds it (real clock, the node's clock config;
    its engine through ``engine_from_config``, so its writers seal their own outbox rows as the node's do)."""
    cfg = load_config(config_path, environ={})
    engine = engine_from_config(cfg)
    return ApprovalService(engine, cfg.node.division, utcnow, cfg.clock), engine


def _data(division: str, n: int) -> dict[str, str]:
    return {"统一社会信用代码": "91371122MA3C000001", "经营场所": f"{division} 城阳街道 {n} 号"}


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
class Probe:
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


def _probe(service: ApprovalService, engine: Engine, n: int) -> Probe:
    before = time.perf_counter()
    case_no = service.submit(
        item_code=ITEM, applicant="探针", data=_data(service.division, n), actor="基准探针"
    ).case_no
    committed = time.time()
    write_s = time.perf_counter() - before
    return Probe(service.division, case_no, _event_seq(engine, service.division, case_no), committed, write_s)


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


class Load:
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

    def collect(self, timeout: float) -> list[Probe]:
        """The probes committed since the last call (waiting up to ``timeout`` for one); fail when a generator
        reported an error or died."""
        live = {g.report: g for g in self.generators if not g.done}
        probes: list[Probe] = []
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
