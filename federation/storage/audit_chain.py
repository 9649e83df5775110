"""Appending one entry to an origin's audit chain (:mod:`federation.audit`) in the caller's transaction.

The head of each chain (last seq and hash) is cached per engine so an append is one ``INSERT … ON CONFLICT DO
NOTHING`` at ``head + 1``: if another process appended meanwhile the insert hits the primary key, nothing is
written, and the head is read again. A transaction's new head is held on its connection until it commits
(:func:`promote`, called by the unit of work) — a rolled-back append never moves the cached head.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, bindparam, exists, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from federation.audit import GENESIS, AuditEntry, AuditScope, StoredEntry, current_audit, entry_body, hash_body
from federation.errors import StorageError, Unauthenticated
from federation.storage.bulk import sqlite_moment
from federation.storage.tables import audit_log, sessions, users
from federation.storage.types import UTCDateTime

__all__ = ["Live", "discard", "forget", "insert", "insert_stored", "promote", "ride", "scope_live"]

_TENTATIVE = "sunshine_audit_heads"
_SCOPE = "sunshine_audit_scope"
_HEADS: weakref.WeakKeyDictionary[Engine, dict[str, tuple[int, str]]] = weakref.WeakKeyDictionary()
_INSERT: dict[str, Any] = {
    "postgresql": pg_insert(audit_log).on_conflict_do_nothing(),
    "sqlite": sqlite_insert(audit_log).on_conflict_do_nothing(),
}

# the entry of a person's write, inserted only while the person's session is live (not revoked, not expired, the
# account not disabled): the check every write makes of its session, in the same statement as its audit entry and
# under the same transaction as the write — a session ended a moment earlier, by any process, refuses the write
_LIVE = exists(
    select(sessions.c.token_digest)
    .select_from(sessions.join(users, users.c.user_id == sessions.c.user_id))
    .where(
        sessions.c.token_digest == bindparam("session_digest"),
        sessions.c.revoked_at.is_(None),
        sessions.c.expires_at > bindparam("session_now", type_=sessions.c.expires_at.type),
        users.c.disabled.is_(False),
    )
)
_VALUES = select(*[bindparam(c.name, type_=c.type) for c in audit_log.c]).where(_LIVE)
_INSERT_LIVE: dict[str, Any] = {
    "postgresql": pg_insert(audit_log).from_select([c.name for c in audit_log.c], _VALUES).on_conflict_do_nothing(),
    "sqlite": sqlite_insert(audit_log).from_select([c.name for c in audit_log.c], _VALUES).on_conflict_do_nothing(),
}


class _OneRow:
    """A statement compiled once per dialect and executed for one row straight through the driver: the audit
    entry of every write goes through here, so it skips SQLAlchemy's per-execution compile-cache and type work."""

    def __init__(self, statements: dict[str, Any]) -> None:
        self._statements = statements
        self._compiled: dict[str, tuple[str, list[tuple[str, Any]], bool]] = {}

    def _for(self, dialect: Any) -> tuple[str, list[tuple[str, Any]], bool]:
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            c = self._statements[dialect.name].compile(dialect=dialect)
            positional = c.positiontup is not None
            names = list(c.positiontup) if positional else list(c.binds)
            converters: list[tuple[str, Any]] = []
            for name in names:
                type_ = c.binds[name].type
                if isinstance(type_, UTCDateTime):
                    convert = sqlite_moment if dialect.name == "sqlite" else _aware
                else:
                    convert = type_.dialect_impl(dialect).bind_processor(dialect) or _same
                converters.append((name, convert))
            compiled = (c.string, converters, positional)
            self._compiled[dialect.name] = compiled
        return compiled

    def execute(self, conn: Connection, params: dict[str, Any]) -> int:
        """Run on the DB-API connection of ``conn`` (in its transaction, which SQLAlchemy has begun); the count
        of rows inserted."""
        sql, converters, positional = self._for(conn.dialect)
        args: Any = (
            tuple(f(params[n]) for n, f in converters) if positional else {n: f(params[n]) for n, f in converters}
        )
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(sql, args)
            return int(cursor.rowcount)
        finally:
            cursor.close()


def _same(value: Any) -> Any:
    return value


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("naive datetime refused by UTCDateTime")
    return value


_LIVE_INSERT = _OneRow(_INSERT_LIVE)


