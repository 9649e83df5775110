"""Composition root of a city node: what its replication receiver applies.

A city holds read-only replicas of its counties' cases and events and of their supervision records (alerts,
complaints, ratings), relays them up unchanged, and relays the province's standards down (it applies them
itself: its replicas' due moments are computed on the calendar in force).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from city_aggregator.orders.replica import order_appliers
from county_node.approval.adapters.reindex import reindex_replicas
from county_node.approval.adapters.replica import default_appliers
from county_node.standards_validation import bundle_validators
from county_node.supervision.adapters.replica import supervision_appliers
from county_node.video.adapters.replica import video_appliers
from federation.config import Config
from federation.storage.scores_replica import SCORE_RECORD, ScoreApplier
from federation.storage.standards_replica import STANDARDS_RECORD, StandardsApplier
from federation.storage.standards_status import STATUS_RECORD, StandardsStatusApplier
from sync_agent.appliers import Applier

__all__ = ["receiver_appliers", "replication_appliers"]


def replication_appliers(division: str | None = None) -> dict[str, Applier[Any]]:
    """Standards first (a batch may carry a calendar its cases' due moments need), then cases and their events,
    then the supervision records. With the city's ``division``, it reports the standards it applies."""
    return {
        STANDARDS_RECORD: StandardsApplier(reindex_replicas, validators=bundle_validators(), node=division),
        STATUS_RECORD: StandardsStatusApplier(),
        **default_appliers(),
        **supervision_appliers(),
        **video_appliers(),  # the counties' video index (cameras, segments, events), never the video
        **order_appliers(),  # the province's orders on their way down, the counties' replies
        SCORE_RECORD: ScoreApplier(),  # the province's scores on their way down
    }


def receiver_appliers(config: Config, engine: Engine) -> dict[str, Applier[Any]]:
    """What the node's receiver applies (``admin quarantine replay`` uses it, as ``serve`` does)."""
    del engine  # nothing here needs the node's services
    return replication_appliers(config.node.division)
