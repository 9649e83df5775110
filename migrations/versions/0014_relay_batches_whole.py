"""a relay keeps each batch it received whole: ``batch_log.wire``

A city forwards its counties' batches byte for byte: the batch's wire message (``federation.wire.v1.Batch``) as
it arrived is kept in ``batch_log.wire`` and sent on unchanged, instead of a copy of every record in ``outbox``
re-assembled and re-encoded for each send. Batches relayed before this revision keep their outbox rows (``wire``
is null) and are assembled from them as before.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 11:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("batch_log") as batch:
        batch.add_column(sa.Column("wire", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("batch_log") as batch:
        batch.drop_column("wire")
