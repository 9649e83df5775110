"""Composition root of the province node: the city's root (``city_aggregator.bootstrap``) with what the province
adds and omits — built once from the configuration by every entry point of the province (serve, ``order``,
``score``, ``standards publish``, the quarantine replay through ``federation.nodes.build_node``).

The province holds read-only replicas of every county's cases and events, supervision records and video index,
relayed by the cities; it owns the standards, so it never receives them — it puts them in place only by
publishing them — but it keeps every node's report of the standards it runs (``standards_status``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from city_aggregator.bootstrap import CityNode, upper_node_parts
from county_node.approval.adapters.reindex import reindex_replicas
from county_node.approval.adapters.replica import default_appliers
from county_node.supervision.adapters.order_replicas import order_appliers
from county_node.supervision.adapters.replica import supervision_appliers
from county_node.video.adapters.replica import video_appliers
from federation.config import Config
from federation.data import DIVISIONS_CSV
from federation.identities import DivisionLevel
from federation.replication import Applier
from federation.standards import StandardsBundle
from federation.storage.audit_log import AUDIT_RECORD, AuditApplier
from federation.storage.standards_status import STATUS_RECORD, StandardsStatusApplier
from federation.timeutil import Clock
from province_center.standards import Publication, publication_validators, publish_standards

__all__ = ["ProvinceNode", "build_province_node", "replication_appliers"]


@dataclass
class ProvinceNode(CityNode):
    """The province node: the inspectors' API, orders and scoring as a city has them, over the whole province,
    plus the publication of standards."""

    def receiver_appliers(self) -> dict[str, Applier[Any]]:
        return replication_appliers(self.division)

    def publish(self, bundle: StandardsBundle) -> Publication:
        """Put ``bundle`` in force here and queue it down to every city and county (``province_center.standards``);
        the replicas' due moments follow a changed calendar in the same transaction."""
        return publish_standards(
            self.engine, bundle, self.division, self.clock, publication_validators(), on_applied=reindex_replicas
        )


def replication_appliers(division: str | None = None) -> dict[str, Applier[Any]]:
    """What the province's receiver applies: every county's records relayed by the cities, every node's
    standards report, the cities' orders and the counties' replies (never standards: it publishes them)."""
    del division  # the province's own standards report is written when it publishes
    return {
        **default_appliers(),
        **supervision_appliers(),
        **video_appliers(),  # the counties' video index (cameras, segments, events), never the video
        STATUS_RECORD: StandardsStatusApplier(),
        **order_appliers(),  # the cities' orders, the counties' replies
        AUDIT_RECORD: AuditApplier(),  # the counties' audit chains, kept and verified here
    }


def build_province_node(
    config: Config, *, engine: Engine | None = None, clock: Clock | None = None, divisions: Path = DIVISIONS_CSV
) -> ProvinceNode:
    """The province node ``config`` describes; over ``engine`` / ``clock`` when given (the caller owns the
    engine)."""
    eng, clk, registry = upper_node_parts(config, DivisionLevel.PROVINCE, engine, clock, divisions)
    return ProvinceNode(config, eng, clk, registry, owns_engine=engine is None)
