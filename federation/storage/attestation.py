"""Attested completeness in the store (issue 19; the figures are :mod:`federation.replication.attest`).

* **At an origin**, :func:`state` writes a statement into the origin's own outbox: its figures per kind for every
  record up to the one before the statement, counted incrementally from the previous statement on (never a
  rescan), kept in ``stream_totals`` under the origin, and noted in ``attestations`` (``verdict = "stated"``).
* **At a receiver**, :func:`apply_totals` adds the records of an applied group (quarantined ones left out) to what
  the node holds of that origin, and at each statement in the group compares, at that very point of the stream,
  and notes its verdict (``agree`` / ``diverge`` with the kinds that differ). :func:`replayed` adds a quarantined
  record once it is replayed.
* :func:`latest_verdicts` is what ``sunshine admin verify`` reads.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from federation.errors import RecordRejected
from federation.identities import scope_prefix
from federation.replication import Prepared, Record, Rejection
from federation.replication.attest import ATTESTATION, Statement, Totals, compare, digest_hex, statement_id
from federation.storage import outbox as outbox_store
from federation.storage.seal import OUTBOX_COLUMNS, records_of
from federation.storage.tables import attestations, counters, outbox, stream_totals
from federation.timeutil import utcnow

__all__ = [
    "CHECK",
    "AttestEvery",
    "CheckApplier",
    "Verdict",
    "apply_totals",
    "last_statement",
    "latest_verdicts",
    "load_totals",
    "replayed",
    "state",
]


@dataclass(frozen=True, slots=True)
class AttestEvery:
    """How often an origin states its figures: once ``records`` records were sealed since its last statement, or
    ``seconds`` after it when anything was (``[replication] attest_records`` / ``attest_interval_s``)."""

    records: int = 10_000
    seconds: float = 60.0


def load_totals(conn: Connection, origin: str) -> Totals:
    rows = conn.execute(
        select(stream_totals.c.record_type, stream_totals.c.records, stream_totals.c.digest).where(
            stream_totals.c.origin == origin
        )
    )
    return Totals({t: [int(n), int(d, 16)] for t, n, d in rows})


def _save_totals(conn: Connection, origin: str, totals: Totals, kinds: Iterable[str]) -> None:
    rows = [
        {"origin": origin, "record_type": k, "records": totals.kinds[k][0], "digest": digest_hex(totals.kinds[k][1])}
        for k in sorted(set(kinds))
    ]
    if not rows:
        return
    ins = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    stmt = ins(stream_totals)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[stream_totals.c.origin, stream_totals.c.record_type],
            set_={"records": stmt.excluded.records, "digest": stmt.excluded.digest},
        ),
        rows,
    )


def _note(
    conn: Connection, statement: Statement, seq: int, *, checked_by: str, verdict: str, differ: Any, now: datetime
) -> None:
    ins = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    conn.execute(
        ins(attestations)
        .values(
            origin=statement.origin,
            statement_seq=seq,
            covers=statement.covers,
            checked_by=checked_by,
            verdict=verdict,
            kinds=statement.payload()["kinds"],
            differ=differ,
            checked_at=now,
        )
        .on_conflict_do_nothing(index_elements=["origin", "statement_seq", "checked_by"])
    )


# -- at the origin ------------------------------------------------------------------------------------------------

_LAST_STATEMENT = (
    select(attestations.c.statement_seq, attestations.c.covers)
    .where(attestations.c.origin == bindparam("origin"), attestations.c.checked_by == bindparam("origin"))
    .order_by(attestations.c.statement_seq.desc())
    .limit(1)
)
_SINCE = (
    select(*OUTBOX_COLUMNS)
    .where(outbox.c.origin == bindparam("origin"), outbox.c.seq > bindparam("after"))
    .where(outbox.c.record_type != ATTESTATION)
    .order_by(outbox.c.seq)
)
_LOCK_SEQ = select(counters.c.value).where(counters.c.name == bindparam("name")).with_for_update()
_TOP = select(func.max(outbox.c.seq)).where(outbox.c.origin == bindparam("origin"))


def last_statement(conn: Connection, origin: str) -> tuple[int, int]:
    """The origin's own last statement: its seq and what it covers (``(0, 0)``: none yet)."""
    row = conn.execute(_LAST_STATEMENT, {"origin": origin}).first()
    return (int(row.statement_seq), int(row.covers)) if row else (0, 0)


