"""Machine trust (DESIGN.md §9): enrolment tokens a parent issued, certificates its CA issued, and the province's
revocation list as this node holds it, and the signing key this node pinned for each origin. Private keys are
never here (they are in the keyring).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table, Text

from federation.storage.tables._metadata import metadata
from federation.storage.types import UTCDateTime

__all__ = ["enrolment_tokens", "issued_certificates", "revocation_list", "signing_key_pins"]

enrolment_tokens = Table(
    "enrolment_tokens",
    metadata,
    Column("digest", String(64), primary_key=True),  # SHA-256 of the token: the token itself is never stored
    Column("division", String(16), nullable=False),  # a division code, or a county's extranet node (371122-ext)
    Column("issued_by", String(6), nullable=False),
    Column("issued_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("used_at", UTCDateTime, nullable=True),
    comment="One-time enrolment tokens (登记令牌) this node issued to its children, by their SHA-256.",
)

issued_certificates = Table(
    "issued_certificates",
    metadata,
    Column("fingerprint", String(64), primary_key=True),
    Column("serial", String(40), nullable=False),
    Column("division", String(16), nullable=False),
    Column("kind", String(8), nullable=False),  # node | ca
    Column("issuer", String(6), nullable=False),
    Column("issued_at", UTCDateTime, nullable=False),
    Column("not_after", UTCDateTime, nullable=False),
    Column("pem", Text, nullable=False),
    Index(None, "division", "issued_at"),
    comment="Certificates this node's CA issued (sunshine admin certs).",
)

revocation_list = Table(
    "revocation_list",
    metadata,
    Column("id", Integer, primary_key=True),  # one row: the newest version held
    Column("version", BigInteger, nullable=False),
    Column("payload", Text, nullable=False),  # canonical JSON, as published by the province
    Column("applied_at", UTCDateTime, nullable=False),
    comment="The province's revocation list (吊销列表) as held here: the newest version received.",
)

signing_key_pins = Table(
    "signing_key_pins",
    metadata,
    Column("origin", String(16), primary_key=True),
    Column("suite", String(16), nullable=False),
    Column("public_key", String(200), nullable=False),  # hex of the signing public key
    Column("certificate", String(64), nullable=False),  # fingerprint of the certificate it was pinned from
    Column("pinned_at", UTCDateTime, nullable=False),
    comment="The signing key of each origin as first verified here (or renewed with the pinned key's consent).",
)
