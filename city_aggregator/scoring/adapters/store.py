"""Writing a run's ``scores`` rows in bulk, with each breakdown already encoded as canonical JSON.

The scoring run encodes every breakdown once (``domain.ScoredSubject.breakdown_json``) and reuses that text for the
outbox payloads; the rows are stored with the same text, so no breakdown is encoded twice:

* on PostgreSQL, one ``COPY scores FROM STDIN`` (the server parses the text into its ``json`` column);
* on SQLite, one ``executemany`` through :class:`~federation.storage.bulk.BulkStatement` over a mirror of the table
  whose ``breakdown`` is plain text — every other column gets the conversion SQLAlchemy applies to ``scores``.

Readers parse the column (``read_scores``), so what they see is the same as with the engine's JSON serializer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Column, MetaData, Table, Text
from sqlalchemy.engine import Connection

from federation.storage.bulk import BulkStatement
from federation.storage.tables import scores

__all__ = ["COLUMNS", "write_scores"]

COLUMNS = tuple(c.name for c in scores.c)

_mirror = Table(
    scores.name,
    MetaData(),
    *(Column(c.name, Text if c.name == "breakdown" else c.type) for c in scores.c),
)
_INSERT_TEXT = BulkStatement(_mirror.insert(), COLUMNS)


def write_scores(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (mappings of every ``scores`` column, ``breakdown`` as canonical JSON text)."""
    if not rows:
        return
    if conn.dialect.name != "postgresql":
        _INSERT_TEXT.execute(conn, rows)
        return
    for row in rows:
        moment = row["computed_at"]
        if moment.tzinfo is None:
            raise ValueError("naive datetime refused by UTCDateTime")
    raw = conn.connection.driver_connection
    assert raw is not None
    with raw.cursor() as cur:
        names = ", ".join(f'"{c}"' for c in COLUMNS)
        with cur.copy(f"COPY {scores.name} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([row[c] for c in COLUMNS])
