"""The standards bundles (标准包) a node has applied, the item catalogue (事项目录) of each, and the
published working-day calendar years.
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, Date, ForeignKey, Integer, Numeric, String, Table, Text

from federation.storage.tables._metadata import metadata
from federation.storage.types import UTCDateTime

__all__ = ["calendar_years", "catalogue_items", "standards_bundles"]

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
