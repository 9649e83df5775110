"""Errors of the sync agent, under the kernel's ``federation.errors.SyncError`` (which also holds
``RecordRejected``, the replication contract's error every tier's appliers raise)::

SyncError
├── BatchRefused        the receiver refuses a batch (gap, reorder, broken chain, bad hash, …)
├── FerryFileRefused    a ferry file refused whole: truncated, corrupt, foreign (signer), misnamed, refused batch
├── SpoolFull           a ferry sender's spool is at its bound: nothing new is sealed into files until acks free it
├── RecordRejected      (kernel) one record fails validation or apply: it is quarantined, the stream goes on
├── LinkError           the peer is unreachable or the stream broke (the agent retries with backoff)
├── NotDrained          ``admin drain`` timed out: records are still not acknowledged by the peer
├── Divergent           ``admin verify``: a tier does not hold what an origin's statement says it wrote
└── RecoveryRefused     ``county recover``: what the parent sent back fails verification, or the local store
                        disagrees with it (nothing of the batch in question is written)
"""

from __future__ import annotations

from typing import Any

from federation.errors import SyncError

__all__ = ["BatchRefused", "Divergent", "FerryFileRefused", "LinkError", "NotDrained", "RecoveryRefused", "SpoolFull"]


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


class FerryFileRefused(SyncError):
    """A ferry file refused as a whole, nothing of it applied; ``reason``: truncated, corrupt, foreign (not signed
    by an enrolled sender, or by another than it names), misnamed, too_large, or refused (a batch in it was
    refused)."""

    code = "ferry_file_refused"

    def __init__(self, message: str, *, reason: str, file: str = "", **details: Any) -> None:
        super().__init__(message, reason=reason, file=file, **details)
        self.reason = reason
        self.file = file


class SpoolFull(SyncError):
    """The ferry sender's spool holds ``used`` bytes of its ``limit``: no new file until acknowledgements free it."""

    code = "spool_full"

    def __init__(self, message: str, *, used: int, limit: int, **details: Any) -> None:
        super().__init__(message, used=used, limit=limit, **details)
        self.used = used
        self.limit = limit


class NotDrained(SyncError):
    """Links still hold records their peers have not acknowledged when a drain's time is up; ``left`` names each
    link and origin with its backlog."""

    code = "not_drained"

    def __init__(self, message: str, *, left: list[dict[str, Any]], **details: Any) -> None:
        super().__init__(message, left=left, **details)
        self.left = left


class Divergent(SyncError):
    """A tier's holdings of an origin differ from the origin's own statement (the message names the first)."""

    code = "divergent"


class RecoveryRefused(SyncError):
    """A recovery stops: a batch fetched back fails verification (chain, hash, signature), or the local store holds
    other content at a seq than the parent's copy. What was written before it stays (it was verified)."""

    code = "recovery_refused"
