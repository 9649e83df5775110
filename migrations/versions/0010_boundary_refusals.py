"""boundary refusals: what the boundary policy kept from leaving a node

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 01:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import federation.storage.types

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "boundary_refusals",
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("record_type", sa.String(length=64), nullable=False),
        sa.Column("field", sa.String(length=200), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("policy_version", sa.String(length=64), nullable=False),
        sa.Column("first_at", federation.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_at", federation.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("direction", "record_type", "field", name=op.f("pk_boundary_refusals")),
        comment="Per direction, record type and unlisted field: how many times the boundary policy refused it.",
    )


def downgrade() -> None:
    op.drop_table("boundary_refusals")
