"""What an exchange admin reads of the federation PKI at one node (证书与登记, issue 17): ``sunshine admin certs``
and the 证书与注册 page.

Read from public material only — the certificates on disk (``pki/node.pem``, ``pki/root.pem``, a city's
``pki/ca.pem``) and the node's database: the certificates its CA issued, the revocation list it holds, the
enrolment tokens it issued that are neither used nor expired. No private key is read (the keyring stays closed)
and a token shows only its division and times: its secret was shown once, when it was issued, and only its
SHA-256 is stored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509
from sqlalchemy import Engine, select

from federation.config import Config
from federation.errors import CertificateInvalid
from federation.storage.tables import enrolment_tokens, issued_certificates, revocation_list
from federation.storage.uow import UnitOfWork
from security.credentials import pki_paths
from security.pki import fingerprint, identity_of, load_chain
from security.trust import issuer_division

__all__ = ["CertificateView", "PkiStatus", "pki_status"]

_ISSUED_SHOWN = 500  # the newest certificates issued (a province's CA issues some hundreds in all)


@dataclass(frozen=True, slots=True)
class CertificateView:
    """One certificate of a chain (public facts only)."""

    division: str
    issuer: str | None
    fingerprint: str
    not_before: datetime
    not_after: datetime
    is_ca: bool

    @classmethod
    def of(cls, cert: x509.Certificate) -> CertificateView:
        try:
            identity = identity_of(cert)
            division, is_ca = identity.division, identity.ca
        except CertificateInvalid:  # the federation root names no division of its own
            division, is_ca = issuer_division(cert) or cert.subject.rfc4514_string(), True
        return cls(
            division=division,
            issuer=issuer_division(cert),
            fingerprint=fingerprint(cert),
            not_before=cert.not_valid_before_utc,
            not_after=cert.not_valid_after_utc,
            is_ca=is_ca,
        )

    def days_left(self, now: datetime) -> int:
        return (self.not_after - now).days


@dataclass(frozen=True)
class PkiStatus:
    node: str
    chain: tuple[CertificateView, ...]  # this node's, leaf first (empty: not enrolled yet)
    root: CertificateView | None
    ca: tuple[CertificateView, ...]  # a city's intermediate CA (its chain), if it has one
    issued: tuple[dict[str, Any], ...]  # newest first: fingerprint, division, kind, issuer, issued_at, not_after
    revocation_version: int
    revoked_divisions: tuple[tuple[str, str, str], ...]  # (division, revoked at ISO, reason)
    revoked_fingerprints: tuple[tuple[str, str], ...]  # (fingerprint, reason)
    tokens: tuple[dict[str, Any], ...]  # outstanding: division, issued_at, expires_at (never the secret)


def _chain(path: Any) -> tuple[CertificateView, ...]:
    if not path.is_file():
        return ()
    return tuple(CertificateView.of(c) for c in load_chain(path.read_bytes()))


def pki_status(config: Config, engine: Engine, now: datetime) -> PkiStatus:
    """This node's certificates and what its CA issued, revoked and let enrol (tokens outstanding at ``now``)."""
    paths = pki_paths(config)
    roots = _chain(paths.root)
    with UnitOfWork(engine, readonly=True) as uow:
        conn = uow.conn
        issued = conn.execute(
            select(
                issued_certificates.c.fingerprint,
                issued_certificates.c.division,
                issued_certificates.c.kind,
                issued_certificates.c.issuer,
                issued_certificates.c.issued_at,
                issued_certificates.c.not_after,
            )
            .order_by(issued_certificates.c.issued_at.desc())
            .limit(_ISSUED_SHOWN)
        ).all()
        tokens = conn.execute(
            select(enrolment_tokens.c.division, enrolment_tokens.c.issued_at, enrolment_tokens.c.expires_at)
            .where(enrolment_tokens.c.used_at.is_(None), enrolment_tokens.c.expires_at > now)
            .order_by(enrolment_tokens.c.expires_at)
        ).all()
        held = conn.execute(select(revocation_list.c.payload)).first()
    payload: dict[str, Any] = json.loads(held.payload) if held is not None else {}
    reasons: dict[str, str] = dict(payload.get("reasons", {}))
    return PkiStatus(
        node=config.node.division,
        chain=_chain(paths.node),
        root=roots[0] if roots else None,
        ca=_chain(paths.ca),
        issued=tuple(dict(r._mapping) for r in issued),
        revocation_version=int(payload.get("version", 0)),
        revoked_divisions=tuple(
            (str(d), str(at), reasons.get(str(d), "")) for d, at in sorted(payload.get("divisions", {}).items())
        ),
        revoked_fingerprints=tuple((str(f), reasons.get(str(f), "")) for f in payload.get("fingerprints", ())),
        tokens=tuple(dict(r._mapping) for r in tokens),
    )
