"""The replication ports over the one Sunshine schema (SQLAlchemy Core, SQLite and PostgreSQL alike).

:class:`SqlBatchSource` (sending side) seals this node's own outbox into hash-chained batches and serves the
batches it holds of every origin — its own, and for a relay the ones it received, stored unchanged — from
``batch_log`` and ``outbox``. :class:`SqlBatchSink` (receiving side) checks an incoming batch against its mark
and applies it in one transaction: records go to the applier of their type, poison records to ``quarantine``,
the batch and its records to this node's ``batch_log``/``outbox`` (``relay=True``), and the mark advances with
the data.

Concurrency. Sealing takes, on PostgreSQL, a transaction-scoped advisory lock per origin
(``pg_advisory_xact_lock``); on SQLite every write transaction begins ``IMMEDIATE`` and holds the one writer
lock. Either way two sealers run one after the other, and the second sees the first's batches, so an origin
never gets two chains (were the lock missing, the primary key ``(origin, first_seq)`` of ``batch_log`` would
still refuse the second). Receiving locks the origin's mark row (``SELECT … FOR UPDATE`` on PostgreSQL; the
writer lock on SQLite), so two receivers of one origin apply one after the other and the second sees a duplicate.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import Engine, String, bindparam, func, insert, select, text, type_coerce, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.types import NullType

from federation.errors import StorageError
from federation.identities import validate_division_code
from federation.replication import AppliersByType, Record
from federation.storage.bulk import BulkStatement
from federation.storage.tables import batch_log, link_acks, outbox, quarantine, replication_marks
from federation.storage.uow import UnitOfWork
from federation.timeutil import from_us, to_us, utcnow
from sync_agent.apply import apply_records
from sync_agent.domain import ZERO_HASH, Batch, Mark, RefusalReason, Verdict, check_batch, refusal, seal_batch
from sync_agent.ports import Receipt

__all__ = ["LinkAck", "OriginStatus", "SqlBatchSink", "SqlBatchSource", "lock_mark"]

log = structlog.get_logger(__name__)

Clock = Callable[[], datetime]
Signer = Callable[[bytes], bytes]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_NAIVE = datetime(1970, 1, 1)
_US = timedelta(microseconds=1)
_SEAL_LOCK_SPACE = 0x5EA1  # first key of pg_advisory_xact_lock(int, int): "sealing"; the second is the origin


def _stored_us(value: Any) -> int:
    """``to_us`` of ``created_at`` as the driver returns it (see ``_OUTBOX_COLUMNS``): UTC text on SQLite, an
    aware datetime on PostgreSQL."""
    if isinstance(value, str):
        moment = datetime.fromisoformat(value)
        return (moment - (_EPOCH_NAIVE if moment.tzinfo is None else _EPOCH)) // _US
    return to_us(value)


def _records(rows: Iterable[Any]) -> list[Record]:
    """The records of outbox rows selected with ``_OUTBOX_COLUMNS`` (the hot path of sealing and sending: one
    tuple unpacking per row)."""
    us = _stored_us
    return [Record(t, i, o, seq, p.encode("utf-8"), us(c)) for seq, t, i, o, p, c in rows]


def _pack(records: Sequence[Record], max_records: int, max_bytes: int) -> list[list[Record]]:
    """Split consecutive records into batches of at most ``max_records`` records and ``max_bytes`` payload bytes;
    a record bigger than ``max_bytes`` travels alone."""
    groups: list[list[Record]] = []
    current: list[Record] = []
    size = 0
    for r in records:
        n = len(r.payload)
        if current and (len(current) >= max_records or size + n > max_bytes):
            groups.append(current)
            current, size = [], 0
        current.append(r)
        size += n
    if current:
        groups.append(current)
    return groups


# ``created_at`` as stored, without the column type's conversion to an aware datetime: ``_stored_us`` turns it
# straight into the microseconds a Record carries (a sizeable share of sealing time otherwise)
_OUTBOX_COLUMNS = (
    outbox.c.seq,
    outbox.c.record_type,
    outbox.c.record_id,
    outbox.c.op,
    outbox.c.payload,
    type_coerce(outbox.c.created_at, NullType()).label("created_at"),
)
_LAST_BATCH = (
    select(batch_log.c.last_seq, batch_log.c.batch_hash)
    .where(batch_log.c.origin == bindparam("origin"))
    .order_by(batch_log.c.last_seq.desc())
    .limit(1)
)
_PENDING = (
    select(*_OUTBOX_COLUMNS)
    .where(outbox.c.origin == bindparam("origin"), outbox.c.seq > bindparam("after"))
    .order_by(outbox.c.seq)
    .limit(bindparam("limit"))
)
_BATCHES_FROM = (
    select(batch_log)
    .where(batch_log.c.origin == bindparam("origin"), batch_log.c.first_seq > bindparam("after"))
    .order_by(batch_log.c.first_seq)
    .limit(bindparam("limit"))
)
_RECORDS_BETWEEN = (
    select(*_OUTBOX_COLUMNS)
    .where(
        outbox.c.origin == bindparam("origin"),
        outbox.c.seq >= bindparam("first"),
        outbox.c.seq <= bindparam("last"),
    )
    .order_by(outbox.c.seq)
)
# the origins whose batches this node keeps (it relays them): one small row per origin in replication_marks, each
# checked with one index probe into batch_log — never a DISTINCT over every batch held
_OTHER_ORIGINS = select(replication_marks.c.origin).where(
    replication_marks.c.origin != bindparam("node"),
    select(batch_log.c.origin).where(batch_log.c.origin == replication_marks.c.origin).exists(),
)
# what a seal would find: the origin's highest outbox seq and the last seq already sealed (two index probes, read
# only) — an idle agent looks every linger without ever taking the write lock the hall's transactions need
_SEAL_PROBE = select(
    select(func.max(outbox.c.seq)).where(outbox.c.origin == bindparam("origin")).scalar_subquery().label("top"),
    select(func.max(batch_log.c.last_seq))
    .where(batch_log.c.origin == bindparam("origin"))
    .scalar_subquery()
    .label("sealed"),
)
_INSERT_BATCH = insert(batch_log)
_INSERT_OUTBOX = BulkStatement(insert(outbox), [c.name for c in outbox.c])
_INSERT_QUARANTINE = insert(quarantine)


def _upsert_ack(ins: Any) -> Any:
    stmt = ins(link_acks)
    return stmt.on_conflict_do_update(
        index_elements=[link_acks.c.link, link_acks.c.origin],
        set_={"acked_seq": stmt.excluded.acked_seq, "acked_at": stmt.excluded.acked_at, "last_error": None},
    )


def _upsert_link_error(ins: Any) -> Any:
    stmt = ins(link_acks)
    return stmt.on_conflict_do_update(
        index_elements=[link_acks.c.link, link_acks.c.origin], set_={"last_error": stmt.excluded.last_error}
    )


_UPSERT_ACK = {"postgresql": _upsert_ack(pg_insert), "sqlite": _upsert_ack(sqlite_insert)}
_UPSERT_LINK_ERROR = {"postgresql": _upsert_link_error(pg_insert), "sqlite": _upsert_link_error(sqlite_insert)}


@dataclass(frozen=True, slots=True)
class LinkAck:
    link: str
    origin: str
    acked_seq: int
    acked_at: datetime
    last_error: str | None


class SqlBatchSource:
    """The sending side of a node: its own outbox sealed into batches, and every batch it holds of any origin.

    ``signer`` (optional) signs each new batch's hash with the node's key; batches of other origins keep the
    signature they arrived with."""

    def __init__(
        self,
        engine: Engine,
        node: str,
        *,
        max_records: int = 500,
        max_bytes: int = 1_000_000,
        signer: Signer | None = None,
        clock: Clock = utcnow,
        batches_per_transaction: int = 200,
    ) -> None:
        if max_records < 1 or max_bytes < 1 or batches_per_transaction < 2:
            raise ValueError("max_records and max_bytes must be positive, batches_per_transaction at least 2")
        self._engine = engine
        self.node = validate_division_code(node)
        self.max_records = max_records
        self.max_bytes = max_bytes
        self._signer = signer
        self._clock = clock
        self._fetch = max_records * batches_per_transaction

    def origins(self) -> list[str]:
        with UnitOfWork(self._engine, readonly=True) as uow:
            others = sorted(uow.conn.execute(_OTHER_ORIGINS, {"node": self.node}).scalars())
        return [self.node, *others]

    def seal(self) -> int:
        """Seal every outbox record of this node committed since the last batch; return the number of batches.

        A large backlog is sealed in several transactions of up to ``batches_per_transaction`` batches (the
        chain continues across them), so a county's writers are never held behind one long seal."""
        with UnitOfWork(self._engine, readonly=True) as uow:
            probe = uow.conn.execute(_SEAL_PROBE, {"origin": self.node}).one()
        if (probe.top or 0) <= (probe.sealed or 0):
            return 0
        total = 0
        while True:
            sealed, more = self._seal_some()
            total += sealed
            if not more:
                return total

    def _seal_some(self) -> tuple[int, bool]:
        with UnitOfWork(self._engine) as uow:
            conn = uow.conn
            if conn.dialect.name == "postgresql":
                conn.execute(
                    text("SELECT pg_advisory_xact_lock(:space, :key)"),
                    {"space": _SEAL_LOCK_SPACE, "key": int(self.node)},
                )
            last = conn.execute(_LAST_BATCH, {"origin": self.node}).first()
            after, prev_hash = (int(last.last_seq), bytes(last.batch_hash)) if last else (0, ZERO_HASH)
            rows = conn.execute(_PENDING, {"origin": self.node, "after": after, "limit": self._fetch}).all()
            if not rows:
                return 0, False
            if rows[0].seq != after + 1 or rows[-1].seq != after + len(rows):
                raise StorageError(
                    f"本节点发件箱序号不连续（已封批到 {after}，其后的记录从 {rows[0].seq} 开始），无法封批",
                    origin=self.node,
                )
            more = len(rows) == self._fetch
            groups = _pack(_records(rows), self.max_records, self.max_bytes)
            if more and len(groups) > 1:
                groups.pop()  # may have been cut short by the fetch limit: sealed with what follows, next round
            now = self._clock()
            values = []
            for group in groups:
                batch = seal_batch(self.node, prev_hash, group)
                signature = self._signer(batch.batch_hash) if self._signer else b""
                values.append(_batch_values(replace(batch, signature=signature), now))
                prev_hash = batch.batch_hash
            conn.execute(_INSERT_BATCH, values)
            uow.commit()
        log.debug("replication.sealed", origin=self.node, batches=len(values), last_seq=values[-1]["last_seq"])
        return len(values), more

    def batches_after(self, origin: str, high_water: int, limit: int) -> list[Batch]:
        """Up to ``limit`` batches of ``origin`` held here, consecutive from seq ``high_water + 1``, unchanged."""
        if limit < 1:
            return []
        with UnitOfWork(self._engine, readonly=True) as uow:
            conn = uow.conn
            logged = conn.execute(_BATCHES_FROM, {"origin": origin, "after": high_water, "limit": limit}).all()
            chain: list[Any] = []
            expect = high_water + 1
            for b in logged:
                if b.first_seq != expect:
                    break
                chain.append(b)
                expect = b.last_seq + 1
            if not chain:
                if logged:
                    log.warning(
                        "replication.no_batch_boundary",
                        origin=origin,
                        high_water=high_water,
                        next_first_seq=logged[0].first_seq,
                    )
                return []
            rows = conn.execute(
                _RECORDS_BETWEEN, {"origin": origin, "first": chain[0].first_seq, "last": chain[-1].last_seq}
            ).all()
        return _assemble(origin, chain, rows)

    def record_ack(self, link: str, origin: str, high_water: int) -> None:
        with UnitOfWork(self._engine) as uow:
            uow.conn.execute(
                _UPSERT_ACK[uow.dialect],
                {
                    "link": link,
                    "origin": origin,
                    "acked_seq": high_water,
                    "acked_at": self._clock(),
                    "last_error": None,
                },
            )
            uow.commit()

    def record_link_error(self, link: str, origin: str, message: str) -> None:
        """Remember the last error of ``link`` for ``origin`` (a refusal, a broken stream); cleared by an ack."""
        with UnitOfWork(self._engine) as uow:
            uow.conn.execute(
                _UPSERT_LINK_ERROR[uow.dialect],
                {"link": link, "origin": origin, "acked_seq": 0, "acked_at": self._clock(), "last_error": message},
            )
            uow.commit()

    def link_acks(self) -> list[LinkAck]:
        with UnitOfWork(self._engine, readonly=True) as uow:
            rows = uow.conn.execute(select(link_acks).order_by(link_acks.c.link, link_acks.c.origin)).all()
        return [LinkAck(r.link, r.origin, int(r.acked_seq), r.acked_at, r.last_error) for r in rows]


