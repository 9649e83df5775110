"""One-time enrolment tokens (登记令牌): a parent lets one child division enrol, once, before the token expires.

``sunshine admin enrol --division 371122`` at the parent issues a token. Only its SHA-256 is stored (table
``enrolment_tokens``): a copy of the parent's database does not let anyone enrol. The child presents the token
with its certificate request over TLS (it trusts the federation root it was handed with the token); the parent
checks the token is known, unused, unexpired and issued for that very division, and marks it used in the
transaction that records the certificate it issues.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection

from federation.errors import EnrolmentRefused, ValidationError
from federation.identities import validate_node_id
from federation.storage.tables import enrolment_tokens

__all__ = ["IssuedToken", "consume_token", "issue_token", "token_digest"]

_PREFIX = "SST1-"  # Sunshine enrolment token, format 1


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str  # shown once, never stored
    division: str
    expires_at: datetime


def issue_token(conn: Connection, *, division: str, issued_by: str, now: datetime, ttl: timedelta) -> IssuedToken:
    """A fresh token for ``division`` (a child of ``issued_by``), valid for ``ttl``."""
    validate_node_id(division)
    if ttl <= timedelta(0) or ttl > timedelta(days=7):
        raise ValidationError("登记令牌有效期应在 7 天以内", ttl=str(ttl))
    token = _PREFIX + secrets.token_urlsafe(24)
    expires = now + ttl
    conn.execute(
        insert(enrolment_tokens).values(
            digest=token_digest(token), division=division, issued_by=issued_by, issued_at=now, expires_at=expires
        )
    )
    return IssuedToken(token, division, expires)


def check_token(conn: Connection, *, token: str, division: str, now: datetime, lock: bool = False) -> str:
    """The digest of ``token`` if it may enrol ``division`` now; else :class:`EnrolmentRefused` (unknown, used,
    expired or issued for another division). Checked first, before anything the child sent is parsed."""
    if not token.startswith(_PREFIX) or len(token) > 200:
        raise EnrolmentRefused("登记令牌格式错误")
    query = select(enrolment_tokens).where(enrolment_tokens.c.digest == token_digest(token))
    row = conn.execute(query.with_for_update() if lock else query).one_or_none()
    if row is None:
        raise EnrolmentRefused("登记令牌无效：上级节点没有签发过此令牌")
    if not hmac.compare_digest(row.division, division):
        raise EnrolmentRefused(f"此登记令牌是为 {row.division} 签发的，不能用于 {division[:6]}", division=division[:6])
    if row.used_at is not None:
        raise EnrolmentRefused("此登记令牌已使用过，请向上级管理员重新申请", division=division)
    if row.expires_at <= now:
        raise EnrolmentRefused("此登记令牌已过期，请向上级管理员重新申请", division=division)
    return str(row.digest)


def consume_token(conn: Connection, *, token: str, division: str, now: datetime) -> None:
    """Mark ``token`` used for ``division`` (checked again, under a row lock); refuse as :func:`check_token` does.
    Call it inside the transaction that records the certificate."""
    digest = check_token(conn, token=token, division=division, now=now, lock=True)
    conn.execute(update(enrolment_tokens).where(enrolment_tokens.c.digest == digest).values(used_at=now))
