"""Orders (督办 / 催办).

An order belongs to the city or the province that issued it (``issuer``) and flows down to its county; the
county's handling of it (received, answered) is a record the county owns, which flows back up.
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, Index, String, Table, Text

from federation.storage.tables._metadata import metadata
from federation.storage.types import UTCDateTime

__all__ = ["order_replies", "orders"]

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
