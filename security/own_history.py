"""A node's own history taken back from its parent (``sunshine county recover``), checked against the node's own
signing key — not against a pin in the database being rebuilt (it has none) nor a chain alone (a city's CA can
issue a certificate for any of its counties, so a relay could mint one and sign a forged history "as" the county).

The batches are walked in seq order. Every one must be signed, under a certificate of this node's division that
verifies to the federation root, by the key of the batch before it — or by a key that key consented to at a
renewal (the renewed certificate carries the old key's signature over :func:`security.pki.continuity_message`,
as :mod:`security.pins` follows it). The walk starts at the key of the last batch the local store sealed (a
restored backup), or at the first batch's key; :meth:`OwnKeyHistory.complete` then requires that it ends at the
node's current signing key, or at the key the current certificate names as its predecessor. A history of keys
this node never held cannot end there.
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography import x509

from federation.errors import CertificateInvalid, SignatureInvalid
from security.pki import continuity_message, continuity_of
from security.signing import VerifyKey
from security.trust import TrustStore

__all__ = ["OwnKeyHistory"]


def _same(a: VerifyKey, b: VerifyKey) -> bool:
    return a.suite == b.suite and a.public_bytes() == b.public_bytes()


def _consented(division: str, previous: VerifyKey, leaf: x509.Certificate, key: VerifyKey) -> bool:
    proof = continuity_of(leaf)
    if proof is None:
        return False
    try:
        previous.verify(proof, continuity_message(division, key))
    except (SignatureInvalid, CertificateInvalid, ValueError):
        return False
    return True


class OwnKeyHistory:
    """The keys of ``division``'s own batches, followed batch by batch (``federation.replication.trust.OwnHistory``)."""

    def __init__(
        self,
        division: str,
        trust: TrustStore,
        current: VerifyKey,
        current_leaf: x509.Certificate,
        start_chain: Sequence[bytes] = (),
    ) -> None:
        self._division = division
        self._trust = trust
        self._current = current
        self._current_leaf = current_leaf
        self._key: VerifyKey | None = trust.verified(start_chain).key if start_chain else None

    def follow(self, batch_hash: bytes, signature: bytes, chain_der: Sequence[bytes]) -> None:
        """The next own batch's signature and signer; raise SignatureInvalid (naming why) unless it continues."""
        if not signature or not chain_der:
            raise SignatureInvalid("本节点的历史批次没有签名")
        signer = self._trust.verified(chain_der)
        if signer.identity.division != self._division:
            raise SignatureInvalid(f"批次签名者是 {signer.identity.division}，不是本节点 {self._division}")
        signer.key.verify(signature, batch_hash)
        previous = self._key
        if (
            previous is not None
            and not _same(signer.key, previous)
            and not _consented(self._division, previous, signer.leaf, signer.key)
        ):
            raise SignatureInvalid(
                "批次的签名密钥既不是前一批次的密钥，也没有得到它的续期授权：这不是本节点签发的历史记录"
            )
        self._key = signer.key

    def complete(self) -> None:
        """Raise SignatureInvalid unless the history followed ends at this node's current key (or its predecessor)."""
        if self._key is None or _same(self._key, self._current):
            return
        if not _consented(self._division, self._key, self._current_leaf, self._current):
            raise SignatureInvalid(
                "取回的历史批次不是用本节点现有签名密钥（或其续期前的密钥）签发的：可能是他人以本节点名义伪造的记录"
            )
