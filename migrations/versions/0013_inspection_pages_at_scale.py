"""inspectors' pages at province scale: partial indexes for the lights wall, the trend months table

The inspectors' lights wall (实时监控) counts, at a province holding millions of cases, the few open cases under
the clock by county and light and the alerts not closed by county and light, and lists the newest of those
alerts: partial (covering) indexes hold exactly those rows, so each is an index range scan of the open rows only.
``trend_months`` holds each county's figures of a month as the scoring run counted them (``trend_refreshes``:
which months of which scope), so a year's trend reads 12 × counties rows instead of every case. Scores by level
and moment: the rankings' default period (the latest computed) without reading every score.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 08:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import federation.storage.types

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UNDER_CLOCK = sa.text("status IN ('accepted', 'correction', 'in_review', 'special_procedure', 'suspended')")
_NOT_CLOSED = sa.text("status <> 'closed'")


def upgrade() -> None:
    op.create_table(
        "trend_months",
        sa.Column("county", sa.String(length=6), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("accepted", sa.Integer(), nullable=False),
        sa.Column("decided", sa.Integer(), nullable=False),
        sa.Column("late", sa.Integer(), nullable=False),
        sa.Column("concluded", sa.Integer(), nullable=False),
        sa.Column("alerts_raised", sa.Integer(), nullable=False),
        sa.Column("alerts_yellow", sa.Integer(), nullable=False),
        sa.Column("alerts_red", sa.Integer(), nullable=False),
        sa.Column("complaints", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("county", "month", name=op.f("pk_trend_months")),
        comment="A county's figures of a month (月度趋势), as the scoring run counted them from the replicas: the "
        "inspectors' trends read the months a refresh covered from here instead of scanning every case.",
    )
    op.create_table(
        "trend_refreshes",
        sa.Column("scope", sa.String(length=6), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("refreshed_at", federation.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("scope", "month", name=op.f("pk_trend_refreshes")),
        comment="Which months of which scope ``trend_months`` holds, and as of when.",
    )
    op.create_index(op.f("ix_scores_level_computed_at"), "scores", ["level", "computed_at"], unique=False)
    op.create_index(
        "ix_cases_open",
        "cases",
        ["origin", "department", "status", "idx_due_at", "idx_yellow_at", "idx_paused_light"],
        unique=False,
        sqlite_where=_UNDER_CLOCK,
        postgresql_where=_UNDER_CLOCK,
    )
    op.create_index(
        "ix_alerts_open",
        "alerts",
        ["origin", "light", "department", "status"],
        unique=False,
        sqlite_where=_NOT_CLOSED,
        postgresql_where=_NOT_CLOSED,
    )
    op.create_index(
        "ix_alerts_open_opened_at",
        "alerts",
        ["opened_at", "alert_id"],
        unique=False,
        sqlite_where=_NOT_CLOSED,
        postgresql_where=_NOT_CLOSED,
    )


def downgrade() -> None:
    op.drop_table("trend_refreshes")
    op.drop_table("trend_months")
    op.drop_index("ix_alerts_open_opened_at", table_name="alerts")
    op.drop_index("ix_alerts_open", table_name="alerts")
    op.drop_index("ix_cases_open", table_name="cases")
    op.drop_index(op.f("ix_scores_level_computed_at"), table_name="scores")
