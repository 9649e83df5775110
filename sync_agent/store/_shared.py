"""What both sides share: the clock they stamp rows with, a batch as its ``batch_log`` row — written by the
sealer, and unchanged by a relaying receiver — and the signer chains those rows name.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from federation.storage.tables import batch_log, signer_chains
from sync_agent.domain import Batch

__all__ = ["INSERT_BATCH", "Clock", "batch_values", "chains_of", "pack_chain", "store_chain", "unpack_chain"]

Clock = Callable[[], datetime]

INSERT_BATCH = insert(batch_log)


_INSERT_CHAIN = {
    name: ins(signer_chains).on_conflict_do_nothing(index_elements=[signer_chains.c.fingerprint])
    for name, ins in (("postgresql", pg_insert), ("sqlite", sqlite_insert))
}


def pack_chain(chain: Sequence[bytes]) -> bytes:
    """A certificate chain (DER, leaf first) as one value: each certificate length-prefixed (4 bytes)."""
    return b"".join(len(c).to_bytes(4, "big") + c for c in chain)


def unpack_chain(packed: bytes) -> tuple[bytes, ...]:
    out, i = [], 0
    while i < len(packed):
        n = int.from_bytes(packed[i : i + 4], "big")
        out.append(packed[i + 4 : i + 4 + n])
        i += 4 + n
    return tuple(out)


def store_chain(conn: Connection, chain: Sequence[bytes]) -> str | None:
    """Keep ``chain`` once (``signer_chains``) and return the fingerprint a ``batch_log`` row names it by."""
    if not chain:
        return None
    packed = pack_chain(chain)
    fingerprint = hashlib.sha256(packed).hexdigest()
    conn.execute(_INSERT_CHAIN[conn.dialect.name], {"fingerprint": fingerprint, "chain": packed})
    return fingerprint


def chains_of(conn: Connection, fingerprints: set[str]) -> dict[str, tuple[bytes, ...]]:
    if not fingerprints:
        return {}
    rows = conn.execute(
        select(signer_chains.c.fingerprint, signer_chains.c.chain).where(signer_chains.c.fingerprint.in_(fingerprints))
    )
    return {r.fingerprint: unpack_chain(bytes(r.chain)) for r in rows}


def batch_values(batch: Batch, stored_at: datetime, signer: str | None = None) -> dict[str, Any]:
    return {
        "origin": batch.origin,
        "first_seq": batch.first_seq,
        "last_seq": batch.last_seq,
        "prev_hash": batch.prev_hash,
        "batch_hash": batch.batch_hash,
        "signature": batch.signature,
        "record_count": len(batch.records),
        "sealed_at": stored_at,
        "signer": signer,
    }