def _batch_values(batch: Batch, stored_at: datetime) -> dict[str, Any]:
    return {
        "origin": batch.origin,
        "first_seq": batch.first_seq,
        "last_seq": batch.last_seq,
        "prev_hash": batch.prev_hash,
        "batch_hash": batch.batch_hash,
        "signature": batch.signature,
        "record_count": len(batch.records),
        "sealed_at": stored_at,
    }


def _assemble(origin: str, chain: Sequence[Any], rows: Sequence[Any]) -> list[Batch]:
    first, last = chain[0].first_seq, chain[-1].last_seq
    if len(rows) != last - first + 1 or (rows and (rows[0].seq != first or rows[-1].seq != last)):
        raise StorageError(
            f"来源 {origin} 的批次 {first}–{last} 在本节点发件箱中的记录不完整（{len(rows)} 条）", origin=origin
        )
    batches = []
    for b in chain:
        start = b.first_seq - first
        records = tuple(_records(rows[start : start + b.record_count]))
        batches.append(
            Batch(origin, b.first_seq, b.last_seq, bytes(b.prev_hash), bytes(b.batch_hash), records, bytes(b.signature))
        )
    return batches


# -- the receiving side -------------------------------------------------------------------------------------------

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
        self.node = validate_division_code(node)
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
                return Receipt(mark, duplicate=True)  # leaving the unit of work rolls back: nothing changed
            texts = _payload_texts(batch, mark)
            held = apply_records(conn, batch.origin, batch.records, texts, self._appliers)
            if self.relay:
                conn.execute(_INSERT_BATCH, _batch_values(batch, now))
                _INSERT_OUTBOX.execute(conn, _outbox_rows(batch, texts, mark))
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
        for h in held:
            log.warning("replication.quarantined", sender=sender, origin=batch.origin, **h)
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
