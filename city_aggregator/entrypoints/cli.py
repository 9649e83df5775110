"""``sunshine city init|serve``: a city node (receives its counties' streams; its agent relays them up)."""

from __future__ import annotations

from city_aggregator.bootstrap import replication_appliers
from federation.identities import DivisionLevel
from sync_agent.entrypoints.receiver_cli import receiver_node_app

__all__ = ["city_app"]

city_app = receiver_node_app(
    DivisionLevel.CITY,
    replication_appliers,
    relay=True,  # the city's agent forwards every county batch unchanged, and the province's down
    help_text="市级节点：初始化数据目录、启动复制接收服务（接收所辖县的数据并向省级转发）。",
)
