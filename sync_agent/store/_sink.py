"""The receiving side (:class:`SqlBatchSink`): an incoming batch checked against the origin's mark (locked for the
transaction, :func:`lock_mark`) and applied in one transaction, poison records quarantined, the batch kept for
relaying, its receipt kept, the mark advanced with the data.

A batch at or below the mark is a duplicate only if it is the batch received: its hash is compared with the
receipt (``batch_receipts``). Seqs held with other content — an origin restored from an old backup that seals
its new records at seqs already sent — are refused as divergent, never acknowledged in silence.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import Engine, String, bindparam, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from federation.identities import validate_node_id
from federation.replication import AppliersByType
from federation.storage import wake
from federation.storage.bulk import BulkStatement
from federation.storage.tables import batch_receipts, outbox, quarantine, replication_marks
from federation.storage.uow import UnitOfWork
from federation.timeutil import from_us, utcnow
from sync_agent.apply import apply_records
from sync_agent.domain import ZERO_HASH, Batch, Mark, RefusalReason, Verdict, check_batch, excerpt, refusal
from sync_agent.ports import Receipt
from sync_agent.store._shared import INSERT_BATCH, Clock, batch_values, store_chain

__all__ = ["OriginStatus", "SqlBatchSink", "lock_mark"]

log = structlog.get_logger(__name__)

_INSERT_OUTBOX = BulkStatement(insert(outbox), [c.name for c in outbox.c])
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
        self._appliers = appliers
        self.relay = relay
        self._clock = clock
        self._allow = allow

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
        now = self._clock()
        with UnitOfWork(self._engine) as uow:
            conn = uow.conn
            mark = lock_mark(conn, batch.origin, now)
            if batch.origin == self.node or (self._allow is not None and not self._allow(sender, batch.origin)):
                raise refusal(
                    RefusalReason.NOT_ALLOWED, f"节点 {sender} 不能发送来源 {batch.origin} 的记录", batch, mark
                )
            if check_batch(mark, batch) is Verdict.DUPLICATE:
                _same_as_received(conn, batch, mark)
                return Receipt(mark, duplicate=True)  # leaving the unit of work rolls back: nothing changed
            texts = _payload_texts(batch, mark)
            held = apply_records(conn, batch.origin, batch.records, texts, self._appliers)
            conn.execute(
                _INSERT_RECEIPT,
                {
                    "origin": batch.origin,
                    "last_seq": batch.last_seq,
                    "first_seq": batch.first_seq,
                    "batch_hash": batch.batch_hash,
                },
            )
            if self.relay:
                conn.execute(INSERT_BATCH, batch_values(batch, now, store_chain(conn, batch.signer_chain)))
                _INSERT_OUTBOX.execute(conn, _outbox_rows(batch, texts, mark))
                wake.written(conn, batch.origin, sealed=True)  # this node's agent relays it as soon as it is committed
            if held:
                conn.execute(
                    _INSERT_QUARANTINE,
                    [
                        {**h, "origin": batch.origin, "state": "held", "created_at": now, "resolved_at": None}
                        for h in held
                    ],
                )
            conn.execute(
                _ADVANCE_MARK,
                {
                    "k_origin": batch.origin,
                    "high_water": batch.last_seq,
                    "last_hash": batch.batch_hash,
                    "n": len(batch.records),
                    "updated_at": now,
                },
            )
            uow.commit()
        for h in held:  # never the payload: it may hold personal data (the quarantine table keeps it)
            log.warning(
                "replication.quarantined",
                sender=sender,
                origin=batch.origin,
                **{k: (excerpt(v, _LOG_EXCERPT) if isinstance(v, str) else v) for k, v in h.items() if k != "payload"},
            )
        return Receipt(Mark(batch.origin, batch.last_seq, batch.batch_hash), quarantined=len(held))

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


def _same_as_received(conn: Connection, batch: Batch, mark: Mark) -> None:
    """A batch at or below the mark must be one received (same last seq, same hash); else it is divergent."""
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


def _outbox_rows(batch: Batch, texts: Iterable[str], mark: Mark) -> list[dict[str, Any]]:
    try:
        return [
            {
                "origin": batch.origin,
                "seq": r.origin_seq,
                "record_type": r.record_type,
                "record_id": r.record_id,
                "op": r.op,
                "payload": t,
                "created_at": from_us(r.created_at_us),
            }
            for r, t in zip(batch.records, texts, strict=True)
        ]
    except OverflowError:
        raise refusal(RefusalReason.MALFORMED, "记录的创建时间超出范围", batch, mark) from None
