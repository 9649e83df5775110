"""Scores (考核评分).

Computed by the province (or a city, for its counties) from replicated data under the scoring rules of a
standards version; the province's scores flow down so every hall sees its rank.
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Boolean, Column, Index, Integer, Numeric, String, Table

from federation.storage.tables._metadata import metadata
from federation.storage.types import UTCDateTime

__all__ = ["scores", "trend_months", "trend_refreshes"]

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
    Index(None, "level", "computed_at"),  # the latest computed period of a level (the rankings page's default)
    comment="Scores per period for county, department and window, with their breakdown (考核评分).",
)

trend_months = Table(
    "trend_months",
    metadata,
    Column("county", String(6), primary_key=True),
    Column("month", String(7), primary_key=True),  # 2026-10 (China Standard Time)
    Column("accepted", Integer, nullable=False),
    Column("decided", Integer, nullable=False),
    Column("late", Integer, nullable=False),
    Column("concluded", Integer, nullable=False),
    Column("alerts_raised", Integer, nullable=False),
    Column("alerts_yellow", Integer, nullable=False),
    Column("alerts_red", Integer, nullable=False),
    Column("complaints", Integer, nullable=False),
    comment="A county's figures of a month (月度趋势), as the scoring run counted them from the replicas: the "
    "inspectors' trends read the months a refresh covered from here instead of scanning every case.",
)

trend_refreshes = Table(
    "trend_refreshes",
    metadata,
    Column("scope", String(6), primary_key=True),  # the division prefix the refresh covered (37, 3711)
    Column("month", String(7), primary_key=True),
    Column("refreshed_at", UTCDateTime, nullable=False),
    comment="Which months of which scope ``trend_months`` holds, and as of when.",
)
