"""The per-sender guard of the replication receiver (:mod:`sync_agent.server`): who a stream's sender is, how
many streams each sender holds, and how long it has to say Hello.

With machine trust (a :class:`ReceiverTrust`) the sender is the division of its TLS certificate; without
(development only) it is its address. Either way the per-peer limit of :class:`StreamLimits` applies to it.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass

import grpc

from federation.errors import LimitExceeded, Unauthenticated
from federation.replication.trust import ReceiverTrust, peer_chain_pem

__all__ = ["StreamGuard", "StreamLimits"]


@dataclass(frozen=True, slots=True)
class StreamLimits:
    """What one sender may use of a receiver (``[replication]`` max_record_bytes, max_streams_per_peer,
    hello_timeout_s; the message limit is the server's own, and bounds what a batch's records may inflate to in all,
    ``max_batch_bytes``)."""

    max_record_bytes: int = 1_048_576
    streams_per_peer: int = 4
    hello_timeout_s: float = 10.0
    max_batch_bytes: int = 16 * 1_048_576
    group_batches: int = 16  # batches that have arrived applied together, in one transaction (at most)


class StreamGuard:
    """Identifies the sender of each stream and counts its open streams against ``limits.streams_per_peer``
    (thread-safe: one guard serves every stream of a receiver)."""

    def __init__(self, trust: ReceiverTrust | None, limits: StreamLimits) -> None:
        self._trust = trust
        self._limits = limits
        self._streams: Counter[str] = Counter()
        self._streams_lock = threading.Lock()

    def who(self, context: grpc.ServicerContext) -> str:
        """The sender's identity: its certificate's division (machine trust), else (development only) its
        address, to which the per-peer limit applies."""
        if self._trust is None:
            return context.peer()
        pem = peer_chain_pem(context)
        if pem is None:
            raise Unauthenticated("复制连接须出示本联邦签发的节点证书（此端口只用于登记）")
        return self._trust.identify_peer(pem)

    def open(self, who: str) -> None:
        """Count one more stream of ``who``; LimitExceeded when it already holds ``streams_per_peer``."""
        with self._streams_lock:
            if self._streams[who] >= self._limits.streams_per_peer:
                raise LimitExceeded(
                    f"节点 {who} 已有 {self._streams[who]} 条复制流，达到上限 {self._limits.streams_per_peer}",
                    peer=who,
                )
            self._streams[who] += 1

    def close(self, who: str) -> None:
        """Count one stream of ``who`` fewer (when that stream ends, however it ends)."""
        with self._streams_lock:
            self._streams[who] -= 1
            if self._streams[who] <= 0:
                del self._streams[who]

    def hello_timer(self, context: grpc.ServicerContext) -> threading.Timer:
        """A daemon timer (not started) that cancels the stream unless Hello comes within ``hello_timeout_s``."""
        timer = threading.Timer(self._limits.hello_timeout_s, context.cancel)
        timer.daemon = True
        return timer
