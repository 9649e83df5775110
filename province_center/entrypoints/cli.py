"""``sunshine province init|serve|order|score|standards``: the province node (receives every county's records via
the cities, publishes the standards down, scores the counties)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from city_aggregator.entrypoints.node_cli import receiver_node_app
from city_aggregator.entrypoints.order_cli import order_app
from city_aggregator.entrypoints.score_cli import score_app_for
from federation.identities import DivisionLevel
from province_center.entrypoints.standards_cli import standards_app

if TYPE_CHECKING:
    from federation.config import Config
    from province_center.bootstrap import ProvinceNode

__all__ = ["province_app"]


def _build(config: Config) -> ProvinceNode:
    """The province's composition root, imported when a command runs (the ``sunshine`` CLI starts fast)."""
    from province_center.bootstrap import build_province_node

    return build_province_node(config)


province_app = receiver_node_app(
    DivisionLevel.PROVINCE,
    _build,
    relay=False,  # nothing goes further up; what the province sends down is its own outbox
    help_text="省级节点：初始化数据目录、启动复制接收服务（接收全省各县经市级转发的数据）。",
)
province_app.add_typer(order_app(DivisionLevel.PROVINCE, _build), name="order")  # 督办 / 催办
province_app.add_typer(score_app_for(DivisionLevel.PROVINCE, _build), name="score")  # 考核评分
province_app.add_typer(standards_app, name="standards")  # build, publish, show (alias: sunshine standards)
