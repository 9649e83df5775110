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

from federation.errors import InvalidDivisionCode, RecordRejected
from federation.identities import DivisionLevel, level_of, scope_prefix, validate_division_code
from federation.replication import Prepared, Record, Rejection
from federation.replication.attest import (
    ATTESTATION,
    MAX_SEQ,
    Statement,
    Totals,
    compare,
    digest_hex,
    parse_figures,
    statement_id,
)
from federation.storage import outbox as outbox_store
from federation.storage.seal import OUTBOX_COLUMNS, records_of
from federation.storage.tables import attestations, counters, outbox, quarantine, stream_totals
from federation.timeutil import utcnow

__all__ = [
    "AGREEING",
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
) -> None:
    """Add the applied ``records`` of ``origin`` (the seqs in ``held`` were quarantined: left out) to what this node
    holds, in seq order; at each statement among them, compare and note the verdict — and, ``forward`` (a relay),
    put the verdict into this node's own stream (a ``attestation_check`` record), so the tier above knows it too."""
    quarantined = set(held)
    totals = load_totals(conn, origin)
    touched: set[str] = set()
    started = totals.kinds.pop(_BASELINE, None)
    if started is None and records:  # the first records of this origin counted here: after what it held already
        started = [records[0].origin_seq - 1, 0]
        touched.add(_BASELINE)
    run: list[Record] = []  # the records since the last statement, added at once
    for r in records:
        if r.origin_seq in quarantined:
            continue
        if r.record_type != ATTESTATION:
            run.append(r)
            continue
        touched |= totals.add_all(run)
        run = []
        statement = Statement.from_record(origin, r, json.loads(r.payload))  # checked by its applier already
        if started is not None and started[0] > 0:  # held before counting began (an upgrade): the baseline
            set_aside = [q for q in records if q.origin_seq in quarantined and q.origin_seq <= statement.covers]
            totals = _adopted(conn, statement, set_aside)
            touched |= set(totals.kinds) | {_BASELINE}
            started = [0, 0]
            _note(conn, statement, r.origin_seq, checked_by=node, verdict="baseline", differ=None, now=now)
            continue
        differ = compare(statement, totals)
        verdict = "diverge" if differ else "agree"
        _note(conn, statement, r.origin_seq, checked_by=node, verdict=verdict, differ=differ or None, now=now)
        if forward:  # only what differs travels: a verdict is small whatever the statement
            check = {"origin": origin, "statement_seq": r.origin_seq, "covers": statement.covers}
            check |= {"verdict": verdict, "differ": differ or None}
            record = outbox_store.OutboxRecord(CHECK, statement_id(origin, r.origin_seq), "insert", check)
            outbox_store.append(conn, origin=node, records=[record], created_at=now)
    touched |= totals.add_all(run)
    if started is not None:
        totals.kinds[_BASELINE] = started
    _save_totals(conn, origin, totals, touched)


_BASELINE = ""  # stream_totals' row of an origin that says after which seq this node began counting (0: from 1)
_HELD = select(
    quarantine.c.seq, quarantine.c.record_type, quarantine.c.record_id, quarantine.c.op, quarantine.c.payload
)


def _adopted(conn: Connection, statement: Statement, set_aside: Iterable[Record]) -> Totals:
    """A node that held records of the origin before it kept figures (they came before migration 0015) takes the
    origin's statement as its baseline — what the origin stated, less what is in this node's quarantine (not held),
    ``set_aside`` (this group's, not written to the quarantine yet) included. From there on every record is counted
    and every statement compared."""
    totals = Totals({k: [n, d] for k, (n, d) in statement.kinds.items()})
    for record in set_aside:
        if record.record_type != ATTESTATION:
            totals.add(record, sign=-1)
    held = conn.execute(
        _HELD.where(
            quarantine.c.origin == statement.origin,
            quarantine.c.state == "held",
            quarantine.c.seq <= statement.covers,
            quarantine.c.record_type != ATTESTATION,
        )
    )
    for seq, kind, record_id, op, payload in held:
        totals.add(Record(kind, record_id, op, int(seq), payload.encode("utf-8"), 0), sign=-1)
    return totals


def replayed(conn: Connection, origin: str, record: Record) -> None:
    """A quarantined record of ``origin`` applied at last: it is held now."""
    if record.record_type == ATTESTATION:
        return
    totals = load_totals(conn, origin)
    totals.add(record)
    _save_totals(conn, origin, totals, [record.record_type])  # the baseline row, if any, is left as it is


CHECK = "attestation_check"  # a relay's verdict on a statement of one of its children's origins, sent up


