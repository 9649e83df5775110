"""The audit log (审计日志) in storage: appending the entry of an :class:`~federation.audit.AuditScope` with its
write, appending a stand-alone entry (a read of personal data, a refusal), reading and verifying chains, and the
``audit`` record that carries a county's entries up (:class:`AuditApplier` at a city and the province).

A county's entries replicate with its other records, in the same signed batches: the entry of a write rides in
the write's own outbox append (one counter bump, one insert), so the record and the entry of who made it cross
the boundary together or not at all. Upper tiers keep their own entries locally (``replicate`` False).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.engine import Connection

from federation.audit import AuditEntry, AuditScope, ChainBreak, StoredEntry, verify_chain
from federation.errors import RecordRejected
from federation.identities import DivisionLevel, level_of
from federation.replication import Prepared, Record, Rejection
from federation.storage import audit_chain
from federation.storage.outbox import EncodedPayload, OutboxRecord, lock_origin
from federation.storage.outbox import append as outbox_append
from federation.storage.tables import audit_log

__all__ = [
    "AUDIT_RECORD",
    "AuditApplier",
    "append",
    "audit_origins",
    "outbox_record",
    "read_entries",
    "verify_origin",
    "write_scope",
]

AUDIT_RECORD = "audit"
_PAGE = 5000


def outbox_record(stored: StoredEntry) -> OutboxRecord:
    return OutboxRecord(AUDIT_RECORD, f"{stored.origin}:{stored.seq}", "insert", EncodedPayload(stored.payload_json()))


def append(
    conn: Connection, origin: str, entry: AuditEntry, *, replicate: bool, live: audit_chain.Live | None = None
) -> StoredEntry:
    """Append ``entry`` to ``origin``'s chain in the caller's transaction (and to the outbox if ``replicate``);
    with ``live``, only while that session is live (:func:`federation.storage.audit_chain.insert`)."""
    if replicate:  # the order every writer of the origin takes its locks in: the outbox counter first
        lock_origin(conn, origin)
    stored = audit_chain.insert(conn, origin, entry, live=live)
    if replicate:
        outbox_append(conn, origin=origin, records=[outbox_record(stored)], created_at=entry.at)
    return stored


def write_scope(conn: Connection, scope: AuditScope) -> None:
    """Append ``scope``'s entry unless this transaction did already (the unit of work calls this before it
    commits a write)."""
    if scope.written:
        return
    audit_chain.mark_written(conn, scope)
    append(conn, scope.origin, scope.entry(), replicate=scope.replicate, live=audit_chain.scope_live(scope))


def _stored(row: Any) -> StoredEntry:
    entry = AuditEntry(
        at=row.at,
        user_id=row.user_id,
        name=row.name,
        role=row.role,
        division=row.division,
        action=row.action,
        target=row.target,
        source=row.source,
        outcome=row.outcome,
        detail=row.detail,
    )
    return StoredEntry(origin=row.origin, seq=int(row.seq), entry=entry, prev_hash=row.prev_hash, hash=row.hash)


def read_entries(
    conn: Connection,
    origin: str,
    *,
    after: int = 0,
    limit: int | None = None,
    user_id: str | None = None,
    newest_first: bool = False,
) -> list[StoredEntry]:
    q = select(audit_log).where(audit_log.c.origin == origin)
    if after:
        q = q.where(audit_log.c.seq > after)
    if user_id is not None:
        q = q.where(audit_log.c.user_id == user_id)
    q = q.order_by(audit_log.c.seq.desc() if newest_first else audit_log.c.seq)
    if limit is not None:
        q = q.limit(limit)
    return [_stored(r) for r in conn.execute(q)]


def _all(conn: Connection, origin: str) -> Iterator[StoredEntry]:
    after = 0
    while True:
        page = read_entries(conn, origin, after=after, limit=_PAGE)
        yield from page
        if len(page) < _PAGE:
            return
        after = page[-1].seq


def audit_origins(conn: Connection) -> list[str]:
    return [str(r[0]) for r in conn.execute(select(audit_log.c.origin).distinct().order_by(audit_log.c.origin))]


def verify_origin(conn: Connection, origin: str) -> tuple[int, ChainBreak | None]:
    """Recompute ``origin``'s whole chain (in pages, by seq); return the count checked and the first break."""
    return verify_chain(origin, _all(conn, origin))


class AuditApplier:
    """A county's audit entries at a city or the province: stored as they came (the chain is the county's and is
    verified with ``sunshine admin audit verify``); an entry must be the origin's own, and only counties send
    them."""

    def prepare(self, origin: str, record: Record, payload: Any) -> StoredEntry:
        if level_of(origin) is not DivisionLevel.COUNTY:
            raise RecordRejected("只有县级节点的审计日志向上复制", origin=origin)
        if record.op != "insert" or not isinstance(payload, dict):
            raise RecordRejected("审计记录格式不正确", origin=origin)
        try:
            stored = StoredEntry.from_payload(payload)
        except (KeyError, TypeError, ValueError) as exc:
            raise RecordRejected(f"审计记录格式不正确：{type(exc).__name__}", origin=origin) from exc
        if stored.origin != origin or record.record_id != f"{origin}:{stored.seq}":
            raise RecordRejected("审计记录的来源与批次来源不符", origin=origin)
        if stored.entry.at.tzinfo is None:
            raise RecordRejected("审计记录的时间缺少时区", origin=origin)
        return stored

    def apply(self, conn: Connection, origin: str, items: Sequence[Prepared[StoredEntry]]) -> Sequence[Rejection]:
        rejected: list[Rejection] = []
        for item in items:
            held = conn.execute(
                select(audit_log.c.hash).where(and_(audit_log.c.origin == origin, audit_log.c.seq == item.value.seq))
            ).scalar_one_or_none()
            if held is None:
                audit_chain.insert_stored(conn, item.value)
            elif held != item.value.hash:
                rejected.append(Rejection(item.record, f"审计记录第 {item.value.seq} 条与已保存的内容不同"))
        return rejected
