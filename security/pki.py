"""The federation PKI (X.509 with ``cryptography``): who a node is, proved by a certificate from the province's CA.

Hierarchy (``docs/security.md``)::

    province root CA (370000, self-signed, offline-capable; the province node holds its key)
    ├── 370000 node certificate            the province's own TLS and signing identity
    └── city intermediate CA (371100)      path length 0, issues only within 3711xx
        ├── 371100 node certificate
        └── 371122 node certificate        a county enrols at its city

A **node certificate** binds a division code to two keys: its TLS key (ECDSA P-256, the certificate's own key)
and its signing key (Ed25519 or SM2, :mod:`security.signing`), named in the subject alternative names::

    CN = 371122
    SAN  DNS:371122.node.sunshine              its TLS name (a peer checks it, or the common name below)
         DNS:node.sunshine                      the name every node answers to on a link
         URI:urn:sunshine:node:371122           its identity
         URI:urn:sunshine:signing-key:ed25519:<hex of the public key>
    EKU  serverAuth, clientAuth

Certificates expire (``cert_days``); a node renews before expiry with a new CSR over its authenticated link.
Chains are verified with ``cryptography.x509.verification`` — no hand-written chain logic — and then against
the federation's own rules: an intermediate issues only within its city, the identity is one division code.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from federation.errors import CertificateInvalid, ValidationError
from federation.identities import DivisionLevel, level_of, scope_prefix, validate_division_code, validate_node_id
from security.signing import SUITES, VerifyKey, load_verify_key

__all__ = [
    "COMMON_NAME",
    "CertificateAuthority",
    "Identity",
    "Issued",
    "build_csr",
    "chain_pem",
    "continuity_message",
    "continuity_of",
    "fingerprint",
    "generate_tls_key",
    "identity_of",
    "load_chain",
    "load_tls_key",
    "node_dns_name",
    "signing_key_of",
    "tls_key_pem",
    "verify_chain",
]

COMMON_NAME = "node.sunshine"  # every node certificate carries it: the TLS name a link checks
_DOMAIN = "node.sunshine"
_NODE_URI = "urn:sunshine:node:"
_KEY_URI = "urn:sunshine:signing-key:"
_CONTINUITY_URI = "urn:sunshine:key-continuity:"  # a renewed certificate: the previous signing key's consent
_CONTINUITY_CONTEXT = b"sunshine/key-continuity/v1\x00"
_CA_SUFFIX = " CA"


def node_dns_name(division: str) -> str:
    return f"{division}.{_DOMAIN}"


def generate_tls_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def tls_key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def load_tls_key(pem: bytes) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise CertificateInvalid("节点 TLS 私钥不是 ECDSA 密钥")
    return key


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 of the DER certificate, hex (what ``sunshine admin certs`` shows and revocations may name)."""
    return cert.fingerprint(hashes.SHA256()).hex()


def chain_pem(chain: Sequence[x509.Certificate]) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain)


def load_chain(pem: bytes) -> list[x509.Certificate]:
    try:
        certs = x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        raise CertificateInvalid(f"证书格式错误：{exc}") from None
    if not certs:
        raise CertificateInvalid("没有证书")
    return certs


_ISSUED_NAMES = (x509.DNSName, x509.UniformResourceIdentifier)  # the only names a node certificate carries


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a certificate names: a division, and whether it is a CA (the province's root, a city's intermediate)."""

    division: str
    ca: bool


def identity_of(cert: x509.Certificate) -> Identity:
    """The division a federation certificate names (its common name, and for a node its identity URI)."""
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(names) != 1:
        raise CertificateInvalid("证书主题中应有且只有一个通用名称（行政区划代码）")
    common = str(names[0].value)
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        is_ca = bc.ca
    except x509.ExtensionNotFound:
        is_ca = False
    code = common.removesuffix(_CA_SUFFIX) if is_ca else common
    try:
        validate_division_code(code) if is_ca else validate_node_id(code)  # a CA is a division's, never a boundary's
    except ValidationError:
        raise CertificateInvalid(f"证书通用名称“{common[:40]}”不是行政区划代码") from None
    if not is_ca:
        uris = _sans(cert, x509.UniformResourceIdentifier)
        if f"{_NODE_URI}{code}" not in uris:
            raise CertificateInvalid(f"节点证书缺少身份标识 {_NODE_URI}{code}", division=code)
    return Identity(code, is_ca)


def _sans(cert: x509.Certificate, kind: type[x509.GeneralName]) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [str(v) for v in san.get_values_for_type(kind)]  # type: ignore[arg-type]


def signing_key_of(cert: x509.Certificate) -> VerifyKey:
    """The signing key a node certificate binds to its division."""
    keys = [u.removeprefix(_KEY_URI) for u in _sans(cert, x509.UniformResourceIdentifier) if u.startswith(_KEY_URI)]
    if len(keys) != 1:
        raise CertificateInvalid("节点证书中应有且只有一个签名公钥")
    suite, _, hex_key = keys[0].partition(":")
    if suite not in SUITES:
        raise CertificateInvalid(f"节点证书的签名算法“{suite[:20]}”不受支持")
    try:
        public = bytes.fromhex(hex_key)
    except ValueError:
        raise CertificateInvalid("节点证书中的签名公钥格式错误") from None
    return load_verify_key(suite, public)


def continuity_message(division: str, new_key: VerifyKey) -> bytes:
    """What a node's current signing key signs when it renews: its consent to ``new_key`` succeeding it. A receiver
    that pinned the current key accepts the renewed certificate's key on the strength of it (``security.pins``)."""
    return _CONTINUITY_CONTEXT + division.encode() + b"\x00" + new_key.suite.encode() + b":" + new_key.public_bytes()


