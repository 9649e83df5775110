"""The receiving side (:class:`SqlBatchSink`): incoming batches checked against their origins' marks (locked for
the transaction, :func:`lock_mark`) and applied — the batches that arrived together in one transaction — poison
records quarantined, each batch kept for relaying (whole, as its bytes arrived: ``batch_log.wire``), its receipt
kept, the mark advanced with the data.

A batch at or below the mark is a duplicate only if it is the batch received: its hash is compared with the
receipt (``batch_receipts``). Seqs held with other content — an origin restored from an old backup that seals
its new records at seqs already sent — are refused as divergent, never acknowledged in silence.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import Engine, String, bindparam, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from federation.identities import scope_prefix, validate_node_id
from federation.replication import AppliersByType, Record
from federation.replication.attest import ATTESTATION, StatementApplier
from federation.storage import attestation, wake
from federation.storage.bulk import sqlite_moment_of_us
from federation.storage.tables import batch_receipts, outbox, quarantine, replication_marks
from federation.storage.uow import UnitOfWork
from federation.timeutil import from_us, to_us, utcnow
from sync_agent.apply import apply_records
from sync_agent.domain import ZERO_HASH, Batch, Mark, RefusalReason, Verdict, check_batch, excerpt, refusal
from sync_agent.errors import BatchRefused
from sync_agent.ports import Receipt
from sync_agent.stages import StageClock
from sync_agent.store._shared import INSERT_BATCH, Clock, batch_values, store_chain

__all__ = ["OriginStatus", "SqlBatchSink", "lock_mark"]

log = structlog.get_logger(__name__)

# the relay copy on SQLite: ready tuples, the creation moment as UTCDateTime stores it (sqlite_moment_of_us)
_INSERT_OUTBOX_TEXT = (
    f"INSERT INTO {outbox.name} (origin, seq, record_type, record_id, op, payload, created_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_QUARANTINE = insert(quarantine)
_INSERT_RECEIPT = insert(batch_receipts)
_RECEIPT = select(batch_receipts.c.first_seq, batch_receipts.c.batch_hash).where(
    batch_receipts.c.origin == bindparam("origin"), batch_receipts.c.last_seq == bindparam("last_seq")
)
_RECEIPTS_FROM = select(replication_marks.c.receipts_from).where(replication_marks.c.origin == bindparam("origin"))
_LOG_EXCERPT = 200  # characters of a reason or an identifier a log line may carry

_SELECT_MARK = select(replication_marks.c.high_water, replication_marks.c.last_hash).where(
    replication_marks.c.origin == bindparam("origin")
)
_SELECT_MARK_FOR_UPDATE = _SELECT_MARK.with_for_update()
_CREATE_MARK = {
    name: ins(replication_marks).on_conflict_do_nothing(index_elements=[replication_marks.c.origin])
    for name, ins in (("postgresql", pg_insert), ("sqlite", sqlite_insert))
}
_ADVANCE_MARK = (
    update(replication_marks)
    .where(replication_marks.c.origin == bindparam("k_origin"))
    .values(
        high_water=bindparam("high_water"),
        last_hash=bindparam("last_hash"),
        records=replication_marks.c.records + bindparam("n"),
        updated_at=bindparam("updated_at"),
    )
)
_MARKS_OF = select(replication_marks.c.origin, replication_marks.c.high_water, replication_marks.c.last_hash).where(
    replication_marks.c.origin.in_(bindparam("origins", expanding=True))
)


def lock_mark(conn: Connection, origin: str, now: datetime) -> Mark:
    """The receiver's mark of ``origin``, locked until the end of the transaction (created at 0 if new)."""
    stmt = _SELECT_MARK_FOR_UPDATE if conn.dialect.name == "postgresql" else _SELECT_MARK
    row = conn.execute(stmt, {"origin": origin}).first()
    if row is None:
        conn.execute(
            _CREATE_MARK[conn.dialect.name],
            {"origin": origin, "high_water": 0, "last_hash": ZERO_HASH, "records": 0, "updated_at": now},
        )
        row = conn.execute(stmt, {"origin": origin}).one()
    return Mark(origin, int(row.high_water), bytes(row.last_hash))


@dataclass(frozen=True, slots=True)
class OriginStatus:
    """What this node holds of one origin (the wire's ``OriginStatus``)."""

    origin: str
    high_water: int
    last_hash: bytes
    records: int
    updated_at: datetime
    quarantined: int


def _max_length(column: str) -> int:
    type_ = outbox.c[column].type
    if not isinstance(type_, String) or type_.length is None:  # pragma: no cover - the schema says String(n)
        raise TypeError(f"outbox.{column} is not a String(n)")
    return type_.length


