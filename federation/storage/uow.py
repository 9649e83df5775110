"""Unit of work: one database transaction, committed explicitly, rolled back otherwise.

Services receive a unit of work, do their reads and writes through ``uow.conn`` and call ``uow.commit()``.
Leaving the block without committing (an exception, an early return) rolls everything back, so a failed
transition writes nothing. A committed transaction that wrote outbox or batch rows wakes the node's sync agent
(:mod:`federation.storage.wake`). Inside an :func:`federation.audit.audited` block a committed write also appends the
scope's audit entry, in the same transaction (:mod:`federation.storage.audit_log`).
"""

from __future__ import annotations

from types import TracebackType

from sqlalchemy import Engine
from sqlalchemy.engine import Connection, RootTransaction
from sqlalchemy.exc import DBAPIError

from federation.audit import current_audit
from federation.errors import StorageError, SunshineError
from federation.storage import audit_chain, audit_log, wake

__all__ = ["UnitOfWork"]


class UnitOfWork:
    def __init__(self, engine: Engine, *, readonly: bool = False) -> None:
        self._engine = engine
        self._readonly = readonly
        self._conn: Connection | None = None
        self._tx: RootTransaction | None = None

    @property
    def conn(self) -> Connection:
        if self._conn is None:
            raise RuntimeError("unit of work used outside its 'with' block")
        return self._conn

    @property
    def dialect(self) -> str:
        return self._engine.dialect.name

    def __enter__(self) -> UnitOfWork:
        try:
            conn = self._engine.connect()
            if self._readonly:
                conn = conn.execution_options(sunshine_readonly=True)
            self._conn = conn
            self._tx = conn.begin()
            audit_chain.forget(conn)
            wake.discard(conn)
            wake.defer(conn)  # PostgreSQL: the wake goes with the COMMIT, one round trip
        except DBAPIError as exc:
            raise StorageError(f"无法连接数据库：{exc.orig}", backend=self.dialect) from exc
        return self

    def commit(self) -> None:
        if self._tx is None:
            raise RuntimeError("nothing to commit")
        conn = self.conn
        try:
            scope = current_audit()
            if scope is not None and not self._readonly:
                audit_log.write_scope(conn, scope)  # who made this write, in its own transaction
            wake.commit(conn)  # PostgreSQL with a wake to send: it and COMMIT in one round trip
            self._tx.commit()
        except BaseException as exc:  # the transaction is rolled back (by close): forget what it noted
            audit_chain.discard(conn)
            wake.discard(conn)
            if isinstance(exc, DBAPIError):
                raise StorageError(f"数据库提交失败：{exc.orig}", backend=self.dialect) from exc
            raise
        finally:
            self._tx = None
        audit_chain.promote(conn)
        wake.committed(conn)  # the node's agent, when this transaction wrote outbox or batch rows

    def rollback(self) -> None:
        if self._tx is not None:
            self._tx.rollback()
            self._tx = None
            if self._conn is not None:
                audit_chain.discard(self._conn)
                wake.discard(self._conn)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            self.rollback()
        finally:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
        if isinstance(exc, DBAPIError) and not isinstance(exc, SunshineError):
            raise StorageError(f"数据库操作失败：{exc.orig}", backend=self.dialect) from exc
