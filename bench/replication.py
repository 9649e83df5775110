"""``replication``: case events per second from a county to a city over the real gRPC link, beside the transport's
ceiling on this machine.

**The county.** Its SQLite outbox holds ``N`` case events (N = 1,000,000 at scale 1), each case's events preceded
by the case's snapshot — one ``case`` record per 6–8 ``case_event`` records, so the city applies both record
types. The payloads are what :class:`~county_node.approval.services.ApprovalService` writes: three lifecycles are
run once through the real service (a promised case with a correction; a joint case with its three departments'
tasks; a case suspended, resumed, extended and still in review, so the city computes its due moments), and
their outbox rows are replayed with new case numbers of division 371122 (1,000 cases a weekday from
2026-01-05) and their moments moved to the case's day, then bulk-inserted. That preparation is not timed.

**Timed, county → city.** :meth:`SqlBatchSource.seal` (hash-chained batches of 500 records), then
:meth:`Link.run_once` — the real client with the agent's defaults (window 8, gzip) — to the real
:func:`~sync_agent.server.serve` in front of the city's :class:`SqlBatchSink` (the default ``case`` and
``case_event`` appliers, ``relay=True`` as a city that forwards its counties to the province), until the link's
acknowledged mark is the county's last seq; the city's mark, cases and events are then checked. The city runs
on SQLite (the node's default ``synchronous=FULL``), then on PostgreSQL, each from a fresh copy of the county.
The receiver runs in its own process, as a city does: the two ends do not share one interpreter.

**The ceiling.** The same batches, read into memory beforehand, sent by the same :class:`Link` through the same
``serve()`` to a sink that only acknowledges each decoded batch: gRPC, framing, gzip and the protobuf conversion
at both ends, no database at either. ``ratio`` = SQLite events/s ÷ ceiling events/s.

Events/s counts the ``case_event`` records; ``sqlite_records_per_s`` counts the snapshots too.
"""

from __future__ import annotations

import json
import multiprocessing
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as time_of_day
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select

from bench.harness import Options, catalogue_bundle, postgresql_problem, progress, scaled, temp_postgresql_database
from county_node.approval.adapters.replica import default_appliers
from county_node.approval.domain import Action
from county_node.approval.services import ApprovalService
from federation.standards import StandardsBundle
from federation.storage.bulk import BulkStatement
from federation.storage.engine import make_engine
from federation.storage.outbox import canonical_json
from federation.storage.tables import case_events, cases, counters, outbox
from federation.storage.uow import UnitOfWork
from federation.timeutil import CST
from migrations.runner import upgrade
from sync_agent.client import Link, LinkStats
from sync_agent.domain import Batch, Mark
from sync_agent.ports import BatchSink, BatchSource, Receipt
from sync_agent.server import serve
from sync_agent.store import SqlBatchSink, SqlBatchSource

__all__ = ["TARGET_RATIO", "TARGET_SQLITE_EVENTS_PER_S", "run"]

NAME = "replication"
TARGET_SQLITE_EVENTS_PER_S = 50_000
TARGET_RATIO = 0.3
BASE_EVENTS = 1_000_000
COUNTY, CITY = "371122", "371100"
CASES_PER_DAY = 1000
FIRST_DAY = date(2026, 1, 5)  # a Monday
# the agent's defaults (federation.config ReplicationConfig): batches of 500 records / 1 MiB, 8 in flight, gzip
BATCH_RECORDS, BATCH_BYTES, WINDOW, GZIP = 500, 1_048_576, 8, True
LINK_NAME = "bench-up"
PROGRESS_EVERY_S = 15.0
_PLACEHOLDER = "@CASE@"  # the case number in a template's payloads, replaced per case
_MOMENT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+08:00")
_INSERT_OUTBOX = BulkStatement(insert(outbox), [c.name for c in outbox.c])
Say = Callable[[str], None]

# -- the county's outbox ------------------------------------------------------------------------------------------


