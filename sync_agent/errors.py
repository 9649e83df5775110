"""Errors of the sync agent, under the kernel's ``federation.errors.SyncError`` (which also holds
``RecordRejected``, the replication contract's error every tier's appliers raise)::

SyncError
├── BatchRefused        the receiver refuses a batch (gap, reorder, broken chain, bad hash, …)
├── RecordRejected      (kernel) one record fails validation or apply: it is quarantined, the stream goes on
└── LinkError           the peer is unreachable or the stream broke (the agent retries with backoff)
"""

from __future__ import annotations

from typing import Any

from federation.errors import SyncError

__all__ = ["BatchRefused", "LinkError"]


class BatchRefused(SyncError):
    """A whole batch refused; ``reason`` is a :class:`sync_agent.domain.RefusalReason` value."""

    code = "batch_refused"

    def __init__(
        self, message: str, *, reason: str, origin: str, high_water: int, last_hash: bytes, **details: Any
    ) -> None:
        super().__init__(message, reason=reason, origin=origin, high_water=high_water, **details)
        self.reason = reason
        self.origin = origin
        self.high_water = high_water
        self.last_hash = last_hash


class LinkError(SyncError):
    """The link to the peer failed; ``status`` names the gRPC status code when gRPC reported it (else "")."""

    code = "link_error"

    def __init__(self, message: str, *, status: str = "", **details: Any) -> None:
        if status:
            details["status"] = status
        super().__init__(message, **details)
        self.status = status
