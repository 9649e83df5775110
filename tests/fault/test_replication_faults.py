"""Replication under faults, with real processes on loopback (DESIGN.md §4).

After a workload every tier holds exactly the records of its subtree: per origin, the county, its city and the
province hold the same cases, events and digest, their marks stand at the county's last seq, and every record
was received once. That still holds after an agent killed with SIGKILL mid-stream, a receiver killed with
SIGKILL and restarted, connections cut mid-batch by a TCP proxy, and a batch delivered twice. A batch changed
after sealing is refused and nothing of it is written. A poison record is quarantined — at the city, and at the
province, which receives the city's relay copy unchanged — while the records behind it keep arriving; fixed and
replayed, it is applied and the tiers converge.

The tests share one federation (see ``conftest.py``) and run in this order; each ends converged.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import grpc
import pytest
from sqlalchemy import delete, select, update

from federation.boundary import mask_name
from federation.config import Config, NodeConfig
from federation.nodes import build_node
from federation.replication.trust import LinkSecurity
from federation.storage.tables import batch_log, cases, outbox
from federation.storage.uow import UnitOfWork
from federation.wire.v1 import replication_pb2_grpc as pb_grpc
from security.node import node_trust
from sync_agent import convert
from sync_agent.domain import Batch, Mark
from sync_agent.errors import BatchRefused
from sync_agent.ports import Receipt
from sync_agent.quarantine import QuarantineService, QuarantineState
from sync_agent.store import SqlBatchSource
from tests.fault.conftest import (
    APPLICANT,
    CITY,
    COUNTIES,
    JU,
    PROVINCE,
    UPPER,
    WAIT,
    WULIAN,
    BackgroundLoad,
    MarkRow,
    Rig,
    lag,
    up_link,
    wait_attested,
    wait_for,
)

pytestmark = pytest.mark.fault


def test_a_workload_reaches_every_tier_exactly(rig: Rig) -> None:
    events = {c: rig.probe.holdings(c).get(c, {"events": 0})["events"] for c in COUNTIES}
    for county in COUNTIES:
        rig.writers[county].run(300)
    rig.probe.wait_converged()
    province = {row["origin"]: row for row in rig.fed.admin(PROVINCE, "holdings")["origins"]}  # as an operator sees
    for county in COUNTIES:
        own = rig.probe.holdings(county)[county]
        assert own["events"] == events[county] + 300
        assert {k: province[county][k] for k in own} == own
        assert province[county]["high_water"] == rig.probe.last_seq(county)
    wait_attested(rig.fed)  # and every record of every kind, as each county's own statement says


def test_an_agent_killed_mid_stream_resumes_without_loss_or_duplicates(rig: Rig) -> None:
    with BackgroundLoad(*rig.writers.values()) as load:
        load.wait_more(50)
        wait_for(lambda: lag(rig.fed, JU) > 0, "莒县代理有未确认的积压（正在传输）", every=0.01)
        rig.fed.kill(f"agent:{JU}")
        load.wait_more(100)  # the county keeps working: its outbox fills while its agent is down
        rig.start_agent(JU)
        load.wait_more(50)
    rig.probe.wait_converged()
    wait_attested(rig.fed)


def test_a_receiver_killed_and_restarted_loses_and_duplicates_nothing(rig: Rig) -> None:
    with BackgroundLoad(*rig.writers.values()) as load:
        load.wait_more(50)
        wait_for(lambda: lag(rig.fed, JU) > 0, "莒县代理有未确认的积压（正在传输）", every=0.01)
        rig.fed.kill(f"node:{CITY}")
        load.wait_more(100)
        rig.fed.start_node(CITY)  # on the port it had: the agents reconnect by themselves
        load.wait_more(50)
    rig.probe.wait_converged()
    wait_attested(rig.fed)


def test_connections_cut_mid_batch_lose_and_duplicate_nothing(rig: Rig) -> None:
    cuts = 3
    failures = up_link(rig.fed, JU)["failures"]
    connections = rig.proxy.connections
    with BackgroundLoad(rig.writers[JU]) as load:
        load.wait_more(20)
        for _ in range(cuts):
            rig.proxy.cut_after(4096)  # a few KiB into the stream: inside a batch
            load.wait_more(20)
    rig.probe.wait_converged()
    assert up_link(rig.fed, JU)["failures"] >= failures + cuts  # each cut broke a session
    assert rig.proxy.connections >= connections + cuts  # and the agent came back after each


# -- raw streams to the city: a batch twice, a tampered batch -----------------------------------------------------

FORGED = "李*"
MASKED = mask_name(APPLICANT)  # what a case snapshot carries up (docs/boundary.md)


def _security(rig: Rig, division: str) -> LinkSecurity:
    """``division``'s machine trust, as its agent holds it (its certificate, keys and trust store)."""
    return node_trust(rig.fed.load(division), rig.probe.engine(division)).link_security()


