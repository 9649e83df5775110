"""The unit of replication: one outbox record of an origin, as it crosses the wire."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Record"]


@dataclass(frozen=True, slots=True)
class Record:
    """One outbox row of an origin, exactly as it crosses the wire (payload: canonical JSON bytes)."""

    record_type: str
    record_id: str
    op: str
    origin_seq: int
    payload: bytes
    created_at_us: int
