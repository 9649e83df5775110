"""The bulk statement stores rows exactly as a plain Core ``insert`` does, on SQLite and PostgreSQL — also when a
batch's moments are converted once per distinct instant: the repeated hour at the end of daylight saving time
(equal wall times an hour apart), one instant in two offsets, ``None``; and refuses what a plain insert refuses."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import BigInteger, Column, Engine, MetaData, String, Table, delete, insert, select

from federation.storage.bulk import BulkStatement, sqlite_moments
from federation.storage.types import UTCDateTime

NEW_YORK = ZoneInfo("America/New_York")
FIRST = datetime(2026, 11, 1, 1, 30, tzinfo=NEW_YORK)  # 05:30 UTC, daylight time
SECOND = FIRST.replace(fold=1)  # 06:30 UTC, standard time: equal to FIRST as a datetime, an hour later

meta = MetaData()
probe = Table(
    "bulk_probe",
    meta,
    Column("n", BigInteger, primary_key=True),
    Column("label", String(20)),
    Column("at", UTCDateTime),
)
COLUMNS = ["n", "label", "at"]


@pytest.fixture
def table(engine: Engine) -> Iterator[Table]:
    meta.create_all(engine)
    try:
        yield probe
    finally:
        meta.drop_all(engine)


def _rows() -> list[dict[str, object]]:
    east8 = timezone(timedelta(hours=8))
    moments = [FIRST, SECOND, FIRST, SECOND.astimezone(UTC), FIRST.astimezone(east8), None, SECOND]
    return [{"n": i, "label": f"行{i}", "at": at} for i, at in enumerate(moments)]


def _stored(engine: Engine) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(probe).order_by(probe.c.n))]


def test_bulk_rows_are_stored_as_a_plain_insert_stores_them(engine: Engine, table: Table) -> None:
    rows = _rows()
    with engine.begin() as conn:
        conn.execute(insert(table), rows)
    plain = _stored(engine)
    assert plain[1][2] - plain[0][2] == timedelta(hours=1)  # the fold is honoured by the plain insert
    for write in ("rows", "columns"):
        with engine.begin() as conn:
            conn.execute(delete(table))
            bulk = BulkStatement(insert(table), COLUMNS)
            if write == "rows":
                bulk.execute(conn, rows)
            else:
                bulk.execute_columns(conn, {name: [r[name] for r in rows] for name in COLUMNS})
        assert _stored(engine) == plain, write


def test_bulk_refuses_naive_moments_and_ragged_columns_writing_nothing(engine: Engine, table: Table) -> None:
    bulk = BulkStatement(insert(table), COLUMNS)
    with pytest.raises(ValueError, match="naive"), engine.begin() as conn:
        bulk.execute(conn, [{"n": 1, "label": "a", "at": FIRST}, {"n": 2, "label": "b", "at": datetime(2026, 1, 1)}])
    with pytest.raises(ValueError, match="different lengths"), engine.begin() as conn:
        bulk.execute_columns(conn, {"n": [1, 2], "label": ["a"], "at": [FIRST, FIRST]})
    with engine.begin() as conn:
        bulk.execute_columns(conn, {"n": range(0), "label": [], "at": []})  # nothing to write: a no-op
    assert _stored(engine) == []


def test_sqlite_moments_convert_each_instant_not_each_equal_wall_time() -> None:
    got = sqlite_moments([FIRST, SECOND, None, FIRST.astimezone(UTC)])
    assert got == ("2026-11-01 05:30:00.000000", "2026-11-01 06:30:00.000000", None, "2026-11-01 05:30:00.000000")


def test_append_encoded_writes_what_append_writes(engine: Engine) -> None:
    """Many records of one type with encoded payloads (the video ingest's path) give the rows the general path
    gives, in order, gap-free after it; ids and payloads of different lengths write nothing."""
    from federation.storage import outbox
    from federation.storage.tables import outbox as outbox_table

    at = datetime(2026, 11, 26, 9, 0, tzinfo=timezone(timedelta(hours=8)))
    # fields the boundary policy lists for the type, so both paths write them as given
    payloads = [outbox.EncodedPayload(outbox.canonical_json({"size": i, "uri": "录像"})) for i in range(3)]
    ids = [f"cam@{i}" for i in range(3)]
    for copy in (False, True):
        with engine.begin() as conn:
            records = [
                outbox.OutboxRecord("video_segment", i, "upsert", {"size": n, "uri": "录像"}) for n, i in enumerate(ids)
            ]
            general = outbox.append(conn, origin="371122", records=records, created_at=at, copy=copy)
            encoded = outbox.append_encoded(
                conn,
                origin="371122",
                record_type="video_segment",
                op="upsert",
                record_ids=ids,
                payloads=payloads,
                created_at=at,
                copy=copy,
            )
            assert encoded == [general[-1] + 1, general[-1] + 2, general[-1] + 3]
            with pytest.raises(ValueError, match="different lengths"):
                outbox.append_encoded(
                    conn,
                    origin="371122",
                    record_type="video_segment",
                    op="upsert",
                    record_ids=ids,
                    payloads=payloads[:2],
                    created_at=at,
                )
            o = outbox_table.c
            q = select(o.seq, o.record_type, o.record_id, o.op, o.payload, o.created_at).order_by(o.seq)
            rows = [tuple(r) for r in conn.execute(q.where(o.seq.in_(general + encoded)))]
            conn.execute(delete(outbox_table))
        assert [r[1:] for r in rows[:3]] == [r[1:] for r in rows[3:]]
