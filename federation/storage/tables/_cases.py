"""Cases (办件): the case row, its pause ledger, its joint (并联) sub-tasks and its append-only timeline.

The ``idx_`` columns are derived, kept only for the indexes (see :mod:`federation.storage.tables`).
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, ForeignKey, Index, Integer, Numeric, String, Table, Text, text

from federation.storage.tables._metadata import metadata
from federation.storage.types import UTCDateTime

__all__ = ["UNDER_CLOCK_SQL", "case_events", "case_pauses", "case_tasks", "cases"]

UNDER_CLOCK_SQL = "status IN ('accepted', 'correction', 'in_review', 'special_procedure', 'suspended')"
"""The open cases under the clock (running or paused), as the partial index ``ix_cases_open`` is defined: a
query that repeats this term with the same literals (``county_node.approval.domain`` RUNNING | PAUSED) can use it."""

cases = Table(
    "cases",
    metadata,
    Column("case_no", String(32), primary_key=True),
    Column("origin", String(6), nullable=False),
    Column("item_code", String(32), nullable=False),
    Column("item_name", String(200), nullable=False),
    Column("department", String(100), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("standards_version", String(64), nullable=False),
    Column("status", String(24), nullable=False),
    Column("resume_status", String(24)),
    Column("applicant", String(200), nullable=False),
    Column("window", String(16)),  # the hall window (窗口) that took the case in, when known
    Column("data", JSON, nullable=False),
    Column("submitted_at", UTCDateTime, nullable=False),
    Column("accepted_at", UTCDateTime),
    Column("decided_at", UTCDateTime),
    Column("concluded_at", UTCDateTime),
    Column("decision", String(16)),
    Column("fee_standard", Numeric(12, 2), nullable=False),
    Column("fee_charged", Numeric(12, 2)),
    Column("legal_budget", Integer, nullable=False),
    Column("promised_budget", Integer, nullable=False),
    Column("extension_days", Integer, nullable=False, default=0),
    Column("extension_reason", Text),
    Column("extension_approver", String(100)),
    Column("extended_at", UTCDateTime),
    Column("event_count", Integer, nullable=False),
    Column("pause_count", Integer, nullable=False, default=0),
    Column("updated_at", UTCDateTime, nullable=False),
    # derived, indexed (see the package docstring)
    Column("calendar_version", String(32)),
    Column("idx_due_at", UTCDateTime),
    Column("idx_yellow_at", UTCDateTime),
    Column("idx_legal_due_at", UTCDateTime),
    Column("idx_paused_light", String(8)),
    # replication: the origin's outbox seq of the last change applied to this row (a replica applies a snapshot
    # only when its seq is newer)
    Column("origin_seq", BigInteger),
    # supervision (county only, derived): the next moment a time-driven rule other than the light rules can change
    # its verdict with no new event, and the ids of the events that shaped the current clock (an alert raised by
    # the sweep records them as its evidence)
    Column("sup_wake_at", UTCDateTime),
    Column("sup_evidence", JSON),
    Index(None, "origin"),
    Index(None, "status", "idx_due_at"),
    Index(None, "sup_wake_at"),
    Index(None, "status", "idx_yellow_at"),
    Index(None, "department"),
    Index(None, "item_code"),
    Index(None, "submitted_at"),
    # the lights wall (实时监控): the few open cases among millions, by county (or department), covering the light
    Index(
        "ix_cases_open",
        "origin",
        "department",
        "status",
        "idx_due_at",
        "idx_yellow_at",
        "idx_paused_light",
        sqlite_where=text(UNDER_CLOCK_SQL),
        postgresql_where=text(UNDER_CLOCK_SQL),
    ),
)

case_pauses = Table(
    "case_pauses",
    metadata,
    Column("case_no", String(32), ForeignKey("cases.case_no"), primary_key=True),
    Column("n", Integer, primary_key=True),
    Column("kind", String(24), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("ended_at", UTCDateTime),
    Column("reason", Text, nullable=False),
    comment="The pause ledger of the case clock (补正, 暂停, 特别程序).",
)

case_tasks = Table(
    "case_tasks",
    metadata,
    Column("case_no", String(32), ForeignKey("cases.case_no"), primary_key=True),
    Column("department", String(100), primary_key=True),
    Column("limit_days", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("started_at", UTCDateTime),
    Column("completed_at", UTCDateTime),
    Column("outcome", String(16)),
    Column("opinion", Text),
    Column("idx_due_at", UTCDateTime),
    comment="Joint (并联) sub-tasks, one per department, each with its own sub-clock.",
)

case_events = Table(
    "case_events",
    metadata,
    Column("case_no", String(32), ForeignKey("cases.case_no"), primary_key=True),
    Column("n", Integer, primary_key=True),
    Column("action", String(32), nullable=False),
    Column("actor", String(100), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("from_status", String(24)),
    Column("to_status", String(24), nullable=False),
    Column("payload", JSON, nullable=False),
    comment="Append-only case timeline (event id = '{case_no}#{n:04d}'). Never updated, never deleted.",
)
