"""Run this package's Alembic migrations programmatically (``sunshine db upgrade``, every ``init``), for new and
existing databases. The migrations sit above the kernel: they read its tables, the kernel never runs them."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from federation.errors import ConfigError

__all__ = ["alembic_config", "current_revision", "head_revision", "require_head", "upgrade"]


def alembic_config() -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(Path(__file__).resolve().parent))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database behind ``engine`` to ``revision`` (default: head), in one transaction."""
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def head_revision() -> str:
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"expected one migration head, found {heads}")
    return heads[0]


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def require_head(engine: Engine) -> None:
    """Refuse a database that is not at the newest schema (the commands that read a node's data call this)."""
    current, head = current_revision(engine), head_revision()
    if current != head:
        raise ConfigError(
            f"数据库结构版本为 {current or '空库'}，不是最新的 {head}；请先执行 sunshine db upgrade",
            current=current,
            head=head,
        )
