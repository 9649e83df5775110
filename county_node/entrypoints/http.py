"""The county node's HTTP JSON API (``/api/v1``), built by :func:`create_app` around a :class:`CountyNode`.

Nothing here connects at import time and nothing is global: the app holds the node it is given. Endpoints are
thin — they call :class:`county_node.approval.services.ApprovalService` and render the JSON views of
:mod:`county_node.entrypoints.views`. Errors are rendered by :mod:`federation.http_errors`.

========  ======================================================  ==========================================
GET       /api/v1/health                                          node, clock ("now") and standards version
GET       /api/v1/catalogue                                       the items of the standards bundle in force
POST      /api/v1/cases                                           申请 — 201 and the case detail (``phone``: the
                                                                  applicant's, for SMS, with an extranet node)
GET       /api/v1/cases                                           filtered, paged list of case summaries
GET       /api/v1/cases/{case_no}                                 case, clocks and timeline
POST      /api/v1/cases/{case_no}/actions/{action}                one lifecycle action (one body model each)
GET       /api/v1/summary                                         counts by status and by light
…         /api/v1/alerts, /complaints, /ratings, /supervision/…   supervision (电子监察), see ``supervision_http``
…         /api/v1/orders                                          orders (督办/催办) received, 办复; ``orders_http``
…         /api/v1/cameras, /video/…, …/clip                       video index (视频索引); ``video_http``
…         /api/v1/intake                                          online applications (网上受理), only with an
                                                                  extranet node; ``intake_http``
========  ======================================================  ==========================================

OpenAPI is served at ``/openapi.json`` and the interactive documentation at ``/docs``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Annotated, Any, cast

import structlog
from fastapi import APIRouter, Depends, FastAPI, Path, Query, Response
from typing_extensions import TypedDict  # pydantic needs this one on Python < 3.12

from county_node.approval.adapters.repository import CaseFilter
from county_node.approval.domain import Action, Status
from county_node.bootstrap import CountyNode
from county_node.entrypoints.exchange_pages import EXCHANGE_NAV, exchange_router
from county_node.entrypoints.hall_pages import hall_nav, hall_router
from county_node.entrypoints.intake_http import intake_router
from county_node.entrypoints.intake_views import AcceptedCaseView
from county_node.entrypoints.orders_http import orders_router
from county_node.entrypoints.permissions import action_permission
from county_node.entrypoints.schemas import ACTION_BODIES, ACTION_DESCRIPTIONS, ActionBody, CreateCaseBody
from county_node.entrypoints.scores_http import scores_router
from county_node.entrypoints.supervision_http import supervision_router
from county_node.entrypoints.video_http import video_router
from county_node.entrypoints.views import (
    CaseDetailView,
    CasePageView,
    ItemView,
    SummaryView,
    case_detail_view,
    case_page_view,
    iso,
    item_view,
    summary_view,
)
from federation.clock import Light
from federation.errors import NotFound, ValidationError
from federation.http_errors import ErrorView, install_error_handlers
from federation.http_params import PageQuery, PageSizeQuery
from federation.web import WebPages
from security.access import Permission, Principal
from security.http import COOKIE, HttpAuth, Who, public
from security.web import install_login_pages

__all__ = ["create_app"]

log = structlog.get_logger(__name__)

API_PREFIX = "/api/v1"

_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorView, "description": "未登录或登录已失效"},
    403: {"model": ErrorView, "description": "当前账号的岗位或辖区无权执行此操作"},
    404: {"model": ErrorView, "description": "办件、事项或操作不存在"},
    409: {"model": ErrorView, "description": "办件当前状态不允许该操作"},
    422: {"model": ErrorView, "description": "请求参数不正确"},
    503: {"model": ErrorView, "description": "节点尚未加载事项目录，或数据库不可用"},
}


class HealthView(TypedDict):
    status: str
    division: str
    now: str
    standards_version: str | None


class CatalogueView(TypedDict):
    standards_version: str | None
    items: list[ItemView]


def create_app(node: CountyNode) -> FastAPI:
    """The FastAPI application of one county node. The caller owns ``node`` (and closes it)."""
    app = FastAPI(
        title=f"Sunshine 县级节点接口（{node.config.node.name or node.config.node.division}）",
        description="政务服务大厅办件的申请、办理、查询与时限监察（电子监察）。时间均为北京时间（+08:00）。",
        version="1.0.0",
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
        responses=_ERROR_RESPONSES,
    )
    app.state.node = node
    install_error_handlers(app)
    # login (/api/v1/auth/…) and every route's rule
    HttpAuth(node.accounts, secure_cookies=node.config.http.secure_cookies).install(app)
    app.include_router(_api_router(node))
    app.include_router(supervision_router(node, prefix=API_PREFIX))
    app.include_router(orders_router(node, prefix=API_PREFIX))  # 督办 / 催办 received from above
    app.include_router(scores_router(node, prefix=API_PREFIX))  # 考核评分: the county's own rank
    app.include_router(video_router(node, prefix=API_PREFIX))  # 视频索引: cameras, segments, events, clips
    if node.intake is not None:  # 网上受理: only on a county with an extranet node
        app.include_router(intake_router(node, node.intake, prefix=API_PREFIX))
    _install_pages(app, node)
    return app


def _install_pages(app: FastAPI, node: CountyNode) -> None:
    """The web pages (issue 17): the hall's and the exchange admin's, behind the login."""
    web = WebPages(
        node_name=node.config.node.name or node.config.node.division,
        tier_label="县级节点",
        session_cookie=COOKIE,
        nav=hall_nav(node) + EXCHANGE_NAV,
        packages=("county_node.entrypoints",),
        clock=node.clock,
    )
    install_login_pages(app, web)
    app.include_router(hall_router(node))
    app.include_router(exchange_router(node.config, node.engine, node.clock, node.receiver_appliers))


def _api_router(node: CountyNode) -> APIRouter:
    router = APIRouter(prefix=API_PREFIX)
    approval = node.approval

    def detail(case_no: str) -> CaseDetailView:
        return case_detail_view(approval.get(case_no))

    @router.get(
        "/health", tags=["节点"], summary="健康检查", response_model=HealthView, dependencies=[Depends(public())]
    )
    def health() -> HealthView:
        """节点的行政区划代码、节点时钟的当前时间（now）与正在使用的标准版本。"""
        bundle = approval.standards.bundle
        return {
            "status": "ok",
            "division": approval.division,
            "now": iso(approval.now()),
            "standards_version": None if bundle is None else bundle.version,
        }

    @router.get("/catalogue", tags=["事项目录"], summary="事项目录", response_model=CatalogueView)
    def catalogue(_: Annotated[Principal, Who(Permission.CASE_READ)]) -> CatalogueView:
        """当前标准包中的全部事项（尚未加载标准包时为空）。"""
        bundle = approval.standards.bundle
        return {
            "standards_version": None if bundle is None else bundle.version,
            "items": [item_view(i) for i in approval.catalogue()],
        }

    @router.post("/cases", tags=["办件"], summary="申请（登记新办件）", status_code=201, response_model=CaseDetailView)
    def submit_case(
        body: CreateCaseBody, response: Response, who: Annotated[Principal, Who(Permission.CASE_INTAKE)]
    ) -> CaseDetailView:
        """登记一件新办件，返回办件详情；办件编号为 区划代码-年月日-六位流水号。经办人为当前登录账号。"""
        actor = who.actor(Permission.CASE_INTAKE).label
        if node.intake is not None:
            case = node.intake.submit(
                item_code=body.item_code,
                applicant=body.applicant,
                data=body.data,
                actor=actor,
                window=body.window,
                phone=body.phone,
                sms_opt_out=body.sms_opt_out,
            )
        elif body.phone:
            raise ValidationError(
                "本县未配置外网节点（[extranet] link），不登记申请人手机号码，也不发送办件短信", field="phone"
            )
        else:
            case = approval.submit(
                item_code=body.item_code, applicant=body.applicant, data=body.data, actor=actor, window=body.window
            )
        response.headers["Location"] = f"{API_PREFIX}/cases/{case.case_no}"
        return detail(case.case_no)

    @router.get("/cases", tags=["办件"], summary="办件列表", response_model=CasePageView)
    def list_cases(
        _: Annotated[Principal, Who(Permission.CASE_READ)],
        *,
        status: Annotated[Status | None, Query(description="按状态筛选")] = None,
        light: Annotated[Light | None, Query(description="按灯色筛选（仅在办件：white/yellow/red）")] = None,
        department: Annotated[str | None, Query(description="按实施部门筛选")] = None,
        item_code: Annotated[str | None, Query(description="按事项编码筛选")] = None,
        page: PageQuery = 1,
        page_size: PageSizeQuery = 20,
    ) -> CasePageView:
        """按条件筛选办件（最新申请的在前）。light 为承诺时限时钟的灯色；仅在办（已受理、审核中、暂停中）办件有灯色。"""
        flt = CaseFilter(
            status=None if status is None else status.value,
            light=None if light is None else light.value,
            department=department,
            item_code=item_code,
        )
        return case_page_view(approval.list(flt, page=page, page_size=page_size))

    @router.get("/cases/{case_no}", tags=["办件"], summary="办件详情", response_model=CaseDetailView)
    def get_case(
        case_no: Annotated[str, Path(description="办件编号")], _: Annotated[Principal, Who(Permission.CASE_READ)]
    ) -> CaseDetailView:
        """办件的全部信息、承诺时限与法定时限的时钟读数（联办件另有各部门子时钟）以及办理过程。"""
        return detail(case_no)

    for action, model in ACTION_BODIES.items():
        router.add_api_route(
            f"/cases/{{case_no}}/actions/{action.value}",
            _action_endpoint(node, action, model, detail),
            methods=["POST"],
            tags=["办件操作"],
            summary=ACTION_DESCRIPTIONS[action],
            description=(model.__doc__ or "").strip(),
            response_model=AcceptedCaseView if action is Action.ACCEPT else CaseDetailView,
            operation_id=f"act_{action.value}",
        )

    @router.post("/cases/{case_no}/actions/{action}", include_in_schema=False)
    def unknown_action(case_no: str, action: str, _: Annotated[Principal, Who(Permission.CASE_READ)]) -> None:
        known = "、".join(a.value for a in ACTION_BODIES)
        if action == Action.SUBMIT.value:
            raise NotFound("申请新办件请使用 POST /api/v1/cases", action=action)
        raise NotFound(f"未知的办件操作“{action}”，可用操作：{known}", action=action)

    @router.get("/summary", tags=["办件"], summary="办件汇总", response_model=SummaryView)
    def summary(_: Annotated[Principal, Who(Permission.CASE_READ)]) -> SummaryView:
        """按状态统计全部办件；按灯色统计在办件（承诺时限）。"""
        return summary_view(approval.summary())

    return router


def _action_endpoint(
    node: CountyNode,
    action: Action,
    model: type[ActionBody],
    detail: Callable[[str], CaseDetailView],
) -> Callable[..., CaseDetailView]:
    """An endpoint for one action whose body is documented (and coerced) by that action's own model."""

    permission = action_permission(action)

    def endpoint(case_no: str, body: ActionBody, who: Principal) -> CaseDetailView:
        actor = who.actor(permission).label
        if action is Action.ACCEPT:  # 受理: with an extranet node, the query code for the 受理通知书 (shown once)
            code = None
            if node.intake is not None:
                code = node.intake.accept_case(case_no, actor=actor, params=body.params()).query_code
            else:
                node.approval.act(case_no, action, actor=actor, params=body.params())
            accepted: Any = {**detail(case_no), "query_code": code}
            return cast(CaseDetailView, accepted)
        node.approval.act(case_no, action, actor=actor, params=body.params())
        return detail(case_no)

    handler: Any = endpoint
    handler.__name__ = f"act_{action.value}"
    handler.__signature__ = inspect.Signature(
        [
            inspect.Parameter(
                "case_no",
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
                annotation=Annotated[str, Path(description="办件编号")],
            ),
            inspect.Parameter("body", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=model),
            inspect.Parameter(
                "who", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Annotated[Principal, Who(permission)]
            ),
        ],
        return_annotation=CaseDetailView,
    )
    return endpoint
