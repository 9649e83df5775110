"""Machine trust, attacked from outside (issue 14): real processes, real mutual TLS on loopback, every node enrolled.

A small federation — the province, 日照市 and two of its counties — runs as in the demo: each node enrolled at its
parent (a one-time token, keys generated at the node), every link mutual TLS, every batch signed by its origin.
The attacks of the issue are replayed from this process with the material an attacker could hold (another
node's certificate and keys, a forged signature, an expired certificate, no certificate at all), and each is
refused with its typed error while nothing is written and the honest links keep flowing.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import queue
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import grpc
import pytest
from cryptography.hazmat.primitives import serialization
from sqlalchemy import Engine, func, insert, select

from county_node.approval.domain import Action
from county_node.bootstrap import build_county_node
from county_node.recovery import counter_floors, own_record_appliers
from federation.replication import Record
from federation.storage.engine import engine_from_config, make_engine
from federation.storage.tables import batch_log, batch_receipts, cases, outbox, replication_marks
from federation.storage.uow import UnitOfWork
from federation.timeutil import to_us, utcnow
from federation.wire.v1 import replication_pb2 as pb
from federation.wire.v1 import replication_pb2_grpc as pb_grpc
from migrations.runner import upgrade
from province_center.demo.launcher import Federation, NodeSpec
from security.credentials import NodeCredentials, load_authority
from security.keystore import keystore_for
from security.node import link_security
from security.pki import COMMON_NAME, build_csr, chain_pem, generate_tls_key, tls_key_pem
from security.signing import generate_signing_key
from sync_agent.convert import Hello, batch_from_proto, batch_to_proto, hello_to_proto
from sync_agent.domain import ZERO_HASH, Batch, Mark, seal_batch
from sync_agent.errors import RecoveryRefused
from sync_agent.recover import Recovery
from sync_agent.runtime import receiver_policy
from sync_agent.server import RunningServer, serve
from sync_agent.store import SqlBatchSink, SqlBatchSource, SqlRestore

pytestmark = pytest.mark.fault

PROVINCE, CITY, JU, WULIAN = "370000", "371100", "371122", "371121"
TOPOLOGY = (
    NodeSpec(PROVINCE, "山东省"),
    NodeSpec(CITY, "日照市", PROVINCE),
    NodeSpec(JU, "莒县", CITY),
    NodeSpec(WULIAN, "五莲县", CITY),
)
WAIT = 30.0


def wait_for(condition: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"等待超时（{timeout:g} 秒）：{what}")
        time.sleep(0.05)


@dataclass
class Trust:
    fed: Federation
    engines: dict[str, Engine]

    def credentials(self, division: str) -> NodeCredentials:
        cfg = self.fed.load(division)
        return NodeCredentials(cfg, keystore_for(cfg))

    def target(self, division: str) -> str:
        return f"127.0.0.1:{self.fed.grpc_ports[division]}"

    def count(self, division: str, table: Any, *where: Any) -> int:
        with UnitOfWork(self.engines[division], readonly=True) as uow:
            return int(uow.conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())

    def high_water(self, at: str, origin: str) -> int:
        with UnitOfWork(self.engines[at], readonly=True) as uow:
            row = uow.conn.execute(
                select(replication_marks.c.high_water).where(replication_marks.c.origin == origin)
            ).first()
        return int(row.high_water) if row else 0

    def county_seq(self, county: str) -> int:
        with UnitOfWork(self.engines[county], readonly=True) as uow:
            return int(uow.conn.execute(select(func.max(outbox.c.seq)).where(outbox.c.origin == county)).scalar() or 0)

    def one_case(self, county: str) -> str:
        """A case taken in at ``county`` as its hall would (its outbox grows; its agent ships it)."""
        node = build_county_node(self.fed.load(county))
        try:
            data = {"统一社会信用代码": "91371122MA3C00000X", "经营场所": "城阳街道 1 号"}
            case_no = node.approval.submit(item_code="XK00003000", applicant="张三", data=data, actor="窗口 1").case_no
            node.approval.act(case_no, Action.ACCEPT, actor="窗口 1")
            return case_no
        finally:
            node.close()

    def converged(self, county: str) -> bool:
        top = self.county_seq(county)
        return top > 0 and self.high_water(CITY, county) == top and self.high_water(PROVINCE, county) == top


@pytest.fixture(scope="module")
def trust(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trust]:
    fed = Federation(tmp_path_factory.mktemp("trust"), TOPOLOGY)
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


# -- an outsider's client: the wire, with whatever credentials the attacker holds --------------------------------


@dataclass
class Stream:
    """One replication stream opened by this test: Hello sent, answers read as they come."""

    welcome: pb.ServerMessage | None
    answers: queue.SimpleQueue[Any]
    requests: queue.SimpleQueue[pb.ClientMessage | None]
    channel: grpc.Channel

    def send(self, batch: pb.Batch) -> Any:
        self.requests.put(pb.ClientMessage(batch=batch))
        return self.answers.get(timeout=WAIT)

    def close(self) -> None:
        self.requests.put(None)
        self.channel.close()


def _drain(q: queue.SimpleQueue[pb.ClientMessage | None]) -> Iterator[pb.ClientMessage]:
    while (item := q.get()) is not None:
        yield item


def open_stream(target: str, creds: grpc.ChannelCredentials | None, sender: str, origins: tuple[str, ...]) -> Stream:
    options = [("grpc.ssl_target_name_override", COMMON_NAME)]
    channel = grpc.secure_channel(target, creds, options) if creds else grpc.insecure_channel(target)
    requests: queue.SimpleQueue[pb.ClientMessage | None] = queue.SimpleQueue()
    answers: queue.SimpleQueue[Any] = queue.SimpleQueue()
    call = pb_grpc.ReplicationStub(channel).Stream(_drain(requests))

    def read() -> None:
        try:
            for message in call:
                answers.put(message)
        except grpc.RpcError as exc:
            answers.put(exc)

    threading.Thread(target=read, daemon=True).start()
    hello = Hello(sender, origins, "attacker/1", secrets.token_bytes(32))
    requests.put(pb.ClientMessage(hello=hello_to_proto(hello)))
    first = answers.get(timeout=WAIT)
    return (
        Stream(first if isinstance(first, pb.ServerMessage) else None, answers, requests, channel)
        if not isinstance(first, grpc.RpcError)
        else _failed(first, channel)
    )


def _failed(exc: grpc.RpcError, channel: grpc.Channel) -> Stream:
    channel.close()
    raise exc


def record(seq: int, record_id: str, payload: dict[str, Any]) -> Record:
    body = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
    return Record("case", record_id, "upsert", seq, body, to_us(utcnow()))


# -- the attacks ---------------------------------------------------------------------------------------------------


def test_every_link_is_mutual_tls_and_a_plaintext_peer_gets_nothing(trust: Trust) -> None:
    """gRPC in plaintext against a receiver: the TLS server answers nothing a plaintext client can read."""
    channel = grpc.insecure_channel(trust.target(CITY))
    with pytest.raises(grpc.RpcError) as caught:
        pb_grpc.ReplicationStub(channel).Status(pb.StatusRequest(), timeout=5)
    channel.close()
    assert caught.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.INTERNAL)
    # and TLS without a client certificate (the enrolment port's kind) is refused on the replication port
    no_cert = grpc.ssl_channel_credentials(trust.credentials(CITY).root_pem)
    with pytest.raises(grpc.RpcError):
        open_stream(trust.target(CITY), no_cert, JU, (JU,))


def test_a_sender_is_its_certificate_not_what_its_hello_says(trust: Trust) -> None:
    """五莲县's certificate saying Hello(sender=莒县) at the city: refused, the city holds nothing new."""
    before = trust.high_water(CITY, JU)
    creds = trust.credentials(WULIAN).channel_credentials()
    with pytest.raises(grpc.RpcError) as caught:
        open_stream(trust.target(CITY), creds, JU, (JU,))
    assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED
    assert "与其证书身份 371121 不符" in (caught.value.details() or "")
    assert trust.high_water(CITY, JU) == before