_MAX_TYPE, _MAX_ID, _MAX_OP = _max_length("record_type"), _max_length("record_id"), _max_length("op")


class SqlBatchSink:
    """The receiving side of a node. ``relay=True`` keeps the node's copy of each stream (``batch_log`` and
    ``outbox`` under the batch's origin), so that :class:`SqlBatchSource` forwards it unchanged.

    ``allow(sender, origin)`` (optional) says whether ``sender`` may send records of ``origin``; a batch of this
    node's own origin is always refused."""

    def __init__(
        self,
        engine: Engine,
        node: str,
        appliers: AppliersByType,
        *,
        relay: bool,
        clock: Clock = utcnow,
        allow: Callable[[str, str], bool] | None = None,
    ) -> None:
        self._engine = engine
        self.node = validate_node_id(node)
        self._appliers = {
            **appliers,
            ATTESTATION: appliers.get(ATTESTATION) or StatementApplier(),
            attestation.CHECK: appliers.get(attestation.CHECK) or attestation.CheckApplier(self.node),
        }
        self.relay = relay
        self._clock = clock
        self._allow = allow
        self.stages = StageClock()  # where the time goes (bench replication's profile summary)

    def marks(self, origins: Sequence[str]) -> list[Mark]:
        if not origins:
            return []
        with UnitOfWork(self._engine, readonly=True) as uow:
            held = {
                r.origin: Mark(r.origin, int(r.high_water), bytes(r.last_hash))
                for r in uow.conn.execute(_MARKS_OF, {"origins": list(origins)})
            }
        return [held.get(o) or Mark(o) for o in origins]

    def receive(self, sender: str, batch: Batch) -> Receipt:
        """Check and apply one batch in its own transaction; raise BatchRefused (nothing applied) if refused."""
        (answer,) = self.receive_many(sender, [batch])
        if isinstance(answer, BatchRefused):
            raise answer
        return answer

    def receive_many(self, sender: str, batches: Sequence[Batch]) -> list[Receipt | BatchRefused]:
        """Check and apply ``batches`` (in the order sent) in **one** transaction — one commit, one fsync for the
        group — and answer each: its receipt, or its refusal (a refused batch writes nothing; the batches of its
        origin behind it are then refused as gaps, exactly as if each had its own transaction). The answers are
        returned only once the group is committed: nothing is acknowledged that is not durable. A failure of the
        database itself rolls the whole group back and propagates (the sender resends from its marks)."""
        now = self._clock()
        answers: list[Receipt | BatchRefused | None] = [None] * len(batches)
        held_by_origin: dict[str, list[dict[str, Any]]] = {}
        started = time.perf_counter()
        with UnitOfWork(self._engine) as uow:
            conn = uow.conn
            marks: dict[str, Mark] = {}
            accepted: dict[str, list[tuple[int, Batch, list[str]]]] = {}
            received: dict[tuple[str, int], tuple[int, bytes]] = {}  # this group's receipts, not yet written
            for origin in sorted({b.origin for b in batches if self._may_send(sender, b.origin)}):
                marks[origin] = lock_mark(conn, origin, now)  # in one order: two groups never wait on each other
            for i, batch in enumerate(batches):
                origin = batch.origin
                if not self._may_send(sender, origin):
                    answers[i] = refusal(
                        RefusalReason.NOT_ALLOWED,
                        f"节点 {sender} 不能发送来源 {origin} 的记录",
                        batch,
                        marks.get(origin) or self._read_mark(conn, origin),
                    )
                    continue
                mark = marks.get(origin)
                if mark is None:
                    mark = marks[origin] = lock_mark(conn, origin, now)
                try:
                    if check_batch(mark, batch) is Verdict.DUPLICATE:
                        _same_as_received(conn, batch, mark, received)
                        answers[i] = Receipt(mark, duplicate=True)
                        continue
                    texts = _payload_texts(batch, mark)
                    _check_moments(batch, mark)
                except BatchRefused as refused:
                    answers[i] = refused
                    continue
                accepted.setdefault(origin, []).append((i, batch, texts))
                received[(origin, batch.last_seq)] = (batch.first_seq, batch.batch_hash)
                marks[origin] = Mark(origin, batch.last_seq, batch.batch_hash)
            self.stages.add("check (marks, chain, texts)", time.perf_counter() - started)
            if not accepted:
                return [a for a in answers if a is not None]  # nothing to write: leaving rolls back
            for origin, group in accepted.items():
                set_aside = held_by_origin[origin] = self._apply(conn, origin, group, now)
                counts = _held_per_batch(set_aside, group)
                for (i, batch, _), n in zip(group, counts, strict=True):
                    answers[i] = Receipt(Mark(origin, batch.last_seq, batch.batch_hash), quarantined=n)
            with self.stages.timing("commit"):
                uow.commit()
        for origin, rows in held_by_origin.items():  # never the payload: it may hold personal data
            for h in rows:
                log.warning(
                    "replication.quarantined",
                    sender=sender,
                    origin=origin,
                    **{
                        k: (excerpt(v, _LOG_EXCERPT) if isinstance(v, str) else v)
                        for k, v in h.items()
                        if k != "payload"
                    },
                )
        return [a for a in answers if a is not None]

    def _may_send(self, sender: str, origin: str) -> bool:
        return origin != self.node and (self._allow is None or self._allow(sender, origin))

    def _read_mark(self, conn: Connection, origin: str) -> Mark:
        row = conn.execute(_SELECT_MARK, {"origin": origin}).first()
        return Mark(origin) if row is None else Mark(origin, int(row.high_water), bytes(row.last_hash))

    def _apply(
        self, conn: Connection, origin: str, group: Sequence[tuple[int, Batch, list[str]]], now: datetime
    ) -> list[dict[str, Any]]:
        """Apply the accepted, consecutive batches of one origin: their records through the appliers in one pass,
        their receipts, the relay copy, the quarantine rows and the mark; return the quarantine rows."""
        records = [r for _, batch, _ in group for r in batch.records]
        texts = [t for _, _, batch_texts in group for t in batch_texts]
        ends = [b.last_seq for _, b, _ in group]
        held = apply_records(conn, origin, records, texts, self._appliers, batch_ends=ends, stages=self.stages)
        started = time.perf_counter()
        quarantined = (int(h["seq"]) for h in held)
        # a relay sends its verdicts on its subtree's origins up (not on its parent's, coming down): the tier above
        # then knows them too
        up = self.relay and origin != self.node and origin.startswith(scope_prefix(self.node))
        attestation.apply_totals(conn, origin, records, node=self.node, held=quarantined, now=now, forward=up)
        batches = [batch for _, batch, _ in group]
        conn.execute(
            _INSERT_RECEIPT,
            [
                {"origin": origin, "last_seq": b.last_seq, "first_seq": b.first_seq, "batch_hash": b.batch_hash}
                for b in batches
            ],
        )
        if self.relay:
            chains: dict[tuple[bytes, ...], str | None] = {}
            logged = []
            whole = all(b.wire for b in batches)  # kept as they arrived, forwarded byte for byte
            for b in batches:
                if b.signer_chain not in chains:
                    chains[b.signer_chain] = store_chain(conn, b.signer_chain)
                logged.append({**batch_values(b, now, chains[b.signer_chain]), "wire": b.wire if whole else None})
            conn.execute(INSERT_BATCH, logged)
            if not whole:  # batches handed over without their bytes (a direct caller): a copy of every record
                relay_started = time.perf_counter()
                write_relay_copy(conn, origin, records, texts)
                self.stages.add("relay copy (outbox rows)", time.perf_counter() - relay_started)
            wake.written(conn, origin, sealed=True)  # this node's agent relays it as soon as it is committed
        if held:
            conn.execute(
                _INSERT_QUARANTINE,
                [{**h, "origin": origin, "state": "held", "created_at": now, "resolved_at": None} for h in held],
            )
        last = batches[-1]
        conn.execute(
            _ADVANCE_MARK,
            {
                "k_origin": origin,
                "high_water": last.last_seq,
                "last_hash": last.batch_hash,
                "n": len(records),
                "updated_at": now,
            },
        )
        self.stages.add("receipts, batch log, mark", time.perf_counter() - started)
        return held

    def status(self, origin_prefix: str = "") -> list[OriginStatus]:
        """Every origin held (optionally those under a division prefix) with its mark and quarantine size."""
        with UnitOfWork(self._engine, readonly=True) as uow:
            conn = uow.conn
            marks = conn.execute(
                select(replication_marks)
                .where(replication_marks.c.origin.startswith(origin_prefix, autoescape=True))
                .order_by(replication_marks.c.origin)
            ).all()
            held: dict[str, int] = dict(
                conn.execute(
                    select(quarantine.c.origin, func.count())
                    .where(quarantine.c.state == "held")
                    .group_by(quarantine.c.origin)
                ).all()
            )
        return [
            OriginStatus(
                m.origin,
                int(m.high_water),
                bytes(m.last_hash),
                int(m.records),
                m.updated_at,
                int(held.get(m.origin, 0)),
            )
            for m in marks
        ]


