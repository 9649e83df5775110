"""The ``sunshine`` command line: the root, ``db`` commands, and every tier's commands.

Tier packages contribute sub-commands through the ``sunshine.cli`` entry-point group (name → typer app), so
this shared kernel carries no tier logic. Errors of the Sunshine tree are printed as one Chinese line with their
code, never as a traceback, and exit with status 2 (user error) or 1 (anything else).
"""

from __future__ import annotations

import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Annotated

import typer

from federation.config import Config, load_config
from federation.errors import ConfigError, NotFound, SunshineError, ValidationError
from federation.logging import configure_logging

__all__ = ["app", "config_option", "main", "setup"]

app = typer.Typer(
    name="sunshine",
    help="Sunshine 电子监察联邦：县级节点、同步代理、市级汇聚与省级中心的管理命令。",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(help="数据库：迁移与版本。", no_args_is_help=True)
app.add_typer(db_app, name="db")

config_option = typer.Option(
    "--config", "-c", envvar="SUNSHINE_CONFIG", help="配置文件（TOML）路径", exists=False, dir_okay=False
)


def setup(config_path: Path | None) -> Config:
    """Read the configuration once and configure logging; every command calls this first."""
    cfg = load_config(config_path)
    configure_logging(cfg.log.format, cfg.log.level)
    return cfg


@db_app.command("upgrade")
def db_upgrade(
    config: Annotated[Path | None, config_option] = None,
    revision: Annotated[str, typer.Option(help="目标版本")] = "head",
) -> None:
    """把数据库迁移到最新结构（新库与已有库均可）。"""
    from federation.storage.engine import make_engine
    from federation.storage.migrate import current_revision, upgrade

    cfg = setup(config)
    engine = make_engine(cfg.database_url)
    before = current_revision(engine)
    upgrade(engine, revision)
    after = current_revision(engine)
    engine.dispose()
    typer.echo(f"数据库已迁移：{before or '空库'} → {after}")


@db_app.command("current")
def db_current(config: Annotated[Path | None, config_option] = None) -> None:
    """显示数据库当前的结构版本。"""
    from federation.storage.engine import make_engine
    from federation.storage.migrate import current_revision, head_revision

    cfg = setup(config)
    engine = make_engine(cfg.database_url)
    current = current_revision(engine)
    engine.dispose()
    typer.echo(f"当前版本：{current or '空库'}；最新版本：{head_revision()}")


def _register_tiers() -> None:
    for ep in sorted(entry_points(group="sunshine.cli"), key=lambda e: e.name):
        sub = ep.load()
        app.add_typer(sub, name=ep.name)


def main(argv: list[str] | None = None) -> None:
    _register_tiers()
    try:
        rc = app(args=argv, prog_name="sunshine", standalone_mode=False)
        if isinstance(rc, int) and rc:  # typer.Exit(code) comes back as a return value without standalone mode
            sys.exit(rc)
    except SunshineError as exc:
        typer.echo(f"错误[{exc.code}]：{exc}", err=True)
        user_error = isinstance(exc, ValidationError | NotFound | ConfigError) or exc.code != "internal"
        sys.exit(2 if user_error else 1)
    except typer.Abort:
        typer.echo("已取消", err=True)
        sys.exit(130)
    except Exception as exc:
        # usage errors (a missing option, a bad value) and exits carry their own exit code; recognised by shape,
        # because typer ships its own copy of click (typer._click) whose classes are not click's
        code = getattr(exc, "exit_code", None)
        if not isinstance(code, int):
            raise
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        sys.exit(code)


if __name__ == "__main__":
    main()
