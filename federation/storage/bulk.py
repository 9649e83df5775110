"""Bulk statements for the replication hot path: compiled once per dialect, executed with ``executemany``.

Executing a Core ``insert`` with a list of dicts makes SQLAlchemy build and process every parameter of every row
(its cache key, its parameter dict, its generic bind processors); for a 500-record batch of 35-column case rows
that costs more than the database does. :class:`BulkStatement` compiles the statement once per dialect, keeps
each column's own bind processor — the exact conversion SQLAlchemy would apply, so rows are stored byte for byte
as a plain ``insert`` stores them — except for :class:`UTCDateTime`, which gets an equivalent, faster one, and
hands the driver ready tuples (``Connection.exec_driver_sql``, so errors are still SQLAlchemy's): on SQLite one
``executemany`` of the prepared statement, on PostgreSQL one ``INSERT … SELECT * FROM unnest(…)`` with an array
per column (psycopg's ``executemany`` costs a round trip and a good deal of Python per row).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from operator import attrgetter, itemgetter
from typing import Any, cast

from sqlalchemy import JSON, Dialect
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.dml import Insert

from federation.storage.types import UTCDateTime

__all__ = [
    "BulkStatement",
    "driver_error",
    "in_transaction_driver",
    "sqlite_moment",
    "sqlite_moment_of_us",
    "sqlite_moments",
]

Processor = Callable[[Any], Any] | None


def sqlite_moment(value: datetime | None) -> str | None:
    """What ``UTCDateTime`` + SQLite's ``DATETIME`` store: UTC, ``YYYY-MM-DD HH:MM:SS.ffffff``."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime refused by UTCDateTime")
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


_EPOCH_NAIVE = datetime(1970, 1, 1)


def sqlite_moment_of_us(us: int) -> str:
    """:func:`sqlite_moment` of the moment ``us`` microseconds after the Unix epoch (no aware datetime made)."""
    return (_EPOCH_NAIVE + timedelta(microseconds=us)).isoformat(" ", "microseconds")


def driver_error(conn: Connection, sql: str, params: Any, exc: Exception) -> DBAPIError:
    """The SQLAlchemy exception ``Connection.execute`` would raise for the driver's ``exc`` (IntegrityError,
    OperationalError, …); a lost connection is invalidated, as SQLAlchemy does."""
    dialect = conn.dialect
    raw = conn.connection.driver_connection
    disconnect = isinstance(exc, dialect.loaded_dbapi.Error) and dialect.is_disconnect(exc, raw, None)
    if disconnect:
        conn.invalidate(exc)
    error = DBAPIError.instance(
        sql, params, exc, dialect.loaded_dbapi.Error, connection_invalidated=disconnect, dialect=dialect
    )
    return cast(DBAPIError, error)  # a DB-API error is always wrapped as one


def in_transaction_driver(conn: Connection) -> Any:
    """The DB-API connection under ``conn``, in the transaction ``conn.execute`` would be in: a connection not yet
    in one begins it first (SQLAlchemy's autobegin), so a statement run on the driver belongs to the caller's
    transaction and commits or rolls back with it — never on its own (SQLite's driver autocommits otherwise)."""
    if not conn.in_transaction():
        conn.begin()
    return conn.connection.driver_connection


def _instant(value: datetime | None) -> tuple[datetime, Any] | None:
    """A key equal only for the same instant: a datetime and its UTC offset. Two datetimes of one time zone with
    the same wall time compare (and hash) equal even an hour apart — the repeated hour when daylight saving time
    ends differs only in ``fold`` (PEP 495) — their offsets tell them apart."""
    return None if value is None else (value, value.utcoffset())


def sqlite_moments(values: Sequence[datetime | None]) -> tuple[str | None, ...]:
    """``values`` as ``UTCDateTime`` stores them on SQLite, each distinct instant converted once (a batch's rows
    share their stamps: one ``indexed_at``, segment boundaries every camera shares). Equal datetimes are the same
    instant — unless one is the second of a repeated hour (``fold``, PEP 495): then each is keyed by its offset."""
    keys: Sequence[Any] = values
    if any(map(_FOLD, filter(None, values))):
        keys = list(map(_instant, values))
        distinct: dict[Any, str | None] = dict.fromkeys(keys)
        for key in distinct:
            distinct[key] = None if key is None else sqlite_moment(key[0])
    else:
        distinct = dict.fromkeys(values)
        for moment in distinct:
            distinct[moment] = sqlite_moment(moment)
    return tuple(map(distinct.__getitem__, keys))


_FOLD = attrgetter("fold")


