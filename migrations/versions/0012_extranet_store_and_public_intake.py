"""extranet store and public intake: an extranet node's public tables, a county's online applications and contacts

``ext_*``: filled only at a county's extranet node (the public catalogue, cases' public status, 办件公示, and the
submissions, complaints and ratings made there). ``public_submissions`` and ``case_contacts``: filled only at a
county (what came in from its extranet node; the applicant's phone for the hall's SMS, never replicated up).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 04:48:14.097983
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import federation.storage.types

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "case_contacts",
        sa.Column("case_no", sa.String(length=32), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("sms_opt_out", sa.Boolean(), nullable=False),
        sa.Column("query_hash", sa.String(length=200), nullable=False),
        sa.Column("submission_id", sa.String(length=32), nullable=True),
        sa.Column("rated", sa.Boolean(), nullable=False),
        sa.Column("updated_at", federation.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("case_no", name=op.f("pk_case_contacts")),
        comment="Per case: the applicant's contact for the hall's SMS, the opt-out and the query code's hash.",
    )
    op.create_table(
        "ext_cases",
        sa.Column("case_no", sa.String(length=32), nullable=False),
        sa.Column("item_code", sa.String(length=32), nullable=False),
        sa.Column("item_name", sa.String(length=200), nullable=False),
        sa.Column("department", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("status_label", sa.String(length=24), nullable=False),
        sa.Column("submitted_at", federation.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", federation.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("concluded_at", federation.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("on_time", sa.Boolean(), nullable=True),
        sa.Column("correction", sa.JSON(), nullable=False),
        sa.Column("rating_open", sa.Boolean(), nullable=False),
        sa.Column("query_hash", sa.String(length=200), nullable=False),
        sa.Column("submission_id", sa.String(length=32), nullable=True),
        sa.Column("updated_at", federation.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("origin_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("case_no", name=op.f("pk_ext_cases")),
        comment="Extranet: each case's status as the public may see it (number + query code).",
    )
    with op.batch_alter_table("ext_cases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ext_cases_submission_id"), ["submission_id"], unique=False)

    op.create_table(
        "ext_complaints",
        sa.Column("complaint_ref", sa.String(length=32), nullable=False),
        sa.Column("case_no", sa.String(length=32), nullable=True),
        sa.Column("complainant", sa.String(length=100), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("filed_at", federation.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("complaint_ref", name=op.f("pk_ext_complaints")),
        comment="Extranet: complaints (投诉) the public filed here, sent to the county.",
    )
    op.create_table(
        "ext_disclosures",
        sa.Column("case_no", sa.String(length=32), nullable=False),
        sa.Column("item_code", sa.String(length=32), nullable=False),
        sa.Column("item_name", sa.String(length=200), nullable=False),
        sa.Column("department", sa.String(length=100), nullable=False),
        sa.Column("accepted_on", sa.Date(), nullable=True),
        sa.Column("concluded_on", sa.Date(), nullable=False),
        sa.Column("result", sa.String(length=24), nullable=False),
        sa.Column("on_time", sa.Boolean(), nullable=False),
        sa.Column("origin_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("case_no", name=op.f("pk_ext_disclosures")),
        comment="Extranet: 办件公示, concluded cases published to everyone (no applicant data).",
    )
    with op.batch_alter_table("ext_disclosures", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ext_disclosures_concluded_on"), ["concluded_on"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_ext_disclosures_department_concluded_on"), ["department", "concluded_on"], unique=False
        )

    op.create_table(
        "ext_items",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("department", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("legal_days", sa.Integer(), nullable=False),
        sa.Column("promised_days", sa.Integer(), nullable=False),
        sa.Column("fee", sa.String(length=20), nullable=False),
        sa.Column("key_fields", sa.JSON(), nullable=False),
        sa.Column("standards_version", sa.String(length=64), nullable=False),
        sa.Column("updated_at", federation.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_ext_items")),
        comment="Extranet: the items the public may apply for online (the county's public catalogue).",
    )
    op.create_table(
        "ext_ratings",
        sa.Column("case_no", sa.String(length=32), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("rated_at", federation.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("case_no", name=op.f("pk_ext_ratings")),
        comment="Extranet: ratings (好差评) of concluded cases made here, one per case, sent to the county.",
    )
    op.create_table(
        "ext_submissions",
        sa.Column("submission_id", sa.String(length=32), nullable=False),
        sa.Column("item_code", sa.String(length=32), nullable=False),
        sa.Column("item_name", sa.String(length=200), nullable=False),
        sa.Column("applicant", sa.String(length=100), nullable=False),
        sa.Column("applicant_id", sa.String(length=32), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("materials", sa.JSON(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("sms_opt_out", sa.Boolean(), nullable=False),
        sa.Column("query_hash", sa.String(length=200), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("submitted_at", federation.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("case_no", sa.String(length=32), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("decided_at", federation.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("result_seq", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("submission_id", name=op.f("pk_ext_submissions")),
        comment="Extranet: online applications (网上申报) made here, and what the hall made of each.",
    )
    with op.batch_alter_table("ext_submissions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ext_submissions_submitted_at"), ["submitted_at"], unique=False)

    op.create_table(
        "public_submissions",
        sa.Column("submission_id", sa.String(length=32), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("item_code", sa.String(length=32), nullable=False),
        sa.Column("applicant", sa.String(length=100), nullable=False),
        sa.Column("applicant_id", sa.String(length=32), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("materials", sa.JSON(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("sms_opt_out", sa.Boolean(), nullable=False),
        sa.Column("query_hash", sa.String(length=200), nullable=False),
        sa.Column("submitted_at", federation.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("received_at", federation.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("case_no", sa.String(length=32), nullable=True),
        sa.Column("decided_by", sa.String(length=100), nullable=True),
        sa.Column("decided_at", federation.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("origin_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("submission_id", name=op.f("pk_public_submissions")),
        comment="Online applications (网上申报) from the county's extranet node: pending until a clerk decides.",
    )
    with op.batch_alter_table("public_submissions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_public_submissions_status_submitted_at"), ["status", "submitted_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("public_submissions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_public_submissions_status_submitted_at"))

    op.drop_table("public_submissions")
    with op.batch_alter_table("ext_submissions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ext_submissions_submitted_at"))

    op.drop_table("ext_submissions")
    op.drop_table("ext_ratings")
    op.drop_table("ext_items")
    with op.batch_alter_table("ext_disclosures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ext_disclosures_department_concluded_on"))
        batch_op.drop_index(batch_op.f("ix_ext_disclosures_concluded_on"))

    op.drop_table("ext_disclosures")
    op.drop_table("ext_complaints")
    with op.batch_alter_table("ext_cases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ext_cases_submission_id"))

    op.drop_table("ext_cases")
    op.drop_table("case_contacts")
