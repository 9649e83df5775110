"""Migrations: a fresh database migrated to head is exactly the metadata, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text

from federation.storage.engine import make_engine
from federation.storage.tables import metadata
from migrations.runner import alembic_config, current_revision, head_revision, upgrade


@pytest.fixture
def fresh(db_url: str) -> Iterator[Engine]:
    """An engine on an empty database (not migrated)."""
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


def _diffs(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
        return list(compare_metadata(ctx, metadata))


def _schema(engine: Engine) -> dict[str, Any]:
    insp = inspect(engine)
    return {
        t: (
            [(c["name"], str(c["type"]), c["nullable"]) for c in insp.get_columns(t)],
            sorted((i["name"], tuple(i["column_names"])) for i in insp.get_indexes(t)),
            insp.get_pk_constraint(t)["constrained_columns"],
            sorted(fk["name"] or "" for fk in insp.get_foreign_keys(t)),
        )
        for t in sorted(insp.get_table_names())
    }


def test_a_fresh_database_migrated_to_head_matches_the_metadata(fresh: Engine) -> None:
    assert current_revision(fresh) is None
    upgrade(fresh)
    assert current_revision(fresh) == head_revision()
    assert _diffs(fresh) == []
    tables = set(inspect(fresh).get_table_names())
    assert tables == set(metadata.tables) | {"alembic_version"}


def test_there_is_exactly_one_head() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    heads = script.get_heads()
    assert len(heads) == 1
    assert head_revision() == heads[0]
    # every revision descends from a single base: a straight line
    assert len(script.get_bases()) == 1
    revisions = list(script.walk_revisions())
    assert all(not isinstance(r.down_revision, tuple | list) for r in revisions)  # no merge revisions


def test_upgrading_twice_is_a_no_op(fresh: Engine) -> None:
    upgrade(fresh)
    before = _schema(fresh)
    upgrade(fresh)
    assert current_revision(fresh) == head_revision()
    assert _schema(fresh) == before
    assert _diffs(fresh) == []
    with fresh.connect() as conn:
        assert conn.execute(text("select count(*) from alembic_version")).scalar_one() == 1


def test_sqlite_runs_with_wal_and_foreign_keys(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'sub' / 'node.db'}")  # the directory is created
    try:
        upgrade(engine)
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one() == 30000
        # foreign keys are enforced, not just declared
        with pytest.raises(Exception, match="FOREIGN KEY"), engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO case_events (case_no, n, action, actor, at, to_status, payload) "
                "VALUES ('371122-20260921-000001', 1, 'submit', 'x', '2026-09-21 01:00:00', 'submitted', '{}')"
            )
    finally:
        engine.dispose()


@pytest.mark.postgresql
def test_postgresql_uses_psycopg_and_timestamptz(pg_url: str) -> None:
    engine = make_engine(pg_url.replace("postgresql+psycopg://", "postgresql://", 1))
    try:
        assert engine.dialect.driver == "psycopg"
        upgrade(engine)
        columns = {c["name"]: c for c in inspect(engine).get_columns("cases")}
        assert columns["idx_due_at"]["type"].timezone is True  # timestamptz
    finally:
        engine.dispose()


def test_0006_keeps_the_marks_of_batches_received_before_receipts_were_kept(fresh: Engine) -> None:
    """Data migration: a receiver's existing marks get ``receipts_from = high_water`` — a resend of a batch it
    applied before 0006 stays a duplicate (it has no receipt to compare with); new marks start at 0."""
    upgrade(fresh, "0005")
    with fresh.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO replication_marks (origin, high_water, last_hash, records, updated_at) "
                "VALUES ('371122', 42, :h, 42, '2026-12-01T00:00:00+00:00')"
            ),
            {"h": bytes(32)},
        )
    upgrade(fresh)
    with fresh.connect() as conn:
        assert conn.execute(text("SELECT receipts_from FROM replication_marks")).scalar_one() == 42
        conn.execute(
            text(
                "INSERT INTO replication_marks (origin, high_water, last_hash, records, updated_at) "
                "VALUES ('371121', 7, :h, 7, '2026-12-01T00:00:00+00:00')"
            ),
            {"h": bytes(32)},
        )
        assert (
            conn.execute(text("SELECT receipts_from FROM replication_marks WHERE origin = '371121'")).scalar_one() == 0
        )