def test_a_county_cannot_send_as_the_province_down_to_a_city_or_forge_an_order(trust: Trust) -> None:
    """A county certificate claiming to be the province at the city: refused at Hello."""
    creds = trust.credentials(JU).channel_credentials()
    with pytest.raises(grpc.RpcError) as caught:
        open_stream(trust.target(CITY), creds, PROVINCE, (PROVINCE,))
    assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED


def test_forged_signatures_are_refused_and_nothing_is_written(trust: Trust) -> None:
    """A correctly chained batch of 五莲县's own origin with a random 4 KiB signature, or signed by 莒县's key:
    BAD_SIGNATURE, nothing applied, and 五莲县's real records still arrive."""
    wu = trust.credentials(WULIAN)
    ju = trust.credentials(JU)
    stream = open_stream(trust.target(CITY), wu.channel_credentials(), WULIAN, (WULIAN,))
    try:
        assert stream.welcome is not None
        assert stream.welcome.HasField("welcome")
        mark = next(m for m in stream.welcome.welcome.marks if m.origin == WULIAN)
        held = trust.count(CITY, cases, cases.c.case_no.startswith(WULIAN))
        forged = seal_batch(
            WULIAN, mark.last_hash or ZERO_HASH, [record(mark.high_water + 1, f"{WULIAN}-20261102-999999", {"x": 1})]
        )
        random_sig = batch_to_proto(forged)
        random_sig.signature = secrets.token_bytes(4096)
        random_sig.signer_chain.extend(wu.chain_der)
        answer = stream.send(random_sig)
        assert answer.refusal.reason == pb.Refusal.BAD_SIGNATURE, answer
        signed_by_other = batch_to_proto(forged)
        signed_by_other.signature = ju.signing.sign(forged.batch_hash)
        signed_by_other.signer_chain.extend(ju.chain_der)
        answer = stream.send(signed_by_other)
        assert answer.refusal.reason == pb.Refusal.BAD_SIGNATURE
        assert "签名者却是 371122" in answer.refusal.message
        assert trust.count(CITY, cases, cases.c.case_no.startswith(WULIAN)) == held
    finally:
        stream.close()
    trust.one_case(WULIAN)  # the honest link keeps flowing
    wait_for(lambda: trust.converged(WULIAN), "五莲县的记录经日照市到达省级")


