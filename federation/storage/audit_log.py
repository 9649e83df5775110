"""The audit log (审计日志) in storage: appending the entry of an :class:`~federation.audit.AuditScope` with its
write, appending a stand-alone entry (a read of personal data, a refusal), reading and verifying chains, and the
``audit`` record that carries a county's entries up (:class:`AuditApplier` at a city and the province).

A county's entries replicate with its other records, in the same signed batches: the entry of a write rides in
the write's own outbox append (one counter bump, one insert), so the record and the entry of who made it cross
the boundary together or not at all. Upper tiers keep their own entries locally (``replicate`` False).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, cast, func, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection

from federation.audit import GENESIS, AuditEntry, AuditScope, ChainBreak, StoredEntry, verify_chain
from federation.errors import RecordRejected
from federation.identities import DivisionLevel, level_of
from federation.replication import Prepared, Record, Rejection
from federation.storage import audit_chain
from federation.storage.audit_chain import AUDIT_RECORD, IS_AUDIT
from federation.storage.outbox import append_entry
from federation.storage.tables import audit_log, outbox

__all__ = [
    "AUDIT_RECORD",
    "AuditApplier",
    "append",
    "audit_origins",
    "read_entries",
    "verify_origin",
    "write_scope",
]

_PAGE = 5000


def append(
    conn: Connection, origin: str, entry: AuditEntry, *, replicate: bool, live: audit_chain.Live | None = None
) -> StoredEntry:
    """Append ``entry`` to ``origin``'s chain in the caller's transaction — in the outbox if the chain replicates
    (a county's), else in ``audit_log``; with ``live``, only while that session is live (else Unauthenticated)."""
    if replicate:
        return append_entry(conn, origin, entry, live=live)
    return audit_chain.insert(conn, origin, entry, live=live)


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


def _from_outbox(payload: str) -> StoredEntry | None:
    try:
        return StoredEntry.from_payload(json.loads(payload))
    except (KeyError, TypeError, ValueError):  # a changed byte may leave no entry at all
        return None


def _changed(seq: int, prev_hash: str, why: str) -> StoredEntry:
    """A stand-in for an entry whose stored copy no longer holds together: it fails verification as changed."""
    entry = AuditEntry(datetime.min.replace(tzinfo=UTC), "", "", "", "", "", "", "", why)
    return StoredEntry(origin="", seq=seq, entry=entry, prev_hash=prev_hash, hash="")


def _user_of_payload(conn: Connection) -> Any:
    """The ``user_id`` inside an outbox audit row's JSON payload, as SQL."""
    if conn.dialect.name == "postgresql":
        return cast(outbox.c.payload, JSONB)["entry"]["user_id"].astext
    return func.json_extract(outbox.c.payload, "$.entry.user_id")


def _log_page(
    conn: Connection, origin: str, *, after: int, limit: int | None, user_id: str | None, newest_first: bool
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


def _outbox_page(
    conn: Connection, origin: str, *, after_row: int, limit: int | None, user_id: str | None, newest_first: bool
) -> list[tuple[int, StoredEntry | None]]:
    """Outbox rows of ``origin``'s chain: (outbox seq, entry — None where the payload no longer parses)."""
    q = audit_chain.outbox_entries_query(origin)
    if after_row:
        q = q.where(outbox.c.seq > after_row)
    if user_id is not None:
        q = q.where(_user_of_payload(conn) == user_id)
    q = q.order_by(outbox.c.seq.desc() if newest_first else outbox.c.seq)
    if limit is not None:
        q = q.limit(limit)
    return [(int(r.seq), _from_outbox(r.payload)) for r in conn.execute(q)]


def read_entries(
    conn: Connection,
    origin: str,
    *,
    after: int = 0,
    limit: int | None = None,
    user_id: str | None = None,
    newest_first: bool = False,
) -> list[StoredEntry]:
    """``origin``'s entries in chain order (or newest first), from wherever they are kept: the outbox (a county's
    own chain), ``audit_log`` (an upper tier's own chain, the copies of its counties'), or both (a city's relay copy
    beside its applied copy: one entry per seq, the ``audit_log`` copy first)."""
    logged = _log_page(conn, origin, after=after, limit=limit, user_id=user_id, newest_first=newest_first)
    rows = _outbox_page(
        conn, origin, after_row=0, limit=None if after else limit, user_id=user_id, newest_first=newest_first
    )
    queued = [e for _, e in rows if e is not None and e.seq > after]
    merged = _merge(logged, queued, newest_first=newest_first)
    return merged if limit is None else merged[:limit]


def _merge(a: list[StoredEntry], b: list[StoredEntry], *, newest_first: bool) -> list[StoredEntry]:
    if not b:
        return a
    if not a:
        return b
    seen = {e.seq for e in a}
    out = [*a, *(e for e in b if e.seq not in seen)]
    out.sort(key=lambda e: e.seq, reverse=newest_first)
    return out


def _all(conn: Connection, origin: str) -> Iterator[StoredEntry]:
    """Every entry of ``origin``'s chain in stored order, in pages; where both homes hold an entry, the two copies
    must agree (a copy that differs is reported as a changed entry)."""
    yield from _merged(_all_logged(conn, origin), _all_queued(conn, origin))


def _all_logged(conn: Connection, origin: str) -> Iterator[StoredEntry]:
    after = 0
    while True:
        page = _log_page(conn, origin, after=after, limit=_PAGE, user_id=None, newest_first=False)
        yield from page
        if len(page) < _PAGE:
            return
        after = page[-1].seq


def _all_queued(conn: Connection, origin: str) -> Iterator[StoredEntry]:
    after, seq, prev = 0, 0, GENESIS
    while True:
        page = _outbox_page(conn, origin, after_row=after, limit=_PAGE, user_id=None, newest_first=False)
        for _, parsed in page:
            e = parsed or _changed(seq + 1, prev, "发件箱中的审计条目无法解析")
            yield e
            seq, prev = e.seq, e.hash
        if len(page) < _PAGE:
            return
        after = page[-1][0]


def _merged(a: Iterator[StoredEntry], b: Iterator[StoredEntry]) -> Iterator[StoredEntry]:
    """Two chains' copies in stored order, one entry per position: where both hold a seq, the ``audit_log`` copy —
    or, if the two differ, a stand-in that fails verification (the copies disagree)."""
    x, y = next(a, None), next(b, None)
    while x is not None or y is not None:
        if y is None or (x is not None and x.seq < y.seq):
            assert x is not None
            yield x
            x = next(a, None)
        elif x is None or y.seq < x.seq:
            yield y
            y = next(b, None)
        else:
            yield x if x == y else _changed(x.seq, x.prev_hash, "审计日志与发件箱中的副本不一致")
            x, y = next(a, None), next(b, None)


def audit_origins(conn: Connection) -> list[str]:
    logged = {str(r[0]) for r in conn.execute(select(audit_log.c.origin).distinct())}
    queued = {str(r[0]) for r in conn.execute(select(outbox.c.origin).where(IS_AUDIT).distinct())}
    return sorted(logged | queued)


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
