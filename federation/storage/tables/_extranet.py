"""The extranet node's store (外网节点, ``docs/boundary.md``): only what the public may see and what the public sent.

Filled at a county's extranet node only: the public catalogue, cases' public status and 办件公示 (applied from
the county's public stream, ``371122-pub``), and the submissions, complaints and ratings made here (sent to the
county in the node's own stream, ``371122-ext``). No intranet table is ever filled here.
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Boolean, Column, Date, Index, Integer, String, Table, Text

from federation.storage.tables._metadata import metadata
from federation.storage.types import UTCDateTime

__all__ = ["ext_cases", "ext_complaints", "ext_disclosures", "ext_items", "ext_ratings", "ext_submissions"]

ext_items = Table(
    "ext_items",
    metadata,
    Column("code", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("department", String(100), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("legal_days", Integer, nullable=False),
    Column("promised_days", Integer, nullable=False),
    Column("fee", String(20), nullable=False),
    Column("key_fields", JSON, nullable=False),
    Column("standards_version", String(64), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    comment="Extranet: the items the public may apply for online (the county's public catalogue).",
)

ext_cases = Table(
    "ext_cases",
    metadata,
    Column("case_no", String(32), primary_key=True),
    Column("item_code", String(32), nullable=False),
    Column("item_name", String(200), nullable=False),
    Column("department", String(100), nullable=False),
    Column("status", String(24), nullable=False),
    Column("status_label", String(24), nullable=False),
    Column("submitted_at", UTCDateTime, nullable=False),
    Column("accepted_at", UTCDateTime),
    Column("concluded_at", UTCDateTime),
    Column("due_on", Date),
    Column("decision", String(16), nullable=False),
    Column("on_time", Boolean),
    Column("correction", JSON, nullable=False),
    Column("rating_open", Boolean, nullable=False),
    Column("query_hash", String(200), nullable=False),
    Column("submission_id", String(32)),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("origin_seq", BigInteger, nullable=False),  # the public stream's seq of the snapshot held
    Index(None, "submission_id"),
    comment="Extranet: each case's status as the public may see it (number + query code).",
)

ext_submissions = Table(
    "ext_submissions",
    metadata,
    Column("submission_id", String(32), primary_key=True),
    Column("item_code", String(32), nullable=False),
    Column("item_name", String(200), nullable=False),
    Column("applicant", String(100), nullable=False),
    Column("applicant_id", String(32), nullable=False),
    Column("phone", String(20), nullable=False),
    Column("materials", JSON, nullable=False),
    Column("data", JSON, nullable=False),
    Column("note", Text, nullable=False),
    Column("sms_opt_out", Boolean, nullable=False),
    Column("query_hash", String(200), nullable=False),
    Column("client", String(64), nullable=False),  # a keyed digest of the client's address (rate limits, abuse)
    Column("submitted_at", UTCDateTime, nullable=False),
    Column("outcome", String(16)),  # None: 待受理; accepted | refused (from the county's submission result)
    Column("case_no", String(32)),
    Column("reason", Text),
    Column("decided_at", UTCDateTime),
    Column("result_seq", BigInteger),  # the public stream's seq of the result held
    Index(None, "submitted_at"),
    comment="Extranet: online applications (网上申报) made here, and what the hall made of each.",
)

ext_complaints = Table(
    "ext_complaints",
    metadata,
    Column("complaint_ref", String(32), primary_key=True),
    Column("case_no", String(32)),
    Column("complainant", String(100), nullable=False),
    Column("phone", String(20), nullable=False),
    Column("content", Text, nullable=False),
    Column("client", String(64), nullable=False),
    Column("filed_at", UTCDateTime, nullable=False),
    comment="Extranet: complaints (投诉) the public filed here, sent to the county.",
)

ext_ratings = Table(
    "ext_ratings",
    metadata,
    Column("case_no", String(32), primary_key=True),  # once per case
    Column("level", Integer, nullable=False),
    Column("comment", Text, nullable=False),
    Column("client", String(64), nullable=False),
    Column("rated_at", UTCDateTime, nullable=False),
    comment="Extranet: ratings (好差评) of concluded cases made here, one per case, sent to the county.",
)

ext_disclosures = Table(
    "ext_disclosures",
    metadata,
    Column("case_no", String(32), primary_key=True),
    Column("item_code", String(32), nullable=False),
    Column("item_name", String(200), nullable=False),
    Column("department", String(100), nullable=False),
    Column("accepted_on", Date),
    Column("concluded_on", Date, nullable=False),
    Column("result", String(24), nullable=False),
    Column("on_time", Boolean, nullable=False),
    Column("origin_seq", BigInteger, nullable=False),
    Index(None, "concluded_on"),
    Index(None, "department", "concluded_on"),
    comment="Extranet: 办件公示, concluded cases published to everyone (no applicant data).",
)
