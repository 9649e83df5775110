"""Composition root of the inspectors' API on a city or province node: engine, clock, division table, services.

Built once by the entry point (``sunshine city|province serve``) from the configuration; nothing connects at
import time. The clock is the node's (the demo's simulated one when ``[simulation]`` is enabled), so "now" — the
lights, the overdue complaints, the default trend months — is the node's "now".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import structlog
from sqlalchemy import Engine

from city_aggregator.inspection.scope import Scope, resolve_scope
from city_aggregator.inspection.service import InspectionService
from county_node.approval.services import ApprovalService
from county_node.video.domain import ClipMargin
from federation.config import Config
from federation.data import DIVISIONS_CSV
from federation.errors import ConfigError
from federation.identities import DivisionRegistry
from federation.storage.engine import make_engine
from federation.timeutil import SimulatedClock, utcnow

__all__ = ["InspectionContext", "build_inspection_context"]

log = structlog.get_logger(__name__)


@dataclass
class InspectionContext:
    """What the inspectors' API of one node runs on. ``owns_engine``: :meth:`close` disposes the engine."""

    config: Config
    engine: Engine
    clock: Callable[[], datetime]
    registry: DivisionRegistry
    service: InspectionService
    owns_engine: bool = False

    @property
    def division(self) -> str:
        return self.config.node.division

    @property
    def name(self) -> str:
        return self.config.node.name or self.service.name_of(self.division) or self.division

    def scope(self, inspector: str | None) -> Scope:
        """The scope of a request made by an inspector of division ``inspector`` (None: the node's own)."""
        return resolve_scope(self.division, inspector)

    def close(self) -> None:
        if self.owns_engine:
            self.engine.dispose()


def build_inspection_context(
    config: Config,
    *,
    engine: Engine | None = None,
    clock: Callable[[], datetime] | None = None,
    divisions: Path = DIVISIONS_CSV,
) -> InspectionContext:
    """The context of the node described by ``config``; over ``engine`` when given (the caller owns it)."""
    owns = engine is None
    if engine is None:
        engine = make_engine(
            config.database_url, echo=config.database.echo, sqlite_synchronous=config.database.sqlite_synchronous
        )
    if clock is None:
        clock = utcnow
        if config.simulation.enabled:
            start = config.simulation.start_moment() or utcnow()
            clock = SimulatedClock(start, config.simulation.speed)
            log.warning("clock.simulated", start=start.isoformat(), speed=config.simulation.speed)
    if not divisions.is_file():
        raise ConfigError(f"找不到行政区划表 {divisions}", path=str(divisions))
    registry = DivisionRegistry.from_csv(divisions)
    division = config.node.division
    approval = ApprovalService(engine, division, clock, config.clock, read_only=True)  # the case drill-down
    margin = ClipMargin.of_seconds(config.video.margin_before_s, config.video.margin_after_s)
    service = InspectionService(engine, division, clock, registry, approval, clip_margin=margin)
    return InspectionContext(config, engine, clock, registry, service, owns_engine=owns)
