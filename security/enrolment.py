"""Enrolment (登记) and renewal: a child's certificate from its parent's CA, over gRPC.

**Parent** (:class:`EnrolmentServicer`, served by the node's receiver process): ``Enrol`` on the enrolment port
(TLS, no client certificate — the one-time token authenticates: :mod:`security.tokens`), ``Renew`` on the
replication port (mutual TLS — the current certificate authenticates, the new one keeps its names). Each issued
certificate is recorded (``issued_certificates``) in the transaction that consumes the token.

**Child** (:func:`enrol`, :func:`renew`): generates its TLS key and signing key here (they never leave the
machine), keeps them in the keyring, sends a certificate request, checks what comes back — the chain verifies to
the federation root it was given, the certificate is for its own key and its own division — and saves it.
A city also generates the key of its intermediate CA and receives that certificate, so it can enrol its counties.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import structlog
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import Engine, insert

from federation.config import Config
from federation.errors import (
    CertificateInvalid,
    ConfigError,
    EnrolmentRefused,
    SunshineError,
    Unauthenticated,
    ValidationError,
)
from federation.identities import DivisionLevel, boundary_kind, ca_parent_of, level_of, validate_node_id
from federation.replication.trust import peer_chain_pem
from federation.storage.tables import issued_certificates
from federation.storage.uow import UnitOfWork
from federation.wire.v1 import replication_pb2 as pb
from federation.wire.v1 import replication_pb2_grpc as pb_grpc
from security.credentials import PkiPaths, pki_paths, save_node_material
from security.keystore import KeyStore, write_private
from security.pki import (
    CertificateAuthority,
    Issued,
    build_csr,
    chain_pem,
    continuity_message,
    fingerprint,
    generate_tls_key,
    identity_of,
    node_dns_name,
    tls_key_pem,
    verify_chain,
)
from security.signing import SigningKey, generate_signing_key
from security.tokens import check_token, consume_token
from security.trust import TrustStore

__all__ = [
    "EnrolmentFile",
    "EnrolmentServicer",
    "enrol",
    "peer_certificate",
    "renew",
    "write_enrolment_file",
]

log = structlog.get_logger(__name__)

Clock = Callable[[], datetime]
_TIMEOUT_S = 30.0


def _is_code(text: str) -> bool:
    try:
        validate_node_id(text)
    except ValidationError:
        return False
    return True


def peer_certificate(context: grpc.ServicerContext) -> bytes | None:
    """The TLS peer's certificate chain (PEM, leaf first), as gRPC verified it; None on a connection without one."""
    return peer_chain_pem(context)


def _status(exc: SunshineError) -> grpc.StatusCode:
    if isinstance(exc, Unauthenticated):
        return grpc.StatusCode.UNAUTHENTICATED
    return grpc.StatusCode.INVALID_ARGUMENT


