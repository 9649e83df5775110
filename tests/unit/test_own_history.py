"""A node's own history taken back in a recovery is checked against its own signing keys (security.own_history):
signed by one key throughout, or by keys each consented to by the one before at a renewal, ending at the node's
current key. A certificate the city's CA minted for the county verifies to the root, yet its key is refused."""

from __future__ import annotations

import datetime as dt
import os

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from federation.errors import SignatureInvalid
from security.own_history import OwnKeyHistory
from security.pki import CertificateAuthority, build_csr, continuity_message, generate_tls_key
from security.signing import SigningKey, generate_signing_key
from security.trust import Revocations, TrustStore

NOW = dt.datetime(2026, 12, 7, tzinfo=dt.UTC)
COUNTY, OTHER = "371122", "371121"


@pytest.fixture(scope="module")
def city() -> tuple[TrustStore, CertificateAuthority]:
    root = CertificateAuthority.create_root("370000", NOW)
    key = generate_tls_key()
    issued = root.issue_intermediate("371100", key.public_key(), NOW, 30)
    store = TrustStore(root.certificate, Revocations, suite=lambda: "ed25519", clock=lambda: NOW)
    return store, CertificateAuthority(issued.certificate, key, issued.chain, root.certificate)


class Node:
    """One certificate of a county and its signing key (a renewal: consented to by ``previous``)."""

    def __init__(self, ca: CertificateAuthority, division: str = COUNTY, previous: SigningKey | None = None) -> None:
        self.signing = generate_signing_key("ed25519")
        consent = previous.sign(continuity_message(division, self.signing.public)) if previous else None
        csr = build_csr(division, generate_tls_key(), self.signing.public, continuity=consent)
        issued = ca.issue_node(csr, division, NOW, 30)
        self.leaf = issued.certificate
        self.chain = [c.public_bytes(Encoding.DER) for c in issued.chain]

    def batch(self) -> tuple[bytes, bytes, list[bytes]]:
        digest = os.urandom(32)
        return digest, self.signing.sign(digest), self.chain


def _history(store: TrustStore, current: Node, start: Node | None = None) -> OwnKeyHistory:
    return OwnKeyHistory(COUNTY, store, current.signing.public, current.leaf, start.chain if start else ())


def test_one_key_throughout_ending_at_the_current_key(city: tuple[TrustStore, CertificateAuthority]) -> None:
    store, ca = city
    node = Node(ca)
    history = _history(store, node)
    for _ in range(3):
        history.follow(*node.batch())
    history.complete()
    _history(store, node).complete()  # nothing taken back: nothing to refuse


def test_renewed_keys_each_consented_to_by_the_one_before(city: tuple[TrustStore, CertificateAuthority]) -> None:
    store, ca = city
    first = Node(ca)
    second = Node(ca, previous=first.signing)
    third = Node(ca, previous=second.signing)
    history = _history(store, third)
    history.follow(*first.batch())
    history.follow(*second.batch())
    history.follow(*third.batch())
    history.complete()
    ends_before = _history(store, third)  # the last renewal came after the last batch: the current cert consents
    ends_before.follow(*first.batch())
    ends_before.follow(*second.batch())
    ends_before.complete()
    from_backup = _history(store, third, start=second)  # the local store's last batch was signed by ``second``
    from_backup.follow(*third.batch())
    from_backup.complete()


def test_a_key_the_county_never_held_is_refused(city: tuple[TrustStore, CertificateAuthority]) -> None:
    store, ca = city
    county = Node(ca)
    minted = Node(ca)  # the city's CA issues a certificate for the county with a key of its own choosing
    history = _history(store, county)
    history.follow(*minted.batch())  # its chain verifies to the root…
    with pytest.raises(SignatureInvalid, match="不是用本节点现有签名密钥"):
        history.complete()  # …but the walk never reaches the county's own key
    switching = _history(store, county)
    switching.follow(*minted.batch())
    with pytest.raises(SignatureInvalid, match="没有得到它的续期授权"):
        switching.follow(*county.batch())  # no consent from the minted key to the county's
    backup = _history(store, county, start=county)
    with pytest.raises(SignatureInvalid, match="没有得到它的续期授权"):
        backup.follow(*minted.batch())


def test_another_divisions_signature_or_a_wrong_signature_is_refused(
    city: tuple[TrustStore, CertificateAuthority],
) -> None:
    store, ca = city
    county, other = Node(ca), Node(ca, OTHER)
    with pytest.raises(SignatureInvalid, match=f"签名者是 {OTHER}"):
        _history(store, county).follow(*other.batch())
    digest, signature, chain = county.batch()
    with pytest.raises(SignatureInvalid):
        _history(store, county).follow(os.urandom(32), signature, chain)
    with pytest.raises(SignatureInvalid, match="没有签名"):
        _history(store, county).follow(digest, b"", chain)
