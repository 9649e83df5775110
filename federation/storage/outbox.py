"""Gap-free counters and the transactional outbox.

``next_value`` increments a counter row inside the caller's transaction (a row lock on PostgreSQL, the single
writer lock on SQLite), so the numbers handed out are gap-free: a rolled-back transaction gives its number back.
``append`` writes an outbox row ``(origin, seq, record_type, record_id, op, payload, created_at)`` in the same
transaction as the domain change it describes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from federation.audit import AuditEntry, StoredEntry
from federation.storage import audit_chain
from federation.storage.audit_chain import AUDIT_RECORD
from federation.storage.bulk import BulkStatement
from federation.storage.tables import counters, outbox

__all__ = [
    "EncodedPayload",
    "OutboxRecord",
    "append",
    "append_encoded",
    "append_entry",
    "canonical_json",
    "high_water",
    "lock_origin",
    "next_value",
]


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


_ENCODER = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=_default)


def canonical_json(payload: Any) -> str:
    """Deterministic JSON (sorted keys, no spaces): the same payload always gives the same bytes."""
    return _ENCODER.encode(payload)


def _upsert_counter(ins: Any) -> Any:
    stmt = ins(counters).values(name=bindparam("name"), value=bindparam("value"))
    return stmt.on_conflict_do_update(
        index_elements=[counters.c.name], set_={"value": counters.c.value + bindparam("step")}
    ).returning(counters.c.value)


_NEXT_VALUE = {"postgresql": _upsert_counter(pg_insert), "sqlite": _upsert_counter(sqlite_insert)}
_INSERT_OUTBOX = BulkStatement(insert(outbox), [c.name for c in outbox.c])


def next_value(conn: Connection, name: str, count: int = 1) -> int:
    """Advance counter ``name`` by ``count`` in the current transaction and return the new (last) value.

    The first value handed out is 1; with ``count`` > 1 the caller owns ``value - count + 1 … value``."""
    stmt = _NEXT_VALUE.get(conn.dialect.name)
    if stmt is None:  # pragma: no cover - only SQLite and PostgreSQL are supported
        raise NotImplementedError(conn.dialect.name)
    return int(conn.execute(stmt, {"name": name, "value": count, "step": count}).scalar_one())


class EncodedPayload(str):
    """A payload already encoded by the caller exactly as :func:`canonical_json` would encode it (large payloads
    assembled from pre-encoded parts); :func:`append` stores it as is."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class OutboxRecord:
    record_type: str
    record_id: str
    op: str  # "upsert" | "insert" | "delete"
    payload: Any


def append(
    conn: Connection, *, origin: str, records: Sequence[OutboxRecord], created_at: datetime, copy: bool = False
) -> list[int]:
    """Write outbox rows in the caller's transaction, in order; return their gap-free ``seq`` numbers.

    ``copy``: on PostgreSQL, write them with ``COPY … FROM STDIN`` (for a few large payloads, e.g. a scoring run's,
    COPY costs about half the array ``INSERT``); elsewhere, and by default, the bulk ``INSERT``."""
    payloads = [p if isinstance(p, EncodedPayload) else canonical_json(p) for p in (r.payload for r in records)]
    columns = _Columns(
        [r.record_type for r in records], [r.record_id for r in records], [r.op for r in records], payloads
    )
    return _write(conn, origin, columns, created_at=created_at, copy=copy)[0]


def append_encoded(
    conn: Connection,
    *,
    origin: str,
    record_type: str,
    op: str,
    record_ids: Sequence[str],
    payloads: Sequence[EncodedPayload],
    created_at: datetime,
    copy: bool = False,
) -> list[int]:
    """:func:`append` for many records of one type and op whose payloads are encoded already (a video ingest's
    thousands of segments): no :class:`OutboxRecord` per row."""
    if len(record_ids) != len(payloads):
        raise ValueError("outbox record ids and payloads of different lengths")
    n = len(record_ids)
    columns = _Columns([record_type] * n, record_ids, [op] * n, payloads)
    return _write(conn, origin, columns, created_at=created_at, copy=copy)[0]