def continuity_of(cert: x509.Certificate) -> bytes | None:
    """The previous signing key's signature a renewed node certificate carries, or None."""
    found = [u for u in _sans(cert, x509.UniformResourceIdentifier) if u.startswith(_CONTINUITY_URI)]
    if len(found) != 1:
        return None
    try:
        return bytes.fromhex(found[0].removeprefix(_CONTINUITY_URI))
    except ValueError:
        return None


def build_csr(
    division: str, tls_key: ec.EllipticCurvePrivateKey, signing: VerifyKey, *, continuity: bytes | None = None
) -> x509.CertificateSigningRequest:
    """The request a node sends to enrol or renew: its division, its TLS key (which signs the request) and the
    public half of its signing key; at renewal, ``continuity`` — its current signing key's signature over
    :func:`continuity_message` of the new one."""
    validate_node_id(division)
    names: list[x509.GeneralName] = [
        x509.DNSName(node_dns_name(division)),
        x509.DNSName(COMMON_NAME),
        x509.UniformResourceIdentifier(f"{_NODE_URI}{division}"),
        x509.UniformResourceIdentifier(f"{_KEY_URI}{signing.suite}:{signing.public_bytes().hex()}"),
    ]
    if continuity is not None:
        names.append(x509.UniformResourceIdentifier(f"{_CONTINUITY_URI}{continuity.hex()}"))
    san = x509.SubjectAlternativeName(names)
    return (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, division)]))
        .add_extension(san, critical=False)
        .sign(tls_key, hashes.SHA256())
    )


@dataclass(frozen=True)
class Issued:
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]  # the certificate, then the intermediates up to (not including) the root

    @property
    def pem(self) -> bytes:
        return chain_pem(self.chain)


