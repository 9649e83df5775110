"""Orders (督办 / 催办) at the county: received from above, signed for, acted on, answered (办复).

A city or the province issues an order in its own outbox; the replication stream brings it down to every county
below the issuer. On each county :class:`CountyOrderApplier`:

- ``prepare`` ignores an order addressed to another county (it is not this county's business: neither stored
  nor quarantined), and refuses — for the quarantine, with the reason in Chinese — one that does not come from
  an ancestor of this county (a city above it or the province), whose issuer is not its origin, or that is
  malformed (:func:`~county_node.supervision.adapters.orders_store.check_order`);
- ``apply`` stores the newest snapshot of each order (by the issuer's seq) and, for an order seen for the first
  time while it stands (``issued``), in the same receiving transaction and under this county's writer lock
  (:func:`federation.storage.outbox.lock_origin`): performs the order on its alert — 催办 ``urge`` / 督办
  ``supervise`` with the issuer as actor, through the alert lifecycle of
  :mod:`county_node.supervision.domain.alerts` (the alert's new snapshot goes to the outbox as every alert write
  does). An alert the order cannot act on (closed meanwhile, already supervised, unknown) does not stop the
  order. The order then waits for a person's 签收 (待签收): the node signs for nothing itself. A later snapshot
  (withdrawn, closed) only updates the order.

County staff sign for an order with :meth:`CountyOrders.receive` (签收: the ``received`` reply with its
``order_reply`` outbox record, noting why the alert was left alone if it was) and answer it with
:meth:`CountyOrders.answer` (办复; an order not yet signed for is signed for by the same person in the same
transaction), optionally acknowledging (签收) the alert too; the reply flows up to the issuer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy.engine import Connection

from county_node.supervision.adapters.orders_store import ORDER_RECORD, check_order
from county_node.supervision.adapters.orders_views import OrderPageView, OrderView, order_page_view, order_view
from county_node.supervision.domain.alerts import STATUS_LABELS, AlertAction
from county_node.supervision.domain.orders import (
    KIND_LABELS,
    Order,
    OrderStatus,
    OrderSubject,
    answer_reply,
    order_actor,
    receive_order,
)
from county_node.supervision.ports import OrderFilter
from county_node.unit_of_work import CountyRepositories, CountyUnits, SqlCountyRepositories
from federation.errors import Conflict, InvalidTransition, NotFound, RecordRejected, ValidationError
from federation.identities import DivisionLevel, level_of, scope_prefix
from federation.paging import page_offset
from federation.replication import Prepared, Record, Rejection

__all__ = ["ORDER_RECORD", "CountyOrderApplier", "CountyOrders"]

log = structlog.get_logger(__name__)

Clock = Callable[[], datetime]

_ORDER_LEVELS = {DivisionLevel.CITY: 1, DivisionLevel.PROVINCE: 2}
"""The 督办层级 (``ESCALATION_LABELS``) an order of each issuing tier gives the alert it acts on."""


def _act_on_alert(uow: CountyRepositories, order: Order, now: datetime) -> str:
    """Perform an order on its alert (the issuer as actor); "" when done, else why the alert was left alone."""
    label = KIND_LABELS[order.kind]
    try:
        alert = uow.alerts.get(order.subject_id, for_update=True)
        after = alert.act(
            AlertAction(order.kind.value),
            actor=order_actor(order),
            at=max(now, alert.updated_at),
            reason=f"{order.reason}（{label}指令 {order.order_id}）",
            order=(order.order_id, _ORDER_LEVELS[level_of(order.issuer)]),
        )
    except (NotFound, Conflict, ValidationError) as exc:
        log.warning("order.alert_unchanged", order_id=order.order_id, alert_id=order.subject_id, reason=exc.message)
        return f"预警未{label}：{exc.message}"
    uow.alerts.update([after], now)
    log.info("order.alert_acted", order_id=order.order_id, alert_id=alert.alert_id, action=order.kind.value)
    return ""


def _alert_note(uow: CountyRepositories, order: Order) -> str:
    """At 签收: "" when the order acted on its alert on arrival, else why the alert was left as it is."""
    if order.subject_kind != OrderSubject.ALERT:
        return ""
    label = KIND_LABELS[order.kind]
    try:
        alert = uow.alerts.get(order.subject_id)
    except NotFound:
        return f"预警未{label}：未找到预警“{order.subject_id}”"
    mark = f"指令 {order.order_id}）"
    if any(mark in str(h.get("reason", "")) for h in alert.history):
        return ""
    return f"预警未{label}：预警当前状态为“{STATUS_LABELS[alert.status]}”"


@dataclass(frozen=True, slots=True)
class _Incoming:
    order: Order
    origin_seq: int


class CountyOrderApplier:
    """``order`` records received by the county ``division`` (see the module docstring). ``repositories`` gives
    the county's repositories inside the receiving transaction (by default the SQL ones over its connection)."""

    def __init__(
        self,
        division: str,
        clock: Clock,
        *,
        repositories: Callable[[Connection], CountyRepositories] | None = None,
    ) -> None:
        self.division = division
        self._clock = clock
        self._repositories = repositories or (lambda conn: SqlCountyRepositories(division, conn))

    def prepare(self, origin: str, record: Record, payload: Any) -> _Incoming | None:
        if isinstance(payload, dict) and payload.get("county") != self.division:
            return None  # addressed to another county: not ours, not poison
        try:
            ancestor = level_of(origin) is not DivisionLevel.COUNTY and self.division.startswith(scope_prefix(origin))
        except ValidationError:
            ancestor = False
        if not ancestor:
            raise RecordRejected(
                f"督办指令只能由本县（{self.division}）的上级市级或省级节点下发，不能由 {origin} 发送",
                record_id=record.record_id,
                origin=origin,
            )
        return _Incoming(check_order(origin, record, payload), record.origin_seq)

    def apply(self, conn: Connection, origin: str, items: Sequence[Prepared[_Incoming | None]]) -> Sequence[Rejection]:
        latest: dict[str, _Incoming] = {}
        for item in items:  # in seq order: the last snapshot of an order in the batch is its newest
            if item.value is not None:
                latest[item.value.order.order_id] = item.value
        if not latest:
            return []
        uow = self._repositories(conn)
        # this county's own records may be written below: its writer lock first, before any order row is locked,
        # in the order every county writer takes them (answering an order locks the writer lock, then the order)
        uow.lock()
        stored = uow.orders.order_seqs(list(latest))
        fresh = [i for key, i in latest.items() if key not in stored or (stored[key][0] or 0) < i.origin_seq]
        uow.orders.upsert_orders([(i.order, i.origin_seq) for i in fresh])
        arriving = [i.order for i in fresh if i.order.order_id not in stored and i.order.status == OrderStatus.ISSUED]
        if not arriving:
            return []
        held = uow.orders.reply_seqs([o.order_id for o in arriving])
        now = self._clock()
        for order in arriving:
            if order.order_id in held:  # signed for already (the order was stored anew after a repair)
                continue
            if order.subject_kind == OrderSubject.ALERT:
                _act_on_alert(uow, order, now)
            # no reply: the order waits for a person's 签收 (CountyOrders.receive)
            log.info("order.arrived", order_id=order.order_id, issuer=order.issuer, kind=order.kind.value)
        return []


