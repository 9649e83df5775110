"""The inspectors' API (监察人员接口) of a city or a province node — the same code, scoped by division prefix.

``scope`` decides what a request may see (pure); ``figures`` holds the plain values and month arithmetic (pure);
``queries`` is the set-based SQL over the replicas; ``service`` the read-only use cases; ``views`` the JSON
shapes; ``http`` the FastAPI app; ``context`` the composition root. See ``docs/inspection.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from federation.config import Config

__all__ = ["inspector_http_app"]


def inspector_http_app(config: Config, engine: Engine) -> Any:
    """The inspectors' FastAPI app of the node ``config`` describes (imported only when a node serves it, so the
    ``sunshine`` CLI starts fast); what ``sunshine city|province serve`` runs beside the replication receiver."""
    from city_aggregator.inspection.context import InspectionContext
    from city_aggregator.inspection.http import inspector_app, request_prefix
    from city_aggregator.orders.http import orders_router
    from city_aggregator.orders.service import OrdersContext

    def orders(ctx: InspectionContext) -> Any:  # 督办 / 催办, within the caller's scope
        return orders_router(OrdersContext(ctx.engine, ctx.division, ctx.clock), scope=request_prefix)

    return inspector_app(config, engine, routers=[orders])
