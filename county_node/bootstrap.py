"""Composition root of a county node process: builds the engine, the clock and the services from config.

Nothing connects at import time; ``build_county_node`` is called once by an entry point (HTTP server, CLI).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy import Engine

from county_node.approval.services import ApprovalService
from federation.config import Config
from federation.storage.engine import make_engine
from federation.timeutil import SimulatedClock, utcnow

__all__ = ["CountyNode", "build_county_node"]

log = structlog.get_logger(__name__)


@dataclass
class CountyNode:
    config: Config
    engine: Engine
    clock: Callable[[], datetime]
    approval: ApprovalService

    def close(self) -> None:
        self.engine.dispose()


def build_county_node(config: Config, *, engine: Engine | None = None) -> CountyNode:
    engine = engine or make_engine(
        config.database_url, echo=config.database.echo, sqlite_synchronous=config.database.sqlite_synchronous
    )
    clock: Callable[[], datetime] = utcnow
    if config.simulation.enabled:
        start = config.simulation.start_moment() or utcnow()
        clock = SimulatedClock(start, config.simulation.speed)
        log.warning("clock.simulated", start=start.isoformat(), speed=config.simulation.speed)
    approval = ApprovalService(engine, config.node.division, clock, config.clock)
    return CountyNode(config=config, engine=engine, clock=clock, approval=approval)