def _aware_moment(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValueError("naive datetime refused by UTCDateTime")
    return value  # timestamptz stores the instant, whatever the offset it is given in


def _row_getter(names: Sequence[str]) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    if len(names) == 1:  # itemgetter of one key returns the value, not a 1-tuple
        name = names[0]
        return lambda row: (row[name],)
    return itemgetter(*names)


_NAMED_PARAM = re.compile(r"%\((\w+)\)s")


def _unnest(sql: str, types: Mapping[str, str]) -> tuple[str, list[str]]:
    """Turn a one-row ``INSERT … VALUES (…) …`` (pyformat) into ``INSERT … SELECT * FROM unnest(%s::T[], …) …``:
    one array parameter per column, so the statement text is the same whatever the number of rows."""
    start = sql.index(" VALUES (")
    depth, end = 0, start + len(" VALUES ")
    for end in range(start + len(" VALUES "), len(sql)):  # the loop leaves ``end`` at the closing parenthesis
        if sql[end] == "(":
            depth += 1
        elif sql[end] == ")":
            depth -= 1
            if depth == 0:
                break
    prefix, group, suffix = sql[:start], sql[start : end + 1], sql[end + 1 :]
    if "%(" in prefix or "%(" in suffix:
        raise ValueError("bulk statement has parameters outside its VALUES clause")
    names = _NAMED_PARAM.findall(group)
    arrays = ", ".join(f"%b::{types[n]}[]" for n in names)  # %b: binary arrays, no text escaping
    return f"{prefix} SELECT * FROM unnest({arrays}){suffix}", names


class _Compiled:
    def __init__(self, stmt: Insert, columns: Sequence[str], dialect: Dialect, json_text: bool) -> None:
        compiled = stmt.compile(dialect=dialect, column_keys=list(columns))
        self.sql = compiled.string
        self.by_column = compiled.positiontup is None
        if not self.by_column:  # qmark (SQLite): executemany of one prepared statement
            names = list(compiled.positiontup or ())
        else:  # pyformat (psycopg): one statement, one array per column, instead of a round trip per row
            types = {n: b.type.compile(dialect=dialect) for n, b in compiled.binds.items()}
            self.sql, names = _unnest(self.sql, types)
        unknown = set(names) - set(columns)
        if unknown:
            raise ValueError(f"bulk statement has parameters that are not columns: {sorted(unknown)}")
        self.names = names
        self.getter = _row_getter(names)
        self.converting: list[tuple[int, Callable[[Any], Any]]] = []
        for i, name in enumerate(names):
            type_ = compiled.binds[name].type
            process: Processor
            if isinstance(type_, UTCDateTime):
                process = sqlite_moment if dialect.name == "sqlite" else _aware_moment
            elif json_text and isinstance(type_, JSON):
                process = _json_text
            else:
                process = type_.dialect_impl(dialect).bind_processor(dialect)
            if process is not None:
                self.converting.append((i, process))


def _json_text(value: Any) -> Any:
    if value is not None and not isinstance(value, str):
        raise TypeError(f"a json_text column takes JSON text, not {type(value).__name__}")
    return value


class BulkStatement:
    """``stmt`` (an INSERT, possibly with ON CONFLICT) over exactly ``columns``, for ``executemany``.
    ``json_text``: the rows give their JSON columns as JSON text already, stored as it is (not serialised)."""

    def __init__(self, stmt: Insert, columns: Sequence[str], *, json_text: bool = False) -> None:
        self._stmt = stmt
        self._columns = tuple(columns)
        self._json_text = json_text
        self._compiled: dict[str, _Compiled] = {}

    def _for(self, dialect: Dialect) -> _Compiled:
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            compiled = _Compiled(self._stmt, self._columns, dialect, self._json_text)
            self._compiled[dialect.name] = compiled
        return compiled

    def execute(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Execute for every row (each a mapping with at least ``columns``); nothing when ``rows`` is empty."""
        if not rows:
            return
        c = self._for(conn.dialect)
        # C-level loops: one itemgetter per row, then one map() per column that needs converting
        self._run(conn, c, list(zip(*map(c.getter, rows), strict=True)))

    def execute_columns(self, conn: Connection, values: Mapping[str, Sequence[Any]]) -> None:
        """Execute for rows given column by column (``values[name][i]`` is row ``i``'s ``name``; every column of
        ``columns``, all of one length): for writers that hold their rows as columns already, no dict per row."""
        c = self._for(conn.dialect)
        columns: list[Sequence[Any]] = [values[name] for name in c.names]
        if len({len(v) for v in columns}) > 1:
            raise ValueError("bulk columns of different lengths")
        if columns and len(columns[0]):
            self._run(conn, c, columns)

    @staticmethod
    def _run(conn: Connection, c: _Compiled, columns: list[Sequence[Any]]) -> None:
        for i, process in c.converting:
            if process is sqlite_moment:
                columns[i] = sqlite_moments(columns[i])
            else:
                columns[i] = tuple(map(process, columns[i]))
        raw = in_transaction_driver(conn)  # straight to the driver: see federation.storage.direct
        try:
            if c.by_column:
                args: Any = tuple(list(values) for values in columns)
                with raw.cursor() as cursor:
                    cursor.execute(c.sql, args)
            else:
                args = list(zip(*columns, strict=True))
                raw.executemany(c.sql, args)
        except conn.dialect.loaded_dbapi.Error as exc:
            raise driver_error(conn, c.sql, args, exc) from exc
