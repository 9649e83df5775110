"""The inspectors' HTTP JSON API (监察人员接口) of a city or province node, built by :func:`create_inspector_app`.

The same code serves a city and the province. Every route but the health check needs a logged-in person
(:mod:`security.http`: ``POST /api/v1/auth/token``): summaries, alert lists, rankings and trends the permission
``inspect``; a case's or an alert's detail (names, key data) ``personal.read``, and each such read is audited.
The scope of a request comes from the account alone — its division's subtree, capped by the node's — never from
anything the request sends: an inspector of 371100 logged in at the province asking for county 371323, its cases
or its alerts gets **403**, and every list is filtered to 3711xx. Errors are rendered by the one translation
table (:mod:`federation.http_errors`): 401 not logged in, 403 outside the scope or without the permission, 404
unknown, 422 malformed.

========  ======================================  ==================================================================
GET       /api/v1/health                          node, scope prefix, clock ("now"), standards version
GET       /api/v1/counties                        per-county summary: cases by status and light, on-time rate,
                                                  active alerts, complaints, ratings and satisfaction; scope totals
GET       /api/v1/counties/{code}                 one county's summary
GET       /api/v1/alerts                          alerts in scope (county, light, rule_id, status, level; paged)
GET       /api/v1/alerts/{alert_id}               one alert with evidence, clock and history, and its clip (the
                                                  camera, time range and segments to ask the county for)
GET       /api/v1/cases/{case_no}                 drill-down: case, clocks (this node's calendar), timeline, alerts,
                                                  complaints, ratings, the clip of each alert
GET       /api/v1/rankings?period=&level=         scores of a period (county | department | window) with breakdown
GET       /api/v1/trends?county=&from=&to=        per month: accepted, decided, on time, concluded, alerts, complaints
========  ======================================  ==================================================================

``routers`` mounts more routers on the same app (the orders of a city or the province, …), each given as a router
or as a function of the :class:`InspectionContext` returning one; each of their routes declares its own rule
(``security.http.Who``) and takes its scope from the principal (:meth:`InspectionContext.scope`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, FastAPI, Path, Query
from typing_extensions import TypedDict  # pydantic needs this one on Python < 3.12

from city_aggregator.inspection.context import InspectionContext
from city_aggregator.inspection.pages import INSPECT_NAV, inspect_router
from city_aggregator.inspection.views import (
    AlertListView,
    CountyDetailView,
    CountyListView,
    InspectorAlertView,
    InspectorCaseView,
    RankingView,
    TrendView,
    alert_list_view,
    county_detail_view,
    county_list_view,
    inspector_alert_view,
    inspector_case_view,
    ranking_view,
    trend_view,
)
from county_node.entrypoints.exchange_pages import EXCHANGE_NAV, exchange_router
from county_node.entrypoints.views import iso
from federation.http_errors import ErrorView, install_error_handlers
from federation.http_params import PageQuery, PageSizeQuery
from federation.identities import DivisionLevel, level_of
from federation.web import WebPages
from security.access import Permission, Principal
from security.accounts import Accounts
from security.http import COOKIE, HttpAuth, Who, public
from security.web import install_login_pages

__all__ = ["API_PREFIX", "RouterSource", "create_inspector_app"]

log = structlog.get_logger(__name__)

API_PREFIX = "/api/v1"

_TAG = "监察"
_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorView, "description": "未登录或登录已失效"},
    403: {"model": ErrorView, "description": "当前账号无此权限，或所请求的区划、办件或预警不在账号的辖区内"},
    404: {"model": ErrorView, "description": "区划、办件或预警不存在"},
    422: {"model": ErrorView, "description": "请求参数不正确"},
    503: {"model": ErrorView, "description": "数据库不可用"},
}

RouterSource = APIRouter | Callable[[InspectionContext], APIRouter]
"""A router to mount, or a function building it from the node's inspection context."""


class HealthView(TypedDict):
    status: str
    division: str
    name: str
    level: str
    prefix: str
    now: str
    standards_version: str | None