@dataclass(frozen=True)
class CertificateAuthority:
    """The province's root CA or a city's intermediate: its certificate, its key, its chain up to the root."""

    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    chain: tuple[x509.Certificate, ...]  # this CA's certificate and the intermediates above it (not the root)
    root: x509.Certificate

    @property
    def division(self) -> str:
        return identity_of(self.certificate).division

    @classmethod
    def create_root(cls, province: str, now: dt.datetime, days: int = 3650) -> CertificateAuthority:
        if level_of(province) is not DivisionLevel.PROVINCE:
            raise ValidationError(f"根证书只能由省级节点持有，{province} 不是省级区划", division=province)
        key = generate_tls_key()
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, province + _CA_SUFFIX)])
        cert = _ca_builder(name, name, key.public_key(), key.public_key(), now, days, path_length=1).sign(
            key, hashes.SHA256()
        )
        return cls(cert, key, (), cert)

    def issue_intermediate(self, city: str, public: ec.EllipticCurvePublicKey, now: dt.datetime, days: int) -> Issued:
        """A city's CA certificate (only the province's root issues one; path length 0)."""
        if (
            self.certificate != self.root
            or level_of(city) is not DivisionLevel.CITY
            or not city.startswith(scope_prefix(self.division))
        ):
            raise ValidationError(f"只有省级根证书可以为本省的市级节点签发下级 CA：{city}", division=city)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, city + _CA_SUFFIX)])
        cert = _ca_builder(
            subject, self.certificate.subject, public, self.key.public_key(), now, min(days, self._days_left(now)), 0
        ).sign(self.key, hashes.SHA256())
        return Issued(cert, (cert, *self.chain))

    def issue_node(self, csr: x509.CertificateSigningRequest, division: str, now: dt.datetime, days: int) -> Issued:
        """A node certificate for ``division`` from its CSR: the CSR must be well signed and ask for exactly the
        names of ``division`` (its signing key included); the division must lie in this CA's subtree."""
        if not csr.is_signature_valid:
            raise CertificateInvalid("证书请求的签名无效")
        if not division.startswith(scope_prefix(self.division)):
            raise CertificateInvalid(f"{self.division} 的 CA 不能为 {division} 签发证书", division=division)
        public = csr.public_key()
        if not isinstance(public, ec.EllipticCurvePublicKey) or not isinstance(public.curve, ec.SECP256R1):
            raise CertificateInvalid("证书请求的 TLS 公钥应为 ECDSA P-256")
        requested = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        if [str(a.value) for a in requested] != [division]:
            raise CertificateInvalid(f"证书请求的主体不是 {division}", division=division)
        if len(csr.subject) != 1:
            raise CertificateInvalid("证书请求的主体只能含区划代码", division=division)
        try:
            san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            raise CertificateInvalid("证书请求缺少主体备用名称") from None
        if len(csr.extensions) != 1:  # nothing but the names: every other extension is the CA's to choose
            raise CertificateInvalid("证书请求含有本联邦不签发的扩展", division=division)
        if any(not isinstance(name, _ISSUED_NAMES) for name in san):  # e-mail, directory, IP, other names …
            raise CertificateInvalid("证书请求含有本联邦不签发的名称类型", division=division)
        uris = list(san.get_values_for_type(x509.UniformResourceIdentifier))
        dns = set(san.get_values_for_type(x509.DNSName))
        keys = [u for u in uris if u.startswith(_KEY_URI)]
        renewals = [u for u in uris if u.startswith(_CONTINUITY_URI)]
        if dns != {node_dns_name(division), COMMON_NAME} or set(uris) != {
            f"{_NODE_URI}{division}",
            *keys,
            *renewals,
        }:
            raise CertificateInvalid("证书请求的名称与所登记的区划不符", division=division)
        if len(keys) != 1 or san.get_values_for_type(x509.IPAddress):
            raise CertificateInvalid("证书请求应含且只含一个签名公钥")
        if len(renewals) > 1 or len(uris) != len(set(uris)) or any(len(u) > 400 for u in renewals):
            raise CertificateInvalid("证书请求的续期证明格式错误", division=division)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, division)]))
            .issuer_name(self.certificate.subject)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=min(days, self._days_left(now))))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                critical=False,
            )
            .add_extension(san, critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False)
        )
        cert = builder.sign(self.key, hashes.SHA256())
        signing_key_of(cert)  # the key URI parses (suite and length)
        return Issued(cert, (cert, *self.chain))

    def _days_left(self, now: dt.datetime) -> int:
        return max(1, (self.certificate.not_valid_after_utc - now).days)


def _ca_builder(  # noqa: PLR0917 - the parts of a CA certificate, in the order X.509 lists them
    subject: x509.Name,
    issuer: x509.Name,
    public: ec.EllipticCurvePublicKey,
    issuer_public: ec.EllipticCurvePublicKey,
    now: dt.datetime,
    days: int,
    path_length: int,
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_public), critical=False)
    )


def verify_chain(chain: Sequence[x509.Certificate], root: x509.Certificate, at: dt.datetime) -> Identity:
    """Verify a node certificate (``chain[0]``, intermediates after it) up to ``root`` at moment ``at``, then the
    federation's rules: a city's intermediate vouches only for its own subtree. Returns the node's identity."""
    if not chain:
        raise CertificateInvalid("没有证书")
    leaf, intermediates = chain[0], list(chain[1:])
    verifier = PolicyBuilder().store(Store([root])).time(at).max_chain_depth(2).build_client_verifier()
    try:
        verified = verifier.verify(leaf, intermediates)
    except VerificationError as exc:
        raise CertificateInvalid(f"证书无法通过联邦根证书验证：{_reason(exc)}") from None
    identity = identity_of(leaf)
    if identity.ca:
        raise CertificateInvalid("这是 CA 证书，不是节点证书")
    for ca in verified.chain[1:]:
        issuer = identity_of(ca).division
        if not identity.division.startswith(scope_prefix(issuer)):
            raise CertificateInvalid(
                f"{issuer} 的下级 CA 无权为 {identity.division} 签发证书", division=identity.division
            )
    return identity


def _reason(exc: VerificationError) -> str:
    text = str(exc)
    if "not valid at validation time" in text or "expired" in text:
        return "证书已过期或尚未生效"
    if "candidates exhausted" in text or "issuer" in text:
        return "不是由联邦 CA 签发"
    return text[:200]
