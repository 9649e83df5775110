"""boundary identities: origins and node identities wide enough for a county's extranet node and public stream

``371122-ext`` (the county's extranet node, with a certificate of its own) and ``371122-pub`` (the county's public
stream to it) replicate through the same tables as the six-digit division codes, so every origin column of the
replication tables, the audit log's, the signing-key pins' and the PKI's division columns take 16 characters.

On SQLite a column's declared length is not enforced, but the declared schema is what every tier compares, so the
tables are rebuilt (batch mode); the outbox's partial indexes are dropped first and created again after, because a
rebuilt table does not carry an index's ``WHERE`` over.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 05:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WIDENED = (
    ("outbox", "origin", False),
    ("batch_log", "origin", False),
    ("replication_marks", "origin", False),
    ("batch_receipts", "origin", False),
    ("link_acks", "origin", False),
    ("quarantine", "origin", False),
    ("audit_log", "origin", False),
    ("signing_key_pins", "origin", False),
    ("enrolment_tokens", "division", False),
    ("issued_certificates", "division", False),
)
_AUDIT = sa.text("record_type = 'audit'")


def _outbox_partial_indexes(create: bool) -> None:
    if create:
        op.create_index(
            op.f("ix_outbox_origin_seq"),
            "outbox",
            ["origin", "seq"],
            unique=False,
            sqlite_where=_AUDIT,
            postgresql_where=_AUDIT,
        )
        op.create_index(
            op.f("ix_outbox_origin_record_id"),
            "outbox",
            ["origin", "record_id"],
            unique=True,
            sqlite_where=_AUDIT,
            postgresql_where=_AUDIT,
        )
    else:
        op.drop_index(op.f("ix_outbox_origin_record_id"), table_name="outbox")
        op.drop_index(op.f("ix_outbox_origin_seq"), table_name="outbox")


def _resize(length: int, was: int) -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        _outbox_partial_indexes(create=False)
    for table, column, _ in _WIDENED:
        with op.batch_alter_table(table) as batch:
            batch.alter_column(
                column,
                existing_type=sa.String(length=was),
                type_=sa.String(length=length),
                existing_nullable=False,
            )
    if sqlite:
        _outbox_partial_indexes(create=True)


def upgrade() -> None:
    _resize(16, 6)


def downgrade() -> None:
    _resize(6, 16)