def test_a_relay_that_alters_a_county_record_is_caught_at_the_province(trust: Trust) -> None:
    """The city's certificate sends the province a 莒县 batch it altered (hash recomputed, 莒县's signature kept):
    BAD_SIGNATURE naming the origin and the relay."""
    case_no = trust.one_case(JU)
    wait_for(lambda: trust.converged(JU), "莒县追平")
    city = trust.credentials(CITY)
    with UnitOfWork(trust.engines[CITY], readonly=True) as uow:
        first = uow.conn.execute(
            select(batch_log.c.first_seq).where(batch_log.c.origin == JU).order_by(batch_log.c.last_seq.desc())
        ).first()
    assert first is not None
    (last,) = SqlBatchSource(trust.engines[CITY], CITY).batches_after(JU, int(first[0]) - 1, 1)  # as the city holds it
    assert last.signer_chain == trust.credentials(JU).chain_der  # 莒县's signature and certificate, relayed
    assert last.wire  # held whole, as it arrived
    assert not last.records
    held = batch_from_proto(pb.Batch.FromString(last.wire))
    assert (held.batch_hash, held.signature) == (last.batch_hash, last.signature)
    altered = seal_batch(
        JU,
        last.prev_hash,
        [replace(r, payload=r.payload.replace("张*".encode(), "伪*".encode())) for r in held.records],  # masked name
    )
    message = batch_to_proto(altered)
    message.signature = last.signature
    message.signer_chain.extend(last.signer_chain)
    stream = open_stream(trust.target(PROVINCE), city.channel_credentials(), CITY, (JU,))
    try:
        answer = stream.send(message)
    finally:
        stream.close()
    refusal = answer.refusal
    assert refusal.reason == pb.Refusal.BAD_SIGNATURE, answer
    assert "来源 371122" in refusal.message
    assert "经 371100 转发" in refusal.message
    with UnitOfWork(trust.engines[PROVINCE], readonly=True) as uow:
        applicant = uow.conn.execute(select(cases.c.applicant).where(cases.c.case_no == case_no)).scalar_one()
    assert applicant == "张*"  # as the county sent it (docs/boundary.md)


