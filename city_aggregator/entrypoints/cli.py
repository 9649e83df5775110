"""``sunshine city init|serve|order|score``: a city node (receives its counties' streams; its agent relays them up)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from city_aggregator.entrypoints.node_cli import receiver_node_app
from city_aggregator.entrypoints.order_cli import order_app
from city_aggregator.entrypoints.score_cli import score_app_for
from federation.identities import DivisionLevel

if TYPE_CHECKING:
    from city_aggregator.bootstrap import CityNode
    from federation.config import Config

__all__ = ["city_app"]


def _build(config: Config) -> CityNode:
    """The city's composition root, imported when a command runs (the ``sunshine`` CLI starts fast)."""
    from city_aggregator.bootstrap import build_city_node

    return build_city_node(config)


city_app = receiver_node_app(
    DivisionLevel.CITY,
    _build,
    relay=True,  # the city's agent forwards every county batch unchanged, and the province's down
    help_text="市级节点：初始化数据目录、启动复制接收服务（接收所辖县的数据并向省级转发）。",
)
city_app.add_typer(order_app(DivisionLevel.CITY, _build), name="order")  # 督办 / 催办
city_app.add_typer(score_app_for(DivisionLevel.CITY, _build), name="score")  # 考核评分
