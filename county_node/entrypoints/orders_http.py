"""The order routes (督办 / 催办) of the county HTTP API, built by :func:`orders_router` around a node.

Included by :func:`county_node.entrypoints.http.create_app` under ``/api/v1``; errors are rendered there
(:mod:`federation.http_errors`).

========  ==============================  =========================================================
GET       /orders                         the orders this county received (status, reply status), paged
GET       /orders/{order_id}              one order with its reply (签收, 办复) and both histories
POST      /orders/{order_id}/receive      签收 — by the logged-in person (an arriving order waits for it)
POST      /orders/{order_id}/answer       办复 — signing for the order first if nobody has; optionally
                                          acknowledging (签收) the order's alert
========  ==============================  =========================================================

Reading needs ``order.read``; 签收 and 办复 need ``order.answer``, and their actor is the logged-in person.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from county_node.bootstrap import CountyNode
from county_node.supervision.adapters.orders_views import OrderPageView, OrderView
from federation.http_errors import ErrorView
from federation.http_params import PageQuery, PageSizeQuery
from security.access import Permission, Principal
from security.http import Who

__all__ = ["AnswerOrderBody", "orders_router"]

_TAG = "电子监察 · 督办指令"
_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorView, "description": "指令或预警不存在"},
    409: {"model": ErrorView, "description": "指令已办复、已撤回或已办结"},
}


class AnswerOrderBody(BaseModel):
    """办复一条本县收到的督办、催办指令（尚未签收的同时签收）；办复人为当前登录账号，答复随同步上报下发机关。"""

    model_config = ConfigDict(extra="forbid")

    answer: str = Field(description="办复内容：办理情况、整改措施", examples=["已于当日办结，并约谈经办人"])
    acknowledge: bool = Field(default=False, description="同时签收指令所涉的预警（尚未签收时）")


def orders_router(node: CountyNode, *, prefix: str) -> APIRouter:
    """The order routes of ``node`` under ``prefix`` (``/api/v1``)."""
    router = APIRouter(prefix=prefix, responses=_RESPONSES, tags=[_TAG])
    service = node.orders

    @router.get("/orders", summary="督办指令列表", response_model=OrderPageView)
    def list_orders(
        _: Annotated[Principal, Who(Permission.ORDER_READ)],
        *,
        status: Annotated[
            Literal["issued", "withdrawn", "closed"] | None,
            Query(description="按指令状态筛选：issued 已下发、withdrawn 已撤回、closed 已办结"),
        ] = None,
        reply: Annotated[
            Literal["pending", "received", "answered"] | None,
            Query(description="按办复状态筛选：pending 待签收、received 已签收、answered 已办复"),
        ] = None,
        page: PageQuery = 1,
        page_size: PageSizeQuery = 20,
    ) -> OrderPageView:
        """市、省下发给本县的督办、催办指令（最新下发的在前），附本县的签收与办复。"""
        return service.list(status=status, reply=reply, page=page, page_size=page_size)

    @router.get("/orders/{order_id}", summary="督办指令详情", response_model=OrderView)
    def get_order(
        order_id: Annotated[str, Path(description="指令编号")], _: Annotated[Principal, Who(Permission.ORDER_READ)]
    ) -> OrderView:
        """一条指令：下发机关、下发人、原因、办复时限、签收与办复，以及全部处理记录。"""
        return service.get(order_id)

    @router.post("/orders/{order_id}/receive", summary="签收督办指令", response_model=OrderView)
    def receive_order(
        order_id: Annotated[str, Path(description="指令编号")], who: Annotated[Principal, Who(Permission.ORDER_ANSWER)]
    ) -> OrderView:
        """签收一条到达本县、尚未签收的指令（每条指令签收一次）；签收人为当前登录账号。下发机关已撤回或办结的指令不能签收。"""
        return service.receive(order_id, by=who.actor(Permission.ORDER_ANSWER).label)

    @router.post("/orders/{order_id}/answer", summary="办复督办指令", response_model=OrderView)
    def answer_order(
        order_id: Annotated[str, Path(description="指令编号")],
        body: AnswerOrderBody,
        who: Annotated[Principal, Who(Permission.ORDER_ANSWER)],
    ) -> OrderView:
        """办复一条尚未办复的指令（每条指令办复一次；尚未签收的同时由当前登录账号签收）；下发机关已撤回或办结的指令不能办复。"""
        by = who.actor(Permission.ORDER_ANSWER).label
        return service.answer(order_id, by=by, answer=body.answer, acknowledge=body.acknowledge)

    return router
