"""``sunshine city init|serve``: a city node (receives its counties' streams; its agent relays them up)."""

from __future__ import annotations

from city_aggregator.bootstrap import replication_appliers
from city_aggregator.inspection import inspector_http_app
from city_aggregator.orders.cli import order_app
from federation.identities import DivisionLevel
from province_center.entrypoints.score_cli import city_score_app
from sync_agent.entrypoints.receiver_cli import receiver_node_app

__all__ = ["city_app"]

city_app = receiver_node_app(
    DivisionLevel.CITY,
    replication_appliers,
    relay=True,  # the city's agent forwards every county batch unchanged, and the province's down
    help_text="市级节点：初始化数据目录、启动复制接收服务（接收所辖县的数据并向省级转发）。",
    http_app=inspector_http_app,  # the inspectors' API (/api/v1) on [http] host:port
)
city_app.add_typer(order_app(DivisionLevel.CITY), name="order")  # 督办 / 催办
city_app.add_typer(city_score_app, name="score")  # 考核评分
