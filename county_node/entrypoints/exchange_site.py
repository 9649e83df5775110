"""What every exchange admin's page works on (交换管理, issue 17): the node's configuration, database and clock, and
what its receiver applies (for a quarantined record's replay) — the same on a county, a city and a province."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine
from starlette.requests import Request
from starlette.responses import HTMLResponse

from federation.config import Config
from federation.replication import AppliersByType
from federation.timeutil import Clock

__all__ = ["ExchangeSite", "duration_text", "link_label", "origin_label", "render"]


@dataclass
class ExchangeSite:
    """``appliers``: the node's receiver appliers with its hooks (None: built by the node's own composition root,
    :func:`federation.nodes.build_node`, over this engine and clock, on the first replay)."""

    config: Config
    engine: Engine
    clock: Clock
    appliers: Callable[[], AppliersByType] | None = None
    _built: AppliersByType | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @property
    def division(self) -> str:
        return self.config.node.division

    def receiver_appliers(self) -> AppliersByType:
        if self.appliers is not None:
            return self.appliers()
        with self._lock:
            if self._built is None:
                from federation.nodes import build_node

                self._built = build_node(self.config, engine=self.engine, clock=self.clock).receiver_appliers()
            return self._built


def render(request: Request, template: str, who: Any, **values: Any) -> HTMLResponse:
    """A page of the node's kit (:class:`federation.web.WebPages`, on ``app.state.web``)."""
    return request.app.state.web.render(request, template, who, **values)  # type: ignore[no-any-return]


def duration_text(seconds: float) -> str:
    """``3 天 2 小时``, ``2 小时 5 分``, ``4 分 30 秒``, ``12 秒`` — how long, for a person."""
    s = round(max(0.0, seconds))
    days, rest = divmod(s, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} 天 {hours} 小时"
    if hours:
        return f"{hours} 小时 {minutes} 分"
    if minutes:
        return f"{minutes} 分 {secs} 秒"
    return f"{secs} 秒"


def link_label(name: str) -> str:
    """A link's name in Chinese: ``up`` 上行（至上级）, ``down-HOST:PORT`` 下行, ``extranet`` 出网（至外网节点）."""
    if name == "up":
        return "上行（至上级节点）"
    if name == "extranet":
        return "出网（至本县外网节点）"
    if name.startswith("down-"):
        return "下行（至下级节点）"
    return name


def origin_label(origin: str) -> str:
    """An origin as a person reads it: ``371122``, ``371122 公开数据流`` (its public stream), ``371122 外网节点``."""
    code, _, kind = origin.partition("-")
    return {"pub": f"{code} 公开数据流", "ext": f"{code} 外网节点"}.get(kind, origin)
