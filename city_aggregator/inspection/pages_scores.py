"""考核排名, 评分说明, 月度趋势, 月报 — rankings as a bar chart and a table (``/inspect/rankings``), a county's score
explained record by record (``/inspect/rankings/{county}``), monthly trends as a line chart and a table
(``/inspect/trends``), and the monthly report (``/inspect/report``, ``/inspect/report.csv?month=2026-11``).
Charts are Apache ECharts options rendered by ``/static/sunshine.js``; the figures are the JSON API's."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from city_aggregator.inspection.context import InspectionContext
from city_aggregator.inspection.figures import month_label
from city_aggregator.inspection.pages_kit import LEVEL_OPTIONS, counties_of, query_string, render
from city_aggregator.inspection.report import month_report, report_csv
from city_aggregator.inspection.views import ranking_view, trend_view
from city_aggregator.scoring.domain import left_out
from city_aggregator.scoring.explain import RECORD_LABELS, explain_score
from federation.errors import NotFound
from federation.http_params import PageQuery
from federation.timeutil import local_date
from federation.web.kit import SECURITY_HEADERS
from security.access import Permission, Principal
from security.http import Who

__all__ = ["scores_router"]

_Inspector = Annotated[Principal, Who(Permission.INSPECT)]
_Text = Annotated[str | None, Query(max_length=20)]

RANKING_PAGE = 200  # the API's largest page: every county of the province on one
SHOWN_RECORDS = 200  # ids listed per part (the count is always whole)


def month_text(label: str) -> str:
    """``2026-09`` → ``2026年9月``; a quarter ``2026-Q4`` → ``2026年第4季度``; a year → ``2026年``."""
    year, _, rest = label.partition("-")
    if not rest:
        return f"{year}年"
    if rest.startswith("Q"):
        return f"{year}年第{rest[1:]}季度"
    return f"{year}年{int(rest)}月"


RANKED, SMALL = "#b71c1c", "#90a4ae"


def _bar_option(items: list[dict[str, Any]], label: str) -> dict[str, Any]:
    names = [str(i["name"]) for i in items]
    return {
        "animation": False,  # drawn at once: a page reloaded on a wall, a screenshot, a printed report
        "tooltip": {"trigger": "axis"},
        "grid": {"left": 48, "right": 16, "top": 24, "bottom": 96},
        "xAxis": {
            "type": "category",
            "data": names,
            "axisLabel": {"rotate": 60 if len(names) > 8 else 0, "interval": 0 if len(names) <= 40 else "auto"},
        },
        "yAxis": {"type": "value", "name": "得分", "min": 0, "max": 100},
        "series": [
            {
                "type": "bar",
                "name": label,
                # a small sample (shown, not ranked) in grey
                "data": [{"value": i["score"], "itemStyle": {"color": SMALL if i["small"] else RANKED}} for i in items],
            }
        ],
    }


def _line_option(months: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    x = [month_text(m["month"]) for m in months]

    def series(key: str, name: str) -> dict[str, Any]:
        return {"type": "line", "name": name, "data": [m[key] for m in months], "smooth": False}

    rate = [None if m["on_time_rate"] is None else round(m["on_time_rate"] * 100, 1) for m in months]
    return {
        "animation": False,
        "tooltip": {"trigger": "axis"},
        "legend": {"top": 0},
        "grid": {"left": 56, "right": 56, "top": 40, "bottom": 32},
        "xAxis": {"type": "category", "data": x},
        "yAxis": [{"type": "value", "name": "件数"}, {"type": "value", "name": "按时率（%）", "min": 0, "max": 100}],
        "series": [
            series("accepted", "受理"),
            series("decided", "决定"),
            series("concluded", "办结"),
            series("alerts_raised", "预警"),
            series("complaints", "投诉"),
            {"type": "line", "name": "按时率", "yAxisIndex": 1, "data": rate, "lineStyle": {"type": "dashed"}},
        ],
    }


def scores_router(ctx: InspectionContext) -> APIRouter:
    router = APIRouter()
    svc = ctx.service

    @router.get("/rankings")
    def rankings(
        request: Request,
        who: _Inspector,
        *,
        period: _Text = None,
        level: Annotated[str, Query(max_length=12)] = "county",
        county: _Text = None,
        page: PageQuery = 1,
    ) -> HTMLResponse:
        scope = ctx.scope(who.division)
        found = svc.rankings(
            scope, period=period or None, level=level, county=county or None, page=page, page_size=RANKING_PAGE
        )
        names = {code: svc.name_of(code) for code in {str(r["county"]) for r in found.rows}}
        view = ranking_view(scope, found, names)
        items = view["items"]
        bars = [
            {
                "name": (i["county_name"] or i["county"]) if level == "county" else i["subject"].split("/", 1)[-1],
                "score": i["score"],
                "small": i["small_sample"],
            }
            for i in items
        ]
        return render(
            request,
            "inspect/rankings.html",
            who,
            view=view,
            items=items,
            option=_bar_option(bars, "考核得分"),
            levels=LEVEL_OPTIONS,
            level=level,
            county=county or None,
            counties=counties_of(ctx, scope),
            period_text=month_text(view["period"]) if view["period"] else None,
            has_next=page * RANKING_PAGE < view["total"],
            base="/inspect/rankings" + query_string({"period": view["period"], "level": level, "county": county}),
        )

    @router.get("/rankings/{county}")
    def explanation(
        request: Request, who: _Inspector, county: Annotated[str, Path(max_length=6)], period: _Text = None
    ) -> HTMLResponse:
        scope = ctx.scope(who.division)
        scope.require_division(county)
        choice = svc.rankings(scope, period=period or None, level="county", county=county, page_size=1).choice
        if choice is None:
            raise NotFound(f"没有 {county} 的考核评分，请先执行评分计算", county=county)
        data = explain_score(
            ctx.engine,
            node=choice.computed_by,
            county=county,
            period=choice.period,
            now=ctx.clock(),
            rules_version=choice.rules_version,
        ).to_dict()
        return render(
            request,
            "inspect/explain.html",
            who,
            d=data,
            b=data["breakdown"],
            small=left_out(data["breakdown"]),
            county_name=svc.name_of(county),
            period_text=month_text(choice.period),
            record_labels=RECORD_LABELS,
            shown=SHOWN_RECORDS,
        )

    @router.get("/trends")
    def trends(
        request: Request,
        who: _Inspector,
        *,
        county: _Text = None,
        start: Annotated[str | None, Query(alias="from", max_length=7)] = None,
        end: Annotated[str | None, Query(alias="to", max_length=7)] = None,
    ) -> HTMLResponse:
        scope = ctx.scope(who.division)
        found = svc.trends(scope, county=county or None, start=start or None, end=end or None, stored=True)
        view = trend_view(scope, found)
        months = view["months"]
        return render(
            request,
            "inspect/trends.html",
            who,
            view=view,
            months=months,
            month_text=month_text,
            option=_line_option(months),
            counties=counties_of(ctx, scope),
            county=county or None,
            start=months[0]["month"],
            end=months[-1]["month"],
            scope_name=svc.name_of(county) if county else (svc.name_of(scope.division) or scope.division),
            stored=[month_text(m) for m in found.stored],
            stored_at=found.stored_at,
        )

    def _month(month: str | None) -> str:
        if month:
            return month
        today = local_date(ctx.clock())
        return month_label(today.replace(day=1))

    @router.get("/report")
    def report(request: Request, who: _Inspector, month: _Text = None) -> HTMLResponse:
        scope = ctx.scope(who.division)
        found = month_report(ctx.engine, svc, scope, _month(month))
        return render(
            request,
            "inspect/report.html",
            who,
            report=found,
            month=found.month,
            month_title=month_text(found.month),
        )

    @router.get("/report.csv")
    def report_file(who: _Inspector, month: _Text = None) -> Response:
        scope = ctx.scope(who.division)
        found = month_report(ctx.engine, svc, scope, _month(month))
        name = f"月报-{scope.division}-{found.month}.csv"
        ascii_name = f"report-{scope.division}-{found.month}.csv"
        disposition = f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"
        return Response(
            report_csv(found),
            media_type="text/csv; charset=utf-8",
            headers={**SECURITY_HEADERS, "Content-Disposition": disposition},
        )

    return router
