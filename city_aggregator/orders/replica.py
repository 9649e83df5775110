"""The order records a city or the province receives: other issuers' ``order`` snapshots, counties' replies.

* ``order`` — a city receives the province's orders on their way down (it relays them to its counties), the
  province receives the cities' orders on their way up. :class:`OrderReplicaApplier` keeps the newest snapshot
  of each (by the issuer's seq): an order from a county, one whose issuer is not its origin, one naming a county
  outside the issuer's subtree or a subject of another county, or a malformed one is refused with the reason.
* ``order_reply`` — a county's handling of an order (签收 / 办复), relayed up unchanged.
  :class:`ReplyApplier` accepts it only from the county the reply names, below the order's issuer; when the
  order is held here it must name that county too, and a reply already held from another county is never
  overwritten (replies of two origins cannot be ordered by seq). The newest snapshot wins.

Both are registered by the city's and the province's composition roots (:func:`order_appliers`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection

from county_node.supervision.adapters.orders_store import (
    ORDER_RECORD,
    ORDER_REPLY_RECORD,
    OrderStore,
    check_order,
    check_reply,
)
from federation.replication import Applier, Prepared, Record, Rejection
from federation.storage.tables import order_replies, orders

__all__ = ["OrderReplicaApplier", "ReplyApplier", "order_appliers"]


@dataclass(frozen=True, slots=True)
class _Snapshot:
    order_id: str
    origin_seq: int
    row: dict[str, Any]


def _latest(items: Sequence[Prepared[_Snapshot]]) -> dict[str, Prepared[_Snapshot]]:
    latest: dict[str, Prepared[_Snapshot]] = {}
    for item in items:  # in seq order: the last snapshot of a row in the batch is its newest
        latest[item.value.order_id] = item
    return latest


class OrderReplicaApplier:
    """``order`` records of another issuer (op ``upsert``): the newest snapshot of each order."""

    def prepare(self, origin: str, record: Record, payload: Any) -> _Snapshot:
        row = check_order(origin, record, payload)
        return _Snapshot(row["order_id"], record.origin_seq, row)

    def apply(self, conn: Connection, origin: str, items: Sequence[Prepared[_Snapshot]]) -> Sequence[Rejection]:
        rows = [{**i.value.row, "origin_seq": i.value.origin_seq} for i in _latest(items).values()]
        OrderStore(conn, origin).upsert_replicas(orders, rows)
        return []


class ReplyApplier:
    """``order_reply`` records of a county (op ``upsert``): the newest snapshot of each reply."""

    def prepare(self, origin: str, record: Record, payload: Any) -> _Snapshot:
        row = check_reply(origin, record, payload)
        return _Snapshot(row["order_id"], record.origin_seq, row)

    def apply(self, conn: Connection, origin: str, items: Sequence[Prepared[_Snapshot]]) -> Sequence[Rejection]:
        latest = _latest(items)
        store = OrderStore(conn, origin)
        held_orders = store.stored_seqs(orders, list(latest))
        held_replies = store.stored_seqs(order_replies, list(latest))
        rejected: list[Rejection] = []
        rows: list[dict[str, Any]] = []
        for key, item in latest.items():
            if key in held_orders and held_orders[key][1] != origin:
                rejected.append(
                    Rejection(item.record, f"指令“{key}”下发给 {held_orders[key][1]}，不能由 {origin} 办复")
                )
            elif key in held_replies and held_replies[key][1] != origin:
                rejected.append(
                    Rejection(item.record, f"指令“{key}”已有 {held_replies[key][1]} 的办复，不能由 {origin} 覆盖")
                )
            else:
                rows.append({**item.value.row, "origin_seq": item.value.origin_seq})
        store.upsert_replicas(order_replies, rows)
        return rejected


def order_appliers() -> dict[str, Applier[Any]]:
    """What a city or the province applies of the order records: others' orders, the counties' replies."""
    return {ORDER_RECORD: OrderReplicaApplier(), ORDER_REPLY_RECORD: ReplyApplier()}
