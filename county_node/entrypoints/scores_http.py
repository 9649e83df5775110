"""The county's own scores (考核评分) in the hall HTTP API: ``GET /api/v1/scores?period=2026-10``.

The province computes the scores and sends them down (``score`` records, applied by
:class:`federation.storage.scores_replica.ScoreApplier`); this route shows what the county holds of its own: its
score and rank of N for the period, every indicator, deduction and bonus, and its departments' and windows' scores.
Without ``period`` it answers the newest period held. Errors render through ``http_errors`` like every route.
Reading it needs a login holding ``score.read`` (issue 15: the approver, the supervisor, the node admin).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy import select
from typing_extensions import TypedDict  # pydantic needs this one on Python < 3.12

from county_node.bootstrap import CountyNode
from federation.errors import NotFound
from federation.http_errors import ErrorView
from federation.scoring_rules import parse_period
from federation.storage.scores_replica import latest_rules_version, read_scores
from federation.storage.tables import scores
from federation.storage.uow import UnitOfWork
from security.access import Permission, Principal
from security.http import Who

__all__ = ["scores_router"]


class ScoreRowView(TypedDict):
    level: str
    subject: str
    cases: int
    score: str
    rank: int | None
    ranked_of: int
    small_sample: bool
    breakdown: dict[str, Any]


class ScoresView(TypedDict):
    county: str
    period: str
    computed_by: str
    rules_version: str
    score: ScoreRowView
    departments: list[ScoreRowView]
    windows: list[ScoreRowView]


def _row_view(r: dict[str, Any]) -> ScoreRowView:
    return {
        "level": r["level"],
        "subject": r["subject"],
        "cases": r["cases"],
        "score": str(Decimal(r["score"]).quantize(Decimal("0.01"))),
        "rank": r["rank"],
        "ranked_of": r["ranked_of"],
        "small_sample": bool(r["small_sample"]),
        "breakdown": r["breakdown"],
    }


def scores_router(node: CountyNode, *, prefix: str) -> APIRouter:
    router = APIRouter(prefix=prefix)
    county = node.config.node.division

    @router.get(
        "/scores",
        tags=["考核评分"],
        summary="本县考核评分与名次",
        response_model=ScoresView,
        responses={
            401: {"model": ErrorView, "description": "未登录或登录已失效"},
            403: {"model": ErrorView, "description": "当前账号的岗位或辖区无权执行此操作"},
            404: {"model": ErrorView, "description": "尚未收到该周期的考核评分"},
        },
    )
    def county_scores(
        _: Annotated[Principal, Who(Permission.SCORE_READ)],
        period: Annotated[str | None, Query(description="考核周期：2026-10、2026-Q4 或 2026（默认最新）")] = None,
    ) -> ScoresView:
        with UnitOfWork(node.engine, readonly=True) as uow:
            conn = uow.conn
            if period is None:
                newest = conn.execute(
                    select(scores.c.period)
                    .where(scores.c.county == county, scores.c.level == "county")
                    .order_by(scores.c.computed_at.desc(), scores.c.period.desc())
                    .limit(1)
                ).scalar()
                if newest is None:
                    raise NotFound(f"本县（{county}）尚未收到任何考核评分", county=county)
                label = str(newest)
            else:
                label = parse_period(period).label
            found = latest_rules_version(conn, computed_by=None, period=label, county=county)
            if found is None:
                raise NotFound(f"本县（{county}）尚未收到 {label} 的考核评分", county=county, period=label)
            computed_by, version = found
            rows = read_scores(conn, computed_by=computed_by, rules_version=version, period=label, county=county)
        own = [r for r in rows if r["level"] == "county"]
        if not own:
            raise NotFound(f"本县（{county}）尚未收到 {label} 的考核评分", county=county, period=label)
        return {
            "county": county,
            "period": label,
            "computed_by": computed_by,
            "rules_version": version,
            "score": _row_view(own[0]),
            "departments": [_row_view(r) for r in rows if r["level"] == "department"],
            "windows": [_row_view(r) for r in rows if r["level"] == "window"],
        }

    return router
