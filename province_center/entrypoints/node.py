"""What the province's (and a city's) admin commands open: the node's clock and its migrated database.

Each command reads the configuration once (``federation.cli.setup``) and calls these; nothing connects at import.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from federation.errors import ConfigError

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from federation.config import Config

__all__ = ["node_clock", "node_engine"]


def node_clock(cfg: Config) -> Callable[[], datetime]:
    """The node's "now": the real clock, or the simulated one of ``[simulation]`` (the demo)."""
    from federation.timeutil import SimulatedClock, utcnow

    if cfg.simulation.enabled:
        return SimulatedClock(cfg.simulation.start_moment() or utcnow(), cfg.simulation.speed)
    return utcnow


def node_engine(cfg: Config) -> Engine:
    """The node's database, which must already be at the newest schema (``sunshine db upgrade``)."""
    from federation.storage.engine import make_engine
    from federation.storage.migrate import current_revision, head_revision

    engine = make_engine(cfg.database_url, echo=cfg.database.echo, sqlite_synchronous=cfg.database.sqlite_synchronous)
    current, head = current_revision(engine), head_revision()
    if current != head:
        engine.dispose()
        raise ConfigError(
            f"数据库结构版本为 {current or '空库'}，不是最新的 {head}；请先执行 sunshine db upgrade",
            current=current,
            head=head,
        )
    return engine
