"""Appending one entry to an origin's audit chain (:mod:`federation.audit`) in the caller's transaction.

Two homes for a chain, one rule each:

* **in the outbox** — a chain that replicates (a county's): its entries are outbox rows of record type
  ``audit``, nothing else. The entry of a write rides in the write's own outbox append (:func:`rider`), so the
  write, its entry and the check that the person's session is still live cost no statement of their own: the live
  check is the condition of the outbox counter's upsert (:func:`next_value_live`). The head of the chain (last seq
  and hash) is cached per engine together with the outbox position it was read at; the counter bump tells whether
  any other process wrote this origin's outbox since — if so, the head is read again (an index on the outbox's
  ``audit`` rows).
* **in** ``audit_log`` — a chain that stays at its node (a city's or the province's own), and the copies of the
  counties' chains a city and the province receive. The head is cached per engine and an append is one
  ``INSERT … ON CONFLICT DO NOTHING`` at ``head + 1``: if another process appended meanwhile, nothing is written
  and the head is read again.

A transaction's new heads are held on its connection until it commits (:func:`promote`, called by the unit of
work) — a rolled-back append never moves a cached head.
"""

from __future__ import annotations

import json
import threading
import weakref
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, bindparam, exists, literal_column, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from federation.audit import GENESIS, AuditEntry, AuditScope, StoredEntry, current_audit, entry_body, hash_body
from federation.errors import StorageError, Unauthenticated
from federation.storage.direct import DirectStatement
from federation.storage.tables import audit_log, counters, outbox, sessions, users

__all__ = [
    "AUDIT_RECORD",
    "IS_AUDIT",
    "Live",
    "Rider",
    "discard",
    "forget",
    "holding",
    "insert",
    "insert_stored",
    "next_value_live",
    "outbox_entries_query",
    "outbox_written",
    "promote",
    "rider",
    "scope_live",
]

AUDIT_RECORD = "audit"  # the outbox record type of an audit entry
_TENTATIVE = "sunshine_audit_heads"  # on a connection: origin → (seq, hash) appended by its open transaction
_SEEN_TENTATIVE = "sunshine_audit_outbox"  # on a connection: origin → last outbox seq its transaction wrote
_SCOPE = "sunshine_audit_scope"
_HELD = "sunshine_counter_locks"  # on a connection: the counters whose row lock its open transaction holds
_HEADS: weakref.WeakKeyDictionary[Engine, dict[str, tuple[int, str]]] = weakref.WeakKeyDictionary()
# per engine: origin → the last outbox seq this process saw committed (the position its cached head is valid at)
# per engine: origin → (outbox seq, chain seq, chain hash): the head of an outbox-kept chain and the last outbox seq
# of the origin when it was known to be the head (replaced only by a later position, under _CACHE_LOCK: threads
# promote their commits in any order)
_OUTBOX_HEADS: weakref.WeakKeyDictionary[Engine, dict[str, tuple[int, int, str]]] = weakref.WeakKeyDictionary()
_CACHE_LOCK = threading.Lock()
_INSERT: dict[str, Any] = {
    "postgresql": pg_insert(audit_log).on_conflict_do_nothing(),
    "sqlite": sqlite_insert(audit_log).on_conflict_do_nothing(),
}

# a person's session is live: not revoked, not expired, the account not disabled — checked in the statement that
# also writes (an audit entry in ``audit_log``, or the outbox counter of a chain kept in the outbox), under the
# same transaction as the write: a session ended a moment earlier, by any process, refuses the write
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


def _counter_live(ins: Any) -> Any:
    """Advance a counter only while the session is live: ``INSERT … SELECT … WHERE EXISTS (live session)
    ON CONFLICT DO UPDATE … RETURNING value`` — no row back when the session is not live."""
    values = select(bindparam("name", type_=counters.c.name.type), bindparam("value", type_=counters.c.value.type))
    stmt = ins(counters).from_select(["name", "value"], values.where(_LIVE))
    return stmt.on_conflict_do_update(
        index_elements=[counters.c.name],
        set_={"value": counters.c.value + bindparam("step", type_=counters.c.value.type)},
    ).returning(counters.c.value)


_COUNTER_LIVE: dict[str, Any] = {"postgresql": _counter_live(pg_insert), "sqlite": _counter_live(sqlite_insert)}


def _counter(ins: Any) -> Any:
    """``next_value``'s upsert, with typed parameters."""
    values = {
        "name": bindparam("name", type_=counters.c.name.type),
        "value": bindparam("value", type_=counters.c.value.type),
    }
    return (
        ins(counters)
        .values(**values)
        .on_conflict_do_update(
            index_elements=[counters.c.name],
            set_={"value": counters.c.value + bindparam("step", type_=counters.c.value.type)},
        )
        .returning(counters.c.value)
    )


