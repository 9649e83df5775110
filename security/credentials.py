"""A node's own TLS and signing material, loaded once by its composition root: what its links present.

On disk, in ``DATA_DIR/pki/`` (public, but written 0600 like everything Sunshine writes there):

* ``root.pem`` — the federation root the node trusts (handed over with the enrolment token, or the province's
  own);
* ``node.pem`` — the node's certificate chain (its certificate, then its CA's if a city issued it);
* ``ca.pem`` — a CA node's own CA certificate chain (the province's root, a city's intermediate).

In the keyring (:mod:`security.keystore`): ``tls-key`` (PEM), ``signing-key`` (``suite:hex``), ``ca-key``.

The receiver's gRPC credentials are *dynamic*: a renewed certificate (written by the agent's renewal) is picked
up for the next handshake without a restart.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from federation.config import Config
from federation.errors import ConfigError
from security.keystore import KeyStore, write_private
from security.pki import CertificateAuthority, chain_pem, identity_of, load_chain, load_tls_key, tls_key_pem
from security.signing import SigningKey, load_signing_key

__all__ = [
    "NodeCredentials",
    "PkiPaths",
    "load_authority",
    "load_credentials",
    "pki_paths",
    "save_node_material",
]

_HINT = "本节点尚未登记证书：请先执行 sunshine agent enrol（或仅在开发环境使用 --insecure-dev）"


@dataclass(frozen=True)
class PkiPaths:
    directory: Path

    @property
    def root(self) -> Path:
        return self.directory / "root.pem"

    @property
    def node(self) -> Path:
        return self.directory / "node.pem"

    @property
    def ca(self) -> Path:
        return self.directory / "ca.pem"


def pki_paths(config: Config) -> PkiPaths:
    return PkiPaths(Path(config.node.data_dir).expanduser().resolve() / "pki")


def save_node_material(
    paths: PkiPaths,
    keystore: KeyStore,
    *,
    root: x509.Certificate,
    chain: Sequence[x509.Certificate],
    tls_key_pem_bytes: bytes,
    signing: SigningKey,
) -> None:
    """Keep what enrolment (or renewal) produced: keys into the keyring first, then the certificates."""
    keystore.put("tls-key", tls_key_pem_bytes)
    keystore.put("signing-key", f"{signing.suite}:{signing.private_bytes().hex()}".encode())
    write_private(paths.root, chain_pem([root]))
    write_private(paths.node, chain_pem(chain))


def _signing_key(keystore: KeyStore) -> SigningKey:
    raw = keystore.require("signing-key", _HINT).decode()
    suite, _, hex_key = raw.partition(":")
    return load_signing_key(suite, bytes.fromhex(hex_key))


class NodeCredentials:
    """The node's certificate chain, TLS key, signing key and trust anchor, re-read from disk when renewed."""

    def __init__(self, config: Config, keystore: KeyStore) -> None:
        self.division = config.node.division
        self.paths = pki_paths(config)
        self._keystore = keystore
        self._lock = threading.Lock()
        self._stamp: tuple[float, float] | None = None
        if not self.paths.node.is_file() or not self.paths.root.is_file():
            raise ConfigError(_HINT, node=self.division)
        self._load()

    def _load(self) -> None:
        chain = load_chain(self.paths.node.read_bytes())
        root = load_chain(self.paths.root.read_bytes())[0]
        if identity_of(chain[0]).division != self.division:
            raise ConfigError(f"证书 {self.paths.node} 不是本节点 {self.division} 的", node=self.division)
        key = load_tls_key(self._keystore.require("tls-key", _HINT))
        der, spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        mine = chain[0].public_key().public_bytes(der, spki)
        held = key.public_key().public_bytes(der, spki)
        if mine != held:
            raise ConfigError("密钥库中的 TLS 私钥与本节点证书不匹配：请重新登记", node=self.division)
        self.chain: tuple[x509.Certificate, ...] = tuple(chain)
        self.chain_der: tuple[bytes, ...] = tuple(c.public_bytes(serialization.Encoding.DER) for c in chain)
        self.root = root
        self.root_pem = chain_pem([root])
        self.chain_pem = chain_pem(chain)
        self.tls_key_pem = tls_key_pem(key)
        self.signing = _signing_key(self._keystore)
        self._stamp = self._mtimes()

    def _mtimes(self) -> tuple[float, float]:
        return (self.paths.node.stat().st_mtime, self.paths.root.stat().st_mtime)

    def refresh(self) -> bool:
        """Re-read the material if a renewal rewrote it; True when it changed."""
        with self._lock:
            try:
                if self._mtimes() == self._stamp:
                    return False
            except FileNotFoundError:
                return False
            self._load()
            return True

    @property
    def not_after(self) -> datetime:
        return self.chain[0].not_valid_after_utc

    # -- gRPC ----------------------------------------------------------------------------------------------------

    def server_credentials(self, *, require_client_auth: bool = True) -> grpc.ServerCredentials:
        """mTLS for a receiver (``require_client_auth=False``: the enrolment port), renewed certificates picked up
        at the next handshake."""
        initial = grpc.ssl_server_certificate_configuration(
            [(self.tls_key_pem, self.chain_pem)], root_certificates=self.root_pem
        )

        def fetch() -> grpc.ServerCertificateConfiguration:  # grpc takes None as "unchanged"
            if not self.refresh():
                return None  # type: ignore[return-value]
            return grpc.ssl_server_certificate_configuration(
                [(self.tls_key_pem, self.chain_pem)], root_certificates=self.root_pem
            )

        return grpc.dynamic_ssl_server_credentials(initial, fetch, require_client_authentication=require_client_auth)

    def channel_credentials(self) -> grpc.ChannelCredentials:
        self.refresh()
        return grpc.ssl_channel_credentials(self.root_pem, self.tls_key_pem, self.chain_pem)


def load_credentials(config: Config, keystore: KeyStore) -> NodeCredentials:
    return NodeCredentials(config, keystore)


def load_authority(config: Config, keystore: KeyStore, credentials: NodeCredentials) -> CertificateAuthority | None:
    """The node's CA (the province's root, a city's intermediate), or None for a county."""
    paths = pki_paths(config)
    if not paths.ca.is_file():
        return None
    chain = load_chain(paths.ca.read_bytes())
    key = load_tls_key(keystore.require("ca-key", "CA 私钥不在密钥库中：本节点不能签发证书"))
    return CertificateAuthority(chain[0], key, tuple(c for c in chain if c != credentials.root), credentials.root)
