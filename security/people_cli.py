"""``sunshine user …`` and ``sunshine admin audit …``: people at the command line (issue 15).

=====================================================  ===========================================================
user login --user ID [--password-file F]               log this OS user's command line in (session in the keyring)
user logout / user whoami                              end it / who is logged in
user add ID --name N --roles R[,R] [--division D]      a new account (node admin); password from --password-file
        [--password-file F]                            or standard input / a prompt
user list                                              the accounts of this node within the admin's subtree
user disable ID / user enable ID                       stop an account (its sessions end at once) / allow it again
user roles ID R[,R]                                    replace an account's roles (its sessions end)
user passwd [ID] [--password-file F]                   a new password (own, or another's as node admin)
admin audit verify [--origin D] [--json]               recompute every audit chain held here; exit 2 naming the
                                                       first bad entry of each broken chain
admin audit list [--origin D] [--user ID] [--limit N]  the newest entries
=====================================================  ===========================================================
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import Engine

from federation.cli import config_option, setup
from federation.config import Config
from federation.errors import ConfigError
from federation.storage.engine import engine_from_config
from federation.storage.uow import UnitOfWork
from federation.text import ljust, moment_text
from security.access import AUDIT_ACTION_LABELS, ROLE_LABELS, Permission, Role, role_label
from security.accounts import Account, Accounts, accounts_for

__all__ = [
    "ADMIN_PASSWORD_OPTION",
    "ADMIN_USER_OPTION",
    "audit_admin_app",
    "first_admin",
    "init_first_admin",
    "read_password",
    "user_app",
]

user_app = typer.Typer(help="账号：登录、退出、添加、停用、岗位与密码。", no_args_is_help=True)
audit_admin_app = typer.Typer(help="审计日志。", no_args_is_help=True)
_audit_app = typer.Typer(help="审计日志：核验哈希链、查看最近条目。", no_args_is_help=True)
audit_admin_app.add_typer(_audit_app, name="audit")

_Config = Annotated[Path | None, config_option]
_PasswordFile = Annotated[
    Path | None, typer.Option("--password-file", help="从文件读取密码（首行）；省略时从标准输入读取或提示输入")
]


def read_password(path: Path | None, *, prompt: str = "密码", confirm: bool = False) -> str:
    """A password from ``path`` (its first line), else from a prompt on a terminal, else one line of stdin."""
    if path is not None:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"无法读取密码文件 {path}：{exc.strerror}", path=str(path)) from exc
        return text.splitlines()[0] if text else ""
    if sys.stdin.isatty():
        return str(typer.prompt(prompt, hide_input=True, confirmation_prompt=confirm))
    return sys.stdin.readline().rstrip("\r\n")


@contextmanager
def _accounts(config: Path | None) -> Iterator[tuple[Config, Accounts]]:
    cfg = setup(config)
    engine = engine_from_config(cfg)
    try:
        yield cfg, accounts_for(engine, cfg.node.division)
    finally:
        engine.dispose()


def _roles_text(roles: tuple[Role, ...]) -> str:
    return "、".join(f"{ROLE_LABELS[r]}（{r.value}）" for r in roles)


def _print_account(a: Account) -> None:
    state = "已停用" if a.disabled else ("已锁定" if a.locked_until is not None else "正常")
    typer.echo(f"{ljust(a.user_id, 16)} {ljust(a.name, 8)} {a.division}  {_roles_text(a.roles)}  {state}")


ADMIN_USER_OPTION = typer.Option("--admin-user", help="首个管理员账号（节点管理员兼交换管理员；仅在尚无账号时创建）")
ADMIN_PASSWORD_OPTION = typer.Option(
    "--admin-password-file", help="首个管理员的密码文件（首行）；省略时生成随机密码并只显示这一次"
)


def init_first_admin(engine: Engine, division: str, user_id: str, password_file: Path | None) -> None:
    """The ``init`` commands' step: create the first admin and say so (the generated password shown once)."""
    password = read_password(password_file) if password_file is not None else None
    if accounts_for(engine, division).all():
        typer.echo("本节点已有账号，未创建首个管理员")
        return
    shown = first_admin(engine, division, user_id=user_id, password=password)
    if shown is None:
        typer.echo(f"已创建首个管理员账号 {user_id}（节点管理员、交换管理员）")
    else:
        typer.echo(
            f"已创建首个管理员账号 {user_id}（节点管理员、交换管理员），"
            f"初始密码（只显示这一次，登录后请用 sunshine user passwd 修改）：{shown}"
        )