class CountyOrders:
    """The orders of one county node (``units.division``): list, show, answer (办复)."""

    def __init__(self, units: CountyUnits, clock: Clock) -> None:
        self._units = units
        self.division = units.division
        self._now = clock

    def applier(self) -> CountyOrderApplier:
        return CountyOrderApplier(self.division, self._now, repositories=self._units.joining)

    def list(
        self, *, status: str | None = None, reply: str | None = None, page: int = 1, page_size: int = 20
    ) -> OrderPageView:
        offset = page_offset(page, page_size)
        flt = OrderFilter(county=self.division, status=status, reply=reply)
        flt.check()
        with self._units(readonly=True) as uow:
            items, total = uow.orders.page(flt, offset=offset, limit=page_size)
        return order_page_view(items, total, page, page_size, self._now())

    def get(self, order_id: str) -> OrderView:
        with self._units(readonly=True) as uow:
            order = uow.orders.order(order_id)
            reply = uow.orders.reply(order_id, self.division)
        return order_view(order, reply, self._now())

    def receive(self, order_id: str, *, by: str) -> OrderView:
        """签收: ``by`` (a person of this county) signs for an order that arrived and still stands; once."""
        with self._units() as uow:
            uow.lock()
            order = uow.orders.order(order_id, for_update=True)
            if order.county != self.division:
                raise NotFound(f"未找到督办指令“{order_id}”", order_id=order_id)
            reply = uow.orders.reply(order_id, self.division, for_update=True)
            now = self._now()
            if reply is not None:
                raise InvalidTransition(
                    f"指令 {order_id} 已于 {reply.received_at.isoformat()} 签收，不能重复签收", order_id=order_id
                )
            reply = receive_order(order, by=by, now=now, note=_alert_note(uow, order))
            uow.orders.save_reply(reply, now, new=True)
            uow.commit()
        log.info("order.received", order_id=order_id, by=by)
        return order_view(order, reply, now)

    def answer(self, order_id: str, *, by: str, answer: str, acknowledge: bool = False) -> OrderView:
        """办复: answer an order this county received (an order not yet signed for is signed for by ``by`` in the
        same transaction); with ``acknowledge``, also sign for (签收) its alert when nobody has yet. A typed
        error, and nothing written, when the order cannot be answered."""
        with self._units() as uow:
            uow.lock()
            order = uow.orders.order(order_id, for_update=True)
            if order.county != self.division:
                raise NotFound(f"未找到督办指令“{order_id}”", order_id=order_id)
            reply = uow.orders.reply(order_id, self.division, for_update=True)
            now = self._now()
            new = reply is None
            if reply is None:
                reply = receive_order(order, by=by, now=now, note=_alert_note(uow, order))
            after = answer_reply(reply, order, by=by, answer=answer, now=now)
            if acknowledge and order.subject_kind == OrderSubject.ALERT:
                alert = uow.alerts.get(order.subject_id, for_update=True)
                if alert.active and alert.acknowledged_at is None:
                    acked = alert.act(
                        AlertAction.ACKNOWLEDGE, actor=after.answered_by or by, at=max(now, alert.updated_at)
                    )
                    uow.alerts.update([acked], now)
            uow.orders.save_reply(after, now, new=new)
            uow.commit()
        log.info("order.answered", order_id=order_id, by=after.answered_by)
        return order_view(order, after, now)
