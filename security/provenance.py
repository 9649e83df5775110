"""A node's side of machine trust on its links, as the sync agent's ports ask for it (``sync_agent.ports``):

* sealing: sign a batch hash with the node's signing key, hand over the chain that proves whose key it is;
* receiving: who the TLS peer is, whether a batch's origin really signed it (with the key this receiver pinned
  for it), and the receiver's Welcome proof;
* sending: whether the receiver's Welcome proves it is the node the link meant to reach;
* recovering: whether the node's own history taken back from its parent was signed by its own keys
  (:mod:`security.own_history`).

Built by the node's composition root from its :class:`~security.credentials.NodeCredentials` and
:class:`~security.trust.TrustStore`; the sync agent never imports this package.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from cryptography import x509

from federation.errors import Forbidden
from federation.identities import (
    DivisionLevel,
    boundary_kind,
    county_of,
    extranet_of,
    is_boundary_origin,
    level_of,
    origin_signer,
    scope_prefix,
)
from security.credentials import NodeCredentials
from security.own_history import OwnKeyHistory
from security.pins import SigningKeyPins
from security.trust import TrustStore, welcome_message

__all__ = ["NodeProvenance"]


class NodeProvenance:
    def __init__(self, credentials: NodeCredentials, trust: TrustStore, pins: SigningKeyPins | None = None) -> None:
        self.credentials = credentials
        self.trust = trust
        self.pins = pins
        self.division = credentials.division

    # -- sealing -------------------------------------------------------------------------------------------------

    @property
    def suite(self) -> str:
        return self.credentials.signing.suite

    def sign(self, batch_hash: bytes) -> tuple[bytes, tuple[bytes, ...]]:
        """The signature over ``batch_hash`` and the chain (DER, leaf first) that names the key."""
        self.credentials.refresh()
        return self.credentials.signing.sign(batch_hash), self.credentials.chain_der

    # -- recovering ----------------------------------------------------------------------------------------------

    def own_history(self, start_chain: Sequence[bytes] = ()) -> OwnKeyHistory:
        """The check of this node's own batches taken back from its parent, from the signer chain of the last
        batch the local store still holds (none: from the first batch taken back)."""
        self.credentials.refresh()
        leaf = x509.load_der_x509_certificate(self.credentials.chain_der[0])
        return OwnKeyHistory(self.division, self.trust, self.credentials.signing.public, leaf, start_chain)

    # -- receiving -----------------------------------------------------------------------------------------------

    def identify_peer(self, pem: bytes) -> str:
        return self.trust.identify_peer(pem)

    def verify_batch(self, origin: str, batch_hash: bytes, signature: bytes, chain_der: Sequence[bytes]) -> None:
        """The chain, the revocation list and the signature (:class:`TrustStore`), then the origin's pinned key
        (:mod:`security.pins`): a valid chain alone does not let a relay's CA sign as one of its counties."""
        signer = self.trust.verify_batch(origin, batch_hash, signature, chain_der)
        if self.pins is not None:
            self.pins.check(origin_signer(origin), signer)

    def welcome_proof(self, nonce: bytes, sender: str) -> tuple[tuple[bytes, ...], bytes]:
        self.credentials.refresh()
        proof = self.credentials.signing.sign(welcome_message(nonce, self.division, sender))
        return self.credentials.chain_der, proof

    # -- sending -------------------------------------------------------------------------------------------------

    @staticmethod
    def nonce() -> bytes:
        return secrets.token_bytes(32)

    def verify_receiver(self, chain_der: Sequence[bytes], proof: bytes, nonce: bytes, *, up: bool) -> str:
        """The receiver's division, proved by its Welcome; up: it must be an ancestor of this node, down: a
        descendant."""
        receiver = self.trust.verify_welcome(chain_der, proof, nonce, self.division)
        if is_boundary_origin(receiver) or is_boundary_origin(self.division):  # a county and its extranet node only
            expected = (
                receiver == county_of(self.division)
                if up
                else boundary_kind(self.division) is None
                and level_of(self.division) is DivisionLevel.COUNTY
                and receiver == extranet_of(self.division)
            )
        else:
            expected = (
                receiver != self.division and self.division.startswith(scope_prefix(receiver))
                if up
                else receiver != self.division and receiver.startswith(scope_prefix(self.division))
            )
        if not expected:
            where = "上级" if up else "下级"
            raise Forbidden(f"接收端 {receiver} 不是本节点 {self.division} 的{where}节点，拒绝发送", receiver=receiver)
        return receiver