def state(conn: Connection, origin: str, now: datetime) -> tuple[int, Statement] | None:
    """Append the origin's statement of its records up to now to its outbox; its seq and the statement (None:
    nothing new since the last one).
    Run in the caller's transaction; on PostgreSQL the outbox's seq counter is locked first, so that every record
    before the statement is committed and counted."""
    if conn.dialect.name == "postgresql":
        conn.execute(_LOCK_SEQ, {"name": f"outbox:{origin}"}).first()
    last_seq, covers = last_statement(conn, origin)
    top = int(conn.execute(_TOP, {"origin": origin}).scalar() or 0)
    if top <= max(last_seq, covers):
        return None
    totals = load_totals(conn, origin)
    touched: set[str] = set()
    rows = conn.execute(_SINCE, {"origin": origin, "after": covers}).yield_per(5_000)
    for part in rows.partitions():
        for record in records_of(part):
            totals.add(record)
            touched.add(record.record_type)
    _save_totals(conn, origin, totals, touched)
    statement = Statement.of(origin, top, totals)
    (seq,) = outbox_store.append(
        conn,
        origin=origin,
        records=[outbox_store.OutboxRecord(ATTESTATION, statement_id(origin, top), "insert", statement.payload())],
        created_at=now,
    )
    _note(conn, statement, seq, checked_by=origin, verdict="stated", differ=None, now=now)
    return seq, statement


# -- at a receiver --------------------------------------------------------------------------------------------------


def apply_totals(
    conn: Connection,
    origin: str,
    records: Sequence[Record],
    *,
    node: str,
    held: Iterable[int],
    now: datetime,
    forward: bool = False,
) -> list[tuple[int, dict[str, Any]]]:
    """Add the applied ``records`` of ``origin`` (the seqs in ``held`` were quarantined: left out) to what this node
    holds, in seq order; at each statement among them, compare and note the verdict — and, ``forward`` (a relay),
    put the verdict into this node's own stream (a ``attestation_check`` record), so the tier above knows it too.
    The statements' seqs and the kinds that differ (empty: agree)."""
    quarantined = set(held)
    totals = load_totals(conn, origin)
    touched: set[str] = set()
    verdicts: list[tuple[int, dict[str, Any]]] = []
    for r in records:
        if r.origin_seq in quarantined:
            continue
        if r.record_type == ATTESTATION:
            statement = Statement.from_record(origin, r, json.loads(r.payload))  # checked by its applier already
            differ = compare(statement, totals)
            verdict = "diverge" if differ else "agree"
            _note(conn, statement, r.origin_seq, checked_by=node, verdict=verdict, differ=differ or None, now=now)
            verdicts.append((r.origin_seq, differ))
            if forward:
                check = {"statement_seq": r.origin_seq, "verdict": verdict, "differ": differ or None}
                check |= statement.payload() | {"origin": origin}
                record = outbox_store.OutboxRecord(CHECK, statement_id(origin, r.origin_seq), "insert", check)
                outbox_store.append(conn, origin=node, records=[record], created_at=now)
            continue
        totals.add(r)
        touched.add(r.record_type)
    _save_totals(conn, origin, totals, touched)
    return verdicts


def replayed(conn: Connection, origin: str, record: Record) -> None:
    """A quarantined record of ``origin`` applied at last: it is held now."""
    if record.record_type == ATTESTATION:
        return
    totals = load_totals(conn, origin)
    totals.add(record)
    _save_totals(conn, origin, totals, [record.record_type])


