"""The hall's pages (大厅, issue 17): intake, the clerk's queue, the case card, complaints and ratings, notices.

Served by the county node under ``/hall``; every page declares its rule like an API route. Templates in
``county_node/entrypoints/templates/hall``.
"""

from __future__ import annotations

from fastapi import APIRouter

from county_node.bootstrap import CountyNode
from federation.web import NavItem

__all__ = ["HALL_NAV", "hall_router"]

HALL_NAV: tuple[NavItem, ...] = ()


def hall_router(node: CountyNode) -> APIRouter:
    return APIRouter(prefix="/hall", include_in_schema=False)
