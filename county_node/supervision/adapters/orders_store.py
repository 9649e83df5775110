"""SQL for orders (督办 / 催办) and their replies (签收 / 办复), the outbox rows that carry them, and the checks of
a replicated one.

Record types (op ``upsert``, payload = the whole row but ``origin_seq``):

* ``order`` — id ``{issuer}-OD{n:08d}``, written by the issuer (a city or the province) in its own outbox; it
  flows down to the county it names (and, as every record of a node, up to the province);
* ``order_reply`` — id = the order's id, written by the county in its own outbox; it flows up to the issuer.

A row keeps the seq of the outbox record of its last write as ``origin_seq``; a replica applies a snapshot only
when its seq is newer (:meth:`OrderStore.upsert_replicas`). The issuer reads an order with the reply of the county
it names (:meth:`OrderStore.page`): a reply from any other county is never shown.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, and_, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from county_node.supervision.domain.orders import (
    KIND_LABELS,
    ORDER_ID,
    ORDER_STATUS_LABELS,
    REPLY_STATUS_LABELS,
    SUBJECT_LABELS,
    format_order_id,
)
from federation.errors import NotFound, RecordRejected, ValidationError
from federation.identities import DivisionLevel, level_of, parse_case_number, scope_prefix
from federation.replication import Record
from federation.storage import outbox
from federation.storage.rows import RowDecoder
from federation.storage.tables import order_replies, orders

__all__ = [
    "ORDER_RECORD",
    "ORDER_REPLY_RECORD",
    "OrderFilter",
    "OrderStore",
    "check_order",
    "check_reply",
]

ORDER_RECORD = "order"
ORDER_REPLY_RECORD = "order_reply"

_ORDER_DECODER = RowDecoder(orders, [c.name for c in orders.c if c.name != "origin_seq"], label="督办指令")
_REPLY_DECODER = RowDecoder(
    order_replies, [c.name for c in order_replies.c if c.name != "origin_seq"], label="指令办复"
)


def _jsonable(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k != "origin_seq"}


def _guarded_upsert(ins: Callable[[Table], Any], table: Table, key: str) -> Any:
    stmt = ins(table)
    return stmt.on_conflict_do_update(
        index_elements=[table.c[key]],
        set_={c.name: stmt.excluded[c.name] for c in table.c if c.name != key},
        where=table.c.origin_seq.is_(None) | (table.c.origin_seq < stmt.excluded.origin_seq),
    )


_UPSERT = {
    (table.name, dialect): _guarded_upsert(ins, table, "order_id")
    for table in (orders, order_replies)
    for dialect, ins in (("sqlite", sqlite_insert), ("postgresql", pg_insert))
}


@dataclass(frozen=True, slots=True)
class OrderFilter:
    scope: str = ""  # a division prefix: only orders to counties below it
    county: str | None = None
    issuer: str | None = None
    status: str | None = None  # issued | withdrawn | closed
    reply: str | None = None  # pending (no reply yet) | received | answered
    subject_id: str | None = None

    def check(self) -> None:
        if self.status is not None and self.status not in ORDER_STATUS_LABELS:
            raise ValidationError(f"未知的指令状态“{self.status}”（issued、withdrawn、closed）", field="status")
        if self.reply is not None and self.reply not in ("pending", *REPLY_STATUS_LABELS):
            raise ValidationError(f"未知的办复状态“{self.reply}”（pending、received、answered）", field="reply")


class OrderStore:
    """Orders and replies held by one node, inside one connection (one unit of work); ``origin`` is this node."""

    def __init__(self, conn: Connection, origin: str) -> None:
        self._conn = conn
        self.origin = origin

    # -- ids and writes of this node's own records --------------------------------------------------------------
    def new_order_id(self) -> str:
        """The next order id of this node (the issuer), from its gap-free counter."""
        return format_order_id(self.origin, outbox.next_value(self._conn, f"order:{self.origin}"))

    def _emit(self, record_type: str, row: dict[str, Any], now: datetime) -> None:
        (seq,) = outbox.append(
            self._conn,
            origin=self.origin,
            records=[outbox.OutboxRecord(record_type, row["order_id"], "upsert", _jsonable(row))],
            created_at=now,
        )
        row["origin_seq"] = seq

    def _write(self, table: Table, record_type: str, row: dict[str, Any], now: datetime, *, new: bool) -> None:
        self._emit(record_type, row, now)
        if new:
            self._conn.execute(insert(table), row)
        else:
            values = {k: v for k, v in row.items() if k != "order_id"}
            self._conn.execute(update(table).where(table.c.order_id == row["order_id"]).values(values))

    def save_order(self, row: dict[str, Any], now: datetime, *, new: bool) -> None:
        """Write an order this node issued, with its ``order`` outbox record."""
        self._write(orders, ORDER_RECORD, row, now, new=new)

    def save_reply(self, row: dict[str, Any], now: datetime, *, new: bool) -> None:
        """Write this county's reply to an order, with its ``order_reply`` outbox record."""
        self._write(order_replies, ORDER_REPLY_RECORD, row, now, new=new)

    # -- replicas -----------------------------------------------------------------------------------------------
    def upsert_replicas(self, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
        """Write replicated snapshots (each with its ``origin_seq``): a stored row with a newer seq stays."""
        if rows:
            self._conn.execute(_UPSERT[(table.name, self._conn.dialect.name)], [dict(r) for r in rows])

    def stored_seqs(self, table: Table, keys: Sequence[str]) -> dict[str, tuple[int | None, str]]:
        """order id → (origin_seq, county) of the rows of ``table`` held for ``keys``."""
        if not keys:
            return {}
        stmt = select(table.c.order_id, table.c.origin_seq, table.c.county).where(table.c.order_id.in_(list(keys)))
        return {r.order_id: (r.origin_seq, r.county) for r in self._conn.execute(stmt)}

    # -- reads --------------------------------------------------------------------------------------------------
    def _get(self, table: Table, order_id: str, for_update: bool) -> dict[str, Any] | None:
        stmt = select(table).where(table.c.order_id == order_id)
        if for_update and self._conn.dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        row = self._conn.execute(stmt).mappings().first()
        return dict(row) if row is not None else None

    def find_order(self, order_id: str, *, for_update: bool = False) -> dict[str, Any] | None:
        return self._get(orders, order_id, for_update)

    def order(self, order_id: str, *, for_update: bool = False) -> dict[str, Any]:
        row = self.find_order(order_id, for_update=for_update)
        if row is None:
            raise NotFound(f"未找到督办指令“{order_id}”", order_id=order_id)
        return row

    def reply(self, order_id: str, county: str, *, for_update: bool = False) -> dict[str, Any] | None:
        """The reply of ``county`` to the order (a reply of another county is not its reply)."""
        row = self._get(order_replies, order_id, for_update)
        return row if row is not None and row["county"] == county else None

    def page(
        self, flt: OrderFilter, *, offset: int, limit: int
    ) -> tuple[list[tuple[dict[str, Any], dict[str, Any] | None]], int]:
        """Orders (newest first) with the reply of the county each names, and the total matching."""
        joined = orders.outerjoin(
            order_replies,
            and_(order_replies.c.order_id == orders.c.order_id, order_replies.c.county == orders.c.county),
        )
        conds: list[Any] = []
        if flt.scope:
            conds.append(orders.c.county.startswith(flt.scope, autoescape=True))
        if flt.county:
            conds.append(orders.c.county == flt.county)
        if flt.issuer:
            conds.append(orders.c.issuer == flt.issuer)
        if flt.status:
            conds.append(orders.c.status == flt.status)
        if flt.subject_id:
            conds.append(orders.c.subject_id == flt.subject_id)
        if flt.reply == "pending":
            conds.append(order_replies.c.order_id.is_(None))
        elif flt.reply:
            conds.append(order_replies.c.status == flt.reply)
        total = self._conn.execute(select(func.count()).select_from(joined).where(*conds)).scalar_one()
        reply_cols = [c.label(f"r_{c.name}") for c in order_replies.c]
        stmt = (
            select(orders, *reply_cols)
            .select_from(joined)
            .where(*conds)
            .order_by(orders.c.issued_at.desc(), orders.c.order_id.desc())
            .offset(offset)
            .limit(limit)
        )
        out: list[tuple[dict[str, Any], dict[str, Any] | None]] = []
        for r in self._conn.execute(stmt).mappings():
            order = {c.name: r[c.name] for c in orders.c}
            reply = {c.name: r[f"r_{c.name}"] for c in order_replies.c} if r["r_order_id"] is not None else None
            out.append((order, reply))
        return out, int(total)


# -- checks of a replicated record (pure) ---------------------------------------------------------------------------


def _decode(decoder: RowDecoder, label: str, record: Record, payload: Any) -> dict[str, Any]:
    if record.op != "upsert":
        raise RecordRejected(
            f"{record.record_type} 记录不支持操作“{record.op}”（应为 upsert）", record_id=record.record_id
        )
    if not isinstance(payload, dict):
        raise RecordRejected(f"{label}记录的载荷应为 JSON 对象", record_id=record.record_id)
    row = decoder.decode(payload)
    if row["order_id"] != record.record_id:
        raise RecordRejected(
            f"{label}编号“{row['order_id']}”与记录编号“{record.record_id}”不符", record_id=record.record_id
        )
    if ORDER_ID.fullmatch(row["order_id"]) is None:
        raise RecordRejected(f"{label}编号“{row['order_id']}”格式错误", record_id=record.record_id)
    return row


def _below(county: str, issuer: str) -> bool:
    """Whether ``county`` is a county-level division below ``issuer`` (a city or the province)."""
    try:
        return (
            level_of(county) is DivisionLevel.COUNTY
            and level_of(issuer) is not DivisionLevel.COUNTY
            and county.startswith(scope_prefix(issuer))
        )
    except ValidationError:
        return False


def check_order(origin: str, record: Record, payload: Any) -> dict[str, Any]:
    """An ``order`` record of ``origin``, checked: its issuer is the origin (a city or the province), the county
    it names lies below the issuer, its subject belongs to that county, its values are known."""
    row = _decode(_ORDER_DECODER, "督办指令", record, payload)
    key = row["order_id"]
    issuer = ORDER_ID.fullmatch(key)["issuer"]  # type: ignore[index]
    if issuer != origin or row["issuer"] != origin:
        raise RecordRejected(
            f"督办指令“{key}”由 {row['issuer']} 下发，不能由 {origin} 发送（只能发送本节点自己的指令）",
            record_id=key,
            origin=origin,
        )
    if level_of(origin) is DivisionLevel.COUNTY:
        raise RecordRejected(f"督办指令只能由市级或省级节点下发，不能由县级节点 {origin} 发送", record_id=key)
    county = row["county"]
    if not _below(county, origin):
        raise RecordRejected(f"督办指令“{key}”的对象区划 {county} 不是 {origin} 所辖的县级区划", record_id=key)
    for column, allowed in (("kind", KIND_LABELS), ("subject_kind", SUBJECT_LABELS), ("status", ORDER_STATUS_LABELS)):
        if row[column] not in allowed:
            raise RecordRejected(f"督办指令“{key}”的“{column}”取值“{row[column]}”未知", record_id=key, field=column)
    case_no = row["case_no"]
    try:
        if case_no is not None and parse_case_number(case_no).division != county:
            raise RecordRejected(f"督办指令“{key}”所涉办件“{case_no}”不属于区划 {county}", record_id=key)
    except ValidationError as exc:
        raise RecordRejected(exc.message, record_id=key) from None
    subject = row["subject_id"]
    if not subject.startswith(f"{county}-") or (row["subject_kind"] == "case" and subject != case_no):
        raise RecordRejected(f"督办指令“{key}”的对象“{subject}”不属于区划 {county}", record_id=key)
    return row


def check_reply(origin: str, record: Record, payload: Any) -> dict[str, Any]:
    """An ``order_reply`` record of ``origin``: the county that sends it is the county it names, below the
    order's issuer."""
    row = _decode(_REPLY_DECODER, "指令办复", record, payload)
    key = row["order_id"]
    if row["county"] != origin:
        raise RecordRejected(
            f"指令办复“{key}”属于区划 {row['county']}，不能由 {origin} 发送（只能发送本县自己的办复）",
            record_id=key,
            origin=origin,
        )
    issuer = ORDER_ID.fullmatch(key)["issuer"]  # type: ignore[index]
    if not _below(origin, issuer):
        raise RecordRejected(f"指令办复“{key}”：{origin} 不是下发机关 {issuer} 所辖的县级区划", record_id=key)
    if row["status"] not in REPLY_STATUS_LABELS:
        raise RecordRejected(f"指令办复“{key}”的“status”取值“{row['status']}”未知", record_id=key, field="status")
    return row
