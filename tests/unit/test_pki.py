"""The federation PKI, the signature suites, the trust checks and the keyring, without a network (issue 14)."""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from federation.errors import (
    CertificateInvalid,
    CertificateRevoked,
    ConfigError,
    LimitExceeded,
    SignatureInvalid,
    ValidationError,
)
from security.keystore import EncryptedFileKeyring, KeyStore
from security.pki import (
    CertificateAuthority,
    build_csr,
    chain_pem,
    fingerprint,
    generate_tls_key,
    identity_of,
    signing_key_of,
    verify_chain,
)
from security.signing import SUITES, generate_signing_key, load_signing_key, load_verify_key
from security.trust import Revocations, TrustStore, welcome_message

NOW = dt.datetime.now(dt.UTC)
DER = serialization.Encoding.DER


@pytest.fixture(scope="module")
def root() -> CertificateAuthority:
    return CertificateAuthority.create_root("370000", NOW)


@pytest.fixture(scope="module")
def city(root: CertificateAuthority) -> CertificateAuthority:
    key = generate_tls_key()
    issued = root.issue_intermediate("371100", key.public_key(), NOW, 365)
    return CertificateAuthority(issued.certificate, key, issued.chain, root.certificate)


def _node(ca: CertificateAuthority, division: str, suite: str = "ed25519", days: int = 90, at: dt.datetime = NOW):
    signing = generate_signing_key(suite)
    issued = ca.issue_node(build_csr(division, generate_tls_key(), signing.public), division, at, days)
    return issued, signing


@pytest.mark.parametrize("suite", SUITES)
def test_each_suite_signs_verifies_and_refuses_a_changed_message(suite: str) -> None:
    key = generate_signing_key(suite)
    signature = key.sign(b"\x01" * 32)
    public = load_verify_key(suite, key.public.public_bytes())
    public.verify(signature, b"\x01" * 32)
    with pytest.raises(SignatureInvalid):
        public.verify(signature, b"\x02" * 32)
    with pytest.raises(SignatureInvalid):
        public.verify(os.urandom(len(signature)), b"\x01" * 32)
    again = load_signing_key(suite, key.private_bytes())
    assert again.public.public_bytes() == key.public.public_bytes()


def test_sm2_nonces_are_fresh_so_two_signatures_of_one_message_differ() -> None:
    """gmssl's own default nonce comes from ``random``; ours from ``secrets``: never the same k twice."""
    key = generate_signing_key("sm2")
    assert key.sign(b"m" * 32) != key.sign(b"m" * 32)


def test_a_county_certificate_names_its_division_and_its_signing_key(city: CertificateAuthority) -> None:
    issued, signing = _node(city, "371122")
    assert identity_of(issued.certificate).division == "371122"
    assert signing_key_of(issued.certificate).public_bytes() == signing.public.public_bytes()
    assert verify_chain(issued.chain, city.root, NOW).division == "371122"


def test_a_city_ca_issues_only_within_its_city(city: CertificateAuthority, root: CertificateAuthority) -> None:
    with pytest.raises(CertificateInvalid, match="不能为 371322 签发"):
        _node(city, "371322")
    with pytest.raises(ValidationError):  # only the root issues intermediates, and only for its cities
        city.issue_intermediate("371300", generate_tls_key().public_key(), NOW, 10)
    with pytest.raises(ValidationError):
        root.issue_intermediate("371122", generate_tls_key().public_key(), NOW, 10)


def test_a_csr_asking_for_other_names_is_refused(city: CertificateAuthority) -> None:
    csr = build_csr("371121", generate_tls_key(), generate_signing_key().public)
    with pytest.raises(CertificateInvalid, match="不是 371122"):
        city.issue_node(csr, "371122", NOW, 10)


def test_a_chain_from_another_root_or_out_of_its_validity_is_refused(city: CertificateAuthority) -> None:
    issued, _ = _node(city, "371122", days=10)
    stranger = CertificateAuthority.create_root("370000", NOW)
    with pytest.raises(CertificateInvalid, match="不是由联邦 CA 签发"):
        verify_chain(issued.chain, stranger.certificate, NOW)
    with pytest.raises(CertificateInvalid, match="过期"):
        verify_chain(issued.chain, city.root, NOW + dt.timedelta(days=30))


def _store(root: CertificateAuthority, revocations: Revocations | None = None, suite: str = "ed25519") -> TrustStore:
    held = revocations or Revocations()
    return TrustStore(root.certificate, lambda: held, suite=lambda: suite, clock=lambda: NOW)


def test_a_batch_must_be_signed_by_its_origin_with_the_federation_suite(
    city: CertificateAuthority, root: CertificateAuthority
) -> None:
    issued, signing = _node(city, "371122")
    chain = [c.public_bytes(DER) for c in issued.chain]
    digest = os.urandom(32)
    store = _store(root)
    store.verify_batch("371122", digest, signing.sign(digest), chain)
    with pytest.raises(SignatureInvalid, match="签名者却是 371122"):
        store.verify_batch("371121", digest, signing.sign(digest), chain)
    with pytest.raises(SignatureInvalid, match="没有签名"):
        store.verify_batch("371122", digest, b"", chain)
    with pytest.raises(SignatureInvalid):
        store.verify_batch("371122", digest, os.urandom(4096), chain)
    sm2_store = _store(root, suite="sm2")
    with pytest.raises(SignatureInvalid, match="不同算法的节点不能混用"):
        sm2_store.verify_batch("371122", digest, signing.sign(digest), chain)