# run straight on the driver (federation.storage.direct): the audit entry of every write goes through these
_LIVE_INSERT = DirectStatement(_INSERT_LIVE)
_LIVE_COUNTER = DirectStatement(_COUNTER_LIVE)
_LIVE_CHECK = DirectStatement({"postgresql": select(_LIVE)})
_COUNTER = DirectStatement({"postgresql": _counter(pg_insert)})


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


IS_AUDIT = outbox.c.record_type == literal_column(f"'{AUDIT_RECORD}'")  # a literal: the partial index applies


def outbox_entries_query(origin: str) -> Any:
    """The outbox rows of ``origin``'s audit entries (by the partial index ``ix_outbox_origin_seq``)."""
    return select(outbox.c.seq, outbox.c.record_id, outbox.c.payload).where(outbox.c.origin == origin, IS_AUDIT)


def _load_head(conn: Connection, origin: str) -> tuple[int, str]:
    """The last entry of ``origin``'s chain, wherever it is kept (the outbox or ``audit_log``)."""
    row = conn.execute(
        select(audit_log.c.seq, audit_log.c.hash)
        .where(audit_log.c.origin == origin)
        .order_by(audit_log.c.seq.desc())
        .limit(1)
    ).first()
    head = (0, GENESIS) if row is None else (int(row[0]), str(row[1]))
    last = conn.execute(outbox_entries_query(origin).order_by(outbox.c.seq.desc()).limit(1)).first()
    if last is not None:
        try:
            p = json.loads(last.payload)
            queued = (int(p["entry"]["seq"]), str(p["hash"]))
        except (KeyError, TypeError, ValueError):
            raise StorageError(
                f"审计链（{origin}）的末条记录无法解析，已停止追加：请执行 sunshine admin audit verify 并排查改动",
                origin=origin,
                row=int(last.seq),
            ) from None
        if queued[0] > head[0]:
            head = queued
    return head


def insert(conn: Connection, origin: str, entry: AuditEntry, *, live: Live | None = None) -> StoredEntry:
    """Append ``entry`` to ``origin``'s chain in ``audit_log``, in the caller's transaction; return it as stored.
    With ``live``, only while that session is live: else Unauthenticated (and the caller's transaction must roll
    back)."""
    tentative: dict[str, tuple[int, str]] = conn.info.setdefault(_TENTATIVE, {})
    head = tentative.get(origin) or _HEADS.get(conn.engine, {}).get(origin)
    for _ in range(4):
        if head is None:
            head = _load_head(conn, origin)
        stored = _next(origin, head, entry)
        if live is None:
            inserted = insert_stored(conn, stored)
        else:
            params = {**_row(stored), "session_digest": live.digest, "session_now": live.now}
            inserted = bool(_LIVE_INSERT.execute(conn, params))
            if not inserted and _load_head(conn, origin)[0] < stored.seq:  # no conflict: the session is not live
                raise Unauthenticated(_ENDED)
        if inserted:
            tentative[origin] = (stored.seq, stored.hash)
            return stored
        head = None  # someone else appended: read the head again
    raise StorageError("审计日志写入冲突，请重试", origin=origin)


_ENDED = "登录已失效（会话已结束、过期或账号已停用），请重新登录"


def _next(origin: str, head: tuple[int, str], entry: AuditEntry) -> StoredEntry:
    seq, prev = head[0] + 1, head[1]
    body = entry_body(origin, seq, entry)
    return StoredEntry(origin=origin, seq=seq, entry=entry, prev_hash=prev, hash=hash_body(prev, body), body=body)


def insert_stored(conn: Connection, stored: StoredEntry) -> bool:
    """Insert an entry as it is (a replica's copy); False if that seq is held already."""
    return bool(conn.execute(_INSERT[conn.dialect.name], _row(stored)).rowcount)


# -- chains kept in the outbox ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rider:
    """An entry to append to a chain kept in the outbox, in the outbox append being made (as its last row)."""

    entry: AuditEntry
    live: Live | None


def rider(conn: Connection, origin: str) -> Rider | None:
    """The entry of the current :class:`~federation.audit.AuditScope` of ``origin`` when its chain is kept in the
    outbox and this transaction has not appended it yet (the outbox calls this for each append it writes). A
    scope whose chain stays in ``audit_log`` is appended there now (and None returned)."""
    scope = current_audit()
    if scope is None or scope.written or scope.origin != origin:
        return None
    mark_written(conn, scope)
    if not scope.replicate:
        insert(conn, origin, scope.entry(), live=scope_live(scope))
        return None
    return Rider(scope.entry(), scope_live(scope))