def test_a_seq_held_with_other_content_is_refused_as_divergent_not_acked(trust: Trust) -> None:
    """莒县 restored from an old backup seals new records at seqs the city holds: its own key, its own origin —
    refused as DIVERGENT (compared with the receipt), never acknowledged as a duplicate."""
    trust.one_case(JU)
    wait_for(lambda: trust.converged(JU), "莒县追平")
    ju = trust.credentials(JU)
    with UnitOfWork(trust.engines[CITY], readonly=True) as uow:
        receipt = uow.conn.execute(
            select(batch_receipts).where(batch_receipts.c.origin == JU).order_by(batch_receipts.c.last_seq.desc())
        ).first()
    assert receipt is not None
    first, last = int(receipt.first_seq), int(receipt.last_seq)
    previous = SqlBatchSource(trust.engines[JU], JU).batches_after(JU, first - 1, 1)[0]
    reused = [record(seq, f"{JU}-20261102-88888{seq % 10}", {"restored": seq}) for seq in range(first, last + 1)]
    batch = seal_batch(JU, previous.prev_hash, reused)
    message = batch_to_proto(batch)
    message.signature = ju.signing.sign(batch.batch_hash)
    message.signer_chain.extend(ju.chain_der)
    stream = open_stream(trust.target(CITY), ju.channel_credentials(), JU, (JU,))
    try:
        answer = stream.send(message)
    finally:
        stream.close()
    assert answer.refusal.reason == pb.Refusal.DIVERGENT, answer
    assert "已以不同内容接收过" in answer.refusal.message


def test_oversized_records_and_messages_are_refused_before_they_cost_anything(trust: Trust) -> None:
    ju = trust.credentials(JU)
    stream = open_stream(trust.target(CITY), ju.channel_credentials(), JU, (JU,))
    try:
        mark = next(m for m in stream.welcome.welcome.marks if m.origin == JU)  # type: ignore[union-attr]
        big = seal_batch(
            JU, mark.last_hash, [record(mark.high_water + 1, f"{JU}-20261102-777777", {"x": "长" * 600_000})]
        )
        message = batch_to_proto(big)
        message.signature = ju.signing.sign(big.batch_hash)
        message.signer_chain.extend(ju.chain_der)
        answer = stream.send(message)
        assert answer.refusal.reason == pb.Refusal.MALFORMED
        assert "超过单条记录上限" in answer.refusal.message
    finally:
        stream.close()
    stream = open_stream(trust.target(CITY), ju.channel_credentials(), JU, (JU,))
    try:
        huge = pb.Batch(origin=JU, first_seq=1, last_seq=1, records=[pb.Record(payload=b"x" * (17 * 1024 * 1024))])
        answer = stream.send(huge)
        assert isinstance(answer, grpc.RpcError)
        assert answer.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    finally:
        stream.close()


def test_idle_streams_cannot_exhaust_the_receiver(trust: Trust) -> None:
    """One identity holds at most four streams; a fifth is refused while 莒县 still connects and ships."""
    creds = trust.credentials(WULIAN).channel_credentials()
    held = [open_stream(trust.target(CITY), creds, WULIAN, (WULIAN,)) for _ in range(3)]  # its agent holds one
    try:
        with pytest.raises(grpc.RpcError) as caught:
            open_stream(trust.target(CITY), creds, WULIAN, (WULIAN,))
        assert caught.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        trust.one_case(JU)
        wait_for(lambda: trust.converged(JU), "莒县照常复制")
    finally:
        for s in held:
            s.close()


def test_an_expired_certificate_cannot_open_a_link(trust: Trust) -> None:
    """A certificate of the city's own CA, for 莒县, expired yesterday: the TLS handshake refuses it."""
    city_cfg = trust.fed.load(CITY)
    city = trust.credentials(CITY)
    authority = load_authority(city_cfg, keystore_for(city_cfg), city)
    assert authority is not None
    key = generate_tls_key()
    long_ago = utcnow() - dt.timedelta(days=30)
    issued = authority.issue_node(build_csr(JU, key, generate_signing_key().public), JU, long_ago, 2)
    creds = grpc.ssl_channel_credentials(city.root_pem, tls_key_pem(key), chain_pem(issued.chain))
    with pytest.raises(grpc.RpcError) as caught:
        open_stream(trust.target(CITY), creds, JU, (JU,))
    assert caught.value.code() is grpc.StatusCode.UNAVAILABLE