class _SetClock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def _lifecycles(svc: ApprovalService, clock: _SetClock) -> None:
    """Three real cases of 7, 8 and 6 events; the third stays open."""

    def act(case_no: str, action: Action, hours: float = 20, **params: Any) -> None:
        clock.now += timedelta(hours=hours)
        svc.act(case_no, action, actor="审批员", params=params)

    food = {"统一社会信用代码": "91371122MA3C000001", "经营场所": "莒县城阳街道 1 号"}
    a = svc.submit(item_code="XK00003000", applicant="莒县某某餐饮有限公司", data=food, actor="窗口03").case_no
    act(a, Action.ACCEPT, 0.5)
    act(a, Action.REQUEST_CORRECTION, reason="缺少营业执照副本")
    act(a, Action.RECEIVE_CORRECTION, 30, data={"经营场所": "莒县城阳街道 9 号"})
    act(a, Action.REVIEW, opinion="材料齐全，符合条件")
    act(a, Action.DECIDE, outcome="approve", fee_charged="0")
    act(a, Action.CONCLUDE, 2)

    clock.now = clock.now.replace(hour=10)
    project = {"项目代码": "2026-371122-47-01-000001", "建设单位": "莒县城投公司"}
    b = svc.submit(item_code="XK00036000", applicant="莒县城投公司", data=project, actor="窗口07").case_no
    act(b, Action.ACCEPT, 1)
    act(b, Action.REVIEW, opinion="转联办部门")
    for department in ("自然资源局", "住房和城乡建设局", "消防救援大队"):
        act(b, Action.COMPLETE_TASK, department=department, outcome="agree", opinion="符合要求")
    act(b, Action.DECIDE, outcome="approve")
    act(b, Action.CONCLUDE, 2)

    clock.now = clock.now.replace(hour=11)
    pharmacy = {"统一社会信用代码": "91371122MA3C000077", "质量负责人": "王五"}
    c = svc.submit(item_code="XK00004000", applicant="莒县某某大药房有限公司", data=pharmacy, actor="窗口01").case_no
    act(c, Action.ACCEPT, 0.5)
    act(c, Action.SUSPEND, reason="申请人要求暂停")
    act(c, Action.RESUME, 26)
    act(c, Action.EXTEND, days=5, reason="需现场核查", approver="局长")
    act(c, Action.REVIEW, opinion="现场核查中")


@dataclass(frozen=True, slots=True)
class _Template:
    """One real case's outbox rows: its last snapshot, and its events with their ``created_at``."""

    case_no: str
    snapshot: Any  # decoded JSON
    events: tuple[tuple[Any, datetime], ...]

    @property
    def submitted_at(self) -> datetime:
        return self.events[0][1]


def _templates(directory: Path, bundle: StandardsBundle) -> list[_Template]:
    engine = make_engine(f"sqlite:///{directory / 'templates.db'}", sqlite_synchronous="normal")
    try:
        upgrade(engine)
        clock = _SetClock(datetime(2026, 1, 5, 9, 0, tzinfo=CST))
        svc = ApprovalService(engine, COUNTY, clock)
        svc.apply_standards(bundle)
        _lifecycles(svc, clock)
        with engine.connect() as conn:
            rows = conn.execute(select(outbox).where(outbox.c.origin == COUNTY).order_by(outbox.c.seq)).all()
    finally:
        engine.dispose()
    snapshots: dict[str, Any] = {}
    events: dict[str, list[tuple[Any, datetime]]] = {}
    for r in rows:
        if r.record_type == "case":
            snapshots[r.record_id] = json.loads(r.payload)  # the last one wins
        elif r.record_type == "case_event":
            events.setdefault(r.record_id.split("#")[0], []).append((json.loads(r.payload), r.created_at))
    return [_Template(case_no, snapshots[case_no], tuple(evs)) for case_no, evs in events.items()]


def _moved(value: Any, delta: timedelta) -> Any:
    """``value`` (decoded JSON) with every moment moved by ``delta``."""
    if isinstance(value, str):
        return (datetime.fromisoformat(value) + delta).isoformat() if _MOMENT.fullmatch(value) else value
    if isinstance(value, dict):
        return {k: _moved(v, delta) for k, v in value.items()}
    if isinstance(value, list):
        return [_moved(v, delta) for v in value]
    return value


_Row = tuple[str, str, str, str, datetime]  # record_type, record_id, op, payload, created_at


def _case_rows(template: _Template, submitted_at: datetime) -> list[_Row]:
    """The template's outbox rows for a case submitted at ``submitted_at`` (case number: the placeholder)."""
    delta = submitted_at - template.submitted_at

    def text(value: Any) -> str:
        return canonical_json(_moved(value, delta)).replace(template.case_no, _PLACEHOLDER)

    rows = [("case", _PLACEHOLDER, "upsert", text(template.snapshot), submitted_at)]
    for n, (payload, created_at) in enumerate(template.events, start=1):
        rows.append(("case_event", f"{_PLACEHOLDER}#{n:04d}", "insert", text(payload), created_at + delta))
    return rows


def _weekdays(first: date) -> Iterator[date]:
    day = first
    while True:
        if day.weekday() < 5:
            yield day
        day += timedelta(days=1)


