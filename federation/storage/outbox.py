"""Gap-free counters and the transactional outbox.

``next_value`` increments a counter row inside the caller's transaction (a row lock on PostgreSQL, the single
writer lock on SQLite), so the numbers handed out are gap-free: a rolled-back transaction gives its number back.
``append`` writes an outbox row ``(origin, seq, record_type, record_id, op, payload, created_at)`` in the same
transaction as the domain change it describes — after the boundary policy has screened it
(:mod:`federation.storage.boundary_gate`): a record the policy refuses gets no row (its seq reads 0), a record
that crosses is stored as it crosses (names masked, unlisted fields dropped). Every write ends with the writer's
own seal of the origin's pending rows when one is due (:mod:`federation.storage.seal`) and notes the wake of the
node's sync agent at commit (:mod:`federation.storage.wake`).
"""

from __future__ import annotations

import json
from collections import Counter
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
from federation.errors import SunshineError
from federation.identities import DivisionLevel, level_of
from federation.storage import audit_chain, boundary_gate, seal, wake
from federation.storage.audit_chain import AUDIT_RECORD
from federation.storage.bulk import BulkStatement
from federation.storage.direct import DirectStatement
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


_NEXT_VALUE = {
    "postgresql": DirectStatement(_upsert_counter(pg_insert)),
    "sqlite": DirectStatement(_upsert_counter(sqlite_insert)),
}
_INSERT_OUTBOX = BulkStatement(insert(outbox), [c.name for c in outbox.c])


def next_value(conn: Connection, name: str, count: int = 1) -> int:
    """Advance counter ``name`` by ``count`` in the current transaction and return the new (last) value.

    The first value handed out is 1; with ``count`` > 1 the caller owns ``value - count + 1 … value``."""
    stmt = _NEXT_VALUE.get(conn.dialect.name)
    if stmt is None:  # pragma: no cover - only SQLite and PostgreSQL are supported
        raise NotImplementedError(conn.dialect.name)
    return int(stmt.scalar(conn, {"name": name, "value": count, "step": count}))


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
    gate = boundary_gate.gate(conn, origin)
    refusals: Counter[boundary_gate.Refusal] = Counter()
    kept: list[int] = []
    payloads: list[str] = []
    for i, r in enumerate(records):
        encoded = _screened(gate, r.record_type, r.payload, refusals)
        if encoded is not None:
            kept.append(i)
            payloads.append(encoded)
    if len(kept) == len(records):
        columns = _Columns(
            [r.record_type for r in records], [r.record_id for r in records], [r.op for r in records], payloads
        )
    else:
        columns = _Columns(
            [records[i].record_type for i in kept],
            [records[i].record_id for i in kept],
            [records[i].op for i in kept],
            payloads,
        )
    seqs = _write(conn, origin, columns, created_at=created_at, copy=copy)[0]
    if refusals:
        _refused(conn, origin, gate, refusals, created_at)
    return _spread(seqs, kept, len(records))


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
    gate = boundary_gate.gate(conn, origin)
    refusals: Counter[boundary_gate.Refusal] = Counter()
    if gate.whole(record_type):
        kept_payloads: Sequence[str] = payloads
        kept = list(range(len(record_ids)))
    else:
        kept, screened = [], []
        for i, p in enumerate(payloads):
            encoded = _screened(gate, record_type, p, refusals)
            if encoded is not None:
                kept.append(i)
                screened.append(encoded)
        kept_payloads = screened
    ids = record_ids if len(kept) == len(record_ids) else [record_ids[i] for i in kept]
    n = len(ids)
    columns = _Columns([record_type] * n, ids, [op] * n, kept_payloads)
    seqs = _write(conn, origin, columns, created_at=created_at, copy=copy)[0]
    if refusals:
        _refused(conn, origin, gate, refusals, created_at)
    return _spread(seqs, kept, len(record_ids))


def _screened(
    gate: boundary_gate.Gate, record_type: str, payload: Any, refusals: Counter[boundary_gate.Refusal]
) -> str | None:
    """The payload as it crosses, encoded (None: refused); an encoded payload that needs no change is kept as is."""
    if gate.whole(record_type):
        return payload if isinstance(payload, EncodedPayload) else canonical_json(payload)
    if not gate.allows(record_type):
        boundary_gate.screen(gate, record_type, None, refusals)  # counted in the direction that refuses it
        return None
    encoded = isinstance(payload, EncodedPayload)
    before = sum(refusals.values())
    out, redacted = boundary_gate.screen(gate, record_type, json.loads(payload) if encoded else payload, refusals)
    if out is None:
        return None
    if encoded and not redacted and sum(refusals.values()) == before:
        return payload  # type: ignore[no-any-return]
    return canonical_json(out)


def _spread(seqs: list[int], kept: list[int], n: int) -> list[int]:
    """The seq of each of the caller's ``n`` records: 0 for one the boundary refused (no outbox row)."""
    if len(kept) == n:
        return seqs
    out = [0] * n
    for i, seq in zip(kept, seqs, strict=True):
        out[i] = seq
    return out


def _refused(
    conn: Connection,
    origin: str,
    gate: boundary_gate.Gate,
    refusals: Counter[boundary_gate.Refusal],
    created_at: datetime,
) -> None:
    """Count what the policy kept back and audit the first of each kind: in the origin's chain, kept in the
    outbox at a county (so the entry crosses like every audit entry), in ``audit_log`` above."""
    try:
        in_outbox = level_of(origin) is DivisionLevel.COUNTY
    except SunshineError:
        in_outbox = False
    for entry in boundary_gate.note_refusals(conn, origin, gate.version, refusals, created_at):
        if in_outbox:
            append_entry(conn, origin, entry, live=None)
        else:
            audit_chain.insert(conn, origin, entry)


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
        _written(conn, origin, last)
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
    _written(conn, origin, last)
    return list(seqs[:own]), stored  # the caller's records' numbers, not the riding audit entry's


def _written(conn: Connection, origin: str, last: int) -> None:
    """After the rows: the writer's own seal when one is due (:mod:`federation.storage.seal`), and the wake of
    the node's agent at commit (:mod:`federation.storage.wake`)."""
    sealed = seal.after_write(conn, origin, last)
    wake.written(conn, origin, sealed=sealed > 0)


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
        name = f"outbox:{origin}"
        next_value(conn, name, 0)
        audit_chain.holding(conn, name)


def high_water(conn: Connection, origin: str) -> int:
    row = conn.execute(select(counters.c.value).where(counters.c.name == f"outbox:{origin}")).first()
    return int(row[0]) if row else 0
