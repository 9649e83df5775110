"""Accounts, passwords and login sessions of one node (issue 15).

Passwords are hashed with Argon2id (``argon2-cffi``); after :attr:`LoginPolicy.max_failures` failed logins in a
row an account is locked for :attr:`LoginPolicy.lockout`. A login returns a random bearer token; only its SHA-256
is stored, with an expiry (:attr:`LoginPolicy.http_session` for the API and web pages, ``cli_session`` for the
command line). Every request checks the token, the session and the account in one query, so a logout, a disabled
account or a changed password stops the token at once. Every change and every login is audited
(:mod:`federation.audit`).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, and_, bindparam, insert, select, update

from federation.audit import Actor, AuditScope, audited
from federation.errors import Conflict, Forbidden, NotFound, Unauthenticated, ValidationError
from federation.identities import DivisionLevel, level_of, validate_division_code
from federation.storage import audit_chain, audit_log
from federation.storage.tables import sessions, users
from federation.storage.uow import UnitOfWork
from federation.timeutil import Clock, utcnow
from security.access import Permission, Principal, Role, covers, parse_roles

__all__ = ["SYSTEM", "Account", "Accounts", "LoginPolicy", "Session", "accounts_for", "check_password_strength"]

_USER_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
MIN_PASSWORD = 10
# Argon2id with OWASP's recommended minimum (19 MiB, 2 passes, 1 lane): ~50 ms a hash on one core here; a stored
# hash names its own parameters, so raising these later re-hashes nothing and still verifies old hashes
_HASHER = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)


@functools.cache
def _dummy_hash(hasher: PasswordHasher) -> str:
    """A hash at ``hasher``'s parameters, verified on a failed lookup so that it costs as much as a failed password;
    made on first use, not at import (every command line imports this module)."""
    return hasher.hash("sunshine-dummy-password")


SYSTEM = Actor("system", "节点", "系统", "000000")

# the one query of every request: the session by its token's digest (not revoked, not expired), its account (not
# disabled); built once (it runs on every request), read outside a transaction (one statement, nothing to isolate)
_AUTHENTICATE = (
    select(users.c.user_id, users.c.name, users.c.division, users.c.roles)
    .select_from(sessions.join(users, users.c.user_id == sessions.c.user_id))
    .where(
        sessions.c.token_digest == bindparam("digest"),
        sessions.c.revoked_at.is_(None),
        sessions.c.expires_at > bindparam("now", type_=sessions.c.expires_at.type),
        users.c.disabled.is_(False),
    )
)


@dataclass(frozen=True, slots=True)
class LoginPolicy:
    max_failures: int = 5
    lockout: timedelta = timedelta(minutes=15)
    http_session: timedelta = timedelta(hours=8)
    cli_session: timedelta = timedelta(hours=12)


@dataclass(frozen=True, slots=True)
class Account:
    user_id: str
    name: str
    division: str
    roles: tuple[Role, ...]
    disabled: bool
    locked_until: datetime | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Session:
    token: str
    principal: Principal
    expires_at: datetime


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise ValidationError(f"密码至少 {MIN_PASSWORD} 个字符")
    if len(password) > 256:
        raise ValidationError("密码不能超过 256 个字符")
    if any(unicodedata.category(ch) == "Cc" for ch in password):
        raise ValidationError("密码不能包含控制字符")
    if len(set(password)) < 4:
        raise ValidationError("密码过于简单")


def _check_user_id(user_id: str) -> str:
    if not _USER_ID.fullmatch(user_id):
        raise ValidationError(
            "账号须为 2–64 位小写字母、数字、点、下划线或连字符，以字母或数字开头", user_id=user_id[:64]
        )
    return user_id


def _check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 60 or any(unicodedata.category(ch) in ("Cc", "Cf", "Cs") for ch in name):
        raise ValidationError("姓名须为 1–60 个字符，不含控制字符")
    return name


class Accounts:
    """The accounts of the node of ``division`` over ``engine``. ``replicate_audit``: this node's audit entries go
    up with its records (a county)."""

    def __init__(
        self,
        engine: Engine,
        *,
        division: str,
        clock: Clock,
        replicate_audit: bool,
        policy: LoginPolicy = LoginPolicy(),
    ) -> None:
        self._engine = engine
        self.engine = engine
        self.division = division
        self._clock = clock
        self.replicate_audit = replicate_audit
        self.policy = policy
        self._claims: dict[str, Principal] = {}  # token digest → person, for writes (checked live at commit)

    # ------------------------------------------------------------------------------------------------ audit
    def scope(
        self, actor: Actor, action: str, target: str, detail: str = "", *, token: str | None = None
    ) -> AuditScope:
        """The audit scope of a use case done by ``actor``; with the person's session ``token``, its writes commit
        only while that session is live (checked in the write's own transaction)."""
        session = None if token is None else _digest(token)
        return AuditScope(
            self.division, actor, action, target, self._clock(), self.replicate_audit, detail, session=session
        )

    def record(
        self,
        actor: Actor,
        action: str,
        target: str,
        *,
        outcome: str = "ok",
        detail: str = "",
        token: str | None = None,
    ) -> None:
        """Append one stand-alone audit entry (a read of personal data, a refusal, a failed login); with the
        person's session ``token``, only while it is live (else Unauthenticated)."""
        scope = self.scope(actor, action, target, detail, token=token)
        with UnitOfWork(self._engine) as uow:
            audit_log.append(
                uow.conn,
                self.division,
                scope.entry(outcome),
                replicate=self.replicate_audit,
                live=audit_chain.scope_live(scope),
            )
            uow.commit()

    # -------------------------------------------------------------------------------------------- accounts
    def _manage(self, by: Principal | None, division: str) -> Actor:
        if by is None:  # the node's own set-up (init) or an operator at the node's console
            return SYSTEM
        by.require(Permission.USER_MANAGE)
        if not by.covers(division):
            raise Forbidden(f"无权管理本账号辖区（{by.division}）以外的账号", division=division)
        return by.actor(Permission.USER_MANAGE)

    def _check_division(self, division: str) -> str:
        validate_division_code(division)
        if not covers(self.division, division):
            raise ValidationError(f"账号的区划 {division} 不在本节点（{self.division}）辖区内", division=division)
        if division != self.division and level_of(division) is DivisionLevel.COUNTY:
            raise ValidationError(f"县级账号（{division}）只能在该县自己的节点上开设", division=division)
        return division

    def add(
        self,
        user_id: str,
        *,
        name: str,
        division: str,
        roles: str | list[str] | tuple[Role, ...],
        password: str,
        by: Principal | None = None,
    ) -> Account:
        _check_user_id(user_id)
        name = _check_name(name)
        self._check_division(division)
        parsed = parse_roles([r.value for r in roles] if isinstance(roles, tuple) else roles, division)
        check_password_strength(password)
        actor = self._manage(by, division)
        now = self._clock()
        hashed = _HASHER.hash(password)
        scope = self.scope(actor, "user.add", user_id, f"{name} {division} {','.join(parsed)}")
        with audited(scope), UnitOfWork(self._engine) as uow:
            if uow.conn.execute(select(users.c.user_id).where(users.c.user_id == user_id)).first():
                raise Conflict(f"账号“{user_id}”已存在", user_id=user_id)
            uow.conn.execute(
                insert(users).values(
                    user_id=user_id,
                    name=name,
                    division=division,
                    roles=",".join(parsed),
                    password_hash=hashed,
                    disabled=False,
                    failed_logins=0,
                    locked_until=None,
                    created_at=now,
                    password_changed_at=now,
                )
            )
            uow.commit()
        return self.get(user_id)

    def get(self, user_id: str) -> Account:
        with UnitOfWork(self._engine, readonly=True) as uow:
            row = uow.conn.execute(select(users).where(users.c.user_id == user_id)).first()
        if row is None:
            raise NotFound(f"账号“{user_id[:64]}”不存在", user_id=user_id[:64])
        return _account(row)

    def all(self, *, by: Principal | None = None) -> list[Account]:
        with UnitOfWork(self._engine, readonly=True) as uow:
            rows = uow.conn.execute(select(users).order_by(users.c.division, users.c.user_id)).all()
        accounts = [_account(r) for r in rows]
        if by is not None:
            by.require(Permission.USER_MANAGE)
            accounts = [a for a in accounts if by.covers(a.division)]
        return accounts

    def _change(
        self,
        user_id: str,
        by: Principal | None,
        action: str,
        detail: str,
        values: dict[str, object],
        *,
        revoke: bool,
        actor: Actor | None = None,
    ) -> Account:
        account = self.get(user_id)
        actor = actor or self._manage(by, account.division)
        now = self._clock()
        if revoke:
            self._claims.clear()
        with audited(self.scope(actor, action, user_id, detail)), UnitOfWork(self._engine) as uow:
            uow.conn.execute(update(users).where(users.c.user_id == user_id).values(**values))
            if revoke:
                uow.conn.execute(
                    update(sessions)
                    .where(and_(sessions.c.user_id == user_id, sessions.c.revoked_at.is_(None)))
                    .values(revoked_at=now)
                )
            uow.commit()
        return self.get(user_id)

    def set_disabled(self, user_id: str, disabled: bool, *, by: Principal | None = None) -> Account:
        if by is not None and by.user_id == user_id and disabled:
            raise Conflict("不能停用当前登录的账号")
        values: dict[str, object] = {"disabled": disabled}
        if not disabled:
            values |= {"failed_logins": 0, "locked_until": None}
        action = "user.disable" if disabled else "user.enable"
        return self._change(user_id, by, action, "", values, revoke=disabled)

    def set_roles(self, user_id: str, roles: str | list[str], *, by: Principal | None = None) -> Account:
        account = self.get(user_id)
        parsed = parse_roles(roles, account.division)
        return self._change(user_id, by, "user.roles", ",".join(parsed), {"roles": ",".join(parsed)}, revoke=True)

    def set_password(self, user_id: str, password: str, *, by: Principal | None = None) -> Account:
        check_password_strength(password)
        values = {
            "password_hash": _HASHER.hash(password),
            "password_changed_at": self._clock(),
            "failed_logins": 0,
            "locked_until": None,
        }
        return self._change(user_id, by, "user.passwd", "", values, revoke=True)

    def change_own_password(self, who: Principal, old: str, new: str) -> Account:
        """A person changes their own password: only with the current one (checked as a login is — a wrong one
        counts towards the lockout); every session of theirs ends, and the entry names them, not the node."""
        check_password_strength(new)
        self.login(who.user_id, old, source=who.source, kind="cli")  # Unauthenticated on a wrong password
        values = {
            "password_hash": _HASHER.hash(new),
            "password_changed_at": self._clock(),
            "failed_logins": 0,
            "locked_until": None,
        }
        return self._change(who.user_id, None, "user.passwd", "", values, revoke=True, actor=who.actor())

    # ---------------------------------------------------------------------------------------------- login
    def login(self, user_id: str, password: str, *, source: str = "", kind: str = "http") -> Session:
        """A new session for ``user_id``, or Unauthenticated (the same message whether the account or the
        password was wrong; a locked or disabled account is named as such)."""
        now = self._clock()
        row = None
        if _USER_ID.fullmatch(user_id):  # no account has another form (nor is anything else sent to the database)
            with UnitOfWork(self._engine, readonly=True) as uow:
                row = uow.conn.execute(select(users).where(users.c.user_id == user_id)).first()
        if row is None:
            with contextlib.suppress(VerificationError):
                _HASHER.verify(_dummy_hash(_HASHER), password + "x")
            # what a stranger typed reaches the audit log (and its replicas) only as a valid id or a digest
            named = user_id if _USER_ID.fullmatch(user_id) else "sha256:" + _digest(user_id)[:16]
            self.record(Actor(named, "", "", "", source), "login", named, outcome="unknown_user")
            raise Unauthenticated("账号或密码错误")
        who = _principal(row, source)
        actor = who.actor()
        if row.disabled:
            self.record(actor, "login", user_id, outcome="disabled")
            raise Unauthenticated("账号已停用，请联系节点管理员")
        if row.locked_until is not None and row.locked_until > now:
            minutes = max(1, int((row.locked_until - now).total_seconds() // 60) + 1)
            self.record(actor, "login", user_id, outcome="locked")
            raise Unauthenticated(f"连续登录失败次数过多，账号已锁定，请 {minutes} 分钟后再试")
        try:
            _HASHER.verify(row.password_hash, password)
        except (VerificationError, InvalidHashError):
            with UnitOfWork(self._engine) as uow:  # one atomic count: parallel guesses cannot share a number
                failures = int(
                    uow.conn.execute(
                        update(users)
                        .where(users.c.user_id == user_id)
                        .values(failed_logins=users.c.failed_logins + 1)
                        .returning(users.c.failed_logins)
                    ).scalar_one()
                )
                locked = now + self.policy.lockout if failures >= self.policy.max_failures else None
                if locked is not None:
                    uow.conn.execute(
                        update(users).where(users.c.user_id == user_id).values(failed_logins=0, locked_until=locked)
                    )
                detail = f"第 {failures} 次失败" + ("，账号锁定" if locked else "")
                audit_log.append(
                    uow.conn,
                    self.division,
                    self.scope(actor, "login", user_id, detail).entry("bad_password"),
                    replicate=self.replicate_audit,
                )
                uow.commit()
            raise Unauthenticated("账号或密码错误") from None
        token = secrets.token_urlsafe(32)
        ttl = self.policy.cli_session if kind == "cli" else self.policy.http_session
        expires = now + ttl
        with audited(self.scope(actor, "login", user_id, kind)), UnitOfWork(self._engine) as uow:
            uow.conn.execute(
                insert(sessions).values(
                    token_digest=_digest(token),
                    user_id=user_id,
                    kind=kind,
                    created_at=now,
                    expires_at=expires,
                    revoked_at=None,
                    source=source[:120],
                )
            )
            if row.failed_logins or row.locked_until is not None:
                uow.conn.execute(
                    update(users).where(users.c.user_id == user_id).values(failed_logins=0, locked_until=None)
                )
            uow.commit()
        return Session(token, who, expires)

    def authenticate(self, token: str, *, source: str = "") -> Principal:
        """The person a bearer token stands for, or Unauthenticated: one query checks the token's session (not
        revoked, not expired) and its account (not disabled)."""
        if not token or len(token) > 200:
            raise Unauthenticated("未登录或登录已失效")
        with self._engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            row = conn.execute(_AUTHENTICATE, {"digest": _digest(token), "now": self._clock()}).first()
        if row is None:
            raise Unauthenticated("未登录或登录已失效")
        return _principal(row, source)

    def claimed(self, token: str, *, source: str = "") -> Principal:
        """The person a token stood for when last checked, for a write: the write itself checks, in its own
        transaction, that the session is still live (``AuditScope.session``), so a session ended since — by any
        process — refuses it. Checked in full (:meth:`authenticate`) the first time."""
        digest = _digest(token)
        known = self._claims.get(digest)
        if known is not None and known.source == source[:120]:
            return known
        who = self.authenticate(token, source=source)
        if len(self._claims) >= 10_000:
            self._claims.clear()
        self._claims[digest] = who
        return who

    def logout(self, token: str) -> None:
        self._claims.pop(_digest(token), None)
        with UnitOfWork(self._engine) as uow:
            uow.conn.execute(
                update(sessions)
                .where(and_(sessions.c.token_digest == _digest(token), sessions.c.revoked_at.is_(None)))
                .values(revoked_at=self._clock())
            )
            uow.commit()


def _account(r: Any) -> Account:
    return Account(
        user_id=r.user_id,
        name=r.name,
        division=r.division,
        roles=tuple(Role(x) for x in r.roles.split(",") if x),
        disabled=bool(r.disabled),
        locked_until=r.locked_until,
        created_at=r.created_at,
    )


def _principal(r: Any, source: str) -> Principal:
    return Principal(
        user_id=r.user_id,
        name=r.name,
        division=r.division,
        roles=tuple(Role(x) for x in r.roles.split(",") if x),
        source=source[:120],
    )


def accounts_for(engine: Engine, division: str, *, clock: Clock = utcnow) -> Accounts:
    """The accounts of the node of ``division`` (each tier's composition root and the ``sunshine user``
    commands build them here): a county's audit entries replicate up, an upper tier's stay local. Sessions and
    lockouts run on the real clock, whatever the node's (simulated) clock is."""
    return Accounts(engine, division=division, clock=clock, replicate_audit=level_of(division) is DivisionLevel.COUNTY)
