"""The node a configuration describes, built by its own tier's composition root — without the kernel naming a tier.

Each tier registers its composition root in the ``sunshine.node`` entry-point group under its level's name::

    [project.entry-points."sunshine.node"]
    county = "county_node.bootstrap:build_county_node"
    city = "city_aggregator.bootstrap:build_city_node"
    province = "province_center.bootstrap:build_province_node"
    extranet = "county_node.extranet.bootstrap:build_extranet_node"   # a county's extranet node, 371122-ext

Commands that serve every level — ``sunshine admin quarantine replay`` (it must apply a record exactly as the
node's receiver does), ``sunshine score show`` — call :func:`build_node` and get the node of the configuration's
division, as its tier wires it; the kernel and the sync agent import no tier (the dependency runs from the tiers
to the registry, as it does for the ``sunshine.cli`` commands).
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Protocol

from federation.errors import ConfigError
from federation.identities import BoundaryKind, boundary_kind, level_of

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from federation.config import Config
    from federation.replication import AppliersByType
    from federation.replication.trust import LinkSecurity
    from federation.timeutil import Clock

__all__ = ["NODE_GROUP", "Node", "NodeBuilder", "build_node"]

NODE_GROUP = "sunshine.node"
_LEVEL_NAMES = {"county": "县级", "city": "市级", "province": "省级", "extranet": "外网"}
EXTRANET_NODE = "extranet"  # the entry point of a county's extranet node (371122-ext), which is no division level


class Node(Protocol):
    """What every tier's composition root builds: the node's configuration, database and clock, what its
    replication receiver applies, and how to release it."""

    @property
    def config(self) -> Config: ...

    @property
    def engine(self) -> Engine: ...

    @property
    def clock(self) -> Clock: ...

    def receiver_appliers(self) -> AppliersByType:
        """What the node's receiver applies, with the node's own hooks (as ``serve`` runs them)."""
        ...

    def link_security(self, *, insecure_dev: bool = False) -> LinkSecurity | None:
        """The node's machine trust for its links (None, with a warning, only when ``insecure_dev``)."""
        ...

    def close(self) -> None:
        """Release what the node opened (its engine, unless the caller handed it in)."""
        ...


class NodeBuilder(Protocol):
    def __call__(self, config: Config, *, engine: Engine | None = None, clock: Clock | None = None) -> Node: ...


def build_node(config: Config, *, engine: Engine | None = None, clock: Clock | None = None) -> Node:
    """The node ``config`` describes, built by the composition root its level registered — over ``engine`` and
    ``clock`` when given (the caller keeps owning the engine), else from ``config``."""
    division = config.node.division
    kind = EXTRANET_NODE if boundary_kind(division) is BoundaryKind.EXTRANET else level_of(division).value
    found = entry_points(group=NODE_GROUP, name=kind)
    if not found:
        raise ConfigError(
            f"未安装{_LEVEL_NAMES[kind]}节点的组装入口（{NODE_GROUP}:{kind}），请重新安装 Sunshine",
            division=config.node.division,
        )
    builder: NodeBuilder = next(iter(found)).load()
    return builder(config, engine=engine, clock=clock)