def _sunshine(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "federation.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_enrolment_tokens_are_one_time_and_for_one_division(trust: Trust, tmp_path: Path) -> None:
    """``sunshine admin enrol`` at the city; the token does not enrol another division, and works once."""
    env = {**trust.fed._env}
    out = _sunshine(
        "admin",
        "enrol",
        "--division",
        "371122",
        "-o",
        str(tmp_path / "t.json"),
        "-c",
        str(trust.fed.config(CITY)),
        env=env,
    )
    assert out.returncode == 0, out.stderr
    assert "一次性登记令牌" in out.stdout
    assert (tmp_path / "t.json").stat().st_mode & 0o777 == 0o600
    wrong = _sunshine("admin", "enrol", "--division", "371322", "-c", str(trust.fed.config(CITY)), env=env)
    assert wrong.returncode == 2
    assert "不是本节点" in wrong.stderr
    ticket = json.loads((tmp_path / "t.json").read_text(encoding="utf-8"))
    # presented for 五莲县: refused by the child before anything is sent, and by the parent if sent anyway
    from federation.errors import EnrolmentRefused
    from security.enrolment import EnrolmentFile, enrol

    wu_cfg = trust.fed.load(WULIAN)
    with pytest.raises(EnrolmentRefused):
        enrol(wu_cfg, keystore_for(wu_cfg), EnrolmentFile(**{**ticket, "division": WULIAN}))


def test_a_revoked_node_is_locked_out_within_one_propagation(trust: Trust) -> None:
    """The province revokes 五莲县: the list comes down through the city, which then refuses 五莲县's stream."""
    env = {**trust.fed._env}
    out = _sunshine(
        "admin", "revoke", "--division", WULIAN, "--reason", "密钥泄露", "-c", str(trust.fed.config(PROVINCE)), env=env
    )
    assert out.returncode == 0, out.stderr
    creds = trust.credentials(WULIAN).channel_credentials()

    def refused() -> bool:
        try:
            open_stream(trust.target(CITY), creds, WULIAN, (WULIAN,)).close()
        except grpc.RpcError as exc:
            return "吊销" in (exc.details() or "")
        return False

    wait_for(refused, "日照市收到吊销列表后拒绝五莲县")
    # and 莒县 keeps flowing
    trust.one_case(JU)
    wait_for(lambda: trust.converged(JU), "莒县照常复制")


def test_a_certificate_is_renewed_without_downtime(trust: Trust) -> None:
    """``sunshine admin renew --force`` at 莒县 while everything runs: a new certificate and new keys from its city,
    the next batches signed with them and accepted upstream, no process restarted."""
    env = {**trust.fed._env}
    before = trust.credentials(JU).chain[0]
    out = _sunshine("admin", "renew", "--force", "-c", str(trust.fed.agent_config(JU)), env=env)
    assert out.returncode == 0, out.stderr
    assert "证书已续期" in out.stdout
    after = trust.credentials(JU).chain[0]
    assert after.serial_number != before.serial_number
    trust.one_case(JU)
    wait_for(lambda: trust.converged(JU), "续期后莒县照常复制")
    certs = _sunshine("admin", "certs", "--json", "-c", str(trust.fed.config(CITY)), env=env)
    issued = [c for c in json.loads(certs.stdout)["issued"] if c["division"] == JU]
    assert len(issued) >= 2  # the enrolment's and the renewal's


def _fetch(trust: Trust, caller: str, target: str, origin: str, after: int = 0) -> list[pb.Batch]:
    channel = grpc.secure_channel(
        trust.target(target),
        trust.credentials(caller).channel_credentials(),
        [("grpc.ssl_target_name_override", COMMON_NAME)],
    )
    try:
        return list(
            pb_grpc.ReplicationStub(channel).Fetch(pb.FetchRequest(origin=origin, after_seq=after), timeout=WAIT)
        )
    finally:
        channel.close()


def test_a_node_fetches_back_only_its_own_records_and_what_comes_down_to_it(trust: Trust) -> None:
    """``Fetch`` (a county's recovery): 莒县 takes back its own batches from its city — whole, consecutive, signed by
    its own key — and the province's batches the link down sends it; never 五莲县's, never the city's records held
    for the province above it, and a city cannot fetch from its county."""
    trust.one_case(JU)
    wait_for(lambda: trust.converged(JU), "莒县的记录到达市级与省级")
    own = _fetch(trust, JU, CITY, JU)
    assert own
    assert own[0].first_seq == 1
    assert all(b.first_seq == a.last_seq + 1 for a, b in itertools.pairwise(own))
    assert own[-1].last_seq == trust.high_water(CITY, JU)
    receiver = link_security(trust.fed.load(JU), trust.engines[JU], insecure_dev=False)
    assert receiver is not None
    for message in own:  # the county's own signature, verified by its own trust as recovery does
        batch = batch_from_proto(message)
        receiver.receiver.verify_batch(JU, batch.batch_hash, batch.signature, batch.signer_chain)
    assert [b.first_seq for b in _fetch(trust, JU, CITY, JU, after=own[-1].first_seq - 1)] == [own[-1].first_seq]
    assert _fetch(trust, JU, CITY, PROVINCE)  # the standards the province sent down, relayed by the city
    with pytest.raises(grpc.RpcError) as beyond:
        _fetch(trust, JU, CITY, JU, after=2**63)
    assert beyond.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    for caller, target, origin in ((JU, CITY, WULIAN), (JU, PROVINCE, CITY), (CITY, JU, CITY), (JU, CITY, "37112x")):
        with pytest.raises(grpc.RpcError) as caught:
            _fetch(trust, caller, target, origin)
        assert caught.value.code() in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNIMPLEMENTED), origin
        if caught.value.code() is grpc.StatusCode.PERMISSION_DENIED:
            assert "无权取回来源" in (caught.value.details() or "")