_Inspector = Annotated[Principal, Who(Permission.INSPECT)]
_PersonalReader = Annotated[Principal, Who(Permission.PERSONAL_READ, personal=True)]


def create_inspector_app(ctx: InspectionContext, accounts: Accounts, routers: Iterable[RouterSource] = ()) -> FastAPI:
    """The FastAPI application of one city or province node, its people logging in with ``accounts`` (the
    node's). The caller owns ``ctx`` (and closes it)."""
    app = FastAPI(
        title=f"Sunshine 监察接口（{ctx.name}）",
        description="市级、省级监察人员查询所辖各县的办件、预警、投诉、评价、考核排名与趋势。时间均为北京时间（+08:00）。",
        version="1.0.0",
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
        responses=_ERROR_RESPONSES,
    )
    app.state.inspection = ctx
    install_error_handlers(app)
    # login (/api/v1/auth/…) and every route's rule
    HttpAuth(accounts, secure_cookies=ctx.config.http.secure_cookies).install(app)
    app.include_router(_router(ctx))
    for source in routers:
        app.include_router(source if isinstance(source, APIRouter) else source(ctx))
    _install_pages(app, ctx)
    return app


def _install_pages(app: FastAPI, ctx: InspectionContext) -> None:
    """The web pages (issue 17): the inspectors' and the exchange admin's, behind the login."""
    web = WebPages(
        node_name=ctx.name,
        tier_label="省级节点" if level_of(ctx.division) == DivisionLevel.PROVINCE else "市级节点",
        session_cookie=COOKIE,
        nav=INSPECT_NAV + EXCHANGE_NAV,
        packages=("city_aggregator.inspection", "county_node.entrypoints"),
        clock=ctx.clock,
    )
    install_login_pages(app, web)
    app.include_router(inspect_router(ctx))
    app.include_router(exchange_router(ctx.config, ctx.engine, ctx.clock))