def next_value_live(conn: Connection, name: str, count: int, live: Live) -> int:
    """:func:`federation.storage.outbox.next_value`, only while ``live``'s session is live (else Unauthenticated).

    SQLite (one writer at a time), and PostgreSQL when this transaction already holds the counter's row lock
    (:func:`holding`, e.g. from ``lock_origin`` at its start): the counter's upsert is conditional on the live
    session — its snapshot is taken after the lock was granted. Otherwise, on PostgreSQL: the upsert first — it
    takes the counter's row lock, which a change to the account (a disable, a logout's audit entry) takes before it
    commits too — then the live check as a statement of its own, which sees every change committed before the lock
    was granted (under READ COMMITTED an upsert that waited for the lock would not re-evaluate its condition)."""
    params = {"name": name, "value": count, "step": count, "session_digest": live.digest, "session_now": live.now}
    if conn.dialect.name == "postgresql" and not _holds(conn, name):
        last = int(_COUNTER.scalar(conn, params))
        if not _LIVE_CHECK.scalar(conn, params):
            raise Unauthenticated(_ENDED)
        return last
    value = _LIVE_COUNTER.scalar(conn, params)
    if value is None:
        raise Unauthenticated(_ENDED)
    return int(value)


def outbox_written(
    conn: Connection, origin: str, first: int, last: int, entry: AuditEntry | None = None
) -> StoredEntry | None:
    """This transaction wrote ``origin``'s outbox rows ``first … last`` (the counter is bumped: it holds the
    origin's write lock); with ``entry``, the entry appended to the origin's outbox-kept chain as the last of them.

    The entry is chained to the cached head when nobody else wrote this origin's outbox since that head was cached
    (the cache's outbox position is ``first - 1``), else to the head read again. The position is remembered at
    commit (:func:`promote`)."""
    tx: dict[str, tuple[int, tuple[int, str] | None]] = conn.info.setdefault(_SEEN_TENTATIVE, {})
    prior = tx.get(origin)
    head: tuple[int, str] | None
    if prior is None:
        cached = _OUTBOX_HEADS.get(conn.engine, {}).get(origin)
        head = (cached[1], cached[2]) if cached is not None and cached[0] == first - 1 else None
    else:
        head = prior[1] if prior[0] == first - 1 else None
    stored = None
    if entry is not None:
        if head is None:
            head = _load_head(conn, origin)
        stored = _next(origin, head, entry)
        head = (stored.seq, stored.hash)
    tx[origin] = (last, head)  # head None: not known to be current (read again at the next append)
    return stored


def holding(conn: Connection, name: str) -> None:
    """This transaction holds counter ``name``'s row lock (PostgreSQL) until it ends."""
    tx = conn.get_transaction()
    held: tuple[object, set[str]] | None = conn.info.get(_HELD)
    if held is None or held[0] is not tx:  # remembered per transaction: a later one on this connection holds none
        held = conn.info[_HELD] = (tx, set())
    held[1].add(name)


def _holds(conn: Connection, name: str) -> bool:
    held = conn.info.get(_HELD)
    return held is not None and held[0] is conn.get_transaction() and name in held[1]


def scope_live(scope: AuditScope) -> Live | None:
    return None if scope.session is None else Live(scope.session, scope.now)


def mark_written(conn: Connection, scope: AuditScope) -> None:
    scope.written = True
    conn.info[_SCOPE] = scope


def promote(conn: Connection) -> None:
    """The transaction on ``conn`` committed: its appends move the cached heads."""
    conn.info.pop(_SCOPE, None)
    conn.info.pop(_HELD, None)
    tentative = conn.info.pop(_TENTATIVE, None)
    if tentative:
        _HEADS.setdefault(conn.engine, {}).update(tentative)
    written: dict[str, tuple[int, tuple[int, str] | None]] | None = conn.info.pop(_SEEN_TENTATIVE, None)
    if written:
        with _CACHE_LOCK:
            cache = _OUTBOX_HEADS.setdefault(conn.engine, {})
            for origin, (last, head) in written.items():
                known = cache.get(origin)
                if known is not None and known[0] >= last:
                    continue  # a later commit (another thread's) is cached already
                if head is None:  # the outbox moved under a head not re-read: read it at the next append
                    cache.pop(origin, None)
                else:
                    cache[origin] = (last, *head)


def discard(conn: Connection) -> None:
    """The transaction on ``conn`` rolled back: forget its appends; its scope's entry is still to be written."""
    conn.info.pop(_TENTATIVE, None)
    conn.info.pop(_SEEN_TENTATIVE, None)
    conn.info.pop(_HELD, None)
    scope = conn.info.pop(_SCOPE, None)
    if scope is not None:
        scope.written = False


def forget(conn: Connection) -> None:
    """A transaction starts on ``conn``: drop what an earlier one outside a unit of work may have left."""
    conn.info.pop(_TENTATIVE, None)
    conn.info.pop(_SEEN_TENTATIVE, None)
    conn.info.pop(_HELD, None)
    conn.info.pop(_SCOPE, None)
