"""The order routes (督办 / 催办) of the inspectors' HTTP API at a city or the province.

:func:`orders_router` takes its context — engine, node (the issuer), clock, scope — from an
:class:`~city_aggregator.orders.service.OrdersContext`, or from a zero-argument callable returning one (e.g. per
request, once the caller's scope comes from its credentials). The inspectors' app mounts it under ``/api/v1``
and renders the Sunshine errors it raises (:mod:`federation.http_errors`);
:func:`create_orders_app` is a complete app around the router alone.

========  ==============================  =========================================================
POST      /orders                         下发 — 201 and the order (with ``Location``)
GET       /orders                         orders within the scope with the counties' replies, paged
GET       /orders/{order_id}              one order with its reply and both histories
POST      /orders/{order_id}/withdraw     撤回 an order this node issued
POST      /orders/{order_id}/close        办结 an order this node issued
========  ==============================  =========================================================
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from city_aggregator.orders.service import OrderDesk, OrdersContext
from county_node.supervision.adapters.orders_views import OrderPageView, OrderView
from federation.http_errors import ErrorView, install_error_handlers
from federation.http_params import PageQuery, PageSizeQuery

__all__ = ["CloseOrderBody", "IssueOrderBody", "WithdrawOrderBody", "create_orders_app", "orders_router"]

_TAG = "督办指令"
_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorView, "description": "预警、办件或指令不存在（或不在查看范围内）"},
    409: {"model": ErrorView, "description": "预警已关闭，或指令已撤回、已办结，或不是本节点下发的"},
    403: {"model": ErrorView, "description": "对象不在调用者的监察范围内"},
    422: {"model": ErrorView, "description": "请求参数不正确"},
}


class IssueOrderBody(BaseModel):
    """下发一条催办或督办指令：对象为本节点掌握的预警（或办件），随同步下发到所属县。"""

    model_config = ConfigDict(extra="forbid")

    kind: str = Field(description="指令类型：urge 催办、supervise 督办", examples=["supervise"])
    subject_kind: str = Field(default="alert", description="对象类型：alert 预警、case 办件", examples=["alert"])
    subject_id: str = Field(description="预警编号或办件编号", examples=["371122-A000000001"])
    reason: str = Field(description="原因与要求", examples=["超期未办结，请三个工作日内办结并书面说明"])
    issued_by: str = Field(description="下发人（姓名或岗位）", examples=["市监察室 王处长"])
    reply_limit_days: int | None = Field(default=None, description="办复时限（工作日，可选，0–60）", examples=[3])


class WithdrawOrderBody(BaseModel):
    """撤回本节点下发的一条指令。"""

    model_config = ConfigDict(extra="forbid")

    actor: str = Field(description="操作人", examples=["市监察室 王处长"])
    reason: str = Field(description="撤回原因", examples=["预警已由县里说明，属系统误报"])


class CloseOrderBody(BaseModel):
    """办结本节点下发的一条指令（对县里的办复满意）。"""

    model_config = ConfigDict(extra="forbid")

    actor: str = Field(description="操作人", examples=["市监察室 王处长"])
    reason: str = Field(default="", description="办结意见（可选）")


ContextSource = OrdersContext | Callable[[], OrdersContext]


def orders_router(
    context: ContextSource, *, prefix: str = "/api/v1", scope: Callable[..., str] | None = None
) -> APIRouter:
    """The order routes over ``context`` (an :class:`OrdersContext`, or a callable giving one per request).

    ``scope`` (optional) is a FastAPI dependency giving the request's division prefix (the inspectors' app passes
    the scope of the caller's ``X-Sunshine-Division``); it narrows the context's scope for that request."""
    router = APIRouter(prefix=prefix, responses=_RESPONSES, tags=[_TAG])

    def base() -> OrdersContext:
        return context if isinstance(context, OrdersContext) else context()

    if scope is None:

        def desk() -> OrderDesk:
            return OrderDesk(base())

    else:

        def desk(request_prefix: str = Depends(scope)) -> OrderDesk:  # type: ignore[misc]
            return OrderDesk(dataclasses.replace(base(), scope=request_prefix))

    # (``from __future__ import annotations`` makes annotations strings FastAPI resolves in the module's globals,
    # so the per-router dependency is a default, not an ``Annotated`` alias local to this function)
    per_request = Depends(desk)

    @router.post("/orders", summary="下发督办指令", status_code=201, response_model=OrderView)
    def issue(body: IssueOrderBody, response: Response, d: OrderDesk = per_request) -> OrderView:
        """对本节点掌握、且在查看范围内的预警（或办件）下发催办、督办指令；已关闭的预警不能督办。"""
        view = d.issue(
            subject_kind=body.subject_kind,
            subject_id=body.subject_id,
            kind=body.kind,
            reason=body.reason,
            issued_by=body.issued_by,
            reply_limit_days=body.reply_limit_days,
        )
        response.headers["Location"] = f"{prefix}/orders/{view['order_id']}"
        return view

    @router.get("/orders", summary="督办指令列表", response_model=OrderPageView)
    def list_orders(
        *,
        d: OrderDesk = per_request,
        county: Annotated[str | None, Query(description="按县（区划代码）筛选")] = None,
        issuer: Annotated[str | None, Query(description="按下发机关（区划代码）筛选")] = None,
        status: Annotated[
            Literal["issued", "withdrawn", "closed"] | None,
            Query(description="按指令状态：issued 已下发、withdrawn 已撤回、closed 已办结"),
        ] = None,
        reply: Annotated[
            Literal["pending", "received", "answered"] | None,
            Query(description="按办复状态：pending 待签收、received 已签收、answered 已办复"),
        ] = None,
        subject_id: Annotated[str | None, Query(description="按预警或办件编号筛选")] = None,
        page: PageQuery = 1,
        page_size: PageSizeQuery = 20,
    ) -> OrderPageView:
        """查看范围内的指令（最新下发的在前），附所属县的签收、办复（谁、何时、内容）。"""
        return d.list(
            county=county,
            issuer=issuer,
            status=status,
            reply=reply,
            subject_id=subject_id,
            page=page,
            page_size=page_size,
        )

    @router.get("/orders/{order_id}", summary="督办指令详情", response_model=OrderView)
    def get_order(order_id: Annotated[str, Path(description="指令编号")], d: OrderDesk = per_request) -> OrderView:
        """一条指令：原因、办复时限、所属县的签收与办复，以及全部处理记录。"""
        return d.get(order_id)

    @router.post("/orders/{order_id}/withdraw", summary="撤回督办指令", response_model=OrderView)
    def withdraw(
        order_id: Annotated[str, Path(description="指令编号")], body: WithdrawOrderBody, d: OrderDesk = per_request
    ) -> OrderView:
        """撤回本节点下发、尚未办结的指令；撤回随同步通知所属县。"""
        return d.withdraw(order_id, actor=body.actor, reason=body.reason)

    @router.post("/orders/{order_id}/close", summary="办结督办指令", response_model=OrderView)
    def close(
        order_id: Annotated[str, Path(description="指令编号")], body: CloseOrderBody, d: OrderDesk = per_request
    ) -> OrderView:
        """办结本节点下发的指令。"""
        return d.close(order_id, actor=body.actor, reason=body.reason)

    return router


def create_orders_app(context: ContextSource) -> FastAPI:
    """A FastAPI app serving :func:`orders_router` alone, with the Sunshine error rendering."""
    app = FastAPI(title="Sunshine 督办指令接口", version="1.0.0", docs_url="/docs", redoc_url=None)
    install_error_handlers(app)
    app.include_router(orders_router(context))
    return app