def _fake_parent(
    trust: Trust, who: str, served: Sequence[pb.Batch], top: Mark, tmp_path: Path
) -> tuple[RunningServer, Engine]:
    """A server on ``who``'s real certificate that says it holds 莒县 up to ``top`` and serves ``served``."""
    security = link_security(trust.fed.load(who), trust.engines[who], insecure_dev=False)
    assert security is not None
    scratch = make_engine(f"sqlite:///{tmp_path / 'parent.db'}")
    upgrade(scratch)
    with UnitOfWork(scratch) as uow:
        uow.conn.execute(
            insert(replication_marks),
            {
                "origin": JU,
                "high_water": top.high_water,
                "last_hash": top.last_hash,
                "records": 0,
                "updated_at": utcnow(),
            },
        )
        uow.commit()
    held = [Batch(JU, b.first_seq, b.last_seq, b"", b"", (), wire=b.SerializeToString()) for b in served]
    server = serve(
        SqlBatchSink(scratch, who, {}, relay=True),
        credentials=security.server_credentials(),
        trust=security.receiver,
        batches_after=lambda origin, after, limit: [b for b in held if origin == JU and b.first_seq > after][:limit],
        fetch_allowed=lambda caller, origin: True,
    )
    return server, scratch


def _recover_from(trust: Trust, port: int, tmp_path: Path) -> tuple[Recovery, Engine]:
    """莒县's recovery into a new (lost) database, from the server on ``port``."""
    lost = make_engine(f"sqlite:///{tmp_path / 'lost.db'}")
    upgrade(lost)
    county_security = link_security(trust.fed.load(JU), lost, insecure_dev=False)
    assert county_security is not None
    recovery = Recovery(
        node=JU,
        target=f"127.0.0.1:{port}",
        security=county_security,
        sink=SqlBatchSink(lost, JU, {}, relay=False, allow=receiver_policy(JU)),
        allowed=receiver_policy(JU),
        restore=SqlRestore(lost, JU, own_record_appliers(), [counter_floors]),
    )
    return recovery, lost