def _same_as_received(
    conn: Connection, batch: Batch, mark: Mark, received: dict[tuple[str, int], tuple[int, bytes]]
) -> None:
    """A batch at or below the mark must be one received (same last seq, same hash) — before, or earlier in this
    group (``received``); else it is divergent."""
    pending = received.get((batch.origin, batch.last_seq))
    if pending is not None:
        if pending == (batch.first_seq, batch.batch_hash):
            return
    else:
        (receipts_from,) = conn.execute(_RECEIPTS_FROM, {"origin": batch.origin}).one()
        if batch.last_seq <= int(receipts_from):
            return  # received before receipts were kept: a duplicate, as it always was
        held = conn.execute(_RECEIPT, {"origin": batch.origin, "last_seq": batch.last_seq}).first()
        if held is not None and int(held.first_seq) == batch.first_seq and bytes(held.batch_hash) == batch.batch_hash:
            return
    raise refusal(
        RefusalReason.DIVERGENT,
        f"来源 {batch.origin} 的序号 {batch.first_seq}–{batch.last_seq} 已以不同内容接收过："
        "来源节点可能从旧备份恢复、重复使用了序号，请来源节点管理员核查；本批不会当作重复确认",
        batch,
        mark,
    )


def _payload_texts(batch: Batch, mark: Mark) -> list[str]:
    """The payloads as text. A record this node could not store as the origin stored it (not UTF-8, a NUL, an
    over-long type/id/op) cannot come from a conforming origin's outbox: the batch is refused as malformed."""
    texts = []
    for r in batch.records:
        try:
            payload = r.payload.decode("utf-8")
        except UnicodeDecodeError:
            payload = "\x00"
        if (
            "\x00" in payload
            or not 0 < len(r.record_type) <= _MAX_TYPE
            or not 0 < len(r.record_id) <= _MAX_ID
            or not 0 < len(r.op) <= _MAX_OP
            or "\x00" in r.record_type + r.record_id + r.op
        ):
            raise refusal(
                RefusalReason.MALFORMED,
                f"记录 {r.origin_seq} 无法保存：载荷不是 UTF-8 文本或含空字符，或类型/编号/操作过长",
                batch,
                mark,
            )
        texts.append(payload)
    return texts


