"""Attested completeness (核对声明, issue 19): what a node holds of each origin per record kind (count and digest,
kept incrementally), and the origins' statements with each tier's verdict on them."""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, Index, Integer, String, Table, UniqueConstraint

from federation.storage.tables._metadata import metadata
from federation.storage.types import UTCDateTime

__all__ = ["attestations", "stream_totals"]

stream_totals = Table(
    "stream_totals",
    metadata,
    Column("origin", String(16), primary_key=True),
    Column("record_type", String(32), primary_key=True),
    Column("records", BigInteger, nullable=False),
    Column("digest", String(64), nullable=False),  # hex: the sum of the records' SHA-256 modulo 2**256
    comment="Per origin and record kind, what this node holds of the origin's stream: count and content digest "
    "(federation.replication.attest), added to as records are applied (quarantined ones once replayed); at an "
    "origin, its own records up to its last statement.",
)

attestations = Table(
    "attestations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("origin", String(16), nullable=False),
    Column("statement_seq", BigInteger, nullable=False),  # the statement record's own seq in the origin's stream
    Column("covers", BigInteger, nullable=False),  # the statement counts the origin's records up to this seq
    Column("checked_by", String(16), nullable=False),  # the tier whose verdict this is (the origin: "stated")
    Column("verdict", String(16), nullable=False),  # stated | agree | diverge
    Column("kinds", JSON, nullable=False),  # the origin's figures: kind → [count, digest]
    Column("differ", JSON),  # diverge: kind → {"origin": [n, d], "held": [n, d]}
    Column("checked_at", UTCDateTime, nullable=False),
    UniqueConstraint("origin", "statement_seq", "checked_by"),
    Index(None, "checked_by", "origin", "statement_seq"),
    comment="Origins' statements of their own figures (in their signed streams) and each tier's verdict.",
)