@dataclass
class EnrolmentServicer(pb_grpc.EnrolmentServicer):
    """The parent's side; ``ca`` is its CA (the province's root, a city's intermediate)."""

    engine: Engine
    ca: CertificateAuthority
    trust: TrustStore
    clock: Clock
    cert_days: int

    def Enrol(self, request: pb.EnrolRequest, context: grpc.ServicerContext) -> pb.EnrolReply:  # noqa: N802
        try:
            return self._issue(request, token=request.token)
        except SunshineError as exc:
            log.warning("pki.enrol_refused", division=request.division[:6], error=exc.message)
            context.abort(_status(exc), exc.message)
            raise  # pragma: no cover - abort raises

    def Renew(self, request: pb.EnrolRequest, context: grpc.ServicerContext) -> pb.EnrolReply:  # noqa: N802
        try:
            peer = peer_certificate(context)
            if peer is None:
                raise Unauthenticated("续期须通过本节点证书认证的连接（复制端口）进行")
            who = self.trust.identify_peer(peer)
            if who != request.division:
                raise Unauthenticated(f"证书属于 {who}，不能为 {request.division[:6]} 续期", division=who)
            return self._issue(request, token=None)
        except SunshineError as exc:
            log.warning("pki.renew_refused", division=request.division[:6], error=exc.message)
            context.abort(_status(exc), exc.message)
            raise  # pragma: no cover - abort raises

    def _issue(self, request: pb.EnrolRequest, *, token: str | None) -> pb.EnrolReply:
        division = request.division
        parent = self.ca.division
        if not _is_code(division) or ca_parent_of(division) != parent:  # a child enrols at its own parent only
            raise EnrolmentRefused(f"{division[:6]} 不是 {parent} 的下级节点，不能在此登记", division=division[:6])
        now = self.clock()
        if token is not None:  # the one-time token first: nothing the child sent is parsed for a stranger
            with UnitOfWork(self.engine, readonly=True) as uow:
                check_token(uow.conn, token=token, division=division, now=now)
        try:
            csr = x509.load_der_x509_csr(request.csr)
        except ValueError:
            raise CertificateInvalid("证书请求格式错误") from None
        node = self.ca.issue_node(csr, division, now, self.cert_days)
        ca_issued: Issued | None = None
        if request.ca_public_key:
            key = serialization.load_der_public_key(request.ca_public_key)
            if not isinstance(key, ec.EllipticCurvePublicKey):
                raise CertificateInvalid("下级 CA 公钥应为 ECDSA 密钥")
            ca_issued = self.ca.issue_intermediate(division, key, now, self.cert_days * 4)
        with UnitOfWork(self.engine) as uow:
            if token is not None:
                consume_token(uow.conn, token=token, division=division, now=now)
            uow.conn.execute(
                insert(issued_certificates),
                [_row(i, division, parent, now, kind) for i, kind in ((node, "node"), (ca_issued, "ca")) if i],
            )
            uow.commit()
        log.info("pki.issued", division=division, renew=token is None, ca=ca_issued is not None)
        der = serialization.Encoding.DER
        return pb.EnrolReply(
            chain=[c.public_bytes(der) for c in node.chain],
            root=self.ca.root.public_bytes(der),
            ca_chain=[c.public_bytes(der) for c in ca_issued.chain] if ca_issued else [],
        )


def _row(issued: Issued, division: str, issuer: str, now: datetime, kind: str) -> dict[str, Any]:
    cert = issued.certificate
    return {
        "fingerprint": fingerprint(cert),
        "serial": format(cert.serial_number, "x"),
        "division": division,
        "kind": kind,
        "issuer": issuer,
        "issued_at": now,
        "not_after": cert.not_valid_after_utc,
        "pem": chain_pem([cert]).decode(),
    }


# -- the child's side ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EnrolmentFile:
    """What a parent hands a child out of band (``sunshine admin enrol --output``): the token, where to enrol, the
    federation root and its signature suite."""

    division: str
    parent: str
    address: str
    token: str
    root_pem: str
    suite: str
    expires_at: str

    @classmethod
    def read(cls, path: Path) -> EnrolmentFile:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(**{k: str(data[k]) for k in cls.__dataclass_fields__})
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"登记文件 {path} 无法读取：{exc}", path=str(path)) from exc

    @property
    def root(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.root_pem.encode())


def write_enrolment_file(path: Path, enrolment: EnrolmentFile) -> None:
    write_private(path, json.dumps(enrolment.__dict__, ensure_ascii=False, indent=1).encode())


def _check_reply(
    reply: pb.EnrolReply, division: str, root: x509.Certificate, key: ec.EllipticCurvePrivateKey
) -> list[x509.Certificate]:
    chain = [x509.load_der_x509_certificate(c) for c in reply.chain]
    if not chain or x509.load_der_x509_certificate(reply.root) != root:
        raise CertificateInvalid("上级返回的根证书与登记文件中的不一致：拒绝")
    identity = verify_chain(chain, root, chain[0].not_valid_before_utc + timedelta(minutes=10))
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    if identity.division != division or chain[0].public_key().public_bytes(
        serialization.Encoding.DER, spki
    ) != key.public_key().public_bytes(serialization.Encoding.DER, spki):
        raise CertificateInvalid("上级签发的证书不是本节点的：拒绝")
    return chain


