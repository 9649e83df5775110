"""A county's side of the boundary (``docs/boundary.md``): what came in from its extranet node, and whom to tell.

``public_submissions`` holds the online applications (网上申报) the extranet node sent, until a clerk accepts one
(it becomes a case) or refuses it; ``case_contacts`` holds, per case, the applicant's phone for the hall's SMS
(受理, 补正, 办结) and the opt-out — kept apart from the case row, never replicated up, never in a log.
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Boolean, Column, Index, String, Table, Text

from federation.storage.tables._metadata import metadata
from federation.storage.types import UTCDateTime

__all__ = ["case_contacts", "public_submissions"]

public_submissions = Table(
    "public_submissions",
    metadata,
    Column("submission_id", String(32), primary_key=True),
    Column("origin", String(16), nullable=False),  # the extranet node that sent it (371122-ext)
    Column("item_code", String(32), nullable=False),
    Column("applicant", String(100), nullable=False),
    Column("applicant_id", String(32), nullable=False),
    Column("phone", String(20), nullable=False),
    Column("materials", JSON, nullable=False),
    Column("data", JSON, nullable=False),
    Column("note", Text, nullable=False),
    Column("sms_opt_out", Boolean, nullable=False),
    Column("query_hash", String(200), nullable=False),
    Column("submitted_at", UTCDateTime, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Column("status", String(16), nullable=False),  # pending | accepted | refused
    Column("case_no", String(32)),
    Column("decided_by", String(100)),
    Column("decided_at", UTCDateTime),
    Column("reason", Text),
    Column("origin_seq", BigInteger, nullable=False),
    Index(None, "status", "submitted_at"),
    comment="Online applications (网上申报) from the county's extranet node: pending until a clerk decides.",
)

case_contacts = Table(
    "case_contacts",
    metadata,
    Column("case_no", String(32), primary_key=True),
    Column("phone", String(20), nullable=False),  # the applicant's, for the hall's SMS; "" when none
    Column("sms_opt_out", Boolean, nullable=False),
    Column("query_hash", String(200), nullable=False),  # of the 查询码 given at acceptance
    Column("submission_id", String(32)),  # the online application it came from
    Column("rated", Boolean, nullable=False),  # the public rating arrived (once per case)
    Column("updated_at", UTCDateTime, nullable=False),
    comment="Per case: the applicant's contact for the hall's SMS, the opt-out and the query code's hash.",
)
