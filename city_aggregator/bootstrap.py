"""Composition root of a city node: what its replication receiver applies.

A city holds read-only replicas of its counties' cases and events and of their supervision records (alerts,
complaints, ratings), relays them up unchanged, and relays the province's standards down (it applies them
itself: its replicas' due moments are computed on the calendar in force).
"""

from __future__ import annotations

from typing import Any

from county_node.approval.adapters.replica import default_appliers
from county_node.supervision.adapters.replica import supervision_appliers
from federation.storage.standards_replica import STANDARDS_RECORD, StandardsApplier
from sync_agent.appliers import Applier

__all__ = ["replication_appliers"]


def replication_appliers() -> dict[str, Applier[Any]]:
    """Standards first (a batch may carry a calendar its cases' due moments need), then cases and their events,
    then the supervision records."""
    return {STANDARDS_RECORD: StandardsApplier(), **default_appliers(), **supervision_appliers()}
