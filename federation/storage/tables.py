"""The one schema of every tier (SQLAlchemy Core tables).

A county fills the case tables with its own records; a city and the province fill the same tables with
replicas, so the same query serves every tier with a different division prefix. Columns prefixed ``idx_`` are
*derived* values kept only so that queries and sweeps can use an index (due moments, the moment a case turns
yellow); they are recomputed on every change of the case and on every calendar revision, and they never
replace the clock, which is always derived from budget + pause ledger + calendar.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from federation.storage.types import UTCDateTime

__all__ = [
    "alerts",
    "batch_log",
    "calendar_years",
    "camera_bindings",
    "cameras",
    "case_events",
    "case_pauses",
    "case_tasks",
    "cases",
    "catalogue_items",
    "clock_moves",
    "complaints",
    "counters",
    "link_acks",
    "metadata",
    "node_settings",
    "notifications",
    "order_replies",
    "orders",
    "outbox",
    "quarantine",
    "ratings",
    "replication_marks",
    "scores",
    "standards_bundles",
    "standards_status",
    "video_events",
    "video_purge_items",
    "video_purges",
    "video_segments",
]

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

node_settings = Table(
    "node_settings",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
    comment="Small per-node facts: division code, current standards version.",
)

counters = Table(
    "counters",
    metadata,
    Column("name", String(96), primary_key=True),
    Column("value", BigInteger, nullable=False),
    comment="Gap-free sequences (outbox seq per origin, case number per day); incremented under a row lock.",
)

standards_bundles = Table(
    "standards_bundles",
    metadata,
    Column("version", String(64), primary_key=True),
    Column("effective_date", Date, nullable=False),
    Column("issuer", String(6), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("content", Text, nullable=False),
    Column("applied_at", UTCDateTime, nullable=False),
)

catalogue_items = Table(
    "catalogue_items",
    metadata,
    Column("standards_version", String(64), ForeignKey("standards_bundles.version"), primary_key=True),
    Column("code", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("department", String(100), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("legal_limit_days", Integer, nullable=False),
    Column("promised_limit_days", Integer, nullable=False),
    Column("fee_yuan", Numeric(12, 2), nullable=False),
    Column("key_fields", JSON, nullable=False),
    Column("joint_departments", JSON, nullable=False),
)

calendar_years = Table(
    "calendar_years",
    metadata,
    Column("year", Integer, primary_key=True),
    Column("revision", Integer, nullable=False),
    Column("source", String(100), nullable=False),
    Column("content", Text, nullable=False),
    Column("published_at", UTCDateTime, nullable=False),
)

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
    # derived, indexed (see module docstring)
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

outbox = Table(
    "outbox",
    metadata,
    Column("origin", String(6), primary_key=True),
    Column("seq", BigInteger, primary_key=True),
    Column("record_type", String(32), nullable=False),
    Column("record_id", String(64), nullable=False),
    Column("op", String(8), nullable=False),
    Column("payload", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    comment="Transactional outbox: written in the same transaction as the change; seq gap-free per origin.",
)

# A relay forwards exactly the origin's batches (same boundaries, hashes and signature), so every batch is kept
# as it was sealed; its records are the rows of ``outbox`` under the batch's origin.
batch_log = Table(
    "batch_log",
    metadata,
    Column("origin", String(6), primary_key=True),
    Column("first_seq", BigInteger, primary_key=True),
    Column("last_seq", BigInteger, nullable=False),
    Column("prev_hash", LargeBinary(32), nullable=False),
    Column("batch_hash", LargeBinary(32), nullable=False),
    Column("signature", LargeBinary, nullable=False),
    Column("record_count", Integer, nullable=False),
    Column("sealed_at", UTCDateTime, nullable=False),
    Index(None, "origin", "last_seq"),
    comment="Sealed batches of every origin held here (own and relayed), unchanged: boundaries, hashes, signature.",
)

replication_marks = Table(
    "replication_marks",
    metadata,
    Column("origin", String(6), primary_key=True),
    Column("high_water", BigInteger, nullable=False),
    Column("last_hash", LargeBinary(32), nullable=False),
    Column("records", BigInteger, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    comment="Receiver state per origin: highest seq applied, hash of the batch that ended there, records received.",
)

link_acks = Table(
    "link_acks",
    metadata,
    Column("link", String(64), primary_key=True),
    Column("origin", String(6), primary_key=True),
    Column("acked_seq", BigInteger, nullable=False),
    Column("acked_at", UTCDateTime, nullable=False),
    Column("last_error", Text),
    comment="Sender side: what the peer of each link acknowledged, per origin.",
)

quarantine = Table(
    "quarantine",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("origin", String(6), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("record_type", String(32), nullable=False),
    Column("record_id", String(64), nullable=False),
    Column("op", String(8), nullable=False),
    Column("payload", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("resolved_at", UTCDateTime),
    Index(None, "state"),
    comment="Poison records (隔离区) set aside with their reason: held | replayed | discarded.",
)

# -- supervision (电子监察) -----------------------------------------------------------------------------------------
# Alerts, complaints and ratings belong to the county that raised / received them (``origin``); a city and the
# province hold replicas (the same rows, applied when newer by ``origin_seq``). ``history`` is the append-only list
# of lifecycle steps, each {action, actor, at, reason}.

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


# -- standards status (标准版本状态) ----------------------------------------------------------------------------------
# Each node reports the standards bundle it runs as a ``standards_status`` record it owns (written in the
# transaction that put the bundle in force); the records flow up, so the province sees every node's version.

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

# -- orders (督办 / 催办) ------------------------------------------------------------------------------------------
# An order belongs to the city or the province that issued it (``issuer``) and flows down to its county; the
# county's handling of it (received, answered) is a record the county owns, which flows back up.

orders = Table(
    "orders",
    metadata,
    Column("order_id", String(40), primary_key=True),
    Column("issuer", String(6), nullable=False),
    Column("county", String(6), nullable=False),
    Column("kind", String(16), nullable=False),  # urge 催办 | supervise 督办
    Column("subject_kind", String(16), nullable=False),  # alert | case
    Column("subject_id", String(64), nullable=False),
    Column("case_no", String(32)),
    Column("reason", Text, nullable=False),
    Column("issued_by", String(100), nullable=False),
    Column("issued_at", UTCDateTime, nullable=False),
    Column("reply_due_at", UTCDateTime),
    Column("status", String(16), nullable=False),  # issued | withdrawn | closed (the issuer's view)
    Column("history", JSON, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("origin_seq", BigInteger),
    Index(None, "county", "status"),
    Index(None, "subject_kind", "subject_id"),
    comment="Orders (督办/催办) issued by a city or the province to a county about an alert or a case.",
)

order_replies = Table(
    "order_replies",
    metadata,
    Column("order_id", String(40), primary_key=True),
    Column("county", String(6), nullable=False),
    Column("status", String(16), nullable=False),  # received | answered
    Column("received_at", UTCDateTime, nullable=False),
    Column("answered_at", UTCDateTime),
    Column("answered_by", String(100)),
    Column("answer", Text),
    Column("history", JSON, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("origin_seq", BigInteger),
    Index(None, "county", "status"),
    comment="A county's handling of an order (签收, 办复): the county owns it; it flows up to the issuer.",
)

# -- scores (考核评分) ---------------------------------------------------------------------------------------------
# Computed by the province (or a city, for its counties) from replicated data under the scoring rules of a
# standards version; the province's scores flow down so every hall sees its rank.

scores = Table(
    "scores",
    metadata,
    Column("computed_by", String(6), primary_key=True),  # the node that computed (370000, or a city)
    Column("rules_version", String(64), primary_key=True),  # the standards version carrying the scoring rules
    Column("period", String(10), primary_key=True),  # 2026-10 | 2026-Q4 | 2026
    Column("level", String(12), primary_key=True),  # county | department | window
    Column("subject", String(160), primary_key=True),  # 371122 | 371122/市场监督管理局 | 371122/W03
    Column("county", String(6), nullable=False),
    Column("cases", Integer, nullable=False),
    Column("score", Numeric(7, 2), nullable=False),
    Column("small_sample", Boolean, nullable=False),
    Column("rank", Integer),  # null when not ranked (a small sample)
    Column("ranked_of", Integer, nullable=False),
    Column("breakdown", JSON, nullable=False),
    Column("input_digest", String(64), nullable=False),
    Column("computed_at", UTCDateTime, nullable=False),
    Column("origin_seq", BigInteger),
    Index(None, "county", "period"),
    comment="Scores per period for county, department and window, with their breakdown (考核评分).",
)

# -- video index (视频索引) ---------------------------------------------------------------------------------------
# The county indexes its hall cameras' recordings (never the video itself); cameras, segments and events replicate
# up so an inspector knows which clip to ask the county for. Moments in UTC; display in Asia/Shanghai.

cameras = Table(
    "cameras",
    metadata,
    Column("camera_id", String(20), primary_key=True),  # GB/T 28181 20-digit device id
    Column("origin", String(6), nullable=False),
    Column("name", String(100), nullable=False),
    Column("hall", String(100), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("origin_seq", BigInteger),
    Index(None, "origin"),
    comment="Hall cameras (摄像机), GB/T 28181 ids; where each watches is in camera_bindings.",
)

camera_bindings = Table(
    "camera_bindings",
    metadata,
    Column("camera_id", String(20), ForeignKey("cameras.camera_id"), primary_key=True),
    Column("valid_from", UTCDateTime, primary_key=True),
    Column("valid_to", UTCDateTime),  # null: still bound
    Column("window", String(16), nullable=False),
    Index(None, "window", "valid_from"),
    comment="A camera watching a window for [valid_from, valid_to); moving a camera closes one, opens one.",
)

video_segments = Table(
    "video_segments",
    metadata,
    Column("camera_id", String(20), primary_key=True),
    Column("start_at", UTCDateTime, primary_key=True),
    Column("end_at", UTCDateTime, nullable=False),
    Column("origin", String(6), nullable=False),
    Column("uri", Text, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("checksum", String(80), nullable=False),
    Column("indexed_at", UTCDateTime, nullable=False),
    Column("origin_seq", BigInteger),  # on a replica: the seq of the county's record (newest wins)
    Index(None, "start_at"),
    comment="Recording segments [start_at, end_at) of a camera (never overlapping); the video stays on the NVR.",
)

video_events = Table(
    "video_events",
    metadata,
    Column("event_id", String(40), primary_key=True),
    Column("origin", String(6), nullable=False),
    Column("camera_id", String(20), nullable=False),
    Column("window", String(16)),
    Column("kind", String(24), nullable=False),  # alarm | motion | window_unattended | complaint_linked
    Column("at", UTCDateTime, nullable=False),
    Column("details", JSON, nullable=False),
    Column("indexed_at", UTCDateTime, nullable=False),
    Column("origin_seq", BigInteger),  # on a replica: the seq of the county's record (newest wins)
    Index(None, "camera_id", "at"),
    Index(None, "window", "at"),
    Index(None, "kind", "at"),
    comment="Video events (报警, 移动侦测, 窗口无人, 投诉关联) at a camera and window.",
)

video_purges = Table(
    "video_purges",
    metadata,
    Column("purge_id", Integer, primary_key=True, autoincrement=True),
    Column("origin", String(6), nullable=False),
    Column("ran_at", UTCDateTime, nullable=False),
    Column("status", String(16), nullable=False),  # done | refused
    Column("reason", Text),
    Column("cutoff", UTCDateTime, nullable=False),
    Column("index_before", BigInteger, nullable=False),
    Column("index_after", BigInteger, nullable=False),
    Column("expired", BigInteger, nullable=False),
    Column("held", BigInteger, nullable=False),
    Column("removed", BigInteger, nullable=False),
    Column("files_removed", BigInteger, nullable=False),
    Column("files_missing", BigInteger, nullable=False),
    Column("files_failed", BigInteger, nullable=False),
    Index(None, "origin", "ran_at"),
    comment="Every retention purge run, done or refused, with its counts (the next run's trust check reads it).",
)

video_purge_items = Table(
    "video_purge_items",
    metadata,
    Column("purge_id", Integer, ForeignKey("video_purges.purge_id"), primary_key=True),
    Column("camera_id", String(20), primary_key=True),
    Column("start_at", UTCDateTime, primary_key=True),
    Column("end_at", UTCDateTime, nullable=False),
    Column("uri", Text, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("checksum", String(80), nullable=False),
    Column("file_result", String(16)),  # removed | missing | refused | failed (null until the file step ran)
    comment="What each purge removed: the index rows and the outcome of deleting their files.",
)
