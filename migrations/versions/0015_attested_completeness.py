"""attested completeness: ``stream_totals`` and ``attestations``

Per origin and record kind, what a node holds of the origin's stream (count and a content digest, kept as records
are applied), and the origins' statements of their own figures with each tier's verdict (issue 19).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 16:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import federation.storage.types

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "stream_totals",
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("record_type", sa.String(length=32), nullable=False),
        sa.Column("records", sa.BigInteger(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("origin", "record_type", name=op.f("pk_stream_totals")),
        comment="Per origin and record kind, what this node holds of the origin's stream: count and content digest "
        "(federation.replication.attest), added to as records are applied (quarantined ones once replayed); at an "
        "origin, its own records up to its last statement.",
    )
    op.create_table(
        "attestations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("statement_seq", sa.BigInteger(), nullable=False),
        sa.Column("covers", sa.BigInteger(), nullable=False),
        sa.Column("checked_by", sa.String(length=16), nullable=False),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("kinds", sa.JSON(), nullable=False),
        sa.Column("differ", sa.JSON(), nullable=True),
        sa.Column("checked_at", federation.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attestations")),
        sa.UniqueConstraint(
            "origin", "statement_seq", "checked_by", name=op.f("uq_attestations_origin_statement_seq_checked_by")
        ),
        comment="Origins' statements of their own figures (in their signed streams) and each tier's verdict.",
    )
    op.create_index(
        op.f("ix_attestations_checked_by_origin_statement_seq"),
        "attestations",
        ["checked_by", "origin", "statement_seq"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_table("attestations")
    op.drop_table("stream_totals")
