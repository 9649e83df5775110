"""Issuing orders (督办 / 催办) at a city or the province, and following the counties' handling of them.

:class:`OrderDesk` works on an :class:`OrdersContext` — the node's engine, its division (the issuer), its clock
and the division prefix the caller may see (``scope``; by default the node's whole subtree). An order is issued
on an alert or a case this node holds a replica of, inside the scope; it is written with its ``order`` outbox
record in one transaction under the node's writer lock, with an id gap-free per issuer
(``{issuer}-OD{n:08d}``), and flows down to the county. Refused with a typed error, writing nothing: an unknown
alert or case, one outside the scope, a closed alert, an unknown kind, an empty reason or issuer, a reply limit
out of range. The reply limit (working days) is counted on the working calendar in force on this node.

Withdrawing (撤回) or closing (办结) an order is a new snapshot of it, by its issuer only. Lists and details show
each order with the reply of the county it names (待签收 · 已签收 · 已办复, who, when and what).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import Engine, select

from county_node.supervision.adapters.orders_store import OrderFilter, OrderStore
from county_node.supervision.adapters.orders_views import OrderPageView, OrderView, order_page_view, order_view
from county_node.supervision.domain.orders import (
    KIND_LABELS,
    Order,
    OrderSubject,
    close_order,
    new_order,
    parse_kind,
    parse_subject_kind,
    reply_days,
    withdraw_order,
)
from federation.clock import ClockSpec, compute_deadline
from federation.errors import (
    AlertNotFound,
    CaseNotFound,
    Conflict,
    Forbidden,
    InvalidTransition,
    NotFound,
    StandardsNotLoaded,
    ValidationError,
)
from federation.identities import DivisionLevel, level_of, scope_prefix
from federation.paging import page_offset
from federation.storage import outbox
from federation.storage.standards_store import current_bundle, load_calendar
from federation.storage.tables import alerts, cases
from federation.storage.uow import UnitOfWork
from federation.timeutil import utcnow
from security.access import Principal

__all__ = ["OrderDesk", "OrdersContext"]

log = structlog.get_logger(__name__)

Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class OrdersContext:
    """Where orders are issued and read: the node's ``engine``, its division ``node`` (a city or the province —
    the issuer), its ``clock``, and the division prefix ``scope`` the caller may see and act on (``""``: the
    node's whole subtree; a province inspector may be narrowed to one city, ``"3711"``)."""

    engine: Engine
    node: str
    clock: Clock = utcnow
    scope: str = ""
    prefix: str = field(init=False)

    def __post_init__(self) -> None:
        if level_of(self.node) is DivisionLevel.COUNTY:
            raise ValidationError(f"督办指令由市级或省级节点下发，{self.node} 是县级区划", node=self.node)
        own = scope_prefix(self.node)
        scope = self.scope or own
        if not scope.isdigit() or not scope.startswith(own):
            raise ValidationError(f"查看范围“{self.scope}”不在本节点 {self.node} 的辖区内", scope=self.scope)
        object.__setattr__(self, "prefix", scope)


def narrowed(context: OrdersContext, who: Principal) -> OrdersContext:
    """``context`` narrowed to the subtree of ``who``'s division: a person of a division below the context's
    scope sees only their own subtree; one of the scope's division or above it, the whole scope; anyone else
    nothing (Forbidden)."""
    mine = who.prefix
    if mine.startswith(context.prefix):
        return dataclasses.replace(context, scope=mine)
    if context.prefix.startswith(mine):
        return context
    raise Forbidden(f"无权访问本账号辖区（{who.division}）以外的督办指令", division=who.division)


def issuing(context: OrdersContext, who: Principal) -> OrdersContext:
    """:func:`narrowed`, for issuing, withdrawing and closing: orders are the node's (市级督办 / 省级督办), done
    only by a person of the node's own division — a city's inspector logged in at the province reads its city
    there, no more."""
    if who.division != context.node:
        raise Forbidden(f"本节点（{context.node}）的督办指令只能由本级人员下发、撤回或办结", division=who.division)
    return narrowed(context, who)


class OrderDesk:
    """The orders of one city or province node, seen within a scope."""

    def __init__(self, context: OrdersContext) -> None:
        self.ctx = context

    def now(self) -> datetime:
        return self.ctx.clock()

    def _in_scope(self, county: str, what: str) -> None:
        """Forbidden (403) outside the caller's scope — the same answer whether the record exists or not."""
        if not county.startswith(self.ctx.prefix):
            raise Forbidden(
                f"无权对{what}下发指令：它不在您的监察范围（区划代码以 {self.ctx.prefix} 开头）内", county=county
            )

    # -- issuing ------------------------------------------------------------------------------------------------
    def issue(
        self,
        *,
        subject_id: str,
        kind: Any,
        reason: Any,
        issued_by: Any,
        subject_kind: Any = OrderSubject.ALERT,
        reply_limit_days: Any = None,
    ) -> OrderView:
        """下发 a 催办 (urge) or 督办 (supervise) order on an alert or a case held here; see the module docstring."""
        k = parse_kind(kind)
        subject = parse_subject_kind(subject_kind)
        days = reply_days(reply_limit_days)
        ctx = self.ctx
        # an alert id and a case number both begin with their county's code: a subject outside the caller's scope
        # is refused before it is looked up, so the answer says nothing of whether it exists
        self._in_scope(subject_id[:6], f"“{subject_id}”")
        with UnitOfWork(ctx.engine) as uow:
            conn = uow.conn
            outbox.lock_origin(conn, ctx.node)
            if subject is OrderSubject.ALERT:
                found = conn.execute(
                    select(alerts.c.origin, alerts.c.case_no, alerts.c.status).where(alerts.c.alert_id == subject_id)
                ).first()
                if found is None:
                    raise AlertNotFound(f"未找到预警“{subject_id}”（本节点未收到该预警）", alert_id=subject_id)
                county, case_no = found.origin, found.case_no
                self._in_scope(county, f"预警“{subject_id}”")
                if found.status == "closed":
                    raise InvalidTransition(
                        f"预警 {subject_id} 已关闭，不能{KIND_LABELS[k]}", alert_id=subject_id, status=found.status
                    )
            else:
                found = conn.execute(select(cases.c.origin).where(cases.c.case_no == subject_id)).first()
                if found is None:
                    raise CaseNotFound(f"未找到办件“{subject_id}”（本节点未收到该办件）", case_no=subject_id)
                county, case_no = found.origin, subject_id
                self._in_scope(county, f"办件“{subject_id}”")
            now = self.now()
            due = None
            if days is not None:
                if current_bundle(conn) is None:
                    raise StandardsNotLoaded("本节点尚未加载标准包（工作日历），不能计算办复时限")
                due = compute_deadline(load_calendar(conn), ClockSpec(now, days)).due_at
            store = OrderStore(conn, ctx.node)
            order = new_order(
                order_id=store.new_order_id(),
                issuer=ctx.node,
                county=county,
                kind=k,
                subject_kind=subject,
                subject_id=subject_id,
                case_no=case_no,
                reason=reason,
                issued_by=issued_by,
                reply_due_at=due,
                now=now,
            )
            store.save_order(order, now, new=True)
            uow.commit()
        log.info("order.issued", order_id=order.order_id, county=county, kind=k.value, subject=subject_id)
        return order_view(order, None, now)

    def _end(self, order_id: str, change: Callable[[Order, datetime], Order], label: str) -> OrderView:
        ctx = self.ctx
        with UnitOfWork(ctx.engine) as uow:
            outbox.lock_origin(uow.conn, ctx.node)
            store = OrderStore(uow.conn, ctx.node)
            order = self._visible(store, order_id, for_update=True)
            if order.issuer != ctx.node:
                raise Conflict(f"指令 {order_id} 由 {order.issuer} 下发，只有下发机关可以{label}", order_id=order_id)
            now = self.now()
            after = change(order, now)
            store.save_order(after, now, new=False)
            reply = store.reply(order_id, after.county)
            uow.commit()
        log.info("order.ended", order_id=order_id, status=after.status.value)
        return order_view(after, reply, now)

    def withdraw(self, order_id: str, *, actor: Any, reason: Any) -> OrderView:
        """撤回 an order this node issued (a reason is required)."""
        return self._end(order_id, lambda o, now: withdraw_order(o, actor=actor, reason=reason, now=now), "撤回")

    def close(self, order_id: str, *, actor: Any, reason: Any = "") -> OrderView:
        """办结 an order this node issued."""
        return self._end(order_id, lambda o, now: close_order(o, actor=actor, reason=reason, now=now), "办结")

    # -- reading ------------------------------------------------------------------------------------------------
    def _visible(self, store: OrderStore, order_id: str, *, for_update: bool = False) -> Order:
        order = store.order(order_id, for_update=for_update)
        if not order.county.startswith(self.ctx.prefix):  # held here, but not the caller's to see
            raise NotFound(f"未找到督办指令“{order_id}”", order_id=order_id)
        return order

    def get(self, order_id: str) -> OrderView:
        with UnitOfWork(self.ctx.engine, readonly=True) as uow:
            store = OrderStore(uow.conn, self.ctx.node)
            order = self._visible(store, order_id)
            reply = store.reply(order_id, order.county)
        return order_view(order, reply, self.now())

    def list(
        self,
        *,
        county: str | None = None,
        issuer: str | None = None,
        status: str | None = None,
        reply: str | None = None,
        subject_id: str | None = None,
        page: int = 1,
        page_size: int = 20,
    ) -> OrderPageView:
        """Orders held here (issued by this node, and by the nodes above or below it) within the scope, newest
        first, each with its county's reply; ``reply`` = pending | received | answered."""
        offset = page_offset(page, page_size)
        flt = OrderFilter(
            scope=self.ctx.prefix, county=county, issuer=issuer, status=status, reply=reply, subject_id=subject_id
        )
        flt.check()
        with UnitOfWork(self.ctx.engine, readonly=True) as uow:
            items, total = OrderStore(uow.conn, self.ctx.node).page(flt, offset=offset, limit=page_size)
        return order_page_view(items, total, page, page_size, self.now())