def _call(
    address: str, parent: str, credentials: grpc.ChannelCredentials, request: pb.EnrolRequest, *, renew: bool
) -> pb.EnrolReply:
    options = [
        ("grpc.ssl_target_name_override", node_dns_name(parent)),
        ("grpc.enable_retries", 0),
        ("grpc.enable_http_proxy", 0),  # no proxy from the environment
    ]
    with grpc.secure_channel(address, credentials, options=options) as channel:
        stub = pb_grpc.EnrolmentStub(channel)
        try:
            return (stub.Renew if renew else stub.Enrol)(request, timeout=_TIMEOUT_S)  # type: ignore[no-any-return]
        except grpc.RpcError as exc:
            code = exc.code() if isinstance(exc, grpc.Call) else grpc.StatusCode.UNKNOWN
            details = exc.details() if isinstance(exc, grpc.Call) else str(exc)
            if code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.INVALID_ARGUMENT):
                raise EnrolmentRefused(f"上级 {parent} 拒绝：{details}", parent=parent) from None
            raise ConfigError(f"无法连接上级 {parent} 的登记服务 {address}：{details}", address=address) from None


@dataclass(frozen=True)
class _Pending:
    """A certificate request and the keys it was made with (generated here, never sent)."""

    request: pb.EnrolRequest
    tls_key: ec.EllipticCurvePrivateKey
    signing: SigningKey
    ca_key: ec.EllipticCurvePrivateKey | None


def _pending(division: str, token: str, suite: str, previous: SigningKey | None = None) -> _Pending:
    """Fresh keys and their request; at renewal the ``previous`` signing key consents to the new one."""
    tls_key = generate_tls_key()
    signing = generate_signing_key(suite)
    consent = previous.sign(continuity_message(division, signing.public)) if previous is not None else None
    csr = build_csr(division, tls_key, signing.public, continuity=consent)
    ca_key = (
        generate_tls_key() if boundary_kind(division) is None and level_of(division) is DivisionLevel.CITY else None
    )
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    request = pb.EnrolRequest(
        division=division,
        token=token,
        csr=csr.public_bytes(serialization.Encoding.DER),
        ca_public_key=ca_key.public_key().public_bytes(serialization.Encoding.DER, spki) if ca_key else b"",
    )
    return _Pending(request, tls_key, signing, ca_key)


def _save(
    paths: PkiPaths, keystore: KeyStore, pending: _Pending, reply: pb.EnrolReply, root: x509.Certificate
) -> x509.Certificate:
    """Check what the parent returned and keep it with the keys it was requested with."""
    division = pending.request.division
    chain = _check_reply(reply, division, root, pending.tls_key)
    if pending.ca_key is not None:
        ca_chain = [x509.load_der_x509_certificate(c) for c in reply.ca_chain]
        if not ca_chain or identity_of(ca_chain[0]).division != division:
            raise CertificateInvalid("上级没有返回本市的下级 CA 证书")
        keystore.put("ca-key", tls_key_pem(pending.ca_key))
        write_private(paths.ca, chain_pem(ca_chain))
    save_node_material(
        paths, keystore, root=root, chain=chain, tls_key_pem_bytes=tls_key_pem(pending.tls_key), signing=pending.signing
    )
    return chain[0]


def enrol(config: Config, keystore: KeyStore, enrolment: EnrolmentFile) -> x509.Certificate:
    """Enrol this node at its parent with the token of ``enrolment``; returns the certificate now in force."""
    division = config.node.division
    if enrolment.division != division:
        raise EnrolmentRefused(f"登记文件是为 {enrolment.division} 签发的，本节点是 {division}", division=division)
    root = enrolment.root
    keystore.put("enrol-token", enrolment.token.encode())  # in flight: kept until the certificate is saved
    pending = _pending(division, enrolment.token, enrolment.suite)
    credentials = grpc.ssl_channel_credentials(chain_pem([root]))
    reply = _call(enrolment.address, enrolment.parent, credentials, pending.request, renew=False)
    cert = _save(pki_paths(config), keystore, pending, reply, root)
    keystore.delete("enrol-token")
    log.info("pki.enrolled", division=division, parent=enrolment.parent, fingerprint=fingerprint(cert))
    return cert


def renew(config: Config, keystore: KeyStore, address: str, parent: str, current: Any) -> x509.Certificate:
    """Renew this node's certificate at its parent (``current``: its :class:`NodeCredentials`), with new keys
    of the same suite; the old certificate keeps working until the new one is saved."""
    division = config.node.division
    pending = _pending(division, "", current.signing.suite, current.signing)
    reply = _call(address, parent, current.channel_credentials(), pending.request, renew=True)
    cert = _save(pki_paths(config), keystore, pending, reply, current.root)
    log.info("pki.renewed", division=division, fingerprint=fingerprint(cert), not_after=str(cert.not_valid_after_utc))
    return cert
