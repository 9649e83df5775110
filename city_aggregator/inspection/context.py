"""What the inspectors' API of one node runs on: its configuration, engine, clock, division table and service.

Built by the node's composition root (``city_aggregator.bootstrap`` / ``province_center.bootstrap``), which owns
the engine; the clock is the node's (the demo's simulated one when ``[simulation]`` is enabled), so "now" — the
lights, the overdue complaints, the default trend months — is the node's "now".
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from city_aggregator.inspection.scope import Scope, resolve_scope
from city_aggregator.inspection.service import InspectionService
from federation.config import Config
from federation.identities import DivisionRegistry
from federation.timeutil import Clock

__all__ = ["InspectionContext"]


@dataclass
class InspectionContext:
    config: Config
    engine: Engine
    clock: Clock
    registry: DivisionRegistry
    service: InspectionService

    @property
    def division(self) -> str:
        return self.config.node.division

    @property
    def name(self) -> str:
        return self.config.node.name or self.service.name_of(self.division) or self.division

    def scope(self, inspector: str | None) -> Scope:
        """The scope of a request made by an inspector of division ``inspector`` (their account's; None: the node's
        own)."""
        return resolve_scope(self.division, inspector)
