"""Signature suites of the provenance layer: every origin signs the hash of every batch it seals, once per batch.

Two suites, one per federation (the standards bundle names it; a node of another suite is refused):

* ``ed25519`` (default) — Ed25519 (RFC 8032) over the batch hash, which is SHA-256 (``cryptography``);
* ``sm2`` (国密) — SM2 with SM3 (GB/T 32918, GB/T 32905): the SM3 hash of the signer's Z value and the batch
  hash, signed with SM2 (``gmssl``). ``gmssl`` is pure Python: the nonce ``k`` is drawn here from
  :mod:`secrets` (gmssl's own default uses :mod:`random`, which must never pick a signature nonce), and its
  arithmetic is not constant-time — acceptable for a node signing on its own machine, noted in
  ``docs/security.md``.

TLS stays standard (ECDSA P-256 certificates); the signing key is a separate key of the node, bound to its
identity by its certificate (see :mod:`security.pki`).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from federation.errors import ConfigError, SignatureInvalid

__all__ = [
    "DEFAULT_SUITE",
    "SUITES",
    "SigningKey",
    "VerifyKey",
    "generate_signing_key",
    "load_signing_key",
    "load_verify_key",
]

DEFAULT_SUITE = "ed25519"
SUITES = ("ed25519", "sm2")

_SM2_N = int("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123", 16)


class SigningKey(Protocol):
    @property
    def suite(self) -> str: ...

    def sign(self, message: bytes) -> bytes: ...

    @property
    def public(self) -> VerifyKey: ...

    def private_bytes(self) -> bytes:
        """The private key, as the keystore keeps it."""
        ...


class VerifyKey(Protocol):
    @property
    def suite(self) -> str: ...

    def verify(self, signature: bytes, message: bytes) -> None:
        """Raise :class:`SignatureInvalid` unless ``signature`` is this key's over ``message``."""
        ...

    def public_bytes(self) -> bytes: ...


# -- Ed25519 ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _EdVerify:
    key: ed25519.Ed25519PublicKey
    suite: str = "ed25519"

    def verify(self, signature: bytes, message: bytes) -> None:
        try:
            self.key.verify(signature, message)
        except InvalidSignature:
            raise SignatureInvalid("签名与内容不符（Ed25519）") from None

    def public_bytes(self) -> bytes:
        return self.key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@dataclass(frozen=True)
class _EdSign:
    key: ed25519.Ed25519PrivateKey
    suite: str = "ed25519"

    def sign(self, message: bytes) -> bytes:
        return self.key.sign(message)

    @property
    def public(self) -> VerifyKey:
        return _EdVerify(self.key.public_key())

    def private_bytes(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )


# -- SM2 with SM3 -----------------------------------------------------------------------------------------------


def _sm2(private_hex: str, public_hex: str) -> object:
    from gmssl import sm2  # type: ignore[import-untyped]  # gmssl ships no type information

    return sm2.CryptSM2(private_key=private_hex, public_key=public_hex)


@dataclass(frozen=True)
class _SmVerify:
    public_hex: str  # 128 hex digits: x ‖ y
    suite: str = "sm2"

    def verify(self, signature: bytes, message: bytes) -> None:
        if len(signature) != 64:
            raise SignatureInvalid("签名长度不对（SM2 签名应为 64 字节）")
        if not _sm2_verifies(_sm2("", self.public_hex), signature, message):
            raise SignatureInvalid("签名与内容不符（SM2/SM3）")

    def public_bytes(self) -> bytes:
        return bytes.fromhex(self.public_hex)


@dataclass(frozen=True)
class _SmSign:
    private_hex: str
    public_hex: str
    suite: str = "sm2"

    def sign(self, message: bytes) -> bytes:
        crypt = _sm2(self.private_hex, self.public_hex)
        while True:  # a nonce that yields r = 0 or s = 0 is drawn again (vanishingly rare)
            k = secrets.randbelow(_SM2_N - 1) + 1
            signed = crypt.sign_with_sm3(message, f"{k:064x}")  # type: ignore[attr-defined]
            if signed:
                return bytes.fromhex(signed)

    @property
    def public(self) -> VerifyKey:
        return _SmVerify(self.public_hex)

    def private_bytes(self) -> bytes:
        return bytes.fromhex(self.private_hex)


_SM2_KEY_TRIES = 16


def _sm2_verifies(crypt: object, signature: bytes, message: bytes) -> bool:
    """gmssl's SM2/SM3 verification; a signature its arithmetic fails on (it raises on some values, whatever the
    input's origin) does not verify."""
    try:
        return bool(crypt.verify_with_sm3(signature.hex(), message))  # type: ignore[attr-defined]
    except (TypeError, ValueError, IndexError, ZeroDivisionError):
        return False


def _sm2_public(private_hex: str) -> str:
    crypt = _sm2(private_hex, "")
    g: str = crypt.ecc_table["g"]  # type: ignore[attr-defined]
    point: str = crypt._kg(int(private_hex, 16), g)  # type: ignore[attr-defined]
    return point


# -- construction -----------------------------------------------------------------------------------------------


def _check_suite(suite: str) -> None:
    if suite not in SUITES:
        raise ConfigError(f"不支持的签名算法“{suite}”（支持：{'、'.join(SUITES)}）", suite=suite)


def generate_signing_key(suite: str = DEFAULT_SUITE) -> SigningKey:
    """A fresh signing key of ``suite``, generated on this machine (it never leaves it)."""
    _check_suite(suite)
    if suite == "ed25519":
        return _EdSign(ed25519.Ed25519PrivateKey.generate())
    for _ in range(_SM2_KEY_TRIES):  # a key gmssl's arithmetic fails on (about 1 in 400) is drawn again
        private_hex = f"{secrets.randbelow(_SM2_N - 2) + 1:064x}"
        key = _SmSign(private_hex, _sm2_public(private_hex))
        probe = secrets.token_bytes(32)
        if _sm2_verifies(_sm2("", key.public_hex), key.sign(probe), probe):
            return key
    raise SignatureInvalid("无法生成可用的 SM2 密钥（gmssl 验签失败），请重试或改用 ed25519")  # pragma: no cover


def load_signing_key(suite: str, private: bytes) -> SigningKey:
    _check_suite(suite)
    if suite == "ed25519":
        return _EdSign(ed25519.Ed25519PrivateKey.from_private_bytes(private))
    private_hex = private.hex()
    return _SmSign(private_hex, _sm2_public(private_hex))


def load_verify_key(suite: str, public: bytes) -> VerifyKey:
    """The public key a certificate binds to its node (see :func:`security.pki.signing_key_of`)."""
    _check_suite(suite)
    if suite == "ed25519":
        if len(public) != 32:
            raise SignatureInvalid("Ed25519 公钥长度不对")
        return _EdVerify(ed25519.Ed25519PublicKey.from_public_bytes(public))
    if len(public) != 64:
        raise SignatureInvalid("SM2 公钥长度不对（应为 64 字节）")
    return _SmVerify(public.hex())
