"""A receiver's signing-key pins (``security.pins``): a key found pinned is taken without the database for a
second, never longer — a repin made by another process takes effect within it — and a pin dropped in this
process (``forget``) is dropped at once."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import Engine, delete, func, select

from federation.errors import SignatureInvalid
from federation.storage.tables import signing_key_pins
from security.pins import SigningKeyPins
from security.pki import Identity
from security.signing import generate_signing_key
from security.trust import VerifiedSigner

ORIGIN = "371122"
NOW = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)


def _signer() -> VerifiedSigner:
    """A signer as the trust store returns one once its chain verified (here a self-signed leaf: the pins only
    read its key and its certificate's fingerprint)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ORIGIN)])
    leaf = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW)
        .not_valid_after(NOW + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return VerifiedSigner(
        Identity(ORIGIN, ca=False), generate_signing_key().public, leaf, (leaf,), NOW, NOW + dt.timedelta(days=30)
    )


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _pins(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(signing_key_pins)).scalar_one())


def test_a_key_found_pinned_is_remembered_for_a_second_only(engine: Engine) -> None:
    clock = _Clock()
    pins = SigningKeyPins(engine, lambda: NOW, confirmed_ttl=1.0, monotonic=clock)
    first, other = _signer(), _signer()
    pins.check(ORIGIN, first)  # pinned at first sight
    assert _pins(engine) == 1
    with pytest.raises(SignatureInvalid):  # another key for the origin: refused, whatever is remembered
        pins.check(ORIGIN, other)

    with engine.begin() as conn:  # a repin by another process (the command line): the pin is gone
        conn.execute(delete(signing_key_pins))
    clock.now += 0.5
    pins.check(ORIGIN, first)  # remembered: not read again within the second
    assert _pins(engine) == 0
    clock.now += 0.6
    pins.check(ORIGIN, other)  # the second is over: read again, nothing pinned, the key presented is pinned
    assert _pins(engine) == 1
    with pytest.raises(SignatureInvalid):
        pins.check(ORIGIN, first)


def test_a_pin_forgotten_here_is_forgotten_at_once(engine: Engine) -> None:
    pins = SigningKeyPins(engine, lambda: NOW, monotonic=_Clock())
    first, other = _signer(), _signer()
    pins.check(ORIGIN, first)
    assert pins.forget(ORIGIN) is not None
    pins.check(ORIGIN, other)  # the clock has not moved: only forgetting the remembered key lets this one in
    (pin,) = pins.held(ORIGIN)
    assert pin.public_key == other.key.public_bytes().hex()
