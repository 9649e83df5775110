"""督办 / 催办 on the pages — issuing an order on an alert (``POST /inspect/alerts/{alert_id}/orders``), the orders
with the counties' 签收 and 办复 as they arrive (``/inspect/orders``, ``/inspect/orders/{order_id}``), withdrawing
and closing one. The writes are :class:`~city_aggregator.orders.service.OrderDesk`'s, exactly as the JSON API
calls them (issuer: the node; actor: the logged-in person's label), each followed by a 303 to the order's page."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from city_aggregator.inspection.context import InspectionContext
from city_aggregator.inspection.pages_kit import counties_of, query_string, render, see_other
from city_aggregator.orders.service import OrderDesk, OrdersContext, issuing, narrowed
from federation.errors import ValidationError
from federation.http_params import PageQuery
from security.access import Permission, Principal
from security.http import Who

__all__ = ["orders_pages_router"]

_Reader = Annotated[Principal, Who(Permission.ORDER_READ)]
_Issuer = Annotated[Principal, Who(Permission.ORDER_ISSUE)]
_OrderId = Annotated[str, Path(max_length=40)]
PAGE_SIZE = 20

STATUS_OPTIONS = (("issued", "已下发"), ("withdrawn", "已撤回"), ("closed", "已办结"))
REPLY_OPTIONS = (("pending", "待签收"), ("received", "已签收"), ("answered", "已办复"))


def _days(text: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    if not text.isdigit():
        raise ValidationError("办复时限应为 0–60 之间的整数（工作日）", field="reply_limit_days")
    return int(text)


def orders_pages_router(ctx: InspectionContext) -> APIRouter:
    router = APIRouter()
    base = OrdersContext(ctx.engine, ctx.division, ctx.clock)

    def reading(who: Principal) -> OrderDesk:
        return OrderDesk(narrowed(base, who))

    def acting(who: Principal) -> OrderDesk:
        return OrderDesk(issuing(base, who))

    @router.post("/alerts/{alert_id}/orders")
    def issue(
        who: _Issuer,
        alert_id: Annotated[str, Path(max_length=40)],
        kind: Annotated[str, Form()],
        reason: Annotated[str, Form()] = "",
        reply_limit_days: Annotated[str, Form()] = "",
    ) -> RedirectResponse:
        view = acting(who).issue(
            subject_kind="alert",
            subject_id=alert_id,
            kind=kind,
            reason=reason,
            issued_by=who.actor(Permission.ORDER_ISSUE).label,
            reply_limit_days=_days(reply_limit_days),
        )
        return see_other(f"/inspect/orders/{view['order_id']}")

    @router.get("/orders")
    def order_list(
        request: Request,
        who: _Reader,
        *,
        county: Annotated[str | None, Query()] = None,
        status: Annotated[Literal["issued", "withdrawn", "closed", ""] | None, Query()] = None,
        reply: Annotated[Literal["pending", "received", "answered", ""] | None, Query()] = None,
        page: PageQuery = 1,
    ) -> HTMLResponse:
        county, status, reply = county or None, status or None, reply or None
        view = reading(who).list(county=county, status=status, reply=reply, page=page, page_size=PAGE_SIZE)
        scope = ctx.scope(who.division)
        counties = counties_of(ctx, scope)
        return render(
            request,
            "inspect/orders.html",
            who,
            view=view,
            counties=counties,
            names=dict(counties),
            statuses=STATUS_OPTIONS,
            replies=REPLY_OPTIONS,
            county=county,
            chosen_status=status,
            reply=reply,
            has_next=page * PAGE_SIZE < view["total"],
            base="/inspect/orders" + query_string({"county": county, "status": status, "reply": reply}),
        )

    @router.get("/orders/{order_id}")
    def order_detail(request: Request, who: _Reader, order_id: _OrderId) -> HTMLResponse:
        view = reading(who).get(order_id)
        can_end = (
            Permission.ORDER_ISSUE in who.permissions
            and who.division == ctx.division
            and view["issuer"] == ctx.division
            and view["status"] == "issued"
        )
        return render(
            request,
            "inspect/order.html",
            who,
            o=view,
            can_end=can_end,
            county_name=ctx.service.name_of(view["county"]),
        )

    @router.post("/orders/{order_id}/withdraw")
    def withdraw(who: _Issuer, order_id: _OrderId, reason: Annotated[str, Form()] = "") -> RedirectResponse:
        acting(who).withdraw(order_id, actor=who.actor(Permission.ORDER_ISSUE).label, reason=reason)
        return see_other(f"/inspect/orders/{order_id}")

    @router.post("/orders/{order_id}/close")
    def close(who: _Issuer, order_id: _OrderId, reason: Annotated[str, Form()] = "") -> RedirectResponse:
        acting(who).close(order_id, actor=who.actor(Permission.ORDER_ISSUE).label, reason=reason)
        return see_other(f"/inspect/orders/{order_id}")

    return router