def first_admin(engine: Engine, division: str, *, user_id: str, password: str | None) -> str | None:
    """At ``init``: the node's first admin (node admin and exchange admin) unless the node has accounts already;
    a generated password when none is given. Returns the password to show once (None when nothing was made)."""
    import secrets

    accounts = accounts_for(engine, division)
    if accounts.all():
        return None
    shown = password or secrets.token_urlsafe(12)
    accounts.add(
        user_id,
        name="节点管理员",
        division=division,
        roles=[Role.NODE_ADMIN.value, Role.EXCHANGE_ADMIN.value],
        password=shown,
    )
    return None if password else shown


# -- user login / logout / whoami ---------------------------------------------------------------------------------


@user_app.command("login")
def user_login(
    user: Annotated[str, typer.Option("--user", "-u", help="账号")],
    password_file: _PasswordFile = None,
    config: _Config = None,
) -> None:
    """登录本节点的命令行（会话令牌保存在本节点密钥库中，有效期 12 小时）。"""
    from security.people import cli_login

    password = read_password(password_file)
    with _accounts(config) as (cfg, accounts):
        session = cli_login(cfg, accounts, user, password)
    p = session.principal
    typer.echo(
        f"已登录：{p.name}（{p.user_id}，{p.role_label}，区划 {p.division}），"
        f"有效期至 {session.expires_at:%Y-%m-%d %H:%M} UTC"
    )


@user_app.command("logout")
def user_logout(config: _Config = None) -> None:
    """退出命令行登录（会话立即失效）。"""
    from security.people import cli_logout

    with _accounts(config) as (cfg, accounts):
        ended = cli_logout(cfg, accounts)
    typer.echo("已退出登录" if ended else "当前未登录")


@user_app.command("whoami")
def user_whoami(config: _Config = None) -> None:
    """当前命令行登录的账号。"""
    from security.people import cli_principal

    with _accounts(config) as (cfg, accounts):
        p = cli_principal(cfg, accounts)
    typer.echo(f"{p.name}（{p.user_id}）区划 {p.division}，岗位：{_roles_text(p.roles)}")


# -- account management (node admin) -----------------------------------------------------------------------------


@user_app.command("add")
def user_add(
    user_id: Annotated[str, typer.Argument(help="账号（小写字母、数字、点、下划线、连字符）")],
    *,
    name: Annotated[str, typer.Option("--name", help="姓名")],
    roles: Annotated[
        str,
        typer.Option("--roles", help="岗位，逗号分隔：clerk,approver,supervisor,inspector,exchange_admin,node_admin"),
    ],
    division: Annotated[str | None, typer.Option("--division", help="账号所属区划（默认本节点区划）")] = None,
    password_file: _PasswordFile = None,
    config: _Config = None,
) -> None:
    """添加账号（需节点管理员登录）。"""
    from security.people import cli_principal

    password = read_password(password_file, prompt="新账号的密码", confirm=True)
    with _accounts(config) as (cfg, accounts):
        by = cli_principal(cfg, accounts)
        account = accounts.add(
            user_id, name=name, division=division or cfg.node.division, roles=roles, password=password, by=by
        )
    typer.echo(f"已添加账号 {account.user_id}（{account.name}，{_roles_text(account.roles)}）")


@user_app.command("list")
def user_list(config: _Config = None) -> None:
    """本节点的账号（节点管理员辖区内）。"""
    from security.people import cli_principal

    with _accounts(config) as (cfg, accounts):
        by = cli_principal(cfg, accounts)
        listed = accounts.all(by=by)
    for a in listed:
        _print_account(a)
    typer.echo(f"共 {len(listed)} 个账号")


@user_app.command("disable")
def user_disable(user_id: Annotated[str, typer.Argument(help="账号")], config: _Config = None) -> None:
    """停用账号：其全部会话立即失效。"""
    from security.people import cli_principal

    with _accounts(config) as (cfg, accounts):
        account = accounts.set_disabled(user_id, True, by=cli_principal(cfg, accounts))
    typer.echo(f"已停用账号 {account.user_id}（{account.name}），其会话已全部失效")


@user_app.command("enable")
def user_enable(user_id: Annotated[str, typer.Argument(help="账号")], config: _Config = None) -> None:
    """恢复账号（同时解除锁定）。"""
    from security.people import cli_principal

    with _accounts(config) as (cfg, accounts):
        account = accounts.set_disabled(user_id, False, by=cli_principal(cfg, accounts))
    typer.echo(f"已恢复账号 {account.user_id}（{account.name}）")


