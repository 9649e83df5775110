"""What the boundary policy kept from leaving this node: refused records and dropped unlisted fields."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, String, Table

from federation.storage.tables._metadata import metadata
from federation.storage.types import UTCDateTime

__all__ = ["boundary_refusals"]

boundary_refusals = Table(
    "boundary_refusals",
    metadata,
    Column("direction", String(8), primary_key=True),
    Column("record_type", String(64), primary_key=True),
    # "" for a refused record; the dotted path of a field the policy does not list (dropped from records that crossed)
    Column("field", String(200), primary_key=True),
    Column("count", BigInteger, nullable=False),
    Column("policy_version", String(64), nullable=False),  # the standards version whose policy refused it last
    Column("first_at", UTCDateTime, nullable=False),
    Column("last_at", UTCDateTime, nullable=False),
    comment="Per direction, record type and unlisted field: how many times the boundary policy refused it.",
)
