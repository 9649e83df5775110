"""``sunshine province init|serve``: the province node (receives every county's records via the cities)."""

from __future__ import annotations

from federation.identities import DivisionLevel
from province_center.bootstrap import replication_appliers
from sync_agent.entrypoints.receiver_cli import receiver_node_app

__all__ = ["province_app"]

province_app = receiver_node_app(
    DivisionLevel.PROVINCE,
    replication_appliers,
    relay=False,  # nothing goes further up; what the province sends down is its own outbox
    help_text="省级节点：初始化数据目录、启动复制接收服务（接收全省各县经市级转发的数据）。",
)