CHECK = "attestation_check"  # a relay's verdict on a statement of one of its children's origins, sent up


class CheckApplier:
    """``attestation_check`` records: a relay's verdicts (a city's, on its counties' statements), noted here under
    the relay as the tier that checked. A relay may only speak of origins of its own subtree."""

    def prepare(self, origin: str, record: Record, payload: Any) -> tuple[Statement, int, str, Any]:
        if not isinstance(payload, dict):
            raise RecordRejected("核对结果记录的载荷应为 JSON 对象")
        subject, seq, verdict = payload.get("origin"), payload.get("statement_seq"), payload.get("verdict")
        if not isinstance(subject, str) or subject == origin or not subject.startswith(scope_prefix(origin)):
            raise RecordRejected(f"核对结果的来源“{str(subject)[:16]}”不在 {origin} 的下级范围内", origin=origin)
        if type(seq) is not int or seq < 1 or verdict not in {"agree", "diverge"}:
            raise RecordRejected("核对结果的声明序号或结论格式错误")
        if record.record_id != statement_id(subject, seq):
            raise RecordRejected(f"核对结果编号“{record.record_id}”与内容不符", record_id=record.record_id)
        claimed = Record(ATTESTATION, statement_id(subject, payload.get("covers", -1)), "insert", seq, b"", 0)
        statement = Statement.from_record(subject, claimed, payload)
        differ = payload.get("differ")
        if (verdict == "diverge") != bool(differ) or (differ is not None and not isinstance(differ, dict)):
            raise RecordRejected("核对结果的结论与不一致项不符")
        return statement, seq, verdict, differ

    def apply(
        self, conn: Connection, origin: str, items: Sequence[Prepared[tuple[Statement, int, str, Any]]]
    ) -> Sequence[Rejection]:
        now = utcnow()
        for item in items:
            statement, seq, verdict, differ = item.value
            _note(conn, statement, seq, checked_by=origin, verdict=verdict, differ=differ, now=now)
        return []


# -- reading ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Verdict:
    """A tier's verdict on an origin's statement."""

    origin: str
    checked_by: str
    statement_seq: int
    covers: int
    verdict: str
    kinds: dict[str, Any]
    differ: dict[str, Any] | None
    checked_at: datetime
    agreed_before: int  # what the tier's last agreeing statement before this one covered (0: none)


def latest_verdicts(conn: Connection, origin_prefix: str = "") -> list[Verdict]:
    """Per origin under ``origin_prefix`` and per tier that checked it (the origin's own ``stated`` included): the
    latest statement's verdict, with what the last agreeing one before it covered (the divergent range's start)."""
    a = attestations.c
    latest = (
        select(a.origin, a.checked_by, func.max(a.statement_seq).label("seq"))
        .where(a.origin.startswith(origin_prefix, autoescape=True))
        .group_by(a.origin, a.checked_by)
        .subquery()
    )
    rows = conn.execute(
        select(attestations)
        .join(
            latest,
            (a.origin == latest.c.origin) & (a.checked_by == latest.c.checked_by) & (a.statement_seq == latest.c.seq),
        )
        .order_by(a.origin, a.checked_by)
    ).all()
    out = []
    for row in rows:
        agreed = conn.execute(
            select(func.max(a.covers)).where(
                a.origin == row.origin,
                a.checked_by == row.checked_by,
                a.verdict.in_(["agree", "stated"]),
                a.statement_seq < row.statement_seq,
            )
        ).scalar()
        out.append(
            Verdict(
                row.origin,
                row.checked_by,
                int(row.statement_seq),
                int(row.covers),
                row.verdict,
                dict(row.kinds),
                dict(row.differ) if row.differ else None,
                row.checked_at,
                int(agreed or 0),
            )
        )
    return out