def _router(ctx: InspectionContext) -> APIRouter:
    router = APIRouter(prefix=API_PREFIX, tags=[_TAG])
    svc = ctx.service

    @router.get("/health", summary="健康检查", response_model=HealthView, dependencies=[Depends(public())])
    def health() -> HealthView:
        """节点的区划代码、名称、层级与数据范围前缀，节点时钟的当前时间（now）与正在使用的标准版本。"""
        bundle = svc.approval.standards.bundle
        return {
            "status": "ok",
            "division": ctx.division,
            "name": ctx.name,
            "level": level_of(ctx.division).value,
            "prefix": ctx.scope(None).prefix,
            "now": iso(svc.now()),
            "standards_version": None if bundle is None else bundle.version,
        }

    @router.get("/counties", summary="各县汇总", response_model=CountyListView)
    def counties(who: _Inspector) -> CountyListView:
        """辖区内每个县：办件按状态与灯色统计、按时办结率、未关闭预警（按灯色、规则）、投诉（待答复、超时、按时答复）、
        好差评（按等级、满意率），以及辖区合计。尚无数据的县显示为 0。"""
        scope = ctx.scope(who.division)
        return county_list_view(svc.counties(scope), svc.name_of(scope.division))

    @router.get("/counties/{code}", summary="单县汇总", response_model=CountyDetailView)
    def county(who: _Inspector, code: Annotated[str, Path(description="县级行政区划代码（6 位）")]) -> CountyDetailView:
        """一个县的汇总；不在账号的辖区内为 403，不是本节点所辖的县为 404。"""
        scope = ctx.scope(who.division)
        fig, name, as_of = svc.county(scope, code)
        return county_detail_view(scope, fig, name, as_of)

    @router.get("/alerts", summary="预警列表", response_model=AlertListView)
    def alerts(
        who: _Inspector,
        *,
        county: Annotated[str | None, Query(description="按县筛选（行政区划代码）")] = None,
        light: Annotated[str | None, Query(description="按灯色筛选：yellow 黄灯、red 红灯")] = None,
        rule_id: Annotated[str | None, Query(description="按监察规则筛选，例如 SUP-002")] = None,
        status: Annotated[
            str | None,
            Query(description="按状态筛选：open、acknowledged、urged、supervised、closed；active 为全部未关闭"),
        ] = None,
        level: Annotated[int | None, Query(ge=0, le=2, description="按督办层级筛选：0 县级、1 市级、2 省级")] = None,
        page: PageQuery = 1,
        page_size: PageSizeQuery = 20,
    ) -> AlertListView:
        """账号辖区内的预警（最新触发的在前）。"""
        scope = ctx.scope(who.division)
        found = svc.alerts(
            scope,
            county=county,
            status=status,
            light=light,
            rule_id=rule_id,
            level=level,
            page=page,
            page_size=page_size,
        )
        return alert_list_view(scope, found)

    @router.get("/alerts/{alert_id}", summary="预警详情", response_model=InspectorAlertView)
    def alert(who: _PersonalReader, alert_id: Annotated[str, Path(description="预警编号")]) -> InspectorAlertView:
        """预警的规则、证据、时钟读数、参数、状态与处理记录，以及应向县级调取的录像（摄像机、时段、片段与空档）。
        每次查看记入审计日志。"""
        scope = ctx.scope(who.division)
        return inspector_alert_view(svc.alert(scope, alert_id), svc.alert_clip(scope, alert_id))

    @router.get("/cases/{case_no}", summary="办件详查", response_model=InspectorCaseView)
    def case(who: _PersonalReader, case_no: Annotated[str, Path(description="办件编号")]) -> InspectorCaseView:
        """办件的全部信息、按本节点日历此刻读取的承诺与法定时限时钟、办理过程，以及它的预警、投诉与评价。
        每次查看记入审计日志。"""
        scope = ctx.scope(who.division)
        return inspector_case_view(svc.case(scope, case_no))

    @router.get("/rankings", summary="考核排名", response_model=RankingView)
    def rankings(
        who: _Inspector,
        *,
        period: Annotated[
            str | None, Query(description="考核周期：2026-10、2026-Q4 或 2026；缺省为最近计算的周期")
        ] = None,
        level: Annotated[str, Query(description="考核对象：county 县、department 部门、window 窗口")] = "county",
        county: Annotated[str | None, Query(description="只看某县的部门或窗口")] = None,
        computed_by: Annotated[str | None, Query(description="计算评分的节点；缺省为本节点（若有），否则省级")] = None,
        rules_version: Annotated[str | None, Query(description="评分规则版本；缺省为该周期最近计算的版本")] = None,
        page: PageQuery = 1,
        page_size: PageSizeQuery = 200,
    ) -> RankingView:
        """评分与名次（名次为该次计算范围内的名次），每项附扣分、加分明细；样本过小的不参与排名，单独标出。"""
        scope = ctx.scope(who.division)
        found = svc.rankings(
            scope,
            period=period,
            level=level,
            county=county,
            computed_by=computed_by,
            rules_version=rules_version,
            page=page,
            page_size=page_size,
        )
        names = {code: svc.name_of(code) for code in {str(r["county"]) for r in found.rows}}
        return ranking_view(scope, found, names)

    @router.get("/trends", summary="月度趋势", response_model=TrendView)
    def trends(
        who: _Inspector,
        *,
        county: Annotated[str | None, Query(description="某县（缺省为整个辖区）")] = None,
        start: Annotated[
            str | None, Query(alias="from", description="起始月份 2026-01（缺省为截止月前 11 个月）")
        ] = None,
        end: Annotated[str | None, Query(alias="to", description="截止月份 2026-12（缺省为本月）")] = None,
    ) -> TrendView:
        """按月统计：受理、决定（其中按时、超期）、办结、触发预警（黄灯、红灯）与投诉件数；最多 36 个月。"""
        scope = ctx.scope(who.division)
        return trend_view(scope, svc.trends(scope, county=county, start=start, end=end))

    return router
