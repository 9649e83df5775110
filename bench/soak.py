"""``python -m bench soak [--scale X]``: the federation of a whole province under 1,000 faults (issue 19).

Every city and county of the division table (Shandong: 17 cities, 137 counties) with the province, each node its
own SQLite database and machine trust (mutual TLS, every batch signed by its origin and verified at every tier),
multiplexed over a few processes so it fits two cores (:mod:`bench.soak_plan`, :mod:`bench.soak_host`): the
province, the cities on two relay hosts, the counties on four sender hosts. Each county writes a case (its
snapshot and events, real lifecycles) about every 4 s through its outbox and states its own figures every 400
records or 10 s; each city relays its counties' batches byte for byte and states its own.

Over ``600 × scale`` seconds (at least 10), ``1,000 × scale`` faults, at random moments and places (seeded); below
scale 0.05 (a smoke run) on a slice of two cities of two counties:

* ``kill`` — SIGKILL of a host: senders (counties), relays (cities) or the receiver at the top; it is started again
  half a second to two seconds later;
* ``cut`` — every connection through a receiver's TCP proxy cut in the middle of a chunk (:mod:`bench.soak_proxy`);
* ``lock`` — a receiver's database write-locked from outside for 0.5–3 s (a storm of ``database is locked``);
* ``duplicate``, ``reorder``, ``corrupt`` — a sender's next batches: one sent twice, two in the wrong order, one
  with a record altered after sealing (TLS protects the bytes on the wire, so the frame faults are made where the
  frames are: in the sender, before TLS).

Then the writers stop, every origin states its figures, and the benchmark checks, per tier (city, province), origin
and record kind, what the tier holds (its attested figures: count and content digest, kept as records are applied)
against what the origin's outbox holds, recomputed here from the rows: ``lost`` (fewer), ``duplicated`` (more),
``divergent`` (same count, other content); every mark at the origin's last seq; every verdict on every statement
"agree". ``convergence_s``: per origin, from the last fault until the province holds everything the origin had
written at that moment (p50/p99/max).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Engine, func, select

from bench.harness import Options, catalogue_bundle, progress, scaled
from bench.replication_county import case_templates
from bench.soak_plan import FRAME_KINDS, Fault, Plan, make_plan, schedule
from bench.soak_proxy import Proxies
from federation.replication.attest import ATTESTATION, totals_of
from federation.storage import attestation
from federation.storage.engine import make_engine
from federation.storage.outbox import canonical_json
from federation.storage.seal import OUTBOX_COLUMNS, records_of
from federation.storage.tables import outbox, quarantine, replication_marks
from federation.storage.uow import UnitOfWork

__all__ = ["NAME", "Settings", "run", "soak"]

NAME = "soak"
FAULTS = 1000
SPAN_S = 600.0  # the fault phase at scale 1
CONVERGE_LIMIT_S = 300.0
SLICE_BELOW = 0.05  # a scale below this runs on two cities of two counties (the whole province above)


@dataclass(frozen=True, slots=True)
class Settings:
    faults: int = FAULTS
    span_s: float = SPAN_S
    cities: int | None = None  # None: every city of the table
    counties_per_city: int | None = None  # None: every county
    seed: int = 20261207
    case_every_s: float = 4.0


def _say(message: str) -> None:
    progress(NAME, message)


def _templates(directory: Path) -> list[list[tuple[str, str, str, str]]]:
    """Three real lifecycles' records (``bench.replication_county``), the case number and the origin left to fill
    in by each county."""
    out = []
    for t in case_templates(directory, catalogue_bundle()):

        def text(value: Any, case_no: str = t.case_no) -> str:
            encoded = canonical_json(value).replace(case_no, "@CASE@")
            return encoded.replace('"origin":"371122"', '"origin":"@ORIGIN@"')

        rows = [("case", "@CASE@", "upsert", text(t.snapshot))]
        rows += [("case_event", f"@CASE@#{n:04d}", "insert", text(p)) for n, (p, _) in enumerate(t.events, 1)]
        out.append(rows)
    return out


class _Hosts:
    """The host processes: started, killed, started again (each restart after a kill is expected; any other exit
    is counted and the host started again)."""

    def __init__(self, plan: Plan, plan_path: Path) -> None:
        self._plan = plan
        self._path = plan_path
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._logs: dict[str, IO[bytes]] = {}
        self._killing: set[str] = set()
        self._restarting: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()
        self.unexpected_exits = 0
        self.restarts = 0

    def start(self, name: str) -> None:
        log = self._logs.get(name) or (Path(self._plan.root) / f"{name}.log").open("ab")
        self._logs[name] = log
        env = {k: v for k, v in os.environ.items() if not k.startswith("SUNSHINE_")}
        here = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (here, env.get("PYTHONPATH")) if p)
        self._procs[name] = subprocess.Popen(
            [sys.executable, "-m", "bench.soak_host", str(self._path), name], stdout=log, stderr=log, env=env
        )

    def start_all(self) -> None:
        for name in self._plan.hosts:
            self.start(name)
        deadline = time.monotonic() + 120
        for name, proc in self._procs.items():
            while not (Path(self._plan.root) / f"up-{name}.{proc.pid}").exists():
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"host {name} did not start (see {name}.log)")
                time.sleep(0.1)

    def kill(self, name: str, rng: random.Random) -> None:
        """SIGKILL now, started again after 0.5–2 s (in the background). A host still down from an earlier kill is
        killed again once it is back (never two processes of one host)."""
        pending = self._restarting.get(name)
        if pending is not None:
            pending.join()
        with self._lock:
            self._killing.add(name)
            self._procs[name].send_signal(signal.SIGKILL)
            self._procs[name].wait()

        def again() -> None:
            time.sleep(rng.uniform(0.5, 2.0))
            with self._lock:
                self.start(name)
                self.restarts += 1
                self._killing.discard(name)

        thread = self._restarting[name] = threading.Thread(target=again, daemon=True)
        thread.start()

    def watch(self) -> None:
        """Start again any host that exited without being killed (counted)."""
        with self._lock:
            for name, proc in self._procs.items():
                if name not in self._killing and proc.poll() is not None:
                    self.unexpected_exits += 1
                    _say(f"host {name} exited by itself ({proc.returncode}); started again")
                    self.start(name)

    def stop_all(self) -> None:
        for pending in list(self._restarting.values()):
            pending.join()
        with self._lock:
            for proc in self._procs.values():
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
            for proc in self._procs.values():
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            for log in self._logs.values():
                log.close()


def _hold_lock(database: Path, seconds: float) -> None:
    """A writer from outside holding ``database``'s write lock (``BEGIN IMMEDIATE``) for ``seconds``."""
    with contextlib.closing(sqlite3.connect(database, timeout=30, isolation_level=None)) as conn:
        conn.execute("BEGIN IMMEDIATE")
        time.sleep(seconds)
        conn.execute("ROLLBACK")


