"""The order records a city or the province receives: other issuers' ``order`` snapshots, counties' replies.

* ``order`` — a city receives the province's orders on their way down (it relays them to its counties), the
  province receives the cities' orders on their way up. :class:`OrderReplicaApplier` keeps the newest snapshot
  of each (by the issuer's seq): an order from a county, one whose issuer is not its origin, one naming a county
  outside the issuer's subtree or a subject of another county, or a malformed one is refused with the reason.
* ``order_reply`` — a county's handling of an order (签收 / 办复), relayed up unchanged.
  :class:`ReplyApplier` accepts it only from the county the reply names, below the order's issuer; when the
  order is held here it must name that county too, and a reply already held from another county is never
  overwritten (replies of two origins cannot be ordered by seq). The newest snapshot wins.

Both are registered by the city's and the province's composition roots (:func:`order_appliers`); a county
recovering from its city rebuilds its own replies with :class:`ReplyApplier` (``county_node.recovery``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy.engine import Connection

from county_node.supervision.adapters.orders_store import (
    ORDER_RECORD,
    ORDER_REPLY_RECORD,
    OrderStore,
    check_order,
    check_reply,
)
from county_node.supervision.domain.orders import Order, OrderReply
from federation.replication import Applier, Prepared, Record, Rejection

__all__ = ["OrderReplicaApplier", "ReplyApplier", "order_appliers"]


R = TypeVar("R", Order, OrderReply)


@dataclass(frozen=True, slots=True)
class _Snapshot(Generic[R]):
    record: R
    origin_seq: int


def _latest(items: Sequence[Prepared[_Snapshot[R]]]) -> dict[str, Prepared[_Snapshot[R]]]:
    latest: dict[str, Prepared[_Snapshot[R]]] = {}
    for item in items:  # in seq order: the last snapshot of a row in the batch is its newest
        latest[item.value.record.order_id] = item
    return latest


class OrderReplicaApplier:
    """``order`` records of another issuer (op ``upsert``): the newest snapshot of each order."""

    def prepare(self, origin: str, record: Record, payload: Any) -> _Snapshot[Order]:
        return _Snapshot(check_order(origin, record, payload), record.origin_seq)

    def apply(self, conn: Connection, origin: str, items: Sequence[Prepared[_Snapshot[Order]]]) -> Sequence[Rejection]:
        OrderStore(conn, origin).upsert_orders([(i.value.record, i.value.origin_seq) for i in _latest(items).values()])
        return []


class ReplyApplier:
    """``order_reply`` records of a county (op ``upsert``): the newest snapshot of each reply."""

    def prepare(self, origin: str, record: Record, payload: Any) -> _Snapshot[OrderReply]:
        return _Snapshot(check_reply(origin, record, payload), record.origin_seq)

    def apply(
        self, conn: Connection, origin: str, items: Sequence[Prepared[_Snapshot[OrderReply]]]
    ) -> Sequence[Rejection]:
        latest = _latest(items)
        store = OrderStore(conn, origin)
        held_orders = store.order_seqs(list(latest))
        held_replies = store.reply_seqs(list(latest))
        rejected: list[Rejection] = []
        fresh: list[tuple[OrderReply, int]] = []
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
                fresh.append((item.value.record, item.value.origin_seq))
        store.upsert_replies(fresh)
        return rejected


def order_appliers() -> dict[str, Applier[Any]]:
    """What a city or the province applies of the order records: others' orders, the counties' replies."""
    return {ORDER_RECORD: OrderReplicaApplier(), ORDER_REPLY_RECORD: ReplyApplier()}
