"""实时监控 — the lights wall page (``/inspect/wall``) and its live part (``/inspect/wall/live``), which the page
polls every 5 s with htmx and swaps in place: tiles per county (or per department of one county) with the open
cases by light and the open alerts, and the newest red and video alerts with their clip."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from city_aggregator.inspection.context import InspectionContext
from city_aggregator.inspection.pages_kit import counties_of, query_string, render
from city_aggregator.inspection.wall import VIDEO_RULES
from county_node.entrypoints.supervision_schemas import alert_view
from county_node.video.domain.segments import EVENT_KIND_LABELS
from security.access import Permission, Principal
from security.http import Who

__all__ = ["wall_router"]

_Inspector = Annotated[Principal, Who(Permission.INSPECT)]
_County = Annotated[str | None, Query(description="某县：显示它的各部门")]
_WallMode = Annotated[int, Query(ge=0, le=1, description="1：大屏显示")]


def wall_router(ctx: InspectionContext) -> APIRouter:
    router = APIRouter()

    def values(who: Principal, county: str | None, wall: int) -> dict[str, object]:
        scope = ctx.scope(who.division)
        found = ctx.service.wall(scope, county or None)
        return {
            "found": found,
            "newest": [alert_view(a) for a in found.newest],
            "video_rules": VIDEO_RULES,
            "event_kinds": EVENT_KIND_LABELS,
            "county": county or None,
            "county_name": ctx.service.name_of(county) if county else None,
            "scope_name": ctx.service.name_of(scope.division) or scope.division,
            "query": query_string({"county": county, "wall": wall or None}),
            "wall_mode": bool(wall),
        }

    @router.get("/wall")
    def wall_page(request: Request, who: _Inspector, county: _County = None, wall: _WallMode = 0) -> HTMLResponse:
        scope = ctx.scope(who.division)
        return render(
            request,
            "inspect/wall.html",
            who,
            counties=counties_of(ctx, scope),
            **values(who, county, wall),
        )

    @router.get("/wall/live")
    def wall_live(request: Request, who: _Inspector, county: _County = None, wall: _WallMode = 0) -> HTMLResponse:
        return render(request, "inspect/_wall_live.html", who, **values(who, county, wall))

    return router
