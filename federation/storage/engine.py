"""Engines for SQLite (WAL, foreign keys on) and PostgreSQL (psycopg 3).

SQLite write transactions begin with ``BEGIN IMMEDIATE`` so that two writers never deadlock upgrading a read
lock; read-only units of work begin with a plain ``BEGIN`` and never block writers (WAL).
"""

from __future__ import annotations

import functools
import json
import sqlite3
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DisconnectionError

from federation.errors import ConfigError, StorageError
from federation.storage import seal

if TYPE_CHECKING:
    from federation.config import Config

__all__ = ["engine_from_config", "make_engine"]


_MIN_SQLITE = (3, 35, 0)  # UPDATE/INSERT … RETURNING (the gap-free counters)

# JSON columns are written with sorted keys: a record replicated from its outbox payload (canonical, sorted) is
# then stored byte for byte as at its origin, on every tier
_JSON = functools.partial(json.dumps, sort_keys=True)


def _prepare_sqlite(engine: Engine, synchronous: str) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let SQLAlchemy's BEGIN below decide, not pysqlite
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA synchronous={'FULL' if synchronous == 'full' else 'NORMAL'}")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA cache_size=-65536")  # 64 MiB page cache
        cur.execute("PRAGMA temp_store=MEMORY")
        # checkpoint every ~40 MiB of WAL instead of every 4 MiB: a page rewritten by several commits in between
        # (a leaf of an index many batches insert into) is copied to the database once; ~20 % more ingest at ten
        # million video segments, durability unchanged (every commit is still synced to the WAL)
        cur.execute("PRAGMA wal_autocheckpoint=10000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # straight to the driver: this runs for every transaction, and SQLAlchemy's statement path costs more
        # than the BEGIN itself
        raw = conn.connection.driver_connection
        if raw is None:  # pragma: no cover - a checked-out connection always has its driver connection
            raise RuntimeError("no driver connection")
        try:
            raw.execute("BEGIN" if conn.get_execution_options().get("sunshine_readonly") else "BEGIN IMMEDIATE")
        except sqlite3.Error as exc:  # straight from the driver, so not wrapped by SQLAlchemy: the one error here
            # is another writer holding the lock past busy_timeout (a storm of writers, a long-running tool)
            raise StorageError(f"无法开始数据库事务：{exc}（其他写入长时间占用数据库）", backend="sqlite") from exc


_IDLE_PING_S = 1.0  # a pooled PostgreSQL connection unused this long is pinged before it is handed out
_CHECKED_IN = "sunshine_checked_in"  # on a pool connection record: time.monotonic() of its return to the pool


def _ping_when_idle(engine: Engine) -> None:
    """Hand out only live PostgreSQL connections, pinging just those that sat idle in the pool.

    SQLAlchemy's ``pool_pre_ping`` pings on every checkout: a round trip in front of every transaction, a sixth of
    a short case transition's. A connection returned less than :data:`_IDLE_PING_S` ago was working then; one idle
    longer (a database restarted overnight, a connection cut by a firewall) is pinged, and a dead one is replaced
    (the pool's own retry on ``DisconnectionError``). A connection that breaks while busy fails its statement as
    before: the error is a ``StorageError`` and the pool drops it."""

    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info[_CHECKED_IN] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _handed_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        returned = record.info.get(_CHECKED_IN)
        if returned is None:  # never returned yet: just connected (a second ago at most), or connected long ago
            if time.time() - record.starttime < _IDLE_PING_S:
                return
        elif time.monotonic() - returned < _IDLE_PING_S:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)  # pool_pre_ping's own ping: ";" in autocommit, no transaction
        except Exception as exc:
            raise DisconnectionError(f"PostgreSQL connection lost while idle: {exc}") from exc


def make_engine(url: str, *, echo: bool = False, sqlite_synchronous: str = "full") -> Engine:
    """Build the engine for ``url`` (``sqlite:///path`` or ``postgresql+psycopg://…``). Connects lazily.

    SQLite runs in WAL mode with ``synchronous=FULL`` by default: a committed transaction survives a power cut,
    which matters because its outbox rows may already have been streamed upstream. ``"normal"`` trades that
    for speed."""
    try:
        parsed = make_url(url)
    except Exception as exc:
        raise ConfigError(f"数据库地址格式错误：{url}", url=url) from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if sqlite3.sqlite_version_info < _MIN_SQLITE:
            raise ConfigError(
                f"SQLite 版本过低（{sqlite3.sqlite_version}），需要 3.35 或更高版本",
                sqlite_version=sqlite3.sqlite_version,
            )
        db = parsed.database
        if db and db != ":memory:":
            Path(db).parent.mkdir(parents=True, exist_ok=True)
        # Connection.close() already rolls back a transaction left open, so the pool's own reset on return would
        # be a second round trip per unit of work
        engine = create_engine(
            parsed, echo=echo, connect_args={"timeout": 30}, pool_reset_on_return=None, json_serializer=_JSON
        )
        _prepare_sqlite(engine, sqlite_synchronous)
        return engine
    if backend == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        # Our statements are never prepared on the server (psycopg would after a few executions, and PostgreSQL may
        # then settle on a generic plan made while a table was small — a sequential scan a receiver filling the
        # table at thousands of rows a second would keep using): each is planned afresh, for microseconds. (The
        # hot path's primary-key statements gained too little from it to keep: psycopg deallocates every prepared
        # statement at each ROLLBACK, which ends every read-only unit of work.)
        # ``plan_cache_mode`` stays PostgreSQL's own: forcing custom plans (as this did) also re-planned the
        # foreign-key check of every inserted row (~40 µs each: a receiver's ``case_events`` insert 4 × slower),
        # and those checks' cached plans are index lookups however small the table was when they were made.
        engine = create_engine(
            parsed,
            echo=echo,
            pool_size=5,
            max_overflow=10,
            json_serializer=_JSON,
            connect_args={"prepare_threshold": None},
        )
        _ping_when_idle(engine)
        return engine
    raise ConfigError(f"不支持的数据库类型：{backend}（支持 sqlite、postgresql）", url=url)


def engine_from_config(config: Config) -> Engine:
    """The node's engine as its ``[database]`` section configures it (URL, echo, SQLite durability): every
    composition root and command opens its database through this one function. Its writers seal their
    own outbox rows with the ``[replication]`` section's batch size and linger
    (:func:`federation.storage.seal.register`)."""
    db = config.database
    engine = make_engine(config.database_url, echo=db.echo, sqlite_synchronous=db.sqlite_synchronous)
    rep = config.replication  # the node's writers seal their own outbox rows as its agent would (storage.seal)
    seal.register(engine, seal.SealPolicy(rep.batch_records, rep.batch_bytes, rep.linger_ms))
    return engine


def make_database_private(url: str) -> None:
    """A SQLite database (and its -wal/-shm) readable by its owner only (0600); nothing for a server database."""
    from sqlalchemy.engine import make_url

    from federation.toml_files import make_private

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return
    path = Path(parsed.database)
    make_private(path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm"))