@user_app.command("roles")
def user_roles(
    user_id: Annotated[str, typer.Argument(help="账号")],
    roles: Annotated[str, typer.Argument(help="新的岗位，逗号分隔")],
    config: _Config = None,
) -> None:
    """更换账号的岗位（其会话失效，须重新登录）。"""
    from security.people import cli_principal

    with _accounts(config) as (cfg, accounts):
        account = accounts.set_roles(user_id, roles, by=cli_principal(cfg, accounts))
    typer.echo(f"账号 {account.user_id} 的岗位：{_roles_text(account.roles)}")


@user_app.command("passwd")
def user_passwd(
    user_id: Annotated[str | None, typer.Argument(help="账号（省略为当前登录账号）")] = None,
    password_file: _PasswordFile = None,
    old_password_file: Annotated[
        Path | None, typer.Option("--old-password-file", help="改本人密码时：原密码所在文件（省略则提示输入）")
    ] = None,
    config: _Config = None,
) -> None:
    """修改密码：本人（须输入原密码），或节点管理员为他人重设（其会话全部失效）。"""
    from security.people import cli_principal

    with _accounts(config) as (cfg, accounts):
        me = cli_principal(cfg, accounts)
        target = user_id or me.user_id
        if target == me.user_id:
            old = read_password(old_password_file, prompt="原密码")
            password = read_password(password_file, prompt="新密码", confirm=True)
            account = accounts.change_own_password(me, old, password)
        else:
            password = read_password(password_file, prompt="新密码", confirm=True)
            account = accounts.set_password(target, password, by=me)
    typer.echo(f"已修改账号 {account.user_id} 的密码，其原有会话已失效")


# -- admin audit -----------------------------------------------------------------------------------------------


@_audit_app.command("verify")
def audit_verify(
    origin: Annotated[str | None, typer.Option("--origin", help="只核验这一来源（区划代码）的审计链")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="输出 JSON")] = False,
    config: _Config = None,
) -> None:
    """重新计算本节点保存的每条审计链（本节点的，以及下级县复制上来的），指出每条链第一条不符的条目。"""
    from federation.storage import audit_log
    from security.people import cli_principal

    with _accounts(config) as (cfg, accounts):
        who = cli_principal(cfg, accounts)
        who.require(Permission.AUDIT_READ)
        with UnitOfWork(accounts.engine, readonly=True) as uow:
            origins = [origin] if origin else audit_log.audit_origins(uow.conn)
            results = [
                (o, *audit_log.verify_origin(uow.conn, o)) for o in origins if who.covers(o)
            ]  # only chains within the person's subtree: a city's admin at the province reads its counties' only
        accounts.record(
            who.actor(Permission.AUDIT_READ),
            "audit.verify",
            origin or "*",
            outcome="ok" if all(b is None for _, _, b in results) else "broken",
        )
    broken = [(o, n, b) for o, n, b in results if b is not None]
    if as_json:
        typer.echo(
            json.dumps(
                [
                    {
                        "origin": o,
                        "checked": n,
                        "ok": b is None,
                        "first_bad_seq": b.seq if b else None,
                        "reason": b.reason if b else None,
                    }
                    for o, n, b in results
                ],
                ensure_ascii=False,
            )
        )
    else:
        for o, n, b in results:
            if b is None:
                typer.echo(f"{o}：{n} 条，哈希链完整")
            else:
                typer.echo(f"{o}：第 {b.seq} 条起不符 —— {b.reason}（已检查 {n} 条）")
    if not results:
        typer.echo("本节点没有审计记录")
    if broken:
        raise typer.Exit(2)


@_audit_app.command("list")
def audit_list(
    origin: Annotated[str | None, typer.Option("--origin", help="来源区划（默认本节点）")] = None,
    user: Annotated[str | None, typer.Option("--user", help="只看这个账号")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10000, help="条数")] = 20,
    config: _Config = None,
) -> None:
    """最近的审计条目（最新的在前）。"""
    from federation.storage import audit_log
    from security.people import cli_principal

    with _accounts(config) as (cfg, accounts):
        who = cli_principal(cfg, accounts)
        who.require(Permission.AUDIT_READ)
        source = origin or cfg.node.division
        who.check(source)  # within the person's subtree (a city's admin at the province: not the province's own)
        with UnitOfWork(accounts.engine, readonly=True) as uow:
            entries = audit_log.read_entries(uow.conn, source, limit=limit, user_id=user, newest_first=True)
    for s in entries:
        e = s.entry
        outcome = "成功" if e.outcome == "ok" else f"被拒绝（{e.outcome}）"
        typer.echo(
            f"#{s.seq:<6} {moment_text(e.at, seconds=True)}  {e.name}（{role_label(e.role)}，{e.user_id}）  "
            f"{AUDIT_ACTION_LABELS.get(e.action, e.action)}  {e.target}  {outcome}"
        )
