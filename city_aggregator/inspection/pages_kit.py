"""What the inspectors' page modules share: the node's :class:`~federation.web.WebPages`, Post/Redirect/Get, the
counties of a scope for the filters, and the Chinese labels the pages show."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse

from city_aggregator.inspection.context import InspectionContext
from city_aggregator.inspection.scope import Scope
from county_node.supervision.domain.alerts import ACTOR_LABELS, STATUS_LABELS
from federation.identities import DivisionLevel
from federation.web import WebPages
from federation.web.kit import SECURITY_HEADERS
from security.access import Principal

__all__ = [
    "ALERT_STATUS_OPTIONS",
    "LEVEL_OPTIONS",
    "LIGHT_OPTIONS",
    "actor_label",
    "counties_of",
    "query_string",
    "render",
    "see_other",
]

LIGHT_OPTIONS: tuple[tuple[str, str], ...] = (("red", "红灯"), ("yellow", "黄灯"))
ALERT_STATUS_OPTIONS: tuple[tuple[str, str], ...] = (
    ("active", "未关闭（全部）"),
    *((s.value, label) for s, label in STATUS_LABELS.items()),
)
LEVEL_OPTIONS: tuple[tuple[str, str], ...] = (("county", "县（市、区）"), ("department", "部门"), ("window", "窗口"))


def actor_label(actor: str) -> str:
    return ACTOR_LABELS.get(actor, actor)


def render(request: Request, template: str, who: Principal, **values: Any) -> HTMLResponse:
    web: WebPages = request.app.state.web
    web.env.filters.setdefault("actor", actor_label)
    return web.render(request, template, who, **values)


def see_other(url: str) -> RedirectResponse:
    """Post/Redirect/Get: after a successful write, to the record's page."""
    return RedirectResponse(url, status_code=303, headers=dict(SECURITY_HEADERS))


def counties_of(ctx: InspectionContext, scope: Scope) -> list[tuple[str, str]]:
    """(code, name) of every county of the division table inside ``scope``, for the filters."""
    return [(d.code, d.name) for d in ctx.registry.of_level(DivisionLevel.COUNTY) if scope.covers(d.code)]


def query_string(values: Mapping[str, Any]) -> str:
    """``?a=1&b=2`` of the values that are set (nothing when none is)."""
    kept = {k: v for k, v in values.items() if v not in (None, "")}
    return "?" + urlencode(kept) if kept else ""
