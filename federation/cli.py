"""The ``sunshine`` command line: the root, into which every package contributes its commands.

Packages above the kernel (the tiers, the sync agent, the migrations' ``db`` commands) contribute sub-commands
through the ``sunshine.cli`` entry-point group (name → typer app), so this shared kernel imports none of them.
Errors of the Sunshine tree are printed as one Chinese line with their code, never as a traceback, and exit with
status 2 when the request itself was wrong (:data:`USER_ERRORS`: bad input or configuration, a record that does
not exist, a state that forbids the action — asking again the same way cannot succeed) or 1 when the system
failed it (the database, the SMS gateway, a peer, anything internal — the same request may succeed later).
"""

from __future__ import annotations

import sys
from datetime import datetime
from importlib.metadata import entry_points
from pathlib import Path

import typer

from federation.config import Config, load_config
from federation.errors import (
    CalendarError,
    ConfigError,
    Conflict,
    Forbidden,
    LimitExceeded,
    NotFound,
    RecordRejected,
    SignatureInvalid,
    StandardsError,
    SunshineError,
    Unauthenticated,
    ValidationError,
)
from federation.logging import configure_logging

__all__ = ["USER_ERRORS", "app", "at_moment", "config_option", "main", "setup"]

USER_ERRORS: tuple[type[SunshineError], ...] = (
    ConfigError,
    ValidationError,
    Forbidden,
    LimitExceeded,
    NotFound,
    Conflict,
    CalendarError,
    StandardsError,
    RecordRejected,  # a fixed quarantine payload that still does not pass
    Unauthenticated,  # a bad token, login or certificate
    SignatureInvalid,
    LimitExceeded,
)
"""The errors that exit with status 2: the request was wrong. Every other error (StorageError,
NotificationError, the sync agent's LinkError and BatchRefused, an internal SunshineError) exits with 1."""

app = typer.Typer(
    name="sunshine",
    help="Sunshine 电子监察联邦：县级节点、同步代理、市级汇聚与省级中心的管理命令。",
    no_args_is_help=True,
    add_completion=False,
)

config_option = typer.Option(
    "--config", "-c", envvar="SUNSHINE_CONFIG", help="配置文件（TOML）路径", exists=False, dir_okay=False
)


def setup(config_path: Path | None) -> Config:
    """Read the configuration once and configure logging; every command calls this first."""
    cfg = load_config(config_path)
    configure_logging(cfg.log.format, cfg.log.level)
    return cfg


def _register_tiers(only: str | None = None) -> None:
    """Every package's command groups (``sunshine.cli``); a group named N also takes the commands other packages
    contribute to it through ``sunshine.cli.N`` (the PKI commands of ``security`` join ``sunshine admin``).

    ``only``: the group a command line names (``sunshine user login …``): when a package contributes it, only that
    group is loaded — a command imports its own package, not every tier's HTTP apps (about a second of start-up).
    The root's help, and a name no package contributes, load them all."""
    groups = sorted(entry_points(group="sunshine.cli"), key=lambda e: e.name)
    if any(ep.name == only for ep in groups):
        groups = [ep for ep in groups if ep.name == only]
    for ep in groups:
        sub: typer.Typer = ep.load()
        for extra in sorted(entry_points(group=f"sunshine.cli.{ep.name}"), key=lambda e: e.name):
            more: typer.Typer = extra.load()
            sub.registered_commands.extend(more.registered_commands)
            sub.registered_groups.extend(more.registered_groups)
        app.add_typer(sub, name=ep.name)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    _register_tiers(args[0] if args else None)  # the root takes no option but --help: a group comes first
    try:
        rc = app(args=args, prog_name="sunshine", standalone_mode=False)
        if isinstance(rc, int) and rc:  # typer.Exit(code) comes back as a return value without standalone mode
            sys.exit(rc)
    except SunshineError as exc:
        typer.echo(f"错误[{exc.code}]：{exc}", err=True)
        sys.exit(2 if isinstance(exc, USER_ERRORS) else 1)
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


def at_moment(text: str) -> datetime:
    """``--at``: an ISO 8601 moment with its zone (a run as of that moment), or ValidationError."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError(f"--at 不是有效的时刻：{text}（例如 2026-11-30T17:30:00+08:00）", at=text) from None
    if moment.tzinfo is None:
        raise ValidationError(f"--at 必须带时区，例如 {text}+08:00", at=text)
    return moment
