"""预警 and 办件详查 — the alert list (``/inspect/alerts``), an alert with the county's handling, its clip and the
orders on it (``/inspect/alerts/{alert_id}``, audited: personal data), and a case's drill-down
(``/inspect/cases/{case_no}``, audited). The same service calls as the JSON API, the same scope."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from city_aggregator.inspection.context import InspectionContext
from city_aggregator.inspection.pages_kit import (
    ALERT_STATUS_OPTIONS,
    LIGHT_OPTIONS,
    counties_of,
    query_string,
    render,
    see_other,
)
from city_aggregator.inspection.views import alert_list_view, inspector_alert_view, inspector_case_view
from city_aggregator.orders.service import OrderDesk, OrdersContext, narrowed
from federation.http_params import PageQuery
from security.access import Permission, Principal
from security.http import Who

__all__ = ["alerts_router"]

_Inspector = Annotated[Principal, Who(Permission.INSPECT)]
_PersonalReader = Annotated[Principal, Who(Permission.PERSONAL_READ, personal=True)]
PAGE_SIZE = 20


def alerts_router(ctx: InspectionContext) -> APIRouter:
    router = APIRouter()
    svc = ctx.service

    @router.get("/alerts")
    def alert_list(
        request: Request,
        who: _Inspector,
        *,
        county: Annotated[str | None, Query()] = None,
        light: Annotated[str | None, Query()] = None,
        status: Annotated[str | None, Query()] = "active",
        page: PageQuery = 1,
    ) -> HTMLResponse:
        scope = ctx.scope(who.division)
        county, light, status = county or None, light or None, status or None
        found = svc.alerts(scope, county=county, light=light, status=status, page=page, page_size=PAGE_SIZE)
        view = alert_list_view(scope, found)
        counties = counties_of(ctx, scope)
        return render(
            request,
            "inspect/alerts.html",
            who,
            view=view,
            counties=counties,
            names=dict(counties),
            lights=LIGHT_OPTIONS,
            statuses=ALERT_STATUS_OPTIONS,
            county=county,
            light=light,
            chosen_status=status,
            has_next=page * PAGE_SIZE < view["total"],
            base="/inspect/alerts" + query_string({"county": county, "light": light, "status": status or ""}),
        )

    @router.get("/alerts/{alert_id}")
    def alert_detail(
        request: Request, who: _PersonalReader, alert_id: Annotated[str, Path(max_length=40)]
    ) -> HTMLResponse:
        scope = ctx.scope(who.division)
        view = inspector_alert_view(svc.alert(scope, alert_id), svc.alert_clip(scope, alert_id))
        orders_ctx = OrdersContext(ctx.engine, ctx.division, ctx.clock)
        orders = OrderDesk(narrowed(orders_ctx, who)).list(subject_id=alert_id, page_size=50)["items"]
        can_issue = (
            Permission.ORDER_ISSUE in who.permissions and who.division == ctx.division and view["status"] != "closed"
        )
        return render(
            request,
            "inspect/alert.html",
            who,
            a=view,
            orders=orders,
            can_issue=can_issue,
            county_name=svc.name_of(view["origin"]),
        )

    @router.get("/cases")
    def case_lookup(who: _Inspector, case_no: Annotated[str, Query(max_length=40)] = "") -> RedirectResponse:
        """The case number typed in the search box: to its drill-down page."""
        target = case_no.strip()
        return see_other(f"/inspect/cases/{target}" if target else "/inspect/alerts")

    @router.get("/cases/{case_no}")
    def case_detail(
        request: Request, who: _PersonalReader, case_no: Annotated[str, Path(max_length=40)]
    ) -> HTMLResponse:
        scope = ctx.scope(who.division)
        view = inspector_case_view(svc.case(scope, case_no))
        return render(
            request,
            "inspect/case.html",
            who,
            c=view["case"],
            v=view,
            county_name=svc.name_of(view["case"]["origin"]),
        )

    return router
