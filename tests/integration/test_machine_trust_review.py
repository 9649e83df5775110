"""Machine trust, the independent review's findings (issue 14): each attack replayed against real processes.

The same small federation as ``test_machine_trust`` (the province, 日照市 and two of its counties, every node
enrolled, every link mutual TLS); each test holds the material the attacker of its finding would hold — a CA that
the province revoked, the city's own CA used to mint a county's certificate, a certificate of another node — and
shows the typed refusal while nothing is written.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator

import grpc
import pytest
from cryptography.hazmat.primitives import serialization
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sqlalchemy import Engine

from federation.storage.engine import engine_from_config
from federation.timeutil import utcnow
from federation.wire.v1 import replication_pb2 as pb
from federation.wire.v1 import replication_pb2_grpc as pb_grpc
from province_center.demo.launcher import Federation
from security.credentials import load_authority
from security.keystore import keystore_for
from security.pki import (
    COMMON_NAME,
    CertificateAuthority,
    build_csr,
    chain_pem,
    fingerprint,
    generate_tls_key,
    tls_key_pem,
)
from security.signing import SigningKey, generate_signing_key
from sync_agent.convert import batch_to_proto
from sync_agent.domain import seal_batch
from tests.integration.test_machine_trust import (
    CITY,
    JU,
    PROVINCE,
    TOPOLOGY,
    WULIAN,
    Trust,
    _sunshine,
    open_stream,
    record,
    wait_for,
)

pytestmark = pytest.mark.fault


@pytest.fixture(scope="module")
def trust(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trust]:
    fed = Federation(tmp_path_factory.mktemp("review"), TOPOLOGY)
    engines: dict[str, Engine] = {}
    try:
        fed.init_all()
        fed.start_all()
        fed.wait_for_standards()
        engines = {s.division: engine_from_config(fed.load(s.division)) for s in TOPOLOGY}
        yield Trust(fed, engines)
    finally:
        for e in engines.values():
            e.dispose()
        fed.stop_all()


def _authority(trust: Trust, division: str) -> CertificateAuthority:
    cfg = trust.fed.load(division)
    authority = load_authority(cfg, keystore_for(cfg), trust.credentials(division))
    assert authority is not None
    return authority


Material = tuple[grpc.ChannelCredentials, SigningKey, list[bytes]]


def _node_certificate(ca: CertificateAuthority, division: str) -> Material:
    """A certificate for ``division`` from ``ca``: its channel credentials, signing key and chain (DER)."""
    key = generate_tls_key()
    signing = generate_signing_key()
    issued = ca.issue_node(build_csr(division, key, signing.public), division, utcnow(), 30)
    creds = grpc.ssl_channel_credentials(chain_pem([ca.root]), tls_key_pem(key), chain_pem(issued.chain))
    return creds, signing, [c.public_bytes(serialization.Encoding.DER) for c in issued.chain]


# -- V1: revocation is checked on every certificate of a chain --------------------------------------------------


def test_a_revoked_intermediate_locks_out_the_certificates_it_issued(trust: Trust) -> None:
    """A second 日照市 CA (say, a backup the province issued, then revoked by fingerprint when its key leaked): a
    莒县 certificate it issued opens a stream until the revocation reaches the city, then is refused there, and
    a batch signed under it is refused at the province — though the leaf itself was never revoked."""
    root = _authority(trust, PROVINCE)
    ca_key = generate_tls_key()
    issued = root.issue_intermediate(CITY, ca_key.public_key(), utcnow() - dt.timedelta(hours=1), 30)
    leaked = CertificateAuthority(issued.certificate, ca_key, issued.chain, root.root)
    creds, signing, chain = _node_certificate(leaked, JU)
    open_stream(trust.target(CITY), creds, JU, (JU,)).close()  # valid, not revoked yet

    env = {**trust.fed._env}
    out = _sunshine(
        "admin", "revoke", "--fingerprint", fingerprint(leaked.certificate), "--reason", "备用 CA 私钥泄露",
        "-c", str(trust.fed.config(PROVINCE)), env=env,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr

    def refused() -> bool:
        try:
            open_stream(trust.target(CITY), creds, JU, (JU,)).close()
        except grpc.RpcError as exc:
            return exc.code() is grpc.StatusCode.UNAUTHENTICATED and "吊销" in (exc.details() or "")
        return False

    wait_for(refused, "日照市收到吊销列表后拒绝被吊销 CA 签发的证书")

    stream = open_stream(trust.target(PROVINCE), trust.credentials(CITY).channel_credentials(), CITY, (JU,))
    try:
        assert stream.welcome is not None
        mark = next(m for m in stream.welcome.welcome.marks if m.origin == JU)
        forged = seal_batch(JU, mark.last_hash, [record(mark.high_water + 1, f"{JU}-20261102-555555", {"x": 1})])
        message = batch_to_proto(forged)
        message.signature = signing.sign(forged.batch_hash)
        message.signer_chain.extend(chain)
        answer = stream.send(message)
    finally:
        stream.close()
    assert answer.refusal.reason == pb.Refusal.BAD_SIGNATURE, answer
    assert "吊销" in answer.refusal.message
    assert trust.high_water(PROVINCE, JU) == mark.high_water


# -- V2: each receiver pins every origin's signing key ------------------------------------------------------------


def _forged_at_province(trust: Trust, material: Material, tag: str) -> pb.ServerMessage:
    """日照市's certificate sends the province a 莒县 batch signed with ``material`` (chain valid to the root)."""
    _, signing, chain = material
    stream = open_stream(trust.target(PROVINCE), trust.credentials(CITY).channel_credentials(), CITY, (JU,))
    try:
        assert stream.welcome is not None
        mark = next(m for m in stream.welcome.welcome.marks if m.origin == JU)
        forged = seal_batch(JU, mark.last_hash, [record(mark.high_water + 1, f"{JU}-20261102-{tag}", {"x": 1})])
        message = batch_to_proto(forged)
        message.signature = signing.sign(forged.batch_hash)
        message.signer_chain.extend(chain)
        answer: pb.ServerMessage = stream.send(message)
    finally:
        stream.close()
    return answer