class CheckApplier:
    """``attestation_check`` records: a city's verdicts on its counties' statements, noted here under the city as
    the tier that checked. Believed only from a city, about a county of its own, with well-formed figures; at a node
    above whom the city is not (a county, which gets its city's whole stream down), they are not for it: ignored.
    ``node``: this node (None: a quarantine replay, which the sink's checks already passed)."""

    def __init__(self, node: str | None = None) -> None:
        self._node = node
        self._below = None if node is None else _subtree(node)

    def prepare(self, origin: str, record: Record, payload: Any) -> _Check | None:
        if self._below is not None and (origin == self._node or not origin.startswith(self._below)):
            return None  # a verdict of a tier above this one, coming down in its stream: not this node's concern
        if not _is_level(origin, DivisionLevel.CITY):
            raise RecordRejected(f"只有市级节点可以发送核对结果，{origin} 不是市级", origin=origin)
        if not isinstance(payload, dict):
            raise RecordRejected("核对结果记录的载荷应为 JSON 对象")
        subject, seq, covers = payload.get("origin"), payload.get("statement_seq"), payload.get("covers")
        if not _is_level(subject, DivisionLevel.COUNTY) or not str(subject).startswith(scope_prefix(origin)):
            raise RecordRejected(f"核对结果的来源“{str(subject)[:16]}”不是 {origin} 下属的县级", origin=origin)
        if type(seq) is not int or type(covers) is not int or not 0 <= covers < seq < MAX_SEQ:
            raise RecordRejected("核对结果的声明序号或覆盖序号格式错误")
        if record.record_id != statement_id(str(subject), seq):
            raise RecordRejected(f"核对结果编号“{record.record_id}”与内容不符", record_id=record.record_id)
        verdict, differ = payload.get("verdict"), payload.get("differ")
        if verdict == "agree" and differ is None:
            return _Check(str(subject), seq, covers, verdict, None)
        if verdict != "diverge" or not isinstance(differ, dict) or not differ:
            raise RecordRejected("核对结果的结论与不一致项不符")
        sides = {side: parse_figures({k: _side(v, side) for k, v in differ.items()}, "核对结果") for side in _SIDES}
        checked = {k: {side: [sides[side][k][0], digest_hex(sides[side][k][1])] for side in _SIDES} for k in differ}
        return _Check(str(subject), seq, covers, verdict, checked)

    def apply(self, conn: Connection, origin: str, items: Sequence[Prepared[_Check | None]]) -> Sequence[Rejection]:
        now = utcnow()
        for item in items:
            check = item.value
            if check is None:
                continue
            statement = Statement(check.origin, check.covers, {})
            _note(conn, statement, check.seq, checked_by=origin, verdict=check.verdict, differ=check.differ, now=now)
        return []


@dataclass(frozen=True, slots=True)
class _Check:
    origin: str
    seq: int
    covers: int
    verdict: str
    differ: dict[str, Any] | None


_SIDES = ("origin", "held")


def _subtree(node: str) -> str:
    """The prefix of the origins below ``node``; an extranet node has none (it prefixes nothing)."""
    try:
        return scope_prefix(node)
    except InvalidDivisionCode:
        return "\x00"  # a boundary node (外网节点) is above no one: every verdict is not its concern


def _side(figures: Any, side: str) -> Any:
    return figures.get(side) if isinstance(figures, dict) else None


def _is_level(code: Any, level: DivisionLevel) -> bool:
    if not isinstance(code, str):
        return False
    try:
        validate_division_code(code)
        return level_of(code) is level
    except (InvalidDivisionCode, ValueError):
        return False


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


def latest_verdicts(conn: Connection, origin_prefix: str = "", *, node: str | None = None) -> list[Verdict]:
    """Per origin under ``origin_prefix`` and per tier that checked it (the origin's own ``stated`` included): the
    latest statement's verdict, with what the last agreeing one before it covered (the divergent range's start).

    ``node`` (this node): a verdict another tier sent here counts only for a statement this node has itself
    checked, with the same ``covers`` — a tier cannot pin a verdict on a statement that was never made."""
    a = attestations.c
    own = attestations.alias("own")
    counted = a.origin.startswith(origin_prefix, autoescape=True)
    if node is not None:
        confirmed = (
            select(own.c.id)
            .where(
                own.c.origin == a.origin,
                own.c.statement_seq == a.statement_seq,
                own.c.covers == a.covers,
                own.c.checked_by == node,
            )
            .exists()
        )
        counted &= (a.checked_by == node) | (a.checked_by == a.origin) | confirmed
    latest = (
        select(a.origin, a.checked_by, func.max(a.statement_seq).label("seq"))
        .where(counted)
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
                a.verdict.in_(AGREEING),
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


AGREEING = ("agree", "stated", "baseline")  # verdicts that say the tier held what the origin stated