class _Engines:
    def __init__(self, plan: Plan) -> None:
        self._plan = plan
        self._engines: dict[str, Engine] = {}

    def __call__(self, node: str) -> Engine:
        engine = self._engines.get(node)
        if engine is None:
            engine = self._engines[node] = make_engine(f"sqlite:///{self._plan.database(node)}")
        return engine

    def close(self) -> None:
        for engine in self._engines.values():
            engine.dispose()


def _top(engine: Engine, origin: str) -> int:
    with UnitOfWork(engine, readonly=True) as uow:
        return int(uow.conn.execute(select(func.max(outbox.c.seq)).where(outbox.c.origin == origin)).scalar() or 0)


def _marks(engine: Engine) -> dict[str, int]:
    with UnitOfWork(engine, readonly=True) as uow:
        rows = uow.conn.execute(select(replication_marks.c.origin, replication_marks.c.high_water)).all()
    return {r.origin: int(r.high_water) for r in rows}


def _wait(condition: Callable[[], bool], limit: float, what: str) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"soak: {what} not reached within {limit:g} s")
        time.sleep(0.25)


def _inject(
    plan: Plan, hosts: _Hosts, proxies: Proxies, faults: list[Fault], *, rng: random.Random, t0: float
) -> Counter[str]:
    """The orchestrated faults at their moments (the frame faults are the hosts'); what was injected, by kind."""
    done: Counter[str] = Counter()
    lockers: list[threading.Thread] = []
    for fault in faults:
        while (delay := t0 + fault.at - time.time()) > 0:
            time.sleep(min(delay, 0.5))
            hosts.watch()
        if fault.kind == "kill":
            hosts.kill(fault.target, rng)
        elif fault.kind == "cut":
            proxies.cut(fault.target, wait=0.5)
        elif fault.kind == "lock":
            seconds = rng.uniform(0.5, 3.0)
            locker = threading.Thread(target=_hold_lock, args=(plan.database(fault.target), seconds), daemon=True)
            locker.start()
            lockers.append(locker)
        done[fault.kind] += 1
        if sum(done.values()) % 50 == 0:
            _say(f"{sum(done.values())} orchestrated faults injected")
    for locker in lockers:
        locker.join()
    return done


