"""The video index (视频索引), and the record of every retention purge.

The county indexes its hall cameras' recordings (never the video itself); cameras, segments and events replicate
up so an inspector knows which clip to ask the county for. Moments in UTC; display in Asia/Shanghai.
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, ForeignKey, Index, Integer, String, Table, Text

from federation.storage.tables._metadata import metadata
from federation.storage.types import UTCDateTime

__all__ = ["camera_bindings", "cameras", "video_events", "video_purge_items", "video_purges", "video_segments"]

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