def _outbox_rows(templates: Sequence[_Template], n_events: int) -> Iterator[dict[str, Any]]:
    """Cases in turn (the templates alternating, submitted 9 minutes apart in 50 slots a day), each its snapshot
    then its events, until ``n_events`` events (the last case may be cut short)."""
    made: dict[tuple[int, date, int], list[_Row]] = {}
    seq = events = 0
    days = _weekdays(FIRST_DAY)
    while events < n_events:
        day = next(days)
        for i in range(CASES_PER_DAY):
            if events == n_events:
                break
            key = (i % len(templates), day, i % 50)
            rows = made.get(key)
            if rows is None:
                start = datetime.combine(day, time_of_day(8, 30), CST) + timedelta(minutes=9 * key[2])
                rows = made[key] = _case_rows(templates[key[0]], start)
            case_no = f"{COUNTY}-{day:%Y%m%d}-{i + 1:06d}"
            for record_type, record_id, op, payload, created_at in rows:
                if record_type == "case_event":
                    if events == n_events:
                        break
                    events += 1
                seq += 1
                yield {
                    "origin": COUNTY,
                    "seq": seq,
                    "record_type": record_type,
                    "record_id": record_id.replace(_PLACEHOLDER, case_no),
                    "op": op,
                    "payload": payload.replace(_PLACEHOLDER, case_no),
                    "created_at": created_at,
                }


@dataclass(frozen=True, slots=True)
class _County:
    path: Path
    last_seq: int
    events: int
    cases: int


def _prepare_county(path: Path, templates: Sequence[_Template], n_events: int) -> _County:
    engine = make_engine(f"sqlite:///{path}", sqlite_synchronous="normal")
    try:
        upgrade(engine)
        seq = n_cases = 0
        with UnitOfWork(engine) as uow:
            chunk: list[dict[str, Any]] = []
            for row in _outbox_rows(templates, n_events):
                chunk.append(row)
                n_cases += row["record_type"] == "case"
                if len(chunk) == 50_000:
                    _INSERT_OUTBOX.execute(uow.conn, chunk)
                    chunk = []
            _INSERT_OUTBOX.execute(uow.conn, chunk)
            seq = int(uow.conn.execute(select(func.max(outbox.c.seq))).scalar_one())
            uow.conn.execute(insert(counters), {"name": f"outbox:{COUNTY}", "value": seq})
            uow.commit()
    finally:
        engine.dispose()  # its last connection checkpoints the WAL: the file alone is then the whole database
    return _County(path, seq, n_events, n_cases)


def _prepare_city(url: str, bundle: StandardsBundle) -> None:
    engine = make_engine(url, sqlite_synchronous="normal")
    try:
        upgrade(engine)
        ApprovalService(engine, CITY, _SetClock(datetime(2026, 1, 5, tzinfo=CST))).apply_standards(bundle)
    finally:
        engine.dispose()


# -- the receiving city, in a process of its own ------------------------------------------------------------------


class _AckingSink(BatchSink):
    """The ceiling's receiver: acknowledges every batch the servicer decoded; stores and checks nothing."""

    node = CITY

    def marks(self, origins: Sequence[str]) -> Sequence[Mark]:
        return [Mark(o) for o in origins]

    def receive(self, sender: str, batch: Batch) -> Receipt:
        return Receipt(Mark(batch.origin, batch.last_seq, batch.batch_hash))


def _receiver_main(city_url: str | None, pipe: Pipe) -> None:
    """The city's process: serve ``city_url`` (None: the acking sink), say where, stop when told."""
    from federation.logging import configure_logging

    configure_logging(level="warning")  # stderr; the parent's stdout carries only the result line
    engine = None if city_url is None else make_engine(city_url)
    try:
        sink = _AckingSink() if engine is None else SqlBatchSink(engine, CITY, default_appliers(), relay=True)
        server = serve(sink)
        try:
            pipe.send(server.target)
            pipe.recv()
        finally:
            server.stop(grace=None)
    finally:
        if engine is not None:
            engine.dispose()
        pipe.close()


@contextmanager
def _receiver(city_url: str | None) -> Iterator[str]:
    """A receiver process serving ``city_url``; yields its ``host:port``, stops and joins it on exit."""
    ctx = multiprocessing.get_context("spawn")  # a fresh interpreter: no inherited threads or connections
    pipe, child = ctx.Pipe()
    process = ctx.Process(target=_receiver_main, args=(city_url, child), name="bench-city", daemon=True)
    process.start()
    child.close()
    try:
        while not pipe.poll(0.1) and process.is_alive():
            pass
        try:
            target = pipe.recv()
        except EOFError:
            process.join(5)
            raise RuntimeError(f"the receiver process exited (code {process.exitcode}) before serving") from None
        yield target
    finally:
        with suppress(OSError):  # it has exited already
            pipe.send("stop")
        process.join(30)
        if process.is_alive():  # pragma: no cover - a receiver that does not stop
            process.terminate()
            process.join(5)
        pipe.close()


