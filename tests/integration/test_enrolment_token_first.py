"""Review W10: at enrolment the parent checks the one-time token before it parses anything the child sent — a
stranger without a valid token learns only that, whatever it sends — and each failure is a typed refusal that
consumes nothing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives import serialization
from sqlalchemy import Engine, select

from federation.errors import CertificateInvalid, EnrolmentRefused
from federation.storage.engine import make_engine
from federation.storage.tables import enrolment_tokens, issued_certificates
from federation.storage.uow import UnitOfWork
from federation.wire.v1 import replication_pb2 as pb
from migrations.runner import upgrade
from security.enrolment import EnrolmentServicer
from security.pki import CertificateAuthority, build_csr, generate_tls_key
from security.signing import generate_signing_key
from security.tokens import issue_token
from security.trust import Revocations, TrustStore

NOW = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def engine(sqlite_url: str) -> Iterator[Engine]:
    eng = make_engine(sqlite_url)
    upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def servicer(engine: Engine) -> EnrolmentServicer:
    root = CertificateAuthority.create_root("370000", NOW)
    key = generate_tls_key()
    issued = root.issue_intermediate("371100", key.public_key(), NOW, 365)
    city = CertificateAuthority(issued.certificate, key, issued.chain, root.certificate)
    trust = TrustStore(root.certificate, Revocations, suite=lambda: "ed25519", clock=lambda: NOW)
    return EnrolmentServicer(engine, city, trust, lambda: NOW, 90)


def _token(engine: Engine, division: str = "371122", issued_at: dt.datetime = NOW) -> str:
    with UnitOfWork(engine) as uow:
        issued = issue_token(uow.conn, division=division, issued_by="371100", now=issued_at, ttl=dt.timedelta(hours=1))
        uow.commit()
    return issued.token


def _held(engine: Engine) -> tuple[int, list[object]]:
    with engine.connect() as conn:
        certs = len(conn.execute(select(issued_certificates)).all())
        used = [r.used_at for r in conn.execute(select(enrolment_tokens))]
    return certs, used


@pytest.mark.parametrize("csr", [b"", b"\x30\x82garbage", b"x" * 5000])
def test_a_bad_token_is_refused_before_the_csr_is_read(servicer: EnrolmentServicer, engine: Engine, csr: bytes) -> None:
    _token(engine)
    request = pb.EnrolRequest(division="371122", csr=csr, token="SST1-" + "0" * 43)
    with pytest.raises(EnrolmentRefused, match="令牌"):
        servicer._issue(request, token=request.token)
    with pytest.raises(EnrolmentRefused, match="令牌格式错误"):
        servicer._issue(request, token="not-a-token")
    assert _held(engine) == (0, [None])


def test_a_valid_token_with_a_malformed_csr_is_refused_and_not_consumed(
    servicer: EnrolmentServicer, engine: Engine
) -> None:
    token = _token(engine)
    with pytest.raises(CertificateInvalid, match="证书请求格式错误"):
        servicer._issue(pb.EnrolRequest(division="371122", csr=b"garbage", token=token), token=token)
    assert _held(engine) == (0, [None])  # the token still works for the real request
    csr = build_csr("371122", generate_tls_key(), generate_signing_key().public)
    der = csr.public_bytes(serialization.Encoding.DER)
    servicer._issue(pb.EnrolRequest(division="371122", csr=der, token=token), token=token)
    certs, used = _held(engine)
    assert certs == 1
    assert used == [NOW]


def test_a_token_of_another_division_or_expired_is_refused(servicer: EnrolmentServicer, engine: Engine) -> None:
    other = _token(engine, "371121")
    with pytest.raises(EnrolmentRefused, match="371121"):
        servicer._issue(pb.EnrolRequest(division="371122", csr=b"", token=other), token=other)
    expired = _token(engine, issued_at=NOW - dt.timedelta(hours=2))
    with pytest.raises(EnrolmentRefused, match="过期"):
        servicer._issue(pb.EnrolRequest(division="371122", csr=b"", token=expired), token=expired)