def _frame_faults(plan: Plan) -> tuple[Counter[str], float]:
    """The frame faults the hosts logged (each once: a restarted host does not repeat one), and the last moment."""
    seen: dict[int, dict[str, Any]] = {}
    for log in Path(plan.root).glob("faults-*.log"):
        for line in log.read_text(encoding="utf-8").splitlines():
            if line:
                entry = json.loads(line)
                seen.setdefault(int(entry["id"]), entry)
    return Counter(e["kind"] for e in seen.values()), max((float(e["at"]) for e in seen.values()), default=0.0)


def _expected(engine: Engine, origin: str) -> dict[str, tuple[int, int]]:
    """An origin's figures recomputed here from its outbox rows (a scan, independent of its incremental ones)."""
    with UnitOfWork(engine, readonly=True) as uow:
        rows = uow.conn.execute(select(*OUTBOX_COLUMNS).where(outbox.c.origin == origin).order_by(outbox.c.seq)).all()
    records = [r for r in records_of(rows) if r.record_type != ATTESTATION]
    return dict(totals_of(records).kinds)  # type: ignore[arg-type]


def _held(engine: Engine, origin: str) -> dict[str, tuple[int, int]]:
    with UnitOfWork(engine, readonly=True) as uow:
        kinds = attestation.load_totals(uow.conn, origin).kinds
    return {k: (int(v[0]), int(v[1])) for k, v in kinds.items() if k}


def _verify(plan: Plan, engines: _Engines) -> dict[str, Any]:
    lost = duplicated = divergent = quarantined = diverging_verdicts = records = 0
    off_mark: list[str] = []
    for city in plan.cities:
        for origin, tiers in [(c, (city, plan.province)) for c in plan.counties[city]] + [(city, (plan.province,))]:
            expected = _expected(engines(origin), origin)
            top = _top(engines(origin), origin)
            records += top
            for tier in tiers:
                if _marks(engines(tier)).get(origin, 0) != top:
                    off_mark.append(f"{origin}@{tier}")
                held = _held(engines(tier), origin)
                for kind in set(expected) | set(held):
                    (want, want_digest), (got, got_digest) = expected.get(kind, (0, 0)), held.get(kind, (0, 0))
                    lost += max(0, want - got)
                    duplicated += max(0, got - want)
                    divergent += want == got and want_digest != got_digest
    for tier in [plan.province, *plan.cities]:
        with UnitOfWork(engines(tier), readonly=True) as uow:
            quarantined += int(uow.conn.execute(select(func.count()).select_from(quarantine)).scalar_one())
            verdicts = attestation.latest_verdicts(uow.conn, node=tier)
        diverging_verdicts += sum(v.verdict not in attestation.AGREEING for v in verdicts)
    return {
        "records_written": records,
        "lost": lost,
        "duplicated": duplicated,
        "divergent": divergent,
        "marks_not_at_top": len(off_mark),
        "quarantined": quarantined,
        "verdicts_diverging": diverging_verdicts,
        "off_mark": off_mark[:10],
    }


def _state_everything(plan: Plan, engines: _Engines) -> None:
    """The writers stop; each county states its figures; once every city holds its counties', each city states
    its own; then the province holds every origin's last seq."""
    directory = Path(plan.root)
    (directory / "stop-writing").touch()
    senders = [h for h in plan.hosts if h.startswith("sender-")]
    _wait(lambda: all((directory / f"stop-writing-{h}.done").exists() for h in senders), 120, "county statements")

    def held_at(tier: str, origins: list[str]) -> Callable[[], bool]:
        return lambda: all(_marks(engines(tier)).get(o, 0) == _top(engines(o), o) for o in origins)

    for city in plan.cities:
        _wait(held_at(city, plan.counties[city]), CONVERGE_LIMIT_S, f"city {city} holds its counties")
    (directory / "state-cities").touch()
    relays = [h for h in plan.hosts if h.startswith("relay-")]
    _wait(lambda: all((directory / f"state-cities-{h}.done").exists() for h in relays), 120, "city statements")
    everyone = [*(c for members in plan.counties.values() for c in members), *plan.cities]
    _wait(held_at(plan.province, everyone), CONVERGE_LIMIT_S, "the province holds every origin")


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p * (len(ordered) - 1)))] if ordered else 0.0