def _stream(rig: Rig, sender: str, *batches: Batch) -> tuple[convert.Welcome, list[Receipt | BatchRefused]]:
    """One replication stream to the city over ``sender``'s mutual TLS: Hello, then ``batches``; the answers."""
    security = _security(rig, sender)
    messages = [convert.client_message_to_proto(convert.Hello(sender, (sender,), "fault-test", os.urandom(32)))]
    messages += [convert.client_message_to_proto(b) for b in batches]
    options = [("grpc.ssl_target_name_override", security.tls_name)]
    target = f"127.0.0.1:{rig.fed.grpc_ports[CITY]}"
    with grpc.secure_channel(target, security.channel_credentials(), options) as channel:
        answers = list(pb_grpc.ReplicationStub(channel).Stream(iter(messages), timeout=WAIT))
    welcome, *replies = (convert.server_message_from_proto(m) for m in answers)
    assert isinstance(welcome, convert.Welcome)
    assert len(replies) == len(batches), replies
    return welcome, [r for r in replies if isinstance(r, Receipt | BatchRefused)]


def _tampered(batch: Batch) -> Batch:
    """``batch`` with the (masked) applicant in its first case snapshot changed after sealing (hashes left as
    they were)."""
    at = next(i for i, r in enumerate(batch.records) if MASKED.encode() in r.payload)
    records = list(batch.records)
    records[at] = dataclasses.replace(
        records[at], payload=records[at].payload.replace(MASKED.encode(), FORGED.encode())
    )
    return dataclasses.replace(batch, records=tuple(records))


def test_a_batch_delivered_twice_is_applied_once_and_a_tampered_batch_is_refused(rig: Rig) -> None:
    rig.fed.stop(f"agent:{WULIAN}")  # the test sends 五莲县's batches itself
    try:
        rig.writers[WULIAN].run(20)
        signer = _security(rig, WULIAN).signer.sign  # batches signed by 五莲县, as its agent signs them
        source = SqlBatchSource(rig.probe.engine(WULIAN), WULIAN, max_records=8, signer=signer)
        source.seal()
        welcome, _ = _stream(rig, WULIAN)
        (mark,) = welcome.marks
        b1, b2 = source.batches_after(WULIAN, mark.high_water, 2)
        before = rig.probe.marks(CITY)[WULIAN]  # high water and records received, as the city's database holds them
        assert before.high_water == mark.high_water

        _, replies = _stream(rig, WULIAN, b1, b1, _tampered(b2))
        assert replies[0] == Receipt(Mark(WULIAN, b1.last_seq, b1.batch_hash))
        assert replies[1] == Receipt(Mark(WULIAN, b1.last_seq, b1.batch_hash))  # the duplicate: acked, not applied
        refusal = replies[2]
        assert isinstance(refusal, BatchRefused), refusal
        assert (refusal.reason, refusal.high_water, refusal.last_hash) == ("bad_hash", b1.last_seq, b1.batch_hash)
        assert _stream(rig, WULIAN)[0].marks == (Mark(WULIAN, b1.last_seq, b1.batch_hash),)
        after = rig.probe.marks(CITY)[WULIAN]
        assert after.records == before.records + len(b1.records)  # b1 received once, nothing of the tampered one
        with UnitOfWork(rig.probe.engine(CITY), readonly=True) as uow:
            relayed = uow.conn.execute(
                select(batch_log.c.last_seq, batch_log.c.wire).where(batch_log.c.origin == WULIAN)
            ).all()
            forged = uow.conn.execute(select(cases.c.case_no).where(cases.c.applicant == FORGED)).all()
        # the relay copy (what goes on to the province, each batch whole as it arrived) holds nothing of it
        assert max(r.last_seq for r in relayed) == b1.last_seq
        assert all(r.wire for r in relayed)
        assert forged == []

        _, replies = _stream(rig, WULIAN, b2, b1)  # the genuine batch, then b1 a third time
        assert replies == [Receipt(Mark(WULIAN, b2.last_seq, b2.batch_hash))] * 2
        assert rig.probe.marks(CITY)[WULIAN] == MarkRow(b2.last_seq, before.records + len(b1.records) + len(b2.records))
    finally:
        rig.start_agent(WULIAN)  # it resumes where the city's mark stands
    rig.probe.wait_converged()


