"""People at the command line (issue 15): ``sunshine user login`` keeps a session token in the node's keyring
(key ``cli-session:<OS user>``, never in a file); every command that writes on a person's behalf finds that
person here (:func:`cli_principal`) and does its work in an audit scope (:func:`acting_as`).
"""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine

from federation.audit import audited
from federation.config import Config
from federation.errors import Unauthenticated
from security.access import Permission, Principal
from security.accounts import Accounts, Session, accounts_for
from security.keystore import keystore_for

__all__ = ["acting_as", "cli_accounts", "cli_login", "cli_logout", "cli_principal", "cli_session", "os_user"]


def os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (a container's uid)
        return "unknown"


def _key() -> str:
    return f"cli-session:{os_user()}"


def cli_accounts(config: Config, engine: Engine) -> Accounts:
    return accounts_for(engine, config.node.division)


def cli_login(config: Config, accounts: Accounts, user_id: str, password: str) -> Session:
    session = accounts.login(user_id, password, source=f"cli:{os_user()}", kind="cli")
    keystore_for(config).put(_key(), session.token.encode())
    return session


def cli_logout(config: Config, accounts: Accounts) -> bool:
    store = keystore_for(config)
    token = store.get(_key())
    if token is None:
        return False
    accounts.logout(token.decode())
    store.delete(_key())
    return True


def cli_principal(config: Config, accounts: Accounts) -> Principal:
    """The person logged in at this node's command line (by ``sunshine user login``), or Unauthenticated."""
    return cli_session(config, accounts)[0]


def cli_session(config: Config, accounts: Accounts) -> tuple[Principal, str]:
    """:func:`cli_principal` and the session token (a write passes it on: it commits only while that session is
    live, :func:`acting_as`)."""
    stored = keystore_for(config).get(_key())
    if stored is None:
        raise Unauthenticated("命令行尚未登录：请先执行 sunshine user login --user 账号")
    token = stored.decode()
    try:
        return accounts.authenticate(token, source=f"cli:{os_user()}"), token
    except Unauthenticated:
        raise Unauthenticated("命令行登录已失效：请重新执行 sunshine user login --user 账号") from None


@contextmanager
def acting_as(
    accounts: Accounts,
    who: Principal,
    permission: Permission,
    action: str,
    target: str,
    *,
    scoped: str = "",
    token: str | None = None,
) -> Iterator[str]:
    """Do a use case needing ``permission`` as ``who`` (403 without it, or when ``scoped`` — a division or a
    record id — is outside their subtree): yields the actor label to record; the writes are audited with
    ``action`` and ``target``, a refusal or failure too; with the person's session ``token``, they commit only
    while that session is live (a logout or a disabled account stops a command still running)."""
    scope = accounts.scope(who.actor(permission), action, target, token=token)
    try:
        who.require(permission)
        if scoped:
            who.check(scoped)
    except Exception as exc:
        accounts.record(who.actor(), action, target, outcome=getattr(exc, "code", "error"))
        raise
    try:
        with audited(scope):
            yield scope.actor.label
    except Exception as exc:
        accounts.record(scope.actor, action, target, outcome=getattr(exc, "code", "error"))
        raise
    if not scope.written:
        accounts.record(scope.actor, action, target)
