"""audit chain in the outbox: a partial index on a county's audit entries in its outbox

A county's audit chain replicates, so its entries are kept only as outbox rows of record type ``audit`` (no second
copy in ``audit_log``); this index finds the chain's head and its entries among the outbox rows.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 02:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_AUDIT = sa.text("record_type = 'audit'")


def upgrade() -> None:
    op.create_index(
        op.f("ix_outbox_origin_seq"),
        "outbox",
        ["origin", "seq"],
        unique=False,
        sqlite_where=_AUDIT,
        postgresql_where=_AUDIT,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_outbox_origin_seq"), table_name="outbox")