def soak(directory: Path, settings: Settings) -> dict[str, Any]:
    """One soak in ``directory``: its figures."""
    started = time.monotonic()
    rng = random.Random(settings.seed)
    _say("laying out the federation (PKI, databases)")
    plan = make_plan(
        directory, catalogue_bundle(), cities=settings.cities, counties_per_city=settings.counties_per_city
    )
    plan.case_every_s = settings.case_every_s
    (directory / "templates.json").write_text(json.dumps(_templates(directory)), encoding="utf-8")
    proxies = Proxies(plan.ports)
    plan.proxies = proxies.ports
    counties = [c for members in plan.counties.values() for c in members]
    _say(f"{len(plan.cities)} cities, {len(counties)} counties on {len(plan.hosts)} processes")
    plan.faults = schedule(plan, settings.faults, settings.span_s, rng)
    hosts = _Hosts(plan, plan.write())
    engines = _Engines(plan)
    try:
        hosts.start_all()
        t0 = time.time() + 2.0  # the faults' moments count from here (the hosts read it: bench.soak_host)
        (directory / "go").write_text(repr(t0), encoding="utf-8")
        _say(f"{settings.faults} faults over {settings.span_s:g} s")
        orchestrated = [f for f in plan.faults if f.kind not in FRAME_KINDS]
        injected = _inject(plan, hosts, proxies, orchestrated, rng=rng, t0=t0)
        planned_frames = sum(f.kind in FRAME_KINDS for f in plan.faults)
        with contextlib.suppress(RuntimeError):  # each frame fault touches the next batch its sender sends
            _wait(lambda: sum(_frame_faults(plan)[0].values()) >= planned_frames, 60, "the frame faults")
        frames, last_frame = _frame_faults(plan)
        injected.update(frames)
        last_fault = max([t0 + f.at for f in orchestrated] + [last_frame])
        tops = {c: _top(engines(c), c) for c in [*counties, *plan.cities]}
        _say(f"{sum(injected.values())} faults injected; waiting for the province to hold what was written")
        converged: dict[str, float] = {}

        def province_holds() -> bool:
            hosts.watch()
            marks, now = _marks(engines(plan.province)), time.time()
            for origin, top in tops.items():
                if origin not in converged and marks.get(origin, 0) >= top:
                    converged[origin] = max(0.0, now - last_fault)
            return len(converged) == len(tops)

        try:
            _wait(province_holds, CONVERGE_LIMIT_S, "convergence after the last fault")
        except RuntimeError as exc:
            behind = {o: (tops[o], _marks(engines(plan.province)).get(o, 0)) for o in tops if o not in converged}
            raise RuntimeError(f"{exc}: behind (top, province) {dict(list(behind.items())[:20])}") from None
        _state_everything(plan, engines)
        time.sleep(1.0)
        checked = _verify(plan, engines)
    finally:
        hosts.stop_all()
        proxies.close()
        engines.close()
    values = list(converged.values())
    return {
        "cities": len(plan.cities),
        "counties": len(counties),
        "processes": len(plan.hosts),
        "faults": sum(injected.values()),
        "faults_planned": len(plan.faults),
        "faults_by_kind": dict(sorted(injected.items())),
        **checked,
        "unexpected_exits": hosts.unexpected_exits,
        "restarts": hosts.restarts,
        "convergence_s": {
            "p50": round(_percentile(values, 0.5), 2),
            "p99": round(_percentile(values, 0.99), 2),
            "max": round(max(values, default=0.0), 2),
        },
        "duration_s": round(time.monotonic() - started, 1),
    }


def run(options: Options) -> dict[str, Any]:
    whole = options.scale >= SLICE_BELOW  # below: a slice of the province (the smoke test's tiny scale)
    settings = Settings(
        faults=scaled(FAULTS, options.scale),
        span_s=max(10.0, SPAN_S * options.scale),
        seed=options.seed,
        cities=None if whole else 2,
        counties_per_city=None if whole else 2,
    )
    directory = Path(tempfile.mkdtemp(prefix="sunshine-soak-"))
    try:
        figures = soak(directory, settings)
    except BaseException:
        _say(f"the soak's directory is kept for a look: {directory}")
        raise
    shutil.rmtree(directory, ignore_errors=True)
    ok = figures["lost"] == figures["duplicated"] == figures["divergent"] == 0
    _say(
        f"{figures['faults']} faults over {figures['counties']} counties and {figures['cities']} cities: "
        f"lost {figures['lost']}, duplicated {figures['duplicated']}, divergent {figures['divergent']} "
        f"({'ok' if ok else 'FAILED'}); convergence p50 {figures['convergence_s']['p50']} s, "
        f"p99 {figures['convergence_s']['p99']} s"
    )
    return {"bench": NAME, "scale": options.scale, **figures}
