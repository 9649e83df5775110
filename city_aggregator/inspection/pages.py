"""The inspectors' pages (监察, issue 17) of a city or the province: the lights wall, alerts with 督办/催办,
case drill-down, rankings and trends, score explanations, the monthly report.

Templates in ``city_aggregator/inspection/templates/inspect``.
"""

from __future__ import annotations

from fastapi import APIRouter

from city_aggregator.inspection.context import InspectionContext
from federation.web import NavItem

__all__ = ["INSPECT_NAV", "inspect_router"]

INSPECT_NAV: tuple[NavItem, ...] = ()


def inspect_router(ctx: InspectionContext) -> APIRouter:
    return APIRouter(prefix="/inspect", include_in_schema=False)
