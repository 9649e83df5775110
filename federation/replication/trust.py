"""Machine trust on a replication link, as the sync agent needs it and the ``security`` package provides it.

The node's composition root builds a :class:`LinkSecurity` (``security.node.link_security``) and hands it to the
sync agent's receiver and links; the agent never imports ``security``, and ``security`` never imports the agent:
both meet here, in the kernel's replication contract.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import grpc

__all__ = ["BatchSigner", "LinkSecurity", "OwnHistory", "ReceiverTrust", "SenderTrust", "peer_chain_pem"]


def peer_chain_pem(context: grpc.ServicerContext) -> bytes | None:
    """The TLS peer's certificate chain as it presented it and TLS verified it (PEM, its leaf first, then the other
    certificates in the order gRPC reports them); None on a connection without a client certificate. Every
    certificate of it is checked for revocation, not only the leaf."""
    auth = context.auth_context()
    leaf = auth.get("x509_pem_cert")
    if not leaf:
        return None
    first = bytes(leaf[0]).strip()
    rest = b"".join(bytes(c) for c in auth.get("x509_pem_cert_chain", ()))
    marker = b"-----END CERTIFICATE-----"
    others = [c.strip() + marker for c in rest.split(marker) if c.strip()]
    return b"\n".join([first, *(c for c in others if c != first)]) + b"\n"


class BatchSigner(Protocol):
    def sign(self, batch_hash: bytes) -> tuple[bytes, tuple[bytes, ...]]:
        """This node's signature over ``batch_hash``, and its certificate chain (DER, leaf first)."""
        ...


class ReceiverTrust(Protocol):
    def identify_peer(self, pem: bytes) -> str:
        """The division of the TLS peer whose (verified) certificate chain is ``pem`` (leaf first); raise
        Unauthenticated (CertificateRevoked when any certificate of the chain is revoked)."""
        ...

    def verify_batch(self, origin: str, batch_hash: bytes, signature: bytes, chain_der: Sequence[bytes]) -> None:
        """Raise SignatureInvalid / CertificateInvalid / CertificateRevoked unless ``origin`` signed it."""
        ...

    def welcome_proof(self, nonce: bytes, sender: str) -> tuple[tuple[bytes, ...], bytes]:
        """This receiver's certificate chain and its signature over the sender's nonce."""
        ...


class SenderTrust(Protocol):
    def nonce(self) -> bytes: ...

    def verify_receiver(self, chain_der: Sequence[bytes], proof: bytes, nonce: bytes, *, up: bool) -> str:
        """The receiver's division, proved by its Welcome (an ancestor when ``up``, else a descendant)."""
        ...


class OwnHistory(Protocol):
    """A node's own batches taken back from its parent (its recovery), checked against its own signing keys."""

    def follow(self, batch_hash: bytes, signature: bytes, chain_der: Sequence[bytes]) -> None:
        """The next batch, in seq order: raise SignatureInvalid unless this node's key (or one it consented to at a
        renewal) signed it."""
        ...

    def complete(self) -> None:
        """Raise SignatureInvalid unless the batches followed end at this node's current signing key."""
        ...


@dataclass(frozen=True)
class LinkSecurity:
    """Everything a node's links need for mutual TLS and provenance: credentials (re-read after a renewal), the
    TLS name every node certificate carries, and the node's signer and trust checks."""

    server_credentials: Callable[[], grpc.ServerCredentials]  # mutual TLS: the replication port
    enrol_credentials: Callable[[], grpc.ServerCredentials]  # TLS without client certificates: the enrolment port
    channel_credentials: Callable[[], grpc.ChannelCredentials]
    tls_name: str
    signer: BatchSigner
    receiver: ReceiverTrust
    sender: SenderTrust
    # renews the node's certificate at its parent's replication port when due; returns whether it did
    renew_if_due: Callable[[str], bool] | None = None
    # the check of the node's own history taken back in a recovery, from the chain of the last batch it still holds
    own_history: Callable[[Sequence[bytes]], OwnHistory] | None = None
