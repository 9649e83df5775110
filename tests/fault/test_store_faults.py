"""Faults of the receiver's own store (issue 19): its PostgreSQL connection terminated mid-batch, a storm of SQLite
``database is locked``, the store full, a WAL file removed while the receiver was down. Each time the receiver
refuses the group with a clear error (UNAVAILABLE: retry later), never acknowledges what it has not made durable,
and the stream converges once the fault clears — every record held once, with its last value.

Real SQLite and PostgreSQL, a real gRPC server on 127.0.0.1, the real :class:`Link` and :class:`SqlBatchSource`.
Two faults are brought about through the store's own settings rather than the machine: the full disk is SQLite's
``max_page_count`` (the same ``SQLITE_FULL`` a full file system gives, without mounting one: this machine may not),
and the lock storm shortens the receiver's busy timeout (30 s in production) so that a storm lasts seconds.
"""

from __future__ import annotations

import shutil
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, insert, select
from sqlalchemy.engine import Connection

from federation.storage.engine import make_engine
from federation.storage.outbox import canonical_json
from federation.storage.tables import batch_receipts, node_settings, outbox, replication_marks
from federation.storage.uow import UnitOfWork
from federation.timeutil import utcnow
from migrations.runner import upgrade
from sync_agent.client import Link
from sync_agent.errors import LinkError
from sync_agent.server import RunningServer, serve
from sync_agent.store import SqlBatchSink, SqlBatchSource
from tests.settings_applier import Settings

pytestmark = pytest.mark.fault

COUNTY, CITY = "371122", "371100"
KEYS, ROUNDS = 20, 3  # every key written ROUNDS times: the last value must win, once
BATCH = 10
ATTEMPTS = 40


def _value(round_: int, key: int) -> str:
    return f"{round_}-{key}-" + "页" * 1000  # ~3 KB each: the records need new pages, so a full store refuses them


def _county(tmp: Path) -> tuple[Engine, int]:
    """A county whose outbox holds KEYS × ROUNDS setting records (written as rows: the boundary policy, not under
    test here, lets no ``setting`` out); its engine and last seq."""
    engine = make_engine(f"sqlite:///{tmp / 'county.db'}")
    upgrade(engine)
    now = utcnow()
    rows = [
        {
            "origin": COUNTY,
            "seq": r * KEYS + k + 1,
            "record_type": "setting",
            "record_id": f"k{k:02d}",
            "op": "upsert",
            "payload": canonical_json({"value": _value(r, k)}),
            "created_at": now,
        }
        for r in range(ROUNDS)
        for k in range(KEYS)
    ]
    with UnitOfWork(engine) as uow:
        uow.conn.execute(insert(outbox), rows)
        uow.commit()
    return engine, len(rows)


