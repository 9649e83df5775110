"""What a node trusts, and every check it makes with it: a peer on a link, a receiver's Welcome, a batch's origin.

* **A peer** (a sender opening a stream): TLS has verified its certificate chain up to the federation root; here
  the identity is read from the certificate (never from ``Hello.sender``), and the revocation list is applied.
* **A receiver** (what a sender connects to): its Welcome carries its certificate chain and a signature over the
  sender's nonce, made with the signing key the certificate binds — the sender verifies both, and that the
  receiver is the node it meant to reach (its parent up, a child down), and not revoked.
* **A batch**: the origin's signature over the batch hash, with the key of the origin's certificate (carried
  with the batch, unchanged through every relay), the chain verified to the root, the certificate's division the
  batch's origin, the suite the federation's, nothing revoked.

Chains are verified once per distinct chain (cached by its bytes' hash); the revocation list and the signature
are checked every time. The revocation list is the province's (``revocation_list`` record, flowing down with the
standards): by division — every certificate of that division, or issued by that division's CA, before a moment —
and by certificate fingerprint.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from cryptography import x509
from cryptography.x509.oid import NameOID

from federation.errors import CertificateInvalid, CertificateRevoked, LimitExceeded, SignatureInvalid
from federation.identities import origin_signer, scope_prefix
from security.pki import Identity, fingerprint, identity_of, signing_key_of, verify_chain
from security.signing import VerifyKey

__all__ = [
    "MAX_CHAIN_BYTES",
    "MAX_CHAIN_CERTS",
    "WELCOME_CONTEXT",
    "Revocations",
    "TrustStore",
    "VerifiedSigner",
    "check_chain_size",
    "issuer_division",
    "welcome_message",
]

WELCOME_CONTEXT = b"sunshine/welcome/v1\x00"
_CACHE_LIMIT = 4096
MAX_CHAIN_CERTS = 3  # a node certificate, its city's CA, (a sender that adds it) the root: never more
MAX_CHAIN_BYTES = 16 * 1024  # a federation certificate is under 1 KiB


def welcome_message(nonce: bytes, receiver: str, sender: str) -> bytes:
    """What a receiver signs in its Welcome: the sender's fresh nonce and both identities."""
    return WELCOME_CONTEXT + nonce + receiver.encode() + b"\x00" + sender.encode()


@dataclass(frozen=True)
class Revocations:
    """The province's revocation list as this node holds it (``version`` 0: none received yet)."""

    version: int = 0
    divisions: Mapping[str, datetime] = field(default_factory=dict)  # division → certificates before it revoked
    fingerprints: frozenset[str] = frozenset()

    def check_chain(self, chain: Sequence[x509.Certificate]) -> None:
        """Raise :class:`CertificateRevoked` if any certificate of ``chain`` is revoked: a revoked intermediate (a
        city's CA) locks out every certificate it issued, whatever the leaf's own entry says."""
        for cert in chain:
            self.check(cert)

    def check(self, cert: x509.Certificate) -> None:
        """Raise :class:`CertificateRevoked` if ``cert`` is revoked: by fingerprint, by its own division, or by the
        division of the CA that issued it."""
        if fingerprint(cert) in self.fingerprints:
            raise CertificateRevoked(f"证书 {fingerprint(cert)[:16]}… 已被省级吊销")
        issued = cert.not_valid_before_utc
        identity = identity_of(cert)
        before = self.divisions.get(identity.division)
        if before is not None and issued < before:
            raise CertificateRevoked(f"{identity.division} 的证书已被省级吊销，须重新登记", division=identity.division)
        issuer = issuer_division(cert)
        if issuer is not None and issuer != identity.division:
            before = self.divisions.get(issuer)
            if before is not None and issued < before:
                raise CertificateRevoked(
                    f"签发 {identity.division} 证书的 {issuer} CA 已被省级吊销，须重新登记", division=identity.division
                )


def check_chain_size(chain_der: Sequence[bytes]) -> None:
    """Refuse (:class:`LimitExceeded`) a signer chain longer than a federation chain can be."""
    size = sum(len(c) for c in chain_der)
    if len(chain_der) > MAX_CHAIN_CERTS or size > MAX_CHAIN_BYTES:
        raise LimitExceeded(
            f"签名者证书链有 {len(chain_der)} 张证书、{size} 字节，"
            f"超过上限（{MAX_CHAIN_CERTS} 张、{MAX_CHAIN_BYTES} 字节）",
            certificates=len(chain_der),
            bytes=size,
        )


def issuer_division(cert: x509.Certificate) -> str | None:
    names = cert.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(names) != 1:
        return None
    return str(names[0].value).removesuffix(" CA")


@dataclass(frozen=True)
class VerifiedSigner:
    identity: Identity
    key: VerifyKey
    leaf: x509.Certificate
    chain: tuple[x509.Certificate, ...]  # the leaf, then the intermediates presented with it
    not_before: datetime
    not_after: datetime


