"""A benchmark's federation PKI: the province's root, a city (with its CA) and a county, enrolled as in production.

Written into data directories under the benchmark's temporary directory — ``pki/`` files and an encrypted file
keyring each (:mod:`security.keystore`, passphrase :data:`PASSPHRASE`) — so both ends of a timed link load their
machine trust through the production path (:func:`security.node.node_trust`), not a shortcut.
"""

from __future__ import annotations

from pathlib import Path

from federation.config import Config, load_config
from federation.timeutil import utcnow
from security.credentials import pki_paths, save_node_material
from security.keystore import keystore_for
from security.pki import CertificateAuthority, build_csr, generate_tls_key, tls_key_pem
from security.signing import generate_signing_key

__all__ = ["PASSPHRASE", "city_authority", "enrolled_config"]

PASSPHRASE = "sunshine-bench"


def enrolled_config(
    directory: Path, division: str, database_url: str, ca: CertificateAuthority, *, suite: str = "ed25519"
) -> Config:
    """A node of ``division`` with its data directory under ``directory``, its certificate from ``ca``, its signing
    key of ``suite``."""
    data = directory / division
    data.mkdir(parents=True, exist_ok=True)
    toml = data / "sunshine.toml"
    toml.write_text(
        f'[node]\ndivision = "{division}"\ndata_dir = "{data}"\n\n[database]\nurl = "{database_url}"\n',
        encoding="utf-8",
    )
    cfg = load_config(toml, environ={"SUNSHINE_KEYRING_PASSPHRASE": PASSPHRASE})
    tls_key, signing = generate_tls_key(), generate_signing_key(suite)
    issued = ca.issue_node(build_csr(division, tls_key, signing.public), division, utcnow(), 30)
    save_node_material(
        pki_paths(cfg),
        keystore_for(cfg),
        root=ca.root,
        chain=issued.chain,
        tls_key_pem_bytes=tls_key_pem(tls_key),
        signing=signing,
    )
    return cfg


def city_authority(city: str) -> CertificateAuthority:
    """The root of a benchmark federation and the intermediate CA of ``city`` under it."""
    root = CertificateAuthority.create_root(city[:2] + "0000", utcnow())
    key = generate_tls_key()
    issued = root.issue_intermediate(city, key.public_key(), utcnow(), 30)
    return CertificateAuthority(issued.certificate, key, issued.chain, root.certificate)
