"""Single-row statements of a transaction's hot path, executed straight on the DB-API cursor.

A case transition runs five short statements (read the case, advance the outbox counter, write the outbox rows,
the event and the case). On a warm SQLite database each takes a few microseconds; SQLAlchemy's execution layer
around it (cache key, parameter processing, execution context, result set-up, events) costs about five times
that, and on PostgreSQL a good part of a statement's round trip. :class:`DirectStatement` compiles a Core
statement once per dialect, keeps each parameter's and each result column's own type conversion — the ones
SQLAlchemy would apply, so values are stored and read back exactly as through ``Connection.execute`` — and runs
it on the connection's DB-API cursor, in the caller's transaction (begun first when none is, as SQLAlchemy's
autobegin does). A driver error becomes SQLAlchemy's own exception (:class:`sqlalchemy.exc.DBAPIError` and its
subclasses, the one ``Connection.execute`` raises), so callers and the unit of work translate it as before.

Statement observers (``before_cursor_execute``) do not see these statements: they are the node's fixed hot path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, cast

from sqlalchemy import Dialect, Table, bindparam, insert
from sqlalchemy.engine import Connection
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

from federation.storage.bulk import driver_error, in_transaction_driver, sqlite_moment
from federation.storage.types import UTCDateTime

__all__ = ["DirectStatement"]

Processor = Callable[[Any], Any]


class _Compiled:
    def __init__(self, stmt: ClauseElement, dialect: Dialect) -> None:
        compiled = cast(SQLCompiler, stmt.compile(dialect=dialect))
        self.sql = compiled.string
        self.positional = compiled.positiontup is not None
        names = list(compiled.positiontup) if compiled.positiontup is not None else list(compiled.binds)
        self.binds: list[tuple[str, Processor | None]] = []
        for name in names:
            type_ = compiled.binds[name].type
            process: Processor | None
            if isinstance(type_, UTCDateTime) and dialect.name == "sqlite":
                process = sqlite_moment
            else:
                process = type_.dialect_impl(dialect).bind_processor(dialect)
            self.binds.append((name, process))
        columns = compiled._result_columns or []  # the compiled statement's result map (private, stable since 1.4)
        self.keys: tuple[str, ...] = tuple(c[0] for c in columns)
        self._types = [c[3].dialect_impl(dialect) for c in columns]
        self._dialect = dialect
        self._results: list[tuple[int, Processor]] | None = None  # made at the first result (see results)

    def results(self, description: Any) -> list[tuple[int, Processor]]:
        """Each result column's conversion, from the driver's type codes of the first result (as SQLAlchemy makes
        them: PostgreSQL's numeric conversion depends on the column's type code)."""
        made = self._results
        if made is None:
            made = []
            for i, (type_, column) in enumerate(zip(self._types, description, strict=True)):
                process: Processor | None = type_.result_processor(self._dialect, column[1])
                if process is not None:
                    made.append((i, process))
            self._results = made
        return made

    def parameters(self, params: Mapping[str, Any]) -> Any:
        if self.positional:
            return tuple(params[n] if p is None else p(params[n]) for n, p in self.binds)
        return {n: params[n] if p is None else p(params[n]) for n, p in self.binds}


class DirectStatement:
    """``stmt`` (with named bind parameters), run on the DB-API cursor; see the module's notes. Every bind
    parameter must be given at execution (an absent one is a ``KeyError``: no column default is applied here)."""

    def __init__(self, stmt: ClauseElement | Mapping[str, ClauseElement]) -> None:
        """``stmt``, or one statement per dialect name (an upsert is spelled per dialect)."""
        self._stmt = stmt
        self._compiled: dict[str, _Compiled] = {}

    def _for(self, dialect: Dialect) -> _Compiled:
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            stmt = self._stmt[dialect.name] if isinstance(self._stmt, Mapping) else self._stmt
            compiled = self._compiled[dialect.name] = _Compiled(stmt, dialect)
        return compiled

    @classmethod
    def insert(cls, table: Table, keys: Iterable[str]) -> DirectStatement:
        """The INSERT of ``keys`` into ``table`` (made once per table and set of keys)."""
        key = (table.name, frozenset(keys))
        found = _INSERTS.get(key)
        if found is None:
            found = _INSERTS[key] = cls(insert(table).values({name: bindparam(name) for name in sorted(key[1])}))
        return found

    def _run(self, conn: Connection, params: Mapping[str, Any]) -> tuple[_Compiled, Any]:
        c = self._for(conn.dialect)
        args = c.parameters(params)
        raw = in_transaction_driver(conn)
        try:
            cursor = raw.execute(c.sql, args)
        except conn.dialect.loaded_dbapi.Error as exc:
            raise driver_error(conn, c.sql, args, exc) from exc
        return c, cursor

    def execute(self, conn: Connection, params: Mapping[str, Any]) -> int:
        """Execute; return the number of rows it changed."""
        _, cursor = self._run(conn, params)
        try:
            return int(cursor.rowcount)
        finally:
            cursor.close()

    def first(self, conn: Connection, params: Mapping[str, Any]) -> dict[str, Any] | None:
        """Execute; the first row as a dict of its columns' values, converted as SQLAlchemy converts them."""
        c, cursor = self._run(conn, params)
        try:
            row = cursor.fetchone()
            results = c.results(cursor.description) if row is not None else []
        except conn.dialect.loaded_dbapi.Error as exc:
            raise driver_error(conn, c.sql, None, exc) from exc
        finally:
            cursor.close()
        if row is None:
            return None
        values = list(row)
        for i, process in results:
            values[i] = process(values[i])
        return dict(zip(c.keys, values, strict=True))

    def scalar(self, conn: Connection, params: Mapping[str, Any]) -> Any:
        """Execute; the first column of the first row (None when there is no row)."""
        row = self.first(conn, params)
        return None if row is None else next(iter(row.values()))


_INSERTS: dict[tuple[str, frozenset[str]], DirectStatement] = {}
