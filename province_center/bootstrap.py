"""Composition root of the province node: what its replication receiver applies.

The province holds read-only replicas of every county's cases and events and of their supervision records
(alerts, complaints, ratings), relayed by the cities; it owns the standards, so it never receives them.
"""

from __future__ import annotations

from typing import Any

from county_node.approval.adapters.replica import default_appliers
from county_node.supervision.adapters.replica import supervision_appliers
from sync_agent.appliers import Applier

__all__ = ["replication_appliers"]


def replication_appliers() -> dict[str, Applier[Any]]:
    return {**default_appliers(), **supervision_appliers()}
