"""``sunshine province init|serve``: the province node (receives every county's records via the cities)."""

from __future__ import annotations

from city_aggregator.inspection import inspector_http_app
from city_aggregator.orders.cli import order_app
from federation.identities import DivisionLevel
from province_center.bootstrap import replication_appliers
from province_center.entrypoints.score_cli import province_score_app
from province_center.entrypoints.standards_cli import standards_app
from sync_agent.entrypoints.receiver_cli import receiver_node_app

__all__ = ["province_app"]

province_app = receiver_node_app(
    DivisionLevel.PROVINCE,
    replication_appliers,
    relay=False,  # nothing goes further up; what the province sends down is its own outbox
    help_text="省级节点：初始化数据目录、启动复制接收服务（接收全省各县经市级转发的数据）。",
    http_app=inspector_http_app,  # the inspectors' API (/api/v1) on [http] host:port
)
province_app.add_typer(order_app(DivisionLevel.PROVINCE), name="order")  # 督办 / 催办
province_app.add_typer(province_score_app, name="score")  # 考核评分
province_app.add_typer(standards_app, name="standards")  # build, publish, show (alias: sunshine standards)
