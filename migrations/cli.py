"""``sunshine db upgrade|current``: the node's database schema, migrated by this package's Alembic versions."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from federation.cli import config_option, setup
from federation.storage.engine import engine_from_config

__all__ = ["db_app"]

db_app = typer.Typer(help="数据库：迁移与版本。", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade(
    config: Annotated[Path | None, config_option] = None,
    revision: Annotated[str, typer.Option(help="目标版本")] = "head",
) -> None:
    """把数据库迁移到最新结构（新库与已有库均可）。"""
    from migrations.runner import current_revision, upgrade

    engine = engine_from_config(setup(config))
    before = current_revision(engine)
    upgrade(engine, revision)
    after = current_revision(engine)
    engine.dispose()
    typer.echo(f"数据库已迁移：{before or '空库'} → {after}")


@db_app.command("current")
def db_current(config: Annotated[Path | None, config_option] = None) -> None:
    """显示数据库当前的结构版本。"""
    from migrations.runner import current_revision, head_revision

    engine = engine_from_config(setup(config))
    current = current_revision(engine)
    engine.dispose()
    typer.echo(f"当前版本：{current or '空库'}；最新版本：{head_revision()}")
