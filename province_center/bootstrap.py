"""Composition root of the province node: what its replication receiver applies.

The province holds read-only replicas of every county's cases and events and of their supervision records
(alerts, complaints, ratings), relayed by the cities; it owns the standards, so it never receives them — but it
keeps every node's report of the standards it runs (``standards_status``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from city_aggregator.orders.replica import order_appliers
from county_node.approval.adapters.replica import default_appliers
from county_node.supervision.adapters.replica import supervision_appliers
from county_node.video.adapters.replica import video_appliers
from federation.config import Config
from federation.storage.standards_status import STATUS_RECORD, StandardsStatusApplier
from sync_agent.appliers import Applier

__all__ = ["receiver_appliers", "replication_appliers"]


def replication_appliers(division: str | None = None) -> dict[str, Applier[Any]]:
    del division  # the province puts standards in place only by publishing them (its own report is written there)
    return {
        **default_appliers(),
        **supervision_appliers(),
        **video_appliers(),  # the counties' video index (cameras, segments, events), never the video
        STATUS_RECORD: StandardsStatusApplier(),
        **order_appliers(),  # the cities' orders, the counties' replies
    }


def receiver_appliers(config: Config, engine: Engine) -> dict[str, Applier[Any]]:
    """What the node's receiver applies (``admin quarantine replay`` uses it, as ``serve`` does)."""
    del engine  # nothing here needs the node's services
    return replication_appliers(config.node.division)
