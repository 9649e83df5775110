"""A node's machine trust, assembled once by its composition root: what its links present, check and sign with.

:func:`link_security` loads the node's certificate and keys (:mod:`security.credentials`), its trust store (the
federation root, the revocation list it holds, the suite its standards name) and hands the sync agent a
:class:`~federation.replication.trust.LinkSecurity`. Without the node's material it refuses to start, unless the
operator asked for plaintext with ``--insecure-dev`` — which it says, loudly, at every start.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta

import structlog
from sqlalchemy import Engine
from sqlalchemy.engine import Connection

from federation.config import Config
from federation.errors import ConfigError
from federation.identities import parent_of
from federation.replication.trust import LinkSecurity
from federation.storage.standards_store import current_bundle
from federation.storage.uow import UnitOfWork
from federation.timeutil import utcnow
from security.credentials import NodeCredentials, save_node_material
from security.enrolment import renew
from security.keystore import KeyStore, keystore_for
from security.pins import SigningKeyPins
from security.pki import (
    COMMON_NAME,
    CertificateAuthority,
    build_csr,
    continuity_message,
    generate_tls_key,
    tls_key_pem,
)
from security.provenance import NodeProvenance
from security.revocations import revocations_reader
from security.signing import DEFAULT_SUITE, SigningKey, generate_signing_key
from security.trust import Revocations, TrustStore

__all__ = [
    "INSECURE_WARNING",
    "NodeTrust",
    "create_federation_root",
    "federation_suite",
    "issue_own_certificate",
    "link_security",
    "node_trust",
]

log = structlog.get_logger(__name__)

_SUITE_TTL_S = 5.0

INSECURE_WARNING = (
    "开发模式（--insecure-dev）：复制链路为明文、不验证证书与签名，任何进程都可冒充任何节点；严禁用于生产环境"
)


def federation_suite(engine: Engine, default: str = DEFAULT_SUITE) -> str:
    """The signature suite the standards in force name (``default`` before any bundle is held: a node enrolled
    with the suite of its parent's standards uses its own until the province's bundle reaches it)."""
    with UnitOfWork(engine, readonly=True) as uow:
        bundle = current_bundle(uow.conn)
    return bundle.signature_suite if bundle is not None else default


class NodeTrust:
    """The node's keystore, credentials, trust store and provenance, and (a CA node) its authority."""

    def __init__(self, config: Config, engine: Engine, keystore: KeyStore) -> None:
        self.config = config
        self.keystore = keystore
        self.credentials = NodeCredentials(config, keystore)

        def read(fn: Callable[[Connection], Revocations]) -> Revocations:
            with UnitOfWork(engine, readonly=True) as uow:
                return fn(uow.conn)

        suite_cache: dict[str, tuple[float, str]] = {}

        def suite() -> str:  # the standards in force, re-read at most every 5 s
            now = time.monotonic()
            held = suite_cache.get("suite")
            if held is None or now - held[0] > _SUITE_TTL_S:
                held = (now, federation_suite(engine, self.credentials.signing.suite))
                suite_cache["suite"] = held
            return held[1]

        self.trust = TrustStore(self.credentials.root, revocations_reader(read), suite=suite, clock=utcnow)
        self.provenance = NodeProvenance(self.credentials, self.trust, SigningKeyPins(engine, utcnow))

    def authority(self) -> CertificateAuthority | None:
        from security.credentials import load_authority

        return load_authority(self.config, self.keystore, self.credentials)

    def renew_if_due(self, upstream: str, *, force: bool = False) -> bool:
        """Renew the node's certificate when fewer than ``pki.renew_days`` remain: at the parent's replication
        port ``upstream`` (authenticated by the current certificate), or — the province — from its own root."""
        c = self.credentials
        c.refresh()
        if not force and c.not_after - utcnow() > timedelta(days=self.config.pki.renew_days):
            return False
        division = self.config.node.division
        parent = parent_of(division)
        if parent is None:
            authority = self.authority()
            if authority is None:
                raise ConfigError("省级节点没有根 CA，无法续期本节点证书", node=division)
            issue_own_certificate(self.config, self.keystore, authority, suite=c.signing.suite, previous=c.signing)
        else:
            if not upstream:
                raise ConfigError("未配置上级地址 replication.upstream，无法续期证书", node=division)
            renew(self.config, self.keystore, upstream, parent, c)
        c.refresh()
        return True

    def link_security(self) -> LinkSecurity:
        c = self.credentials
        return LinkSecurity(
            server_credentials=lambda: c.server_credentials(require_client_auth=True),
            enrol_credentials=lambda: c.server_credentials(require_client_auth=False),
            channel_credentials=c.channel_credentials,
            tls_name=COMMON_NAME,
            signer=self.provenance,
            receiver=self.provenance,
            sender=self.provenance,
            renew_if_due=self.renew_if_due,
            own_history=self.provenance.own_history,
        )


def issue_own_certificate(
    config: Config,
    keystore: KeyStore,
    authority: CertificateAuthority,
    *,
    suite: str,
    previous: SigningKey | None = None,
) -> None:
    """The province's own node certificate, from its own root (at ``province init``, and at renewal with the
    ``previous`` signing key's consent to the new one: receivers that pinned it move their pin)."""
    from security.credentials import pki_paths

    tls_key = generate_tls_key()
    signing = generate_signing_key(suite)
    division = config.node.division
    consent = previous.sign(continuity_message(division, signing.public)) if previous is not None else None
    issued = authority.issue_node(
        build_csr(division, tls_key, signing.public, continuity=consent), division, utcnow(), config.pki.cert_days
    )
    save_node_material(
        pki_paths(config),
        keystore,
        root=authority.root,
        chain=issued.chain,
        tls_key_pem_bytes=tls_key_pem(tls_key),
        signing=signing,
    )


def create_federation_root(config: Config, *, suite: str = DEFAULT_SUITE) -> CertificateAuthority | None:
    """At the province's first ``init``: the federation's root CA (its key into the keyring) and the province's own
    node certificate. None when the province already holds its root (``init`` again changes nothing)."""
    from security.credentials import pki_paths
    from security.keystore import write_private
    from security.pki import chain_pem

    paths = pki_paths(config)
    if paths.ca.exists():
        return None
    keystore = keystore_for(config)
    authority = CertificateAuthority.create_root(config.node.division, utcnow())
    keystore.put("ca-key", tls_key_pem(authority.key))
    write_private(paths.ca, chain_pem([authority.certificate]))
    issue_own_certificate(config, keystore, authority, suite=suite)
    return authority


def node_trust(config: Config, engine: Engine) -> NodeTrust:
    return NodeTrust(config, engine, keystore_for(config))


def link_security(config: Config, engine: Engine, *, insecure_dev: bool) -> LinkSecurity | None:
    """The node's link security, or None (plaintext) when ``insecure_dev`` — logged as a warning every time."""
    if insecure_dev:
        log.warning("security.insecure_dev", node=config.node.division, warning=INSECURE_WARNING)
        return None
    return node_trust(config, engine).link_security()
