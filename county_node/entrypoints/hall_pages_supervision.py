"""The hall's supervision pages: 预警 (the county's alerts, their light and 督办层级; the supervisor's 签收, 催办,
督办, 关闭) and 督办 (orders received from the city and the province: 签收, 办复). See
:mod:`county_node.entrypoints.hall_pages`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from county_node.bootstrap import CountyNode
from county_node.entrypoints.hall_common import form_error, form_of, see_other, web_of
from county_node.entrypoints.supervision_schemas import (
    ALERT_ACTION_DESCRIPTIONS,
    ALERT_LIGHT_LABELS,
    PERSON_ACTION_ORDER,
    alert_view,
)
from county_node.supervision.domain.alerts import ACTION_LABELS, STATUS_LABELS, AlertAction, AlertStatus
from county_node.supervision.domain.alerts import ACTION_LABELS as ALERT_ACTION_LABELS
from county_node.supervision.ports import AlertFilter
from federation.errors import SunshineError, ValidationError
from federation.http_errors import http_status
from security.access import Permission, Principal
from security.http import Who

__all__ = ["supervision_pages_router"]

PAGE_SIZE = 20
_AlertReader = Annotated[Principal, Who(Permission.ALERT_READ)]
_OrderReader = Annotated[Principal, Who(Permission.ORDER_READ)]
_OrderAnswer = Annotated[Principal, Who(Permission.ORDER_ANSWER)]
_REPLY_LABELS = {"pending": "待签收", "received": "已签收", "answered": "已办复"}


def supervision_pages_router(node: CountyNode) -> APIRouter:
    router = APIRouter()
    sup = node.supervision

    # -- 预警 -------------------------------------------------------------------------------------------------
    def alert_list(status: str, light: str, page: int) -> dict[str, Any]:
        if light and light not in ALERT_LIGHT_LABELS:
            raise ValidationError(f"未知的灯色“{light}”", field="light")
        flt = AlertFilter(status=status or None, light=light or None)
        found = sup.list_alerts(flt, page=max(page, 1), page_size=PAGE_SIZE)
        query = "&".join(f"{k}={v}" for k, v in (("status", status), ("light", light)))
        return {
            "alerts": [alert_view(a) for a in found.items],
            "total": found.total,
            "page": found.page,
            "has_next": found.page * found.page_size < found.total,
            "status_filter": status,
            "light_filter": light,
            "query": query,
            "statuses": [("active", "未关闭"), *((s.value, label) for s, label in STATUS_LABELS.items())],
            "lights": list(ALERT_LIGHT_LABELS.items()),
        }

    @router.get("/alerts", summary="预警")
    def alerts(request: Request, who: _AlertReader, status: str = "active", light: str = "", page: int = 1) -> Response:
        return web_of(request).render(request, "hall/alerts.html", who, **alert_list(status, light, page))

    @router.get("/alerts/live", summary="预警（实时刷新）")
    def alerts_live(
        request: Request, who: _AlertReader, status: str = "active", light: str = "", page: int = 1
    ) -> Response:
        return web_of(request).render(request, "hall/_alerts_live.html", who, **alert_list(status, light, page))

    def alert_page(request: Request, who: Principal, alert_id: str, status: int = 200, **extra: Any) -> Response:
        alert = sup.get_alert(alert_id)
        actions = alert.person_actions() if who.has(Permission.ALERT_HANDLE) else ()
        return web_of(request).render(
            request,
            "hall/alert.html",
            who,
            status=status,
            a=alert_view(alert),
            actions=[(act.value, ACTION_LABELS[act], ALERT_ACTION_DESCRIPTIONS[act]) for act in actions],
            closed=alert.status is AlertStatus.CLOSED,
            clips=who.has(Permission.VIDEO_READ),
            **({"error": "", "failed": "", "values": {}} | extra),
        )

    @router.get("/alerts/{alert_id}", summary="预警详情")
    def alert_detail(request: Request, alert_id: str, who: _AlertReader) -> Response:
        return alert_page(request, who, alert_id)

    for action in PERSON_ACTION_ORDER:
        router.add_api_route(
            f"/alerts/{{alert_id}}/{action.value}",
            _alert_action(node, action, alert_page),
            methods=["POST"],
            summary=f"预警操作：{ALERT_ACTION_LABELS[action]}",
        )

    # -- 督办 -------------------------------------------------------------------------------------------------
    def orders_page(
        request: Request, who: Principal, reply: str, page: int, status: int = 200, **extra: Any
    ) -> Response:
        if reply and reply not in _REPLY_LABELS:
            raise ValidationError(f"未知的办复状态“{reply}”", field="reply")
        found = node.orders.list(reply=reply or None, page=max(page, 1), page_size=PAGE_SIZE)
        return web_of(request).render(
            request,
            "hall/orders.html",
            who,
            status=status,
            orders=found["items"],
            total=found["total"],
            page=found["page"],
            has_next=found["page"] * found["page_size"] < found["total"],
            reply=reply,
            replies=list(_REPLY_LABELS.items()),
            can_answer=who.has(Permission.ORDER_ANSWER),
            **({"error": "", "failed": "", "values": {}} | extra),
        )

    @router.get("/orders", summary="督办")
    def orders(request: Request, who: _OrderReader, reply: str = "", page: int = 1) -> Response:
        return orders_page(request, who, reply, page)

    @router.post("/orders/{order_id}/receive", summary="签收督办指令")
    async def receive_order(request: Request, order_id: str, who: _OrderAnswer) -> Response:
        by = who.actor(Permission.ORDER_ANSWER).label
        try:
            await run_in_threadpool(node.orders.receive, order_id, by=by)
        except SunshineError as exc:
            if not form_error(exc):
                raise
            return await run_in_threadpool(
                orders_page, request, who, "", 1, http_status(exc), error=exc.message, failed=order_id
            )
        return see_other(f"/hall/orders#order-{order_id}")

    @router.post("/orders/{order_id}/answer", summary="办复督办指令")
    async def answer_order(request: Request, order_id: str, who: _OrderAnswer) -> Response:
        form = await form_of(request)
        by = who.actor(Permission.ORDER_ANSWER).label
        try:
            answer = str(form.get("answer", "")).strip()
            if not answer:
                raise ValidationError("请填写办复内容：办理情况、整改措施", field="answer")
            acknowledge = form.get("acknowledge") == "1"
            await run_in_threadpool(node.orders.answer, order_id, by=by, answer=answer, acknowledge=acknowledge)
        except SunshineError as exc:
            if not form_error(exc):
                raise
            return await run_in_threadpool(
                orders_page, request, who, "", 1, http_status(exc), error=exc.message, failed=order_id, values=form
            )
        return see_other(f"/hall/orders#order-{order_id}")

    return router


def _alert_action(node: CountyNode, action: AlertAction, alert_page: Any) -> Any:
    """The page route of one person's step on an alert (its rule: alert.handle)."""

    async def endpoint(
        request: Request, alert_id: str, who: Annotated[Principal, Who(Permission.ALERT_HANDLE)]
    ) -> Response:
        form = await form_of(request)
        actor = who.actor(Permission.ALERT_HANDLE).label
        reason = str(form.get("reason", ""))
        try:
            await run_in_threadpool(node.supervision.act, alert_id, action, actor=actor, reason=reason)
        except SunshineError as exc:
            if not form_error(exc):
                raise
            return await run_in_threadpool(
                alert_page,
                request,
                who,
                alert_id,
                http_status(exc),
                error=exc.message,
                failed=action.value,
                values=form,
            )
        return see_other(f"/hall/alerts/{alert_id}")

    endpoint.__name__ = f"hall_alert_{action.value}"
    return endpoint