@dataclass(frozen=True, slots=True)
class Live:
    """The session a write is made under (its token's SHA-256) and the moment to check its expiry against."""

    digest: str
    now: datetime


def _row(stored: StoredEntry) -> dict[str, Any]:
    e = stored.entry
    return {
        "origin": stored.origin,
        "seq": stored.seq,
        "at": e.at,
        "user_id": e.user_id,
        "name": e.name,
        "role": e.role,
        "division": e.division,
        "action": e.action,
        "target": e.target,
        "source": e.source,
        "outcome": e.outcome,
        "detail": e.detail,
        "prev_hash": stored.prev_hash,
        "hash": stored.hash,
    }


def _load_head(conn: Connection, origin: str) -> tuple[int, str]:
    row = conn.execute(
        select(audit_log.c.seq, audit_log.c.hash)
        .where(audit_log.c.origin == origin)
        .order_by(audit_log.c.seq.desc())
        .limit(1)
    ).first()
    return (0, GENESIS) if row is None else (int(row[0]), str(row[1]))


def insert(conn: Connection, origin: str, entry: AuditEntry, *, live: Live | None = None) -> StoredEntry:
    """Append ``entry`` to ``origin``'s chain in the caller's transaction; return it as stored. With ``live``,
    only while that session is live: else Unauthenticated (and the caller's transaction must roll back)."""
    tentative: dict[str, tuple[int, str]] = conn.info.setdefault(_TENTATIVE, {})
    head = tentative.get(origin) or _HEADS.get(conn.engine, {}).get(origin)
    for _ in range(4):
        if head is None:
            head = _load_head(conn, origin)
        seq, prev = head[0] + 1, head[1]
        body = entry_body(origin, seq, entry)
        stored = StoredEntry(origin=origin, seq=seq, entry=entry, prev_hash=prev, hash=hash_body(prev, body), body=body)
        if live is None:
            inserted = insert_stored(conn, stored)
        else:
            params = {**_row(stored), "session_digest": live.digest, "session_now": live.now}
            inserted = bool(_LIVE_INSERT.execute(conn, params))
            if not inserted and _load_head(conn, origin)[0] < seq:  # no conflict: the session is not live
                raise Unauthenticated("登录已失效（会话已结束、过期或账号已停用），请重新登录")
        if inserted:
            tentative[origin] = (seq, stored.hash)
            return stored
        head = None  # someone else appended: read the head again
    raise StorageError("审计日志写入冲突，请重试", origin=origin)


def insert_stored(conn: Connection, stored: StoredEntry) -> bool:
    """Insert an entry as it is (a replica's copy); False if that seq is held already."""
    return bool(conn.execute(_INSERT[conn.dialect.name], _row(stored)).rowcount)


def ride(conn: Connection, origin: str) -> StoredEntry | None:
    """The entry of the current :class:`~federation.audit.AuditScope` of ``origin``, appended now if this
    transaction has not yet (the outbox calls this so the entry rides in the write's own outbox append).
    Returns the entry when it is to be replicated too (it then goes into that append), else None."""
    scope = current_audit()
    if scope is None or scope.written or scope.origin != origin:
        return None
    stored = insert(conn, origin, scope.entry(), live=scope_live(scope))
    mark_written(conn, scope)
    return stored if scope.replicate else None


def scope_live(scope: AuditScope) -> Live | None:
    return None if scope.session is None else Live(scope.session, scope.now)


def mark_written(conn: Connection, scope: AuditScope) -> None:
    scope.written = True
    conn.info[_SCOPE] = scope


def promote(conn: Connection) -> None:
    """The transaction on ``conn`` committed: its appends move the cached heads."""
    conn.info.pop(_SCOPE, None)
    tentative = conn.info.pop(_TENTATIVE, None)
    if tentative:
        _HEADS.setdefault(conn.engine, {}).update(tentative)


def discard(conn: Connection) -> None:
    """The transaction on ``conn`` rolled back: forget its appends; its scope's entry is still to be written."""
    conn.info.pop(_TENTATIVE, None)
    scope = conn.info.pop(_SCOPE, None)
    if scope is not None:
        scope.written = False


def forget(conn: Connection) -> None:
    """A transaction starts on ``conn``: drop what an earlier one outside a unit of work may have left."""
    conn.info.pop(_TENTATIVE, None)
    conn.info.pop(_SCOPE, None)
