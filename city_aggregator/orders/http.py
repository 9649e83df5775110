"""The order routes (督办 / 催办) of the inspectors' HTTP API at a city or the province.

:func:`orders_router` takes its context — engine, node (the issuer), clock, scope — from an
:class:`~city_aggregator.orders.service.OrdersContext`, or from a zero-argument callable returning one. Every route
needs a logged-in person (:mod:`security.http`): reading ``order.read``, issuing, withdrawing and closing
``order.issue``. Each request is narrowed to the subtree of the person's division (an inspector of 371100 at the
province acts on 3711xx only: an order on a county outside it is refused with 403, orders outside it are not
seen), and the issuer or actor recorded is the person's label, 姓名（岗位，账号）— never a text the request sends.
The inspectors' app mounts it under ``/api/v1`` and renders the Sunshine errors it raises
(:mod:`federation.http_errors`); :func:`create_orders_app` is a complete app around the router alone.

========  ==============================  =========================================================
POST      /orders                         下发 — 201 and the order (with ``Location``)
GET       /orders                         orders within the scope with the counties' replies, paged
GET       /orders/{order_id}              one order with its reply and both histories
POST      /orders/{order_id}/withdraw     撤回 an order this node issued
POST      /orders/{order_id}/close        办结 an order this node issued
========  ==============================  =========================================================
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from city_aggregator.orders.service import OrderDesk, OrdersContext, issuing, narrowed
from county_node.supervision.adapters.orders_views import OrderPageView, OrderView
from federation.http_errors import ErrorView, install_error_handlers
from federation.http_params import PageQuery, PageSizeQuery
from security.access import Permission, Principal
from security.accounts import Accounts
from security.http import HttpAuth, Who

__all__ = [
    "CloseOrderBody",
    "IssueOrderBody",
    "WithdrawOrderBody",
    "create_orders_app",
    "narrowed",
    "orders_router",
]

_TAG = "督办指令"
_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorView, "description": "未登录或登录已失效"},
    403: {"model": ErrorView, "description": "当前账号无此权限，或对象不在账号的辖区内"},
    404: {"model": ErrorView, "description": "预警、办件或指令不存在（或不在查看范围内）"},
    409: {"model": ErrorView, "description": "预警已关闭，或指令已撤回、已办结，或不是本节点下发的"},
    422: {"model": ErrorView, "description": "请求参数不正确"},
}


class IssueOrderBody(BaseModel):
    """下发一条催办或督办指令：对象为本节点掌握的预警（或办件），随同步下发到所属县；下发人为当前登录账号。"""

    model_config = ConfigDict(extra="forbid")

    kind: str = Field(description="指令类型：urge 催办、supervise 督办", examples=["supervise"])
    subject_kind: str = Field(default="alert", description="对象类型：alert 预警、case 办件", examples=["alert"])
    subject_id: str = Field(description="预警编号或办件编号", examples=["371122-A000000001"])
    reason: str = Field(description="原因与要求", examples=["超期未办结，请三个工作日内办结并书面说明"])
    reply_limit_days: int | None = Field(default=None, description="办复时限（工作日，可选，0–60）", examples=[3])


class WithdrawOrderBody(BaseModel):
    """撤回本节点下发的一条指令（操作人为当前登录账号）。"""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(description="撤回原因", examples=["预警已由县里说明，属系统误报"])


class CloseOrderBody(BaseModel):
    """办结本节点下发的一条指令（对县里的办复满意；操作人为当前登录账号）。"""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="", description="办结意见（可选）")


ContextSource = OrdersContext | Callable[[], OrdersContext]


def orders_router(context: ContextSource, *, prefix: str = "/api/v1") -> APIRouter:
    """The order routes over ``context`` (an :class:`OrdersContext`, or a callable giving one per request),
    each request narrowed to the logged-in person's subtree (:func:`narrowed`)."""
    router = APIRouter(prefix=prefix, responses=_RESPONSES, tags=[_TAG])

    def desk(who: Principal) -> OrderDesk:
        return OrderDesk(narrowed(context if isinstance(context, OrdersContext) else context(), who))

    def issuing_desk(who: Principal) -> OrderDesk:
        return OrderDesk(issuing(context if isinstance(context, OrdersContext) else context(), who))

    @router.post("/orders", summary="下发督办指令", status_code=201, response_model=OrderView)
    def issue(
        body: IssueOrderBody, response: Response, who: Annotated[Principal, Who(Permission.ORDER_ISSUE)]
    ) -> OrderView:
        """对本节点掌握、且在账号辖区内的预警（或办件）下发催办、督办指令；已关闭的预警不能督办。下发人为当前登录账号。"""
        view = issuing_desk(who).issue(
            subject_kind=body.subject_kind,
            subject_id=body.subject_id,
            kind=body.kind,
            reason=body.reason,
            issued_by=who.actor(Permission.ORDER_ISSUE).label,
            reply_limit_days=body.reply_limit_days,
        )
        response.headers["Location"] = f"{prefix}/orders/{view['order_id']}"
        return view

    @router.get("/orders", summary="督办指令列表", response_model=OrderPageView)
    def list_orders(
        who: Annotated[Principal, Who(Permission.ORDER_READ)],
        *,
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
        """账号辖区内的指令（最新下发的在前），附所属县的签收、办复（谁、何时、内容）。"""
        return desk(who).list(
            county=county,
            issuer=issuer,
            status=status,
            reply=reply,
            subject_id=subject_id,
            page=page,
            page_size=page_size,
        )

    @router.get("/orders/{order_id}", summary="督办指令详情", response_model=OrderView)
    def get_order(
        order_id: Annotated[str, Path(description="指令编号")], who: Annotated[Principal, Who(Permission.ORDER_READ)]
    ) -> OrderView:
        """一条指令：原因、办复时限、所属县的签收与办复，以及全部处理记录。"""
        return desk(who).get(order_id)

    @router.post("/orders/{order_id}/withdraw", summary="撤回督办指令", response_model=OrderView)
    def withdraw(
        order_id: Annotated[str, Path(description="指令编号")],
        body: WithdrawOrderBody,
        who: Annotated[Principal, Who(Permission.ORDER_ISSUE)],
    ) -> OrderView:
        """撤回本节点下发、尚未办结的指令；撤回随同步通知所属县。操作人为当前登录账号。"""
        return issuing_desk(who).withdraw(order_id, actor=who.actor(Permission.ORDER_ISSUE).label, reason=body.reason)

    @router.post("/orders/{order_id}/close", summary="办结督办指令", response_model=OrderView)
    def close(
        order_id: Annotated[str, Path(description="指令编号")],
        body: CloseOrderBody,
        who: Annotated[Principal, Who(Permission.ORDER_ISSUE)],
    ) -> OrderView:
        """办结本节点下发的指令。操作人为当前登录账号。"""
        return issuing_desk(who).close(order_id, actor=who.actor(Permission.ORDER_ISSUE).label, reason=body.reason)

    return router


def create_orders_app(context: ContextSource, accounts: Accounts) -> FastAPI:
    """A FastAPI app serving :func:`orders_router` alone, with login over ``accounts`` and the Sunshine error
    rendering."""
    app = FastAPI(title="Sunshine 督办指令接口", version="1.0.0", docs_url="/docs", redoc_url=None)
    install_error_handlers(app)
    HttpAuth(accounts).install(app)
    app.include_router(orders_router(context))
    return app
