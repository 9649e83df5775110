"""Per-node bookkeeping: small facts about the node, and its gap-free counters."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, String, Table, Text

from federation.storage.tables._metadata import metadata

__all__ = ["counters", "node_settings"]

node_settings = Table(
    "node_settings",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
    comment="Small per-node facts: division code, current standards version.",
)

counters = Table(
    "counters",
    metadata,
    Column("name", String(96), primary_key=True),
    Column("value", BigInteger, nullable=False),
    comment="Gap-free sequences (outbox seq per origin, case number per day); incremented under a row lock.",
)
