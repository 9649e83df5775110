"""The two ports of the replication engine; the transport (gRPC, file ferry) sits between them.

- :class:`BatchSource`, on the sending node: the sealed, hash-chained batches of each origin it sends (its own
  outbox sealed into batches, and the batches it received from its children, stored unchanged for relay).
- :class:`BatchSink`, on the receiving node: its marks per origin, and ``receive`` — check one batch against
  the mark and apply it, all in one transaction; poison records are quarantined, never block the batch.

Storage adapters (``sync_agent.store``) implement both over the one Sunshine schema; tests may use fakes that
subclass these protocols.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from sync_agent.domain import Batch, Mark

__all__ = ["BatchSink", "BatchSource", "Receipt"]


@dataclass(frozen=True, slots=True)
class Receipt:
    """The outcome of receiving one batch: the new mark, how many records were quarantined, a duplicate?"""

    mark: Mark
    quarantined: int = 0
    duplicate: bool = False


class BatchSource(Protocol):
    def origins(self) -> Sequence[str]:
        """Origins this node has batches of (its own first)."""
        ...

    def seal(self) -> int:
        """Seal newly committed outbox records of this node into batches; return how many batches were sealed."""
        ...

    def unsealed(self) -> tuple[int, int]:
        """``(last seq sealed, highest outbox seq)`` of this node's own origin, read without any write lock (a
        woken link's look; the rows between are pending). A source that seals nothing itself: nothing pending."""
        return (0, 0)

    def batches_after(self, origin: str, high_water: int, limit: int) -> Sequence[Batch]:
        """Up to ``limit`` consecutive batches of ``origin`` starting right after seq ``high_water``."""
        ...

    def record_ack(self, link: str, origin: str, high_water: int) -> None:
        """Remember what the peer of ``link`` acknowledged (for ``sunshine admin links``)."""
        ...


class BatchSink(Protocol):
    node: str

    def marks(self, origins: Sequence[str]) -> Sequence[Mark]:
        """The receiver's mark for each of ``origins`` (high-water 0 for an origin never seen)."""
        ...

    def receive(self, sender: str, batch: Batch) -> Receipt:
        """Check and apply one batch atomically; raise ``BatchRefused`` (nothing applied) when it is refused."""
        ...
