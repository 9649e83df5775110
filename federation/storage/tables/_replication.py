"""Replication (复制): the transactional outbox, the sealed batches kept as sealed, the receiver's marks, the
sender's acknowledgements per link, and the quarantine of poison records.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, LargeBinary, String, Table, Text, text

from federation.storage.tables._metadata import metadata
from federation.storage.types import UTCDateTime

__all__ = [
    "batch_log",
    "batch_receipts",
    "link_acks",
    "outbox",
    "quarantine",
    "replication_marks",
    "signer_chains",
]

outbox = Table(
    "outbox",
    metadata,
    Column("origin", String(16), primary_key=True),
    Column("seq", BigInteger, primary_key=True),
    Column("record_type", String(32), nullable=False),
    Column("record_id", String(64), nullable=False),
    Column("op", String(8), nullable=False),
    Column("payload", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    # a county's audit chain is kept here (record type "audit"): its head and its entries, by a partial index
    Index(
        None,
        "origin",
        "seq",
        sqlite_where=text("record_type = 'audit'"),
        postgresql_where=text("record_type = 'audit'"),
    ),
    # … and one entry per chain position (record id "origin:seq"): a forked chain fails its insert
    Index(
        None,
        "origin",
        "record_id",
        unique=True,
        sqlite_where=text("record_type = 'audit'"),
        postgresql_where=text("record_type = 'audit'"),
    ),
    comment="Transactional outbox: written in the same transaction as the change; seq gap-free per origin.",
)

# A relay forwards exactly the origin's batches (same boundaries, hashes and signature), so every batch is kept
# as it was sealed; its records are the rows of ``outbox`` under the batch's origin.
batch_log = Table(
    "batch_log",
    metadata,
    Column("origin", String(16), primary_key=True),
    Column("first_seq", BigInteger, primary_key=True),
    Column("last_seq", BigInteger, nullable=False),
    Column("prev_hash", LargeBinary(32), nullable=False),
    Column("batch_hash", LargeBinary(32), nullable=False),
    Column("signature", LargeBinary, nullable=False),
    Column("record_count", Integer, nullable=False),
    Column("sealed_at", UTCDateTime, nullable=False),
    Column("signer", String(64), nullable=True),  # signer_chains.fingerprint: the chain that names the key
    # a relayed batch's wire message (federation.wire.v1.Batch) as received, forwarded byte for byte; null for the
    # batches sealed here and those relayed before revision 0014 (their records are rows of ``outbox``)
    Column("wire", LargeBinary, nullable=True),
    Index(None, "origin", "last_seq"),
    comment="Sealed batches of every origin held here (own and relayed), unchanged: boundaries, hashes, signature.",
)

replication_marks = Table(
    "replication_marks",
    metadata,
    Column("origin", String(16), primary_key=True),
    Column("high_water", BigInteger, nullable=False),
    Column("last_hash", LargeBinary(32), nullable=False),
    Column("records", BigInteger, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # batches ending at or below it were received before receipts were kept (a resend of one is a duplicate)
    Column("receipts_from", BigInteger, nullable=False, server_default="0"),
    comment="Receiver state per origin: highest seq applied, hash of the batch that ended there, records received.",
)

# Every batch a receiver applied, by its last seq: a resend is a duplicate only if its hash is the one received
# (an origin restored from an old backup reuses seqs with other content: refused as divergent, never acked).
batch_receipts = Table(
    "batch_receipts",
    metadata,
    Column("origin", String(16), primary_key=True),
    Column("last_seq", BigInteger, primary_key=True),
    Column("first_seq", BigInteger, nullable=False),
    Column("batch_hash", LargeBinary(32), nullable=False),
    comment="Batches applied here, by origin and last seq, with their hash (the divergence check).",
)

# The certificate chains that signed batches held here (DER, leaf first), once each: batch_log.signer names one.
signer_chains = Table(
    "signer_chains",
    metadata,
    Column("fingerprint", String(64), primary_key=True),
    Column("chain", LargeBinary, nullable=False),
    comment="Signer certificate chains of the batches held here, by the SHA-256 of the chain.",
)

link_acks = Table(
    "link_acks",
    metadata,
    Column("link", String(64), primary_key=True),
    Column("origin", String(16), primary_key=True),
    Column("acked_seq", BigInteger, nullable=False),
    Column("acked_at", UTCDateTime, nullable=False),
    Column("last_error", Text),
    comment="Sender side: what the peer of each link acknowledged, per origin.",
)

quarantine = Table(
    "quarantine",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("origin", String(16), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("record_type", String(32), nullable=False),
    Column("record_id", String(64), nullable=False),
    Column("op", String(8), nullable=False),
    Column("payload", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("resolved_at", UTCDateTime),
    Index(None, "state"),
    comment="Poison records (隔离区) set aside with their reason: held | replayed | discarded.",
)