_MAX_US = to_us(datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC))
_MIN_US = to_us(datetime(1, 1, 1, tzinfo=UTC))


def _check_moments(batch: Batch, mark: Mark) -> None:
    """A record's creation moment must be one the relay copy can store (years 1–9999)."""
    if any(not _MIN_US <= r.created_at_us <= _MAX_US for r in batch.records):
        raise refusal(RefusalReason.MALFORMED, "记录的创建时间超出范围", batch, mark)


def write_relay_copy(conn: Connection, origin: str, records: Sequence[Record], texts: Sequence[str]) -> None:
    """The relay's copy of received records in ``outbox`` under their origin, stored exactly as the origin stored
    them (the text of each payload as received), column by column — on PostgreSQL with ``COPY``."""
    if not records:
        return
    seqs = [r.origin_seq for r in records]
    types = [r.record_type for r in records]
    ids = [r.record_id for r in records]
    ops = [r.op for r in records]
    if conn.dialect.name == "postgresql":
        aware = [from_us(r.created_at_us) for r in records]
        raw: Any = conn.connection.driver_connection
        columns = "origin, seq, record_type, record_id, op, payload, created_at"
        with raw.cursor() as cur, cur.copy(f"COPY {outbox.name} ({columns}) FROM STDIN") as out:
            for row in zip(seqs, types, ids, ops, texts, aware, strict=True):
                out.write_row((origin, *row))
        return
    moments = [sqlite_moment_of_us(r.created_at_us) for r in records]
    conn.exec_driver_sql(
        _INSERT_OUTBOX_TEXT, list(zip([origin] * len(records), seqs, types, ids, ops, texts, moments, strict=True))
    )


def _held_per_batch(held: Sequence[dict[str, Any]], group: Sequence[tuple[int, Batch, list[str]]]) -> list[int]:
    """How many of the quarantine rows ``held`` fall in each batch of ``group`` (by seq)."""
    counts = [0] * len(group)
    if held:
        lasts = [b.last_seq for _, b, _ in group]
        for h in held:
            counts[bisect_left(lasts, int(h["seq"]))] += 1
    return counts