@dataclass(frozen=True, slots=True)
class _Columns:
    """The per-record columns of outbox rows, one list each."""

    types: Sequence[str]
    ids: Sequence[str]
    ops: Sequence[str]
    payloads: Sequence[str]


def _write(
    conn: Connection,
    origin: str,
    c: _Columns,
    *,
    created_at: datetime,
    copy: bool,
    ride: audit_chain.Rider | None = None,
) -> tuple[list[int], StoredEntry | None]:
    """Write the rows of ``c`` (and the entry of who made this write, as the last row, when the origin's audit
    chain is kept in the outbox); return the rows' seqs and the entry appended, if any."""
    types, ids, ops, payloads = c.types, c.ids, c.ops, c.payloads
    own = len(ids)
    if ride is None and own:
        ride = audit_chain.rider(conn, origin)  # the entry of who made this write rides in its append (last)
    n = own + (ride is not None)
    if not n:
        return [], None
    name = f"outbox:{origin}"
    if ride is not None and ride.live is not None:  # the session checked live by the counter's own upsert
        last = audit_chain.next_value_live(conn, name, n, ride.live)
    else:
        last = next_value(conn, name, n)
    first = last - n + 1
    stored = audit_chain.outbox_written(conn, origin, first, last, None if ride is None else ride.entry)
    if stored is not None:
        types, ids, ops = [*types, AUDIT_RECORD], [*ids, f"{origin}:{stored.seq}"], [*ops, "insert"]
        payloads = [*payloads, stored.payload_json()]
    seqs = range(first, last + 1)
    if copy and conn.dialect.name == "postgresql":
        if created_at.tzinfo is None:
            raise ValueError("naive datetime refused by UTCDateTime")
        columns = ("origin", "seq", "record_type", "record_id", "op", "payload", "created_at")
        raw: Any = conn.connection.driver_connection
        with raw.cursor() as cur, cur.copy(f"COPY {outbox.name} ({', '.join(columns)}) FROM STDIN") as out:
            for row in zip(seqs, types, ids, ops, payloads, strict=True):
                out.write_row((origin, *row, created_at))
        return list(seqs[:own]), stored  # the caller's records' numbers, not the riding audit entry's
    _INSERT_OUTBOX.execute_columns(
        conn,
        {
            "origin": [origin] * n,
            "seq": seqs,
            "record_type": types,
            "record_id": ids,
            "op": ops,
            "payload": payloads,
            "created_at": [created_at] * n,
        },
    )
    return list(seqs[:own]), stored  # the caller's records' numbers, not the riding audit entry's


def append_entry(conn: Connection, origin: str, entry: AuditEntry, *, live: audit_chain.Live | None) -> StoredEntry:
    """Append ``entry`` to ``origin``'s audit chain kept in the outbox (a county's), on its own; with ``live``,
    only while that session is live (else Unauthenticated)."""
    _, stored = _write(
        conn, origin, _Columns([], [], [], []), created_at=entry.at, copy=False, ride=audit_chain.Rider(entry, live)
    )
    assert stored is not None
    return stored


def lock_origin(conn: Connection, origin: str) -> None:
    """Take the lock every writer of ``origin`` takes first, so a transaction that reads before it writes sees
    nothing change under it: on PostgreSQL advance the origin's outbox counter by zero (the row lock every write
    takes before it commits anyway; created at 0 on the first write; no number handed out); on SQLite the write
    transaction already holds the database's write lock from its ``BEGIN IMMEDIATE``."""
    if conn.dialect.name == "postgresql":
        next_value(conn, f"outbox:{origin}", 0)


def high_water(conn: Connection, origin: str) -> int:
    row = conn.execute(select(counters.c.value).where(counters.c.name == f"outbox:{origin}")).first()
    return int(row[0]) if row else 0
