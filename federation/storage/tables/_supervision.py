"""Supervision (电子监察): alerts, complaints, ratings, and the delivery log of notifications.

Alerts, complaints and ratings belong to the county that raised / received them (``origin``); a city and the
province hold replicas (the same rows, applied when newer by ``origin_seq``). ``history`` is the append-only list
of lifecycle steps, each {action, actor, at, reason}.
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Boolean, Column, Index, Integer, String, Table, Text, UniqueConstraint, text

from federation.storage.tables._metadata import metadata
from federation.storage.types import UTCDateTime

__all__ = ["NOT_CLOSED_SQL", "alerts", "complaints", "notifications", "ratings"]

NOT_CLOSED_SQL = "status <> 'closed'"
"""The alerts not closed, as the partial indexes ``ix_alerts_open*`` are defined (a query repeating this term with
the literal can use them)."""

alerts = Table(
    "alerts",
    metadata,
    Column("alert_id", String(32), primary_key=True),
    Column("origin", String(6), nullable=False),
    Column("subject_kind", String(16), nullable=False),
    Column("subject_id", String(64), nullable=False),
    Column("case_no", String(32)),
    Column("rule_id", String(16), nullable=False),
    Column("rule_version", Integer, nullable=False),
    Column("rule_name", String(100), nullable=False),
    Column("light", String(8)),
    Column("status", String(16), nullable=False),
    # the alert still stands for the current episode of its condition: 1 from raising until the condition clears
    # (a closed alert whose condition still holds keeps standing, so the same condition is never alerted twice)
    Column("standing", Boolean, nullable=False),
    Column("level", Integer, nullable=False),
    Column("department", String(100)),
    Column("standards_version", String(64)),
    Column("opened_at", UTCDateTime, nullable=False),
    Column("ack_due_at", UTCDateTime),
    Column("acknowledged_at", UTCDateTime),
    Column("escalated_at", UTCDateTime),
    Column("closed_at", UTCDateTime),
    Column("close_reason", Text),
    Column("evidence", JSON, nullable=False),
    Column("clock", JSON),
    Column("details", JSON, nullable=False),
    Column("parameters", JSON, nullable=False),
    Column("history", JSON, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("origin_seq", BigInteger),
    Index(
        "uq_alerts_standing_subject_rule",
        "subject_kind",
        "subject_id",
        "rule_id",
        unique=True,
        sqlite_where=text("standing = 1"),
        postgresql_where=text("standing"),
    ),
    Index(None, "status", "ack_due_at"),
    Index(None, "rule_id", "status"),
    Index(None, "origin", "status"),
    Index(None, "case_no"),
    # the lights wall (实时监控): open alerts by county (or department) and light, and the newest ones
    Index(
        "ix_alerts_open",
        "origin",
        "light",
        "department",
        "status",
        sqlite_where=text(NOT_CLOSED_SQL),
        postgresql_where=text(NOT_CLOSED_SQL),
    ),
    Index(
        "ix_alerts_open_opened_at",
        "opened_at",
        "alert_id",
        sqlite_where=text(NOT_CLOSED_SQL),
        postgresql_where=text(NOT_CLOSED_SQL),
    ),
    comment="Supervision alerts (预警/红黄牌): rule, version, evidence and clock; open → acknowledged → urged / "
    "supervised → closed.",
)

complaints = Table(
    "complaints",
    metadata,
    Column("complaint_id", String(32), primary_key=True),
    Column("origin", String(6), nullable=False),
    Column("target", String(16), nullable=False),
    Column("target_id", String(64), nullable=False),
    Column("case_no", String(32)),
    Column("complainant", String(200), nullable=False),
    Column("content", Text, nullable=False),
    Column("channel", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("limit_days", Integer, nullable=False),
    Column("filed_at", UTCDateTime, nullable=False),
    Column("idx_due_at", UTCDateTime),
    Column("answered_at", UTCDateTime),
    Column("answered_by", String(100)),
    Column("answer", Text),
    Column("closed_at", UTCDateTime),
    Column("standards_version", String(64)),
    Column("history", JSON, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("origin_seq", BigInteger),
    Index(None, "status", "idx_due_at"),
    Index(None, "case_no"),
    Index(None, "origin", "status"),
    comment="Complaints (投诉) against a case, a window or a staff member: open → answered → closed.",
)

ratings = Table(
    "ratings",
    metadata,
    Column("rating_id", String(32), primary_key=True),
    Column("origin", String(6), nullable=False),
    Column("case_no", String(32), nullable=False),
    Column("staff", String(100), nullable=False),
    Column("level", Integer, nullable=False),
    Column("comment", Text),
    Column("channel", String(16), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("negative", Boolean, nullable=False),
    Column("status", String(24), nullable=False),
    Column("follow_up_limit_days", Integer, nullable=False),
    Column("idx_due_at", UTCDateTime),
    Column("followed_up_at", UTCDateTime),
    Column("followed_up_by", String(100)),
    Column("follow_up_note", Text),
    Column("history", JSON, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("origin_seq", BigInteger),
    UniqueConstraint("case_no", "staff"),  # one rating per case and staff member
    Index(None, "status", "idx_due_at"),
    Index(None, "case_no"),
    Index(None, "staff"),
    Index(None, "origin", "level"),
    comment="Ratings (好差评), 5 非常满意 … 1 非常不满意; a negative one (≤ 2) is followed up (回访) within its limit.",
)

notifications = Table(
    "notifications",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("channel", String(16), nullable=False),
    Column("recipient", String(64), nullable=False),
    Column("subject_kind", String(16), nullable=False),
    Column("subject_id", String(64), nullable=False),
    Column("message", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text),
    Column("gateway_id", String(100)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime),
    Index(None, "status"),
    Index(None, "subject_kind", "subject_id"),
    comment="Delivery log of notifications (SMS): pending | sent | failed, attempts and the gateway's answer.",
)