# -- the timed runs -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Timing:
    seal_s: float
    stream_s: float
    batches: int

    @property
    def total_s(self) -> float:
        return self.seal_s + self.stream_s


def _run_link(link: Link, label: str, county: _County, say: Say) -> tuple[LinkStats, float]:
    """``link.run_once`` with a progress line every ``PROGRESS_EVERY_S``; the stats and the seconds it took."""
    done = threading.Event()
    started = time.perf_counter()

    def report() -> None:
        while not done.wait(PROGRESS_EVERY_S):
            acked, seconds = link.stats().acked_records, time.perf_counter() - started
            say(f"{label}: {acked:,}/{county.last_seq:,} records acknowledged ({acked / seconds:,.0f}/s so far)")

    reporter = threading.Thread(target=report, name=f"bench-{label}-progress", daemon=True)
    reporter.start()
    try:
        stats = link.run_once(until_idle=True)
    finally:
        done.set()
        reporter.join()
    seconds = time.perf_counter() - started
    origin = stats.origins[COUNTY]
    if origin.acked_high_water != county.last_seq or origin.refusals or origin.quarantined:
        raise RuntimeError(f"{label}: the link ended at {origin}, not cleanly at seq {county.last_seq}")
    return stats, seconds


def _link(target: str, source: BatchSource) -> Link:
    return Link(LINK_NAME, target, source, node=COUNTY, window=WINDOW, gzip=GZIP)


def _replicate(county_url: str, city_url: str, county: _County, label: str, say: Say) -> _Timing:
    """Seal the county and stream it to a receiver in front of ``city_url``; check the city holds it all."""
    engine = make_engine(county_url)
    try:
        source = SqlBatchSource(engine, COUNTY, max_records=BATCH_RECORDS, max_bytes=BATCH_BYTES)
        with _receiver(city_url) as target:
            say(f"{label}: receiver at {target}; sealing and streaming {county.last_seq:,} records")
            started = time.perf_counter()
            sealed = source.seal()
            seal_s = time.perf_counter() - started
            _, stream_s = _run_link(_link(target, source), label, county, say)
    finally:
        engine.dispose()
    _check_city(city_url, county, label)
    timing = _Timing(seal_s, stream_s, sealed)
    say(
        f"{label}: {county.events / timing.total_s:,.0f} events/s ({county.last_seq / timing.total_s:,.0f} "
        f"records/s) — sealed {sealed:,} batches in {seal_s:.2f}s, streamed and applied in {stream_s:.2f}s"
    )
    return timing


def _check_city(city_url: str, county: _County, label: str) -> None:
    engine = make_engine(city_url)
    try:
        (mark,) = SqlBatchSink(engine, CITY, default_appliers(), relay=True).marks([COUNTY])
        with engine.connect() as conn:
            n_events = conn.execute(select(func.count()).select_from(case_events)).scalar_one()
            n_cases = conn.execute(select(func.count()).select_from(cases)).scalar_one()
    finally:
        engine.dispose()
    if (mark.high_water, n_events, n_cases) != (county.last_seq, county.events, county.cases):
        raise RuntimeError(
            f"{label}: the city holds seq {mark.high_water}, {n_events:,} events and {n_cases:,} cases; expected "
            f"{county.last_seq}, {county.events:,} and {county.cases:,}"
        )


class _MemorySource(BatchSource):
    """The ceiling's sender: the county's sealed batches, held in memory (no database)."""

    def __init__(self, batches: Sequence[Batch]) -> None:
        self._batches = batches
        self._after = {b.first_seq - 1: i for i, b in enumerate(batches)}

    def origins(self) -> Sequence[str]:
        return [COUNTY]

    def seal(self) -> int:
        return 0

    def batches_after(self, origin: str, high_water: int, limit: int) -> Sequence[Batch]:
        i = self._after.get(high_water)
        return [] if i is None or origin != COUNTY else self._batches[i : i + limit]

    def record_ack(self, link: str, origin: str, high_water: int) -> None:
        pass


