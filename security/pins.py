"""Signing-key pinning (密钥连续性): each receiver remembers the signing key of every origin it has verified.

A chain that verifies to the root proves that *some* CA of the federation vouched for a key — and a city's CA may
issue a certificate for any of its counties. So a relay holding its city's CA could mint a certificate for its own
county and sign forged batches "as" that county, and a province checking only the chain would accept them. The
receiver therefore pins the origin's signing key at its first verified batch (table ``signing_key_pins``, in the
receiver's own database) and afterwards accepts from that origin only

* the pinned key, or
* a renewed certificate's key that the pinned key consented to: at renewal the node signs, with its current
  signing key, :func:`security.pki.continuity_message` of its new key, and the new certificate carries that
  signature (``URI:urn:sunshine:key-continuity:<hex>``). The pin moves to the new key.

Anything else — a re-enrolment with fresh keys, a certificate minted by a relay — is refused as a bad signature,
naming the origin; the operator checks the new certificate and runs ``sunshine admin trust repin <division>`` at
the receiver, after which the next verified batch of that origin is pinned again.

A receiver checks every verified batch, but it must not take its database's write lock (held by the batches it is
applying) once per batch only to compare a key: the pin is read in a read-only transaction, and a key found pinned
is remembered for ``confirmed_ttl`` seconds (1 s). A repin made by another process (the command line) therefore
takes effect within that second, as a revocation does (:func:`security.revocations.revocations_reader`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy import Engine, bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from federation.errors import CertificateInvalid, SignatureInvalid
from federation.storage.tables import signing_key_pins
from federation.storage.uow import UnitOfWork
from security.pki import continuity_message, continuity_of, fingerprint
from security.signing import load_verify_key
from security.trust import VerifiedSigner

__all__ = ["Pin", "SigningKeyPins"]

log = structlog.get_logger(__name__)

_HELD_KEY = select(signing_key_pins.c.suite, signing_key_pins.c.public_key).where(
    signing_key_pins.c.origin == bindparam("origin")
)


@dataclass(frozen=True, slots=True)
class Pin:
    origin: str
    suite: str
    public_key: str  # hex
    certificate: str  # fingerprint of the certificate it was pinned from
    pinned_at: datetime


class SigningKeyPins:
    """The pins of one receiver (its database); thread-safe through the database."""

    def __init__(
        self,
        engine: Engine,
        clock: Callable[[], datetime],
        *,
        confirmed_ttl: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._ttl = confirmed_ttl
        self._monotonic = monotonic
        self._confirmed: dict[str, tuple[str, str, float]] = {}  # origin → suite, key (hex), when found pinned
        self._lock = threading.Lock()

    def held(self, origin: str | None = None) -> list[Pin]:
        query = select(signing_key_pins).order_by(signing_key_pins.c.origin)
        if origin is not None:
            query = query.where(signing_key_pins.c.origin == origin)
        with UnitOfWork(self._engine, readonly=True) as uow:
            return [Pin(r.origin, r.suite, r.public_key, r.certificate, r.pinned_at) for r in uow.conn.execute(query)]

    def forget(self, origin: str) -> Pin | None:
        """``sunshine admin trust repin``: drop the pin of ``origin``; its next verified batch is pinned again."""
        with self._lock:
            self._confirmed.pop(origin, None)
        with UnitOfWork(self._engine) as uow:
            row = uow.conn.execute(select(signing_key_pins).where(signing_key_pins.c.origin == origin)).first()
            uow.conn.execute(delete(signing_key_pins).where(signing_key_pins.c.origin == origin))
            uow.commit()
        if row is None:
            return None
        log.warning("pki.key_unpinned", origin=origin, certificate=row.certificate)
        return Pin(row.origin, row.suite, row.public_key, row.certificate, row.pinned_at)

    def check(self, origin: str, signer: VerifiedSigner) -> None:
        """Accept ``signer`` (whose chain and signature are verified) for ``origin`` if its key is the pinned one,
        pin it at first sight, move the pin on a consented renewal; else raise :class:`SignatureInvalid`."""
        suite, key, now = signer.key.suite, signer.key.public_bytes().hex(), self._monotonic()
        with self._lock:
            seen = self._confirmed.get(origin)
        if seen is not None and seen[0] == suite and seen[1] == key and now - seen[2] < self._ttl:
            return
        if not self._pinned(origin, suite, key) and not self._check_once(origin, signer):
            self._check_once(origin, signer)  # another stream pinned it first: compare with that one
        with self._lock:
            self._confirmed[origin] = (suite, key, now)

    def _pinned(self, origin: str, suite: str, key: str) -> bool:
        """Whether ``key`` is the one pinned for ``origin`` (read only: no write lock taken)."""
        with UnitOfWork(self._engine, readonly=True) as uow:
            held = uow.conn.execute(_HELD_KEY, {"origin": origin}).first()
        return held is not None and held.suite == suite and held.public_key == key

    def _check_once(self, origin: str, signer: VerifiedSigner) -> bool:
        key = signer.key.public_bytes().hex()
        suite = signer.key.suite
        presented = fingerprint(signer.leaf)
        row = {"origin": origin, "suite": suite, "public_key": key, "certificate": presented}
        with UnitOfWork(self._engine) as uow:
            held = uow.conn.execute(select(signing_key_pins).where(signing_key_pins.c.origin == origin)).first()
            if held is not None and held.suite == suite and held.public_key == key:
                return True
            if held is None:
                try:
                    uow.conn.execute(insert(signing_key_pins).values(**row, pinned_at=self._clock()))
                except IntegrityError:
                    return False
                uow.commit()
                log.info("pki.key_pinned", origin=origin, certificate=presented)
                return True
            if not self._consented(origin, held.suite, held.public_key, signer):
                raise SignatureInvalid(
                    f"来源 {origin} 的签名密钥与本节点此前确认的不同（原证书 {held.certificate[:16]}…，"
                    f"新证书 {presented[:16]}…），新证书也没有原密钥的续期证明：拒绝。"
                    f"如 {origin} 确已重新登记，请核实新证书后执行 sunshine admin trust repin {origin}",
                    origin=origin,
                    pinned=held.certificate,
                    presented=presented,
                )
            uow.conn.execute(
                update(signing_key_pins)
                .where(signing_key_pins.c.origin == origin)
                .values(**row, pinned_at=self._clock())
            )
            uow.commit()
        log.info("pki.key_renewed", origin=origin, previous=held.certificate, certificate=presented)
        return True

    @staticmethod
    def _consented(origin: str, suite: str, public_hex: str, signer: VerifiedSigner) -> bool:
        proof = continuity_of(signer.leaf)
        if proof is None:
            return False
        try:
            pinned = load_verify_key(suite, bytes.fromhex(public_hex))
            pinned.verify(proof, continuity_message(origin, signer.key))
        except (SignatureInvalid, CertificateInvalid, ValueError):
            return False
        return True
