"""The inspectors' pages (监察, issue 17) of a city or the province: the lights wall, alerts with 督办/催办,
case drill-down, rankings and trends, score explanations, the monthly report.

Each area is a module of its own — :mod:`~city_aggregator.inspection.pages_wall` (实时监控),
:mod:`~city_aggregator.inspection.pages_alerts` (预警, 办件详查), :mod:`~city_aggregator.inspection.pages_orders`
(督办指令), :mod:`~city_aggregator.inspection.pages_scores` (考核排名, 评分说明, 月度趋势, 月报) — calling the same
services as the JSON API, narrowed the same way to the logged-in inspector's subtree (``ctx.scope(who.division)``).
Templates in ``city_aggregator/inspection/templates/inspect``.

=====  ==========================================  ===============================================================
GET    /inspect/wall[?county=&wall=1]              实时监控 (inspect); ``/inspect/wall/live`` its live part
GET    /inspect/alerts?county=&light=&status=      预警 (inspect)
GET    /inspect/alerts/{alert_id}                  预警详情, county's handling, orders, clip (personal.read, audited)
POST   /inspect/alerts/{alert_id}/orders           下发督办/催办 (order.issue) → 303 /inspect/orders/{order_id}
GET    /inspect/orders, /inspect/orders/{id}       督办指令 with the counties' 签收/办复 (order.read)
POST   /inspect/orders/{id}/withdraw | close       撤回 / 办结 (order.issue) → 303 the order
GET    /inspect/cases/{case_no}                    办件详查 (personal.read, audited); ``/inspect/cases?case_no=``
GET    /inspect/rankings, /inspect/rankings/{c}    考核排名, 评分说明 (inspect)
GET    /inspect/trends                             月度趋势 (inspect)
GET    /inspect/report, /inspect/report.csv        月报, its CSV (inspect)
=====  ==========================================  ===============================================================
"""

from __future__ import annotations

from fastapi import APIRouter

from city_aggregator.inspection.context import InspectionContext
from city_aggregator.inspection.pages_alerts import alerts_router
from city_aggregator.inspection.pages_orders import orders_pages_router
from city_aggregator.inspection.pages_scores import scores_router
from city_aggregator.inspection.pages_wall import wall_router
from federation.web import NavItem
from security.access import Permission

__all__ = ["INSPECT_NAV", "inspect_router"]

INSPECT_NAV: tuple[NavItem, ...] = (
    NavItem("实时监控", "/inspect/wall", Permission.INSPECT.value),
    NavItem("预警", "/inspect/alerts", Permission.INSPECT.value),
    NavItem("督办指令", "/inspect/orders", Permission.ORDER_READ.value),
    NavItem("考核排名", "/inspect/rankings", Permission.INSPECT.value),
    NavItem("月度趋势", "/inspect/trends", Permission.INSPECT.value),
    NavItem("月报导出", "/inspect/report", Permission.INSPECT.value),
)


def inspect_router(ctx: InspectionContext) -> APIRouter:
    router = APIRouter(prefix="/inspect", include_in_schema=False)
    for part in (wall_router, alerts_router, orders_pages_router, scores_router):
        router.include_router(part(ctx))
    return router
