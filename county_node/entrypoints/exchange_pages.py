"""The exchange admin's pages (交换管理, issue 17), served by every tier (the county, the city and the province):
each link's lag, errors and throughput, quarantine, standards versions, certificates and enrolments, holdings.

Templates in ``county_node/entrypoints/templates/exchange``.
"""

from __future__ import annotations

from fastapi import APIRouter

from federation.config import Config
from federation.web import NavItem

__all__ = ["EXCHANGE_NAV", "exchange_router"]

EXCHANGE_NAV: tuple[NavItem, ...] = ()


def exchange_router(config: Config) -> APIRouter:
    return APIRouter(prefix="/exchange", include_in_schema=False)
