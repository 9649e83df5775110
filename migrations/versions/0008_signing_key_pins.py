"""signing key pins: each origin's signing key as first verified at this receiver

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 22:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import federation.storage.types

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "signing_key_pins",
        sa.Column("origin", sa.String(length=6), nullable=False),
        sa.Column("suite", sa.String(length=16), nullable=False),
        sa.Column("public_key", sa.String(length=200), nullable=False),
        sa.Column("certificate", sa.String(length=64), nullable=False),
        sa.Column("pinned_at", federation.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("origin", name=op.f("pk_signing_key_pins")),
        comment="The signing key of each origin as first verified here (or renewed with the pinned key's consent).",
    )


def downgrade() -> None:
    op.drop_table("signing_key_pins")