def _ceiling(sealed_county_url: str, county: _County, say: Say) -> float:
    engine = make_engine(sealed_county_url)
    try:
        batches = SqlBatchSource(engine, COUNTY).batches_after(COUNTY, 0, county.last_seq)
    finally:
        engine.dispose()
    say(f"ceiling: {len(batches):,} batches in memory, streamed to a receiver that only acknowledges them")
    with _receiver(None) as target:
        _, seconds = _run_link(_link(target, _MemorySource(batches)), "ceiling", county, say)
    per_s = county.events / seconds
    say(f"ceiling: {per_s:,.0f} events/s ({county.last_seq / seconds:,.0f} records/s) in {seconds:.2f}s")
    return per_s


def _postgresql(
    options: Options, county_url: str, county: _County, bundle: StandardsBundle, say: Say
) -> tuple[_Timing, str] | None:
    """The county → city run with the city on PostgreSQL, and the server's ``autovacuum`` setting."""
    if not options.postgresql:
        say("postgresql: skipped (--no-postgresql); figure is null")
        return None
    problem = postgresql_problem(options.postgres_admin_url)
    if problem is not None:
        say(f"postgresql: skipped, figure is null — {problem}")
        return None
    with temp_postgresql_database(options.postgres_admin_url) as url:
        _prepare_city(url, bundle)
        autovacuum = _setting(url, "autovacuum")
        if autovacuum != "on":
            say(
                "postgresql: note — autovacuum is off on this server: the city's tables are never analysed, so "
                "its query plans rest on size estimates alone"
            )
        return _replicate(county_url, url, county, "postgresql", say), autovacuum


def _setting(url: str, name: str) -> str:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return str(conn.exec_driver_sql(f"SHOW {name}").scalar_one())
    finally:
        engine.dispose()


def _fresh_copy(county: _County, name: str) -> str:
    path = county.path.with_name(name)
    shutil.copyfile(county.path, path)
    return f"sqlite:///{path}"


def run(options: Options) -> dict[str, Any]:
    """Run the benchmark; return its figures (the caller prints them as the result line)."""

    def say(message: str) -> None:
        progress(NAME, message)

    n_events = scaled(BASE_EVENTS, options.scale, minimum=10)
    bundle = catalogue_bundle()
    with tempfile.TemporaryDirectory(prefix="sunshine-bench-") as tmp:
        directory = Path(tmp)
        started = time.perf_counter()
        county = _prepare_county(directory / "county.db", _templates(directory, bundle), n_events)
        say(
            f"county: {county.events:,} events of {county.cases:,} cases ({county.last_seq:,} outbox records) "
            f"prepared in {time.perf_counter() - started:.1f}s"
        )
        city_url = f"sqlite:///{directory / 'city.db'}"
        _prepare_city(city_url, bundle)
        sqlite_county = _fresh_copy(county, "county-sqlite.db")
        sqlite = _replicate(sqlite_county, city_url, county, "sqlite", say)
        ceiling_per_s = _ceiling(sqlite_county, county, say)
        pg = _postgresql(options, _fresh_copy(county, "county-postgresql.db"), county, bundle, say)
    postgresql, autovacuum = (None, None) if pg is None else pg
    sqlite_per_s = county.events / sqlite.total_s
    ratio = sqlite_per_s / ceiling_per_s
    say(
        f"sqlite: {sqlite_per_s:,.0f} events/s = {ratio:.2f} × the ceiling "
        f"(targets ≥ {TARGET_SQLITE_EVENTS_PER_S:,}/s and ≥ {TARGET_RATIO} × the ceiling)"
    )
    return {
        "bench": NAME,
        "sqlite_events_per_s": round(sqlite_per_s, 1),
        "postgresql_events_per_s": None if postgresql is None else round(county.events / postgresql.total_s, 1),
        "ceiling_events_per_s": round(ceiling_per_s, 1),
        "ratio": round(ratio, 3),
        "target_sqlite_events_per_s": TARGET_SQLITE_EVENTS_PER_S,
        "target_ratio": TARGET_RATIO,
        "sqlite_records_per_s": round(county.last_seq / sqlite.total_s, 1),
        "sqlite_seal_s": round(sqlite.seal_s, 3),
        "sqlite_stream_s": round(sqlite.stream_s, 3),
        "postgresql_seal_s": None if postgresql is None else round(postgresql.seal_s, 3),
        "postgresql_stream_s": None if postgresql is None else round(postgresql.stream_s, 3),
        "sqlite_synchronous": "full",
        "postgresql_autovacuum": autovacuum,
        "events": county.events,
        "case_snapshots": county.cases,
        "records": county.last_seq,
        "batches": sqlite.batches,
    }