class Receiver:
    """The city: a sink with the Settings applier behind a real gRPC server."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.settings = Settings()
        self.sink = SqlBatchSink(engine, CITY, {"setting": self.settings}, relay=False)
        self.server: RunningServer = serve(self.sink)

    def mark(self) -> int:
        with UnitOfWork(self.engine, readonly=True) as uow:
            seq = uow.conn.execute(select(replication_marks.c.high_water).where(replication_marks.c.origin == COUNTY))
            return int(seq.scalar() or 0)

    def held(self) -> dict[str, str]:
        with UnitOfWork(self.engine, readonly=True) as uow:
            rows = uow.conn.execute(select(node_settings.c.key, node_settings.c.value)).all()
        return {k: v for k, v in rows if k.startswith("k")}

    def receipts(self) -> int:
        with UnitOfWork(self.engine, readonly=True) as uow:
            return int(uow.conn.execute(select(func.count()).select_from(batch_receipts)).scalar_one())

    def stop(self) -> None:
        self.server.stop(grace=None)


def _link(target: str, county: Engine) -> Link:
    source = SqlBatchSource(county, COUNTY, max_records=BATCH)
    return Link("up", target, source, node=COUNTY, window=2, gzip=False, backoff_initial=0.05, backoff_max=0.2)


def _until_converged(link: Link, rx: Receiver, last: int) -> list[str]:
    """Sessions until the receiver holds everything; after each failed one, the link's acknowledged mark is never
    ahead of what the receiver has made durable. The errors the sender was told, in order."""
    errors: list[str] = []
    for _ in range(ATTEMPTS):
        try:
            stats = link.run_once(until_idle=True)
        except LinkError as exc:
            errors.append(f"{exc.status}: {exc.message}")
            acked = link.stats().origins[COUNTY].acked_high_water if COUNTY in link.stats().origins else 0
            assert acked <= rx.mark(), f"acknowledged {acked} but only {rx.mark()} is durable"
            time.sleep(0.05)
            continue
        if stats.origins[COUNTY].acked_high_water == last:
            break
    assert rx.mark() == last, errors
    assert rx.held() == {f"k{k:02d}": _value(ROUNDS - 1, k) for k in range(KEYS)}
    assert rx.receipts() == -(-last // BATCH)  # every batch received once
    return errors


@pytest.fixture
def county(tmp_path: Path) -> Iterator[tuple[Engine, int]]:
    engine, last = _county(tmp_path)
    yield engine, last
    engine.dispose()


@pytest.mark.postgresql
def test_postgresql_connection_terminated_mid_batch(county: tuple[Engine, int], pg_url: str) -> None:
    engine = make_engine(pg_url)
    upgrade(engine)
    rx = Receiver(engine)
    terminated: list[int] = []

    def terminate(conn: Connection) -> None:  # the server ends this very session, rows of the group written
        if len(terminated) < 2:
            terminated.append(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())
            conn.exec_driver_sql("SELECT pg_terminate_backend(pg_backend_pid())")

    rx.settings.fault = terminate
    try:
        errors = _until_converged(_link(rx.server.target, county[0]), rx, county[1])
    finally:
        rx.stop()
        engine.dispose()
    assert len(terminated) == 2
    # both terminations may fall in one session (a failed group is received again batch by batch): at least one
    assert errors, errors
    assert all(e.startswith("UNAVAILABLE: ") and "数据库" in e for e in errors), errors


def test_sqlite_locked_storm(county: tuple[Engine, int], tmp_path: Path) -> None:
    path = tmp_path / "city.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)

    @event.listens_for(engine, "connect")
    def _short_busy_timeout(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.execute("PRAGMA busy_timeout=100")  # the storm outlasts it (30 s in production)

    engine.dispose()  # the connections made by the migrations kept the production timeout
    rx = Receiver(engine)
    storm = threading.Event()
    storms: list[int] = []

    def lock_storm() -> None:  # another writer takes the write lock again and again, 0.4 s at a time
        locker = sqlite3.connect(path, timeout=5, isolation_level=None)
        try:
            while not storm.is_set():
                locker.execute("BEGIN IMMEDIATE")
                storms.append(1)
                time.sleep(0.4)
                locker.execute("COMMIT")
                time.sleep(0.02)
        finally:
            locker.close()

    storming = threading.Thread(target=lock_storm, daemon=True)
    storming.start()
    link = _link(rx.server.target, county[0])
    try:
        deadline = time.monotonic() + 3.0  # the storm: sessions keep failing, nothing is acknowledged wrongly
        errors: list[str] = []
        while time.monotonic() < deadline:
            try:
                link.run_once(until_idle=True)
            except LinkError as exc:
                errors.append(f"{exc.status}: {exc.message}")
                stats = link.stats().origins.get(COUNTY)
                assert (stats.acked_high_water if stats else 0) <= rx.mark()
        storm.set()  # the storm passes
        storming.join(timeout=5)
        errors += _until_converged(link, rx, county[1])
    finally:
        storm.set()
        rx.stop()
        engine.dispose()
    assert len(storms) >= 3
    locked = [e for e in errors if "database is locked" in e]
    assert locked, errors
    assert all(e.startswith("UNAVAILABLE: ") for e in locked), errors


def test_sqlite_store_full(county: tuple[Engine, int], tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'city.db'}")
    upgrade(engine)
    with engine.connect() as conn:
        pages = int(conn.exec_driver_sql("PRAGMA page_count").scalar_one())
    limit = {"pages": pages + 2}  # room for two pages more: a group of records of ~3 KB each does not fit

    @event.listens_for(engine, "checkout")
    def _store_size(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
        dbapi_conn.execute(f"PRAGMA max_page_count={limit['pages']}")

    rx = Receiver(engine)
    link = _link(rx.server.target, county[0])
    try:
        errors: list[str] = []
        for _ in range(3):  # full: refused every time, nothing acknowledged that is not stored
            with pytest.raises(LinkError) as failed:
                link.run_once(until_idle=True)
            errors.append(f"{failed.value.status}: {failed.value.message}")
            stats = link.stats().origins.get(COUNTY)
            assert (stats.acked_high_water if stats else 0) <= rx.mark() < county[1]
        limit["pages"] = 1_073_741_823  # room made
        _until_converged(link, rx, county[1])
    finally:
        rx.stop()
        engine.dispose()
    assert all(e.startswith("UNAVAILABLE: ") and "database or disk is full" in e for e in errors), errors


def test_wal_removed_while_the_receiver_was_down(county: tuple[Engine, int], tmp_path: Path) -> None:
    """What a crash left (the database file and its WAL, copied while the receiver ran), then the WAL lost: the
    receiver comes back with an older but consistent database; the sender, though acknowledged further, resends
    from the receiver's own mark and it converges."""
    live = tmp_path / "city.db"
    engine = make_engine(f"sqlite:///{live}")
    upgrade(engine)
    engine.dispose()
    with sqlite3.connect(live) as raw:  # the schema in the database file itself
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    @event.listens_for(engine, "connect")
    def _no_checkpoint(dbapi_conn: Any, _record: Any) -> None:  # what is received stays in the WAL
        dbapi_conn.execute("PRAGMA wal_autocheckpoint=0")

    rx = Receiver(engine)
    link = _link(rx.server.target, county[0])
    crashed = tmp_path / "crashed"
    crashed.mkdir()
    try:
        _until_converged(link, rx, county[1])
        shutil.copy(live, crashed / "city.db")  # the image a power cut leaves: no -wal copied, as if it were lost
    finally:
        rx.stop()
        engine.dispose()
    back = make_engine(f"sqlite:///{crashed / 'city.db'}")
    rx = Receiver(back)
    try:
        with back.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar_one() == "ok"
        assert rx.mark() < county[1]  # what was only in the WAL is gone, marks included
        link = _link(rx.server.target, county[0])  # the county's own acknowledged mark is further on
        _until_converged(link, rx, county[1])
    finally:
        rx.stop()
        back.dispose()
