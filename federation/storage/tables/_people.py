"""Trust between people (DESIGN.md §9, issue 15): the accounts of this node, their login sessions, and the
hash-chained audit log (审计日志) of every write and every read of personal data.

Passwords are stored only as Argon2id hashes and session tokens only as their SHA-256. ``audit_log`` holds this
node's own entries (``origin`` = its division) and, at a city or the province, the replicated entries of each
county below it, each chain verifiable on its own (:mod:`federation.audit`).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Index, Integer, PrimaryKeyConstraint, String, Table, Text

from federation.storage.tables._metadata import metadata
from federation.storage.types import UTCDateTime

__all__ = ["audit_log", "sessions", "users"]

users = Table(
    "users",
    metadata,
    Column("user_id", String(64), primary_key=True),
    Column("name", String(60), nullable=False),
    Column("division", String(6), nullable=False),
    Column("roles", String(200), nullable=False),  # comma-separated role names (security.access.Role)
    Column("password_hash", String(200), nullable=False),  # Argon2id (argon2-cffi's encoded form)
    Column("disabled", Boolean, nullable=False, default=False),
    Column("failed_logins", Integer, nullable=False, default=0),
    Column("locked_until", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("password_changed_at", UTCDateTime, nullable=False),
    comment="People who may log in at this node (账号), each bound to a division and holding roles.",
)

sessions = Table(
    "sessions",
    metadata,
    Column("token_digest", String(64), primary_key=True),  # SHA-256 of the bearer token: never the token
    Column("user_id", String(64), nullable=False),
    Column("kind", String(8), nullable=False),  # http | cli
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime, nullable=True),
    Column("source", String(120), nullable=False, default=""),
    Index(None, "user_id"),
    comment="Login sessions (登录会话): short-lived, revocable bearer tokens by their SHA-256.",
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("origin", String(16), nullable=False),  # the node that wrote the entry
    Column("seq", BigInteger, nullable=False),  # 1, 2, 3, … per origin, gap-free
    Column("at", UTCDateTime, nullable=False),
    Column("user_id", String(64), nullable=False),
    Column("name", String(60), nullable=False),
    Column("role", String(120), nullable=False),
    Column("division", String(6), nullable=False),
    Column("action", String(80), nullable=False),
    Column("target", String(200), nullable=False),
    Column("source", String(120), nullable=False),
    Column("outcome", String(40), nullable=False),
    Column("detail", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    PrimaryKeyConstraint("origin", "seq"),  # the only index: an append touches one b-tree
    comment="Append-only, hash-chained audit log (审计日志): who, role, division, what, when, from where, outcome.",
)