# -- a poison record ----------------------------------------------------------------------------------------------


def _quarantine(rig: Rig, node: str) -> QuarantineService:
    engine = rig.probe.engine(node)
    return QuarantineService(
        engine, build_node(Config(node=NodeConfig(division=node)), engine=engine).receiver_appliers()
    )


def test_a_poison_record_is_quarantined_while_later_ones_arrive_and_replayed_after_a_fix(
    rig: Rig, tmp_path: Path
) -> None:
    ju, probe = rig.writers[JU], rig.probe
    rig.fed.stop(f"agent:{JU}")  # so that the record is spoilt before it is sealed
    try:
        poisoned_case = ju.submit()
        seq = probe.last_seq(JU)  # the submission's event (its snapshot is seq - 1)
        with UnitOfWork(probe.engine(JU)) as uow:
            where = (outbox.c.origin == JU, outbox.c.seq == seq)
            row = uow.conn.execute(select(outbox).where(*where)).one()
            assert (row.record_type, row.record_id) == ("case_event", f"{poisoned_case}#0001")
            original: str = row.payload
            uow.conn.execute(update(outbox).where(*where).values(payload=original[:-9]))  # no longer JSON
            # its writer sealed it already (federation.storage.seal): unsent (the agent is stopped), so forget the
            # batches from it on — they are sealed again, spoilt record and all, as if it was spoilt before
            uow.conn.execute(delete(batch_log).where(batch_log.c.origin == JU, batch_log.c.last_seq >= seq))
            uow.commit()
        ju.run(60)  # the records behind it, the poisoned case's own later events among them
    finally:
        rig.start_agent(JU)
    last = probe.last_seq(JU)
    wait_for(
        lambda: all(probe.marks(tier).get(JU, MarkRow(0, 0)).high_water == last for tier in UPPER),
        "毒记录之后的记录到达市级与省级",
    )
    county = probe.holdings(JU)[JU]
    (held,) = rig.fed.admin(CITY, "quarantine", "list")["items"]  # as the city's operator sees it
    assert (held["origin"], held["seq"], held["record_type"], held["state"]) == (JU, seq, "case_event", "held")
    assert "JSON" in held["reason"]
    (at_province,) = _quarantine(rig, PROVINCE).list().items  # the relay copy is the origin's bytes: same poison
    assert (at_province.origin, at_province.seq) == (JU, seq)
    for tier in UPPER:  # everything else arrived
        replica = probe.holdings(tier)[JU]
        assert (replica["cases"], replica["events"]) == (county["cases"], county["events"] - 1)
        assert probe.marks(tier)[JU] == MarkRow(last, last)

    fixed = tmp_path / "fixed.json"
    fixed.write_text(original, encoding="utf-8")
    assert rig.fed.admin(CITY, "quarantine", "fix", str(held["id"]), "--payload", str(fixed))["payload"] == original
    assert rig.fed.admin(CITY, "quarantine", "replay", str(held["id"]))["state"] == "replayed"
    assert probe.holdings(CITY)[JU] == probe.holdings(JU)[JU]
    province = _quarantine(rig, PROVINCE)
    province.fix(at_province.id, original)
    assert province.replay(at_province.id).state is QuarantineState.REPLAYED
    for tier in UPPER:
        assert _quarantine(rig, tier).list().items == []
    probe.wait_converged()