def _refused_and_nothing_written(recovery: Recovery, lost: Engine) -> str:
    with pytest.raises(RecoveryRefused) as caught:
        recovery.run()
    with UnitOfWork(lost, readonly=True) as uow:
        assert uow.conn.execute(select(func.count()).select_from(outbox)).scalar_one() == 0
        assert uow.conn.execute(select(func.count()).select_from(cases)).scalar_one() == 0
    return caught.value.message


def test_a_parent_that_alters_a_record_cannot_restore_it(trust: Trust, tmp_path: Path) -> None:
    """A recovery (``county recover``) against a parent that sends 莒县's batches back with one record altered:
    the city's real certificate and mutual TLS, the county's real batches and signatures — refused as altered,
    naming the batch, and nothing reaches the county's store."""
    real = _fetch(trust, JU, CITY, JU)
    altered = pb.Batch.FromString(real[-1].SerializeToString())
    altered.records[0].record_id += "x"
    top = Mark(JU, real[-1].last_seq, real[-1].batch_hash)
    server, scratch = _fake_parent(trust, CITY, [*real[:-1], altered], top, tmp_path)
    recovery, lost = _recover_from(trust, server.port, tmp_path)
    try:
        message = _refused_and_nothing_written(recovery, lost)
        assert f"批次 {altered.first_seq}–{altered.last_seq}" in message
        assert "批次哈希与内容不符" in message
    finally:
        server.stop(grace=None)
        lost.dispose()
        scratch.dispose()


def test_a_history_forged_under_a_certificate_the_city_minted_is_refused(trust: Trust, tmp_path: Path) -> None:
    """The city's CA mints a certificate for 莒县 with a key of its choosing and serves 莒县's history re-chained and
    re-signed with it, one applicant changed: every chain verifies to the root, but the keys end nowhere near the
    county's own signing key — refused, nothing written (it was checked whole before anything was)."""
    trust.one_case(JU)
    wait_for(lambda: trust.converged(JU), "莒县的记录到达市级")
    real = [batch_from_proto(m) for m in _fetch(trust, JU, CITY, JU)]
    city_cfg = trust.fed.load(CITY)
    authority = load_authority(city_cfg, keystore_for(city_cfg), trust.credentials(CITY))
    assert authority is not None
    signing = generate_signing_key(trust.credentials(JU).signing.suite)
    issued = authority.issue_node(build_csr(JU, generate_tls_key(), signing.public), JU, utcnow(), 30)
    chain_der = [c.public_bytes(serialization.Encoding.DER) for c in issued.chain]
    forged: list[pb.Batch] = []
    prev = ZERO_HASH
    for b in real:
        records = [replace(r, payload=r.payload.replace("张*".encode(), "伪造*".encode())) for r in b.records]
        sealed = seal_batch(JU, prev, records)
        message = batch_to_proto(sealed)
        message.signature = signing.sign(sealed.batch_hash)
        message.signer_chain.extend(chain_der)
        forged.append(message)
        prev = sealed.batch_hash
    server, scratch = _fake_parent(trust, CITY, forged, Mark(JU, forged[-1].last_seq, prev), tmp_path)
    recovery, lost = _recover_from(trust, server.port, tmp_path)
    try:
        assert "不是用本节点现有签名密钥" in _refused_and_nothing_written(recovery, lost)
    finally:
        server.stop(grace=None)
        lost.dispose()
        scratch.dispose()


def test_only_the_parent_itself_can_answer_a_recovery(trust: Trust, tmp_path: Path) -> None:
    """五莲县 (a sibling, with its own real certificate) poses as 莒县's city and says it holds nothing: its Welcome
    proves it is 371121, not the parent 371100 — refused before anything is fetched."""
    server, scratch = _fake_parent(trust, WULIAN, [], Mark(JU), tmp_path)
    recovery, lost = _recover_from(trust, server.port, tmp_path)
    try:
        assert f"接收端 {WULIAN} 不是本节点 {JU} 的上级节点" in _refused_and_nothing_written(recovery, lost)
    finally:
        server.stop(grace=None)
        lost.dispose()
        scratch.dispose()
