"""The exchange admin's pages (交换管理, issue 17), served by every tier (the county, the city and the province)
to the exchange admin (交换管理员, :attr:`~security.access.Permission.LINK_ADMIN`):

=============================  ==================================================================================
``/exchange/links``            链路: each link's peer, state, lag (records, seconds), throughput, last error;
                               live every 5 s (:mod:`county_node.entrypoints.exchange_links`)
``/exchange/quarantine``       隔离区: list, show, fix, replay, discard (:mod:`~.exchange_quarantine`)
``/exchange/standards``        标准版本 of every node of the subtree (the province: the federation)
``/exchange/certificates``     证书与登记: this node's chain and expiry, what its CA issued, revocations, tokens
``/exchange/holdings``         数据持有 per origin, against the parent's acknowledgement (:mod:`~.exchange_records`)
=============================  ==================================================================================

Templates in ``county_node/entrypoints/templates/exchange``.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter
from sqlalchemy import Engine

from county_node.entrypoints.exchange_links import links_router
from county_node.entrypoints.exchange_quarantine import quarantine_router
from county_node.entrypoints.exchange_records import records_router
from county_node.entrypoints.exchange_site import ExchangeSite
from federation.config import Config
from federation.replication import AppliersByType
from federation.timeutil import Clock
from federation.web import NavItem
from security.access import Permission

__all__ = ["EXCHANGE_NAV", "exchange_router"]

_ADMIN = Permission.LINK_ADMIN.value
EXCHANGE_NAV: tuple[NavItem, ...] = (
    NavItem("链路状态", "/exchange/links", _ADMIN),
    NavItem("隔离区", "/exchange/quarantine", _ADMIN),
    NavItem("标准版本", "/exchange/standards", _ADMIN),
    NavItem("证书与登记", "/exchange/certificates", _ADMIN),
    NavItem("数据持有", "/exchange/holdings", _ADMIN),
)


def exchange_router(
    config: Config, engine: Engine, clock: Clock, appliers: Callable[[], AppliersByType] | None = None
) -> APIRouter:
    """The pages of the node ``config`` describes, over its ``engine`` and ``clock``; ``appliers``: what its
    receiver applies, with its hooks (a county passes its own; None: built by the node's composition root)."""
    site = ExchangeSite(config, engine, clock, appliers)
    router = APIRouter(prefix="/exchange", include_in_schema=False)
    router.include_router(links_router(site))
    router.include_router(quarantine_router(site))
    router.include_router(records_router(site))
    return router