def test_a_city_cannot_mint_a_county_certificate_and_sign_as_that_county(trust: Trust) -> None:
    """日照市 holds its CA: it issues itself a 莒县 certificate and signs a forged 莒县 batch — the chain verifies, the
    province refuses it (the key is not the one it pinned for 莒县), naming origin and relay. A renewal at 莒县
    (its old key consents to the new) moves the pin; ``sunshine admin trust repin`` lets the operator accept a
    re-enrolled key."""
    trust.one_case(JU)
    wait_for(lambda: trust.converged(JU), "莒县追平（省级首次确认其签名密钥）")
    minted = _node_certificate(_authority(trust, CITY), JU)
    before = trust.high_water(PROVINCE, JU)
    answer = _forged_at_province(trust, minted, "444444")
    assert answer.refusal.reason == pb.Refusal.BAD_SIGNATURE, answer
    assert "来源 371122" in answer.refusal.message
    assert "经 371100 转发" in answer.refusal.message
    assert "sunshine admin trust repin 371122" in answer.refusal.message
    assert trust.high_water(PROVINCE, JU) == before

    env = {**trust.fed._env}
    renewed = _sunshine("admin", "renew", "--force", "-c", str(trust.fed.agent_config(JU)), env=env)
    assert renewed.returncode == 0, renewed.stderr
    trust.one_case(JU)
    wait_for(lambda: trust.converged(JU), "续期后莒县的新密钥经原密钥证明，市、省照常接收")
    pins = _sunshine("admin", "trust", "pins", "-c", str(trust.fed.config(PROVINCE)), env=env)
    assert pins.returncode == 0, pins.stderr
    assert fingerprint(trust.credentials(JU).chain[0])[:16] in pins.stdout

    repin = _sunshine("admin", "trust", "repin", JU, "-c", str(trust.fed.config(PROVINCE)), env=env)
    assert repin.returncode == 0, repin.stderr
    assert "已撤销 371122 原确认的签名密钥" in repin.stdout
    # the operator's decision: the next verified key of 莒县 is pinned again
    trust.one_case(JU)
    wait_for(lambda: trust.converged(JU), "重新确认后莒县照常复制")
    pins = _sunshine("admin", "trust", "pins", "-c", str(trust.fed.config(PROVINCE)), env=env)
    assert fingerprint(trust.credentials(JU).chain[0])[:16] in pins.stdout
    bad = _sunshine("admin", "trust", "repin", "37112X", "-c", str(trust.fed.config(PROVINCE)), env=env)
    assert bad.returncode == 2


# -- V3, V4: Status tells a peer of its own link only; the enrolment port is its own server ----------------------


def _enrol_target(trust: Trust, division: str) -> str:
    port = int((trust.fed.dir(division) / "enrol.port").read_text(encoding="utf-8"))
    return f"127.0.0.1:{port}"


def _channel(target: str, creds: grpc.ChannelCredentials) -> grpc.Channel:
    return grpc.secure_channel(target, creds, [("grpc.ssl_target_name_override", COMMON_NAME)])


def test_status_tells_a_peer_only_of_its_own_link(trust: Trust) -> None:
    """五莲县 asks the city's Status for everything under 3711: it hears of 371121 only, never of 莒县."""
    with _channel(trust.target(CITY), trust.credentials(WULIAN).channel_credentials()) as channel:
        reply = pb_grpc.ReplicationStub(channel).Status(pb.StatusRequest(origin_prefix="3711"), timeout=10)
    origins = {line.origin for line in reply.origins}
    assert JU not in origins
    assert origins <= {WULIAN}


def test_the_enrolment_port_serves_enrolment_and_health_only(trust: Trust) -> None:
    """TLS without a client certificate, as any enrolling child connects: replication and Status are not there."""
    creds = grpc.ssl_channel_credentials(trust.credentials(CITY).root_pem)
    with _channel(_enrol_target(trust, CITY), creds) as channel:
        health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        with pytest.raises(grpc.RpcError) as caught:
            pb_grpc.ReplicationStub(channel).Status(pb.StatusRequest(), timeout=10)
        assert caught.value.code() is grpc.StatusCode.UNIMPLEMENTED


def test_a_flood_on_the_enrolment_port_does_not_starve_replication(trust: Trust) -> None:
    """80 calls held open on the city's enrolment port (more than the replication server's 64 workers): 莒县
    still opens a stream and its records still reach the province."""
    creds = grpc.ssl_channel_credentials(trust.credentials(CITY).root_pem)
    channels = [_channel(_enrol_target(trust, CITY), creds) for _ in range(8)]
    held = [
        health_pb2_grpc.HealthStub(channels[i % 8]).Watch(health_pb2.HealthCheckRequest(), timeout=60)
        for i in range(80)
    ]
    try:
        time.sleep(1.0)
        open_stream(trust.target(CITY), trust.credentials(JU).channel_credentials(), JU, (JU,)).close()
        trust.one_case(JU)
        wait_for(lambda: trust.converged(JU), "登记端口被占满时莒县照常复制")
    finally:
        for call in held:
            call.cancel()
        for c in channels:
            c.close()
