"""The hash chain of an origin's batches, pure: the hash of a batch and how consecutive records are packed into
batches.

A batch of an origin's consecutive outbox records is chained to the previous batch of that origin::

    batch_hash = SHA-256( prev_hash ‖ for each record: seq ‖ created_at_us ‖ len+type ‖ len+id ‖ len+op ‖ len+payload )

The kernel computes it because a node's writer seals its own outbox rows in its own transaction
(:mod:`federation.storage.seal`) as the sync agent does; ``sync_agent.domain`` re-exports these names.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence

from federation.replication.records import Record

__all__ = ["ZERO_HASH", "compute_batch_hash", "pack"]

ZERO_HASH = bytes(32)  # the prev_hash of an origin's first batch

_HEADER = struct.Struct(">QqIIII")


def compute_batch_hash(prev_hash: bytes, records: Sequence[Record]) -> bytes:
    h = hashlib.sha256(prev_hash)
    for r in records:
        t, i, o = r.record_type.encode(), r.record_id.encode(), r.op.encode()
        h.update(_HEADER.pack(r.origin_seq, r.created_at_us, len(t), len(i), len(o), len(r.payload)))
        h.update(t)
        h.update(i)
        h.update(o)
        h.update(r.payload)
    return h.digest()


def pack(records: Sequence[Record], max_records: int, max_bytes: int) -> list[list[Record]]:
    """Split consecutive records into batches of at most ``max_records`` records and ``max_bytes`` payload bytes;
    a record bigger than ``max_bytes`` travels alone."""
    groups: list[list[Record]] = []
    current: list[Record] = []
    size = 0
    for r in records:
        n = len(r.payload)
        if current and (len(current) >= max_records or size + n > max_bytes):
            groups.append(current)
            current, size = [], 0
        current.append(r)
        size += n
    if current:
        groups.append(current)
    return groups