def test_revocation_by_division_covers_its_certificates_and_those_its_ca_issued(
    city: CertificateAuthority, root: CertificateAuthority
) -> None:
    county, signing = _node(city, "371122")
    chain = [c.public_bytes(DER) for c in county.chain]
    digest = os.urandom(32)
    later = NOW + dt.timedelta(hours=1)
    for revoked in (
        Revocations(1, {"371122": later}),
        Revocations(1, {"371100": later}),  # the city's CA revoked: its counties' certificates with it
        Revocations(1, {}, frozenset({fingerprint(county.certificate)})),
    ):
        with pytest.raises(CertificateRevoked):
            _store(root, revoked).verify_batch("371122", digest, signing.sign(digest), chain)
    # revoked before it was issued: a certificate of re-enrolment is good
    _store(root, Revocations(1, {"371122": NOW - dt.timedelta(days=1)})).verify_batch(
        "371122", digest, signing.sign(digest), chain
    )


def test_a_revoked_intermediate_locks_out_every_certificate_it_issued(
    city: CertificateAuthority, root: CertificateAuthority
) -> None:
    """Revoking the city's CA by its fingerprint refuses its counties' batches and TLS peers (every certificate of a
    presented chain is checked, not only the leaf)."""
    county, signing = _node(city, "371122")
    chain = [c.public_bytes(DER) for c in county.chain]
    digest = os.urandom(32)
    revoked = _store(root, Revocations(1, {}, frozenset({fingerprint(city.certificate)})))
    with pytest.raises(CertificateRevoked):
        revoked.verify_batch("371122", digest, signing.sign(digest), chain)
    with pytest.raises(CertificateRevoked):
        revoked.identify_peer(chain_pem(county.chain))
    assert _store(root).identify_peer(chain_pem(county.chain)) == "371122"


def test_a_signer_chain_longer_than_a_federation_chain_is_refused_before_it_is_read(
    city: CertificateAuthority, root: CertificateAuthority
) -> None:
    county, signing = _node(city, "371122")
    chain = [c.public_bytes(DER) for c in county.chain]
    digest = os.urandom(32)
    with pytest.raises(LimitExceeded, match="签名者证书链"):
        _store(root).verify_batch("371122", digest, signing.sign(digest), chain * 3)
    with pytest.raises(LimitExceeded, match="签名者证书链"):
        _store(root).verify_batch("371122", digest, signing.sign(digest), [chain[0], os.urandom(64 * 1024)])


def test_a_welcome_proof_binds_the_nonce_and_both_identities(
    city: CertificateAuthority, root: CertificateAuthority
) -> None:
    issued, signing = _node(city, "371100")
    chain = [c.public_bytes(DER) for c in issued.chain]
    nonce = os.urandom(32)
    proof = signing.sign(welcome_message(nonce, "371100", "371122"))
    assert _store(root).verify_welcome(chain, proof, nonce, "371122") == "371100"
    with pytest.raises(SignatureInvalid):
        _store(root).verify_welcome(chain, proof, os.urandom(32), "371122")  # a replayed proof
    with pytest.raises(SignatureInvalid):
        _store(root).verify_welcome(chain, proof, nonce, "371121")  # made for another sender


def test_the_encrypted_keyring_is_private_sealed_and_bound_to_its_names(tmp_path: Path) -> None:
    path = tmp_path / "keyring.enc"
    store = KeyStore(EncryptedFileKeyring(path, b"pass"), "371122")
    store.put("tls-key", b"-----BEGIN PRIVATE KEY-----secret")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert b"secret" not in path.read_bytes()
    assert store.get("tls-key") == b"-----BEGIN PRIVATE KEY-----secret"
    assert store.get("missing") is None
    with pytest.raises(ConfigError, match="口令错误或文件已被改动"):
        KeyStore(EncryptedFileKeyring(path, b"wrong"), "371122").get("tls-key")
    # an entry moved under another name does not open there
    data = json.loads(path.read_text())
    data["entries"]["sunshine/371122"]["sms-token"] = data["entries"]["sunshine/371122"]["tls-key"]
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError):
        store.get("sms-token")
    with pytest.raises(ConfigError, match="口令为空"):
        KeyStore(EncryptedFileKeyring(path, b""), "371122").get("tls-key")


def _csr_with(division: str, extra_names: list[object], extensions: list[object]) -> object:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    base = build_csr(division, key := generate_tls_key(), generate_signing_key().public)
    san = base.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    builder = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, division)]))
        .add_extension(x509.SubjectAlternativeName([*san, *extra_names]), critical=False)  # type: ignore[list-item]
    )
    for ext in extensions:
        builder = builder.add_extension(ext, critical=False)  # type: ignore[arg-type]
    return builder.sign(key, hashes.SHA256())


@pytest.mark.parametrize(
    ("extra_names", "extensions", "words"),
    [
        (["email"], [], "名称类型"),
        (["directory"], [], "名称类型"),
        ([], ["basic"], "扩展"),
    ],
)
def test_a_csr_with_names_or_extensions_the_federation_does_not_issue_is_refused(
    city: CertificateAuthority, extra_names: list[str], extensions: list[str], words: str
) -> None:
    """Review W6: only the DNS names and URIs a node certificate carries; no other extension."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    names = {
        "email": x509.RFC822Name("admin@example.org"),
        "directory": x509.DirectoryName(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "370000")])),
    }
    exts = {"basic": x509.BasicConstraints(ca=True, path_length=None)}
    csr = _csr_with("371122", [names[n] for n in extra_names], [exts[e] for e in extensions])
    with pytest.raises(CertificateInvalid, match=words):
        city.issue_node(csr, "371122", NOW, 10)  # type: ignore[arg-type]