class TrustStore:
    """The federation root this node trusts, the revocation list it holds (``revocations()``, re-read by its
    caller's cadence), the suite of its federation, and the clock."""

    def __init__(
        self,
        root: x509.Certificate,
        revocations: Callable[[], Revocations],
        *,
        suite: Callable[[], str],
        clock: Callable[[], datetime],
    ) -> None:
        self.root = root
        self._revocations = revocations
        self._suite = suite
        self._clock = clock
        self._lock = threading.Lock()
        self._chains: dict[bytes, VerifiedSigner] = {}

    # -- chains ------------------------------------------------------------------------------------------------

    def verified(self, chain_der: Sequence[bytes]) -> VerifiedSigner:
        """The signer a chain (DER, leaf first) names, verified to the root (at its own validity), cached. A chain
        of more than ``MAX_CHAIN_CERTS`` certificates or ``MAX_CHAIN_BYTES`` bytes is refused before it is read."""
        check_chain_size(chain_der)
        key = hashlib.sha256(b"".join(len(c).to_bytes(4, "big") + c for c in chain_der)).digest()
        with self._lock:
            hit = self._chains.get(key)
        if hit is not None:
            return hit
        try:
            chain = [x509.load_der_x509_certificate(c) for c in chain_der]
        except ValueError:
            raise CertificateInvalid("证书格式错误") from None
        if not chain:
            raise CertificateInvalid("批次缺少签名者证书")
        leaf = chain[0]
        # verified at a moment inside its validity: when a batch was signed is checked against the window below
        inside = leaf.not_valid_before_utc + (leaf.not_valid_after_utc - leaf.not_valid_before_utc) / 2
        identity = verify_chain(chain, self.root, inside)
        signer = VerifiedSigner(
            identity, signing_key_of(leaf), leaf, tuple(chain), leaf.not_valid_before_utc, leaf.not_valid_after_utc
        )
        with self._lock:
            if len(self._chains) >= _CACHE_LIMIT:
                self._chains.clear()
            self._chains[key] = signer
        return signer

    def current(self, chain_der: Sequence[bytes], *, at: datetime | None = None) -> VerifiedSigner:
        """A verified signer whose certificate is valid ``at`` (default: now) and not revoked."""
        signer = self.verified(chain_der)
        moment = at or self._clock()
        if not signer.not_before <= moment <= signer.not_after:
            raise CertificateInvalid(
                f"{signer.identity.division} 的证书在 {moment.isoformat(timespec='seconds')} 不在有效期内"
                f"（{signer.not_before.date()} 至 {signer.not_after.date()}）",
                division=signer.identity.division,
            )
        self._revocations().check_chain(signer.chain)
        return signer

    # -- the three checks --------------------------------------------------------------------------------------

    def identify_peer(self, pem: bytes) -> str:
        """The division of a TLS peer whose chain TLS has verified (``pem``: its certificate chain as presented,
        leaf first; every certificate of it is checked against the revocation list)."""
        try:
            chain = x509.load_pem_x509_certificates(pem)
        except ValueError:
            raise CertificateInvalid("对端证书格式错误") from None
        if len(chain) > MAX_CHAIN_CERTS or len(pem) > 2 * MAX_CHAIN_BYTES:
            raise LimitExceeded(f"对端证书链过长（{len(chain)} 张证书）")
        leaf = chain[0]
        identity = identity_of(leaf)
        if identity.ca:
            raise CertificateInvalid("对端出示的是 CA 证书，不是节点证书")
        issuer = issuer_division(leaf)
        if issuer is None or not identity.division.startswith(scope_prefix(issuer)):
            raise CertificateInvalid(f"{identity.division} 的证书不是由其上级 CA 签发的", division=identity.division)
        self._revocations().check_chain(chain)
        return identity.division

    def verify_welcome(self, chain_der: Sequence[bytes], proof: bytes, nonce: bytes, sender: str) -> str:
        """Check a receiver's Welcome (its chain and its signature over ``nonce``); return its division."""
        signer = self.current(chain_der)
        self._same_suite(signer, signer.identity.division)
        signer.key.verify(proof, welcome_message(nonce, signer.identity.division, sender))
        return signer.identity.division

    def verify_batch(
        self, origin: str, batch_hash: bytes, signature: bytes, chain_der: Sequence[bytes]
    ) -> VerifiedSigner:
        """The origin's signature over ``batch_hash``, by a certificate valid now and not revoked; raise
        SignatureInvalid / CertificateInvalid / CertificateRevoked. Returns the signer it verified."""
        if not signature or not chain_der:
            raise SignatureInvalid(f"来源 {origin} 的批次没有签名：已登记的联邦不接受未签名的批次", origin=origin)
        signer = self.current(chain_der)
        if signer.identity.division != origin_signer(origin):  # a county signs its public stream (371122-pub)
            who = signer.identity.division
            raise SignatureInvalid(f"批次来源是 {origin}，签名者却是 {who}", origin=origin, signer=who)
        self._same_suite(signer, origin)
        signer.key.verify(signature, batch_hash)
        return signer

    def _same_suite(self, signer: VerifiedSigner, who: str) -> None:
        suite = self._suite()
        if signer.key.suite != suite:
            raise SignatureInvalid(
                f"{who} 使用 {signer.key.suite} 签名算法，本联邦规定为 {suite}：不同算法的节点不能混用，"
                "请按标准包的算法重新登记",
                division=who,
                suite=signer.key.suite,
            )
