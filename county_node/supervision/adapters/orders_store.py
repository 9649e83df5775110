"""SQL for orders (督办 / 催办) and their replies (签收 / 办复), the outbox rows that carry them, and the checks of
a replicated one.

Record types (op ``upsert``, payload = the whole row but ``origin_seq``):

* ``order`` — id ``{issuer}-OD{n:08d}``, written by the issuer (a city or the province) in its own outbox; it
  flows down to the county it names (and, as every record of a node, up to the province);
* ``order_reply`` — id = the order's id, written by the county in its own outbox; it flows up to the issuer.

A row keeps the seq of the outbox record of its last write as ``origin_seq``; a replica applies a snapshot only
when its seq is newer (:meth:`OrderStore.upsert_orders`, :meth:`OrderStore.upsert_replies`). The issuer reads an
order with the reply of the county it names (:meth:`OrderStore.page`): a reply from any other county is never
shown. Rows are mapped to the domain's :class:`Order` and :class:`OrderReply`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, and_, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from county_node.supervision.adapters.store import without_seq
from county_node.supervision.domain.orders import (
    KIND_LABELS,
    ORDER_ID,
    ORDER_STATUS_LABELS,
    REPLY_STATUS_LABELS,
    SUBJECT_LABELS,
    Order,
    OrderKind,
    OrderReply,
    OrderStatus,
    OrderSubject,
    ReplyStatus,
    format_order_id,
)
from county_node.supervision.ports import OrderFilter, Orders
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
    "order_from_row",
    "order_row",
    "reply_from_row",
    "reply_row",
]

ORDER_RECORD = "order"
ORDER_REPLY_RECORD = "order_reply"

_ORDER_DECODER = RowDecoder(orders, [c.name for c in orders.c if c.name != "origin_seq"], label="督办指令")
_REPLY_DECODER = RowDecoder(
    order_replies, [c.name for c in order_replies.c if c.name != "origin_seq"], label="指令办复"
)


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


def order_row(o: Order) -> dict[str, Any]:
    return {
        "order_id": o.order_id,
        "issuer": o.issuer,
        "county": o.county,
        "kind": o.kind.value,
        "subject_kind": o.subject_kind.value,
        "subject_id": o.subject_id,
        "case_no": o.case_no,
        "reason": o.reason,
        "issued_by": o.issued_by,
        "issued_at": o.issued_at,
        "reply_due_at": o.reply_due_at,
        "status": o.status.value,
        "history": [dict(h) for h in o.history],
        "updated_at": o.updated_at,
    }


def order_from_row(r: Mapping[Any, Any]) -> Order:
    return Order(
        order_id=r["order_id"],
        issuer=r["issuer"],
        county=r["county"],
        kind=OrderKind(r["kind"]),
        subject_kind=OrderSubject(r["subject_kind"]),
        subject_id=r["subject_id"],
        case_no=r["case_no"],
        reason=r["reason"],
        issued_by=r["issued_by"],
        issued_at=r["issued_at"],
        reply_due_at=r["reply_due_at"],
        status=OrderStatus(r["status"]),
        history=tuple(r["history"] or ()),
        updated_at=r["updated_at"],
    )


def reply_row(r: OrderReply) -> dict[str, Any]:
    return {
        "order_id": r.order_id,
        "county": r.county,
        "status": r.status.value,
        "received_at": r.received_at,
        "answered_at": r.answered_at,
        "answered_by": r.answered_by,
        "answer": r.answer,
        "history": [dict(h) for h in r.history],
        "updated_at": r.updated_at,
    }


def reply_from_row(r: Mapping[Any, Any]) -> OrderReply:
    return OrderReply(
        order_id=r["order_id"],
        county=r["county"],
        status=ReplyStatus(r["status"]),
        received_at=r["received_at"],
        answered_at=r["answered_at"],
        answered_by=r["answered_by"],
        answer=r["answer"],
        history=tuple(r["history"] or ()),
        updated_at=r["updated_at"],
    )


class OrderStore(Orders):
    """Orders and replies held by one node, inside one connection (one unit of work); ``origin`` is this node."""

    def __init__(self, conn: Connection, origin: str) -> None:
        self._conn = conn
        self.origin = origin

    # -- ids and writes of this node's own records --------------------------------------------------------------
    def new_order_id(self) -> str:
        return format_order_id(self.origin, outbox.next_value(self._conn, f"order:{self.origin}"))

    def _write(self, table: Table, record_type: str, row: dict[str, Any], now: datetime, *, new: bool) -> None:
        (seq,) = outbox.append(
            self._conn,
            origin=self.origin,
            records=[outbox.OutboxRecord(record_type, row["order_id"], "upsert", without_seq(row))],
            created_at=now,
        )
        row["origin_seq"] = seq
        if new:
            self._conn.execute(insert(table), row)
        else:
            values = {k: v for k, v in row.items() if k != "order_id"}
            self._conn.execute(update(table).where(table.c.order_id == row["order_id"]).values(values))

    def save_order(self, order: Order, now: datetime, *, new: bool) -> None:
        self._write(orders, ORDER_RECORD, order_row(order), now, new=new)

    def save_reply(self, reply: OrderReply, now: datetime, *, new: bool) -> None:
        self._write(order_replies, ORDER_REPLY_RECORD, reply_row(reply), now, new=new)

    # -- replicas -----------------------------------------------------------------------------------------------
    def _upsert(self, table: Table, rows: list[dict[str, Any]]) -> None:
        if rows:
            self._conn.execute(_UPSERT[(table.name, self._conn.dialect.name)], rows)

    def upsert_orders(self, snapshots: Sequence[tuple[Order, int]]) -> None:
        self._upsert(orders, [{**order_row(o), "origin_seq": seq} for o, seq in snapshots])

    def upsert_replies(self, snapshots: Sequence[tuple[OrderReply, int]]) -> None:
        self._upsert(order_replies, [{**reply_row(r), "origin_seq": seq} for r, seq in snapshots])

    def _seqs(self, table: Table, keys: Sequence[str]) -> dict[str, tuple[int | None, str]]:
        if not keys:
            return {}
        stmt = select(table.c.order_id, table.c.origin_seq, table.c.county).where(table.c.order_id.in_(list(keys)))
        return {r.order_id: (r.origin_seq, r.county) for r in self._conn.execute(stmt)}

    def order_seqs(self, order_ids: Sequence[str]) -> dict[str, tuple[int | None, str]]:
        return self._seqs(orders, order_ids)

    def reply_seqs(self, order_ids: Sequence[str]) -> dict[str, tuple[int | None, str]]:
        return self._seqs(order_replies, order_ids)

    # -- reads --------------------------------------------------------------------------------------------------
    def _get(self, table: Table, order_id: str, for_update: bool) -> Mapping[Any, Any] | None:
        stmt = select(table).where(table.c.order_id == order_id)
        if for_update and self._conn.dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        return self._conn.execute(stmt).mappings().first()

    def find_order(self, order_id: str, *, for_update: bool = False) -> Order | None:
        row = self._get(orders, order_id, for_update)
        return None if row is None else order_from_row(row)

    def order(self, order_id: str, *, for_update: bool = False) -> Order:
        found = self.find_order(order_id, for_update=for_update)
        if found is None:
            raise NotFound(f"未找到督办指令“{order_id}”", order_id=order_id)
        return found

    def reply(self, order_id: str, county: str, *, for_update: bool = False) -> OrderReply | None:
        row = self._get(order_replies, order_id, for_update)
        return reply_from_row(row) if row is not None and row["county"] == county else None

    def page(self, flt: OrderFilter, *, offset: int, limit: int) -> tuple[list[tuple[Order, OrderReply | None]], int]:
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
        out: list[tuple[Order, OrderReply | None]] = []
        for r in self._conn.execute(stmt).mappings():
            order = order_from_row(r)
            reply = (
                reply_from_row({c.name: r[f"r_{c.name}"] for c in order_replies.c})
                if r["r_order_id"] is not None
                else None
            )
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


def check_order(origin: str, record: Record, payload: Any) -> Order:
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
    return order_from_row(row)


def check_reply(origin: str, record: Record, payload: Any) -> OrderReply:
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
    return reply_from_row(row)
