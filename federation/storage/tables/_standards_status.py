"""Standards status (标准版本状态): the bundle each node runs, and what a calendar revision moved.

Each node reports the standards bundle it runs as a ``standards_status`` record it owns (written in the
transaction that put the bundle in force); the records flow up, so the province sees every node's version.
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, Date, Index, Integer, String, Table

from federation.storage.tables._metadata import metadata
from federation.storage.types import UTCDateTime

__all__ = ["clock_moves", "standards_status"]

standards_status = Table(
    "standards_status",
    metadata,
    Column("node", String(6), primary_key=True),
    Column("version", String(64), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("effective_date", Date, nullable=False),
    Column("applied_at", UTCDateTime, nullable=False),
    Column("calendar_revisions", JSON, nullable=False),  # {year: revision} of the calendar years held
    Column("origin_seq", BigInteger),
    comment="The standards bundle each node runs (its own row, and replicas of its subtree's reports).",
)

clock_moves = Table(
    "clock_moves",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("case_no", String(32), nullable=False),
    Column("standards_version", String(64), nullable=False),  # the bundle whose calendar moved the clock
    Column("calendar_version", String(32), nullable=False),  # the calendar the new due moment is computed on
    Column("old_due_at", UTCDateTime),
    Column("new_due_at", UTCDateTime),
    Column("old_legal_due_at", UTCDateTime),
    Column("new_legal_due_at", UTCDateTime),
    Column("moved_at", UTCDateTime, nullable=False),
    Index(None, "case_no"),
    Index(None, "moved_at"),
    comment="What a calendar revision moved: each open case whose due moments changed, before and after.",
)
