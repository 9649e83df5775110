"""Replication storage on SQLite and PostgreSQL: seal a county's outbox, receive it on a city, relay it on.

A real county database is made once per backend with the approval service (corrections, pauses, a joint case
with tasks, an extension, a refusal, a return and resubmission); every test works on clones of it and of an
empty node database (a file copy on SQLite, ``CREATE DATABASE … TEMPLATE`` on PostgreSQL), so the suite stays
fast while each test starts from the same real data.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, func, insert, select, text
from sqlalchemy.engine import Connection, make_url
from structlog.testing import capture_logs

from county_node.approval.adapters.replica import CaseApplier, default_appliers
from county_node.approval.domain import Action
from county_node.approval.services import ApprovalService
from federation.boundary import default_boundary_policy, mask_name, scrub
from federation.errors import Conflict, NotFound, RecordRejected, ValidationError
from federation.replication import Applier, Prepared, Record, Rejection
from federation.standards import StandardsBundle
from federation.storage.engine import make_engine
from federation.storage.tables import (
    batch_log,
    case_events,
    case_pauses,
    case_tasks,
    cases,
    node_settings,
    outbox,
    quarantine,
    replication_marks,
)
from federation.storage.uow import UnitOfWork
from federation.timeutil import CST, to_us
from migrations.runner import upgrade
from sync_agent.domain import ZERO_HASH, Batch, Mark, RefusalReason, Verdict, check_batch, seal_batch
from sync_agent.errors import BatchRefused
from sync_agent.ports import BatchSink, BatchSource
from sync_agent.quarantine import QuarantineService, QuarantineState
from sync_agent.store import SqlBatchSink, SqlBatchSource
from tests.conftest import PG_ADMIN_URL, FakeClock, require_postgresql

COUNTY, CITY, PROVINCE = "371122", "371100", "370000"
PROMISED = "XK00003000"  # 食品经营许可: key fields 统一社会信用代码;经营场所
JOINT = "XK00036000"
FULL = {"统一社会信用代码": "91371122MA3C000001", "经营场所": "莒县城阳街道 1 号"}
JOINT_DATA = {"项目代码": "2026-371122-47-01-000001", "建设单位": "莒县城投公司"}
REPLICATED = (cases, case_events, case_pauses, case_tasks)
WATCHED = (*REPLICATED, outbox, batch_log, replication_marks, quarantine)
ALL = 10**6


# -- databases: one template per role and backend, cloned for every test ----------------------------------------


def _county_workload(svc: ApprovalService, clock: FakeClock) -> None:
    def submit(item: str = PROMISED, data: dict[str, str] | None = None) -> str:
        clock.now += timedelta(minutes=11)
        return svc.submit(item_code=item, applicant="张三", data=FULL if data is None else data, actor="窗口 1").case_no

    def act(case_no: str, action: Action, **params: Any) -> None:
        clock.now += timedelta(minutes=37)
        svc.act(case_no, action, actor="审批员", params=params)

    a, b, c = submit(), submit(), submit(JOINT, JOINT_DATA)
    act(a, Action.ACCEPT)
    act(b, Action.ACCEPT)
    act(b, Action.REQUEST_CORRECTION, reason="缺少营业执照")
    act(a, Action.REVIEW, opinion="同意")
    act(c, Action.ACCEPT)
    clock.now += timedelta(days=2)
    act(b, Action.RECEIVE_CORRECTION, data={"经营场所": "莒县城阳街道 9 号"})
    act(a, Action.DECIDE, outcome="approve", fee_charged="79.5")
    act(c, Action.REVIEW)
    act(b, Action.REVIEW)
    act(c, Action.COMPLETE_TASK, department="消防救援大队", opinion="符合要求")
    act(b, Action.START_SPECIAL_PROCEDURE, reason="现场核查", procedure="核查")
    act(a, Action.CONCLUDE)
    act(c, Action.EXTEND, days=3, reason="情况复杂", approver="局长")
    act(b, Action.END_SPECIAL_PROCEDURE)
    act(b, Action.SUSPEND, reason="申请人要求暂停")
    d, e = submit(), submit(data={})
    act(d, Action.REFUSE_ACCEPTANCE, reason="不属于本机关职权")
    act(e, Action.RETURN, reason="材料不全")
    act(e, Action.RESUBMIT, data=FULL)
    act(e, Action.ACCEPT)
    for _ in range(4):
        act(submit(), Action.ACCEPT)


class Databases:
    """Template databases of one backend (``county``: real county data; ``node``: standards only) and clones."""

    def __init__(self, backend: str, directory: Path) -> None:
        self.backend = backend
        self._dir = directory
        self._admin: Engine | None = None
        self._names: list[str] = []
        if backend == "postgresql":
            require_postgresql()
            self._admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")

    def _url(self, name: str) -> str:
        if self.backend == "sqlite":
            return f"sqlite:///{self._dir / f'{name}.db'}"
        return make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)

    def _create(self, name: str, template: str | None = None) -> str:
        if self.backend == "sqlite":
            if template is not None:
                shutil.copy(self._dir / f"{template}.db", self._dir / f"{name}.db")
        else:
            assert self._admin is not None
            with self._admin.connect() as conn:
                clause = f' TEMPLATE "{template}"' if template else ""
                conn.execute(text(f'CREATE DATABASE "{name}"{clause}'))
        self._names.append(name)
        return self._url(name)

    def build_template(self, role: str, fill: Callable[[Engine], None]) -> None:
        engine = make_engine(self._create(f"sunshine_tpl_{role}_{uuid.uuid4().hex[:8]}"))
        try:
            upgrade(engine)
            fill(engine)
        finally:
            # SQLite checkpoints the WAL into the main file when its last connection closes, so after this
            # a file copy is the whole database.
            engine.dispose()
        setattr(self, f"template_{role}", self._names[-1])

    def clone(self, role: str) -> Engine:
        return make_engine(self._create(f"sunshine_test_{uuid.uuid4().hex[:12]}", getattr(self, f"template_{role}")))

    def drop(self, keep: int = 0) -> None:
        while len(self._names) > keep:
            name = self._names.pop()
            if self._admin is not None:
                with self._admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def close(self) -> None:
        self.drop()
        if self._admin is not None:
            self._admin.dispose()


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def templates(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, bundle: StandardsBundle
) -> Iterator[Databases]:
    dbs = Databases(request.param, tmp_path_factory.mktemp("replication"))
    try:

        def county(engine: Engine) -> None:
            clock = FakeClock(datetime(2026, 9, 21, 9, 0, tzinfo=CST))
            svc = ApprovalService(engine, COUNTY, clock)
            svc.apply_standards(bundle)
            _county_workload(svc, clock)

        def node(engine: Engine) -> None:
            ApprovalService(engine, CITY, FakeClock(datetime(2026, 9, 21, tzinfo=CST))).apply_standards(bundle)

        dbs.build_template("county", county)
        dbs.build_template("node", node)
        yield dbs
    finally:
        dbs.close()


@pytest.fixture
def clones(templates: Databases) -> Iterator[Callable[[str], Engine]]:
    """``clones("county")`` / ``clones("node")``: a fresh copy of a template, disposed and dropped afterwards."""
    engines: list[Engine] = []
    keep = 2  # the two templates

    def clone(role: str) -> Engine:
        engine = templates.clone(role)
        engines.append(engine)
        return engine

    yield clone
    for engine in engines:
        engine.dispose()
    templates.drop(keep)


@pytest.fixture
def county(clones: Callable[[str], Engine]) -> Engine:
    return clones("county")


@pytest.fixture
def city(clones: Callable[[str], Engine]) -> Engine:
    return clones("node")


# -- helpers ----------------------------------------------------------------------------------------------------


def rows(engine: Engine, table: Any) -> list[tuple[Any, ...]]:
    """Every row as the driver returns it (SQLite: the stored text), in primary-key order."""
    order = ", ".join(c.name for c in table.primary_key.columns)
    with engine.connect() as conn:
        return [tuple(r) for r in conn.exec_driver_sql(f"SELECT * FROM {table.name} ORDER BY {order}")]


def snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    return {t.name: rows(engine, t) for t in WATCHED}


def count(engine: Engine, table: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


_UP = default_boundary_policy().compile("").direction("up")


def named_rows(engine: Engine, table: Any) -> list[dict[str, Any]]:
    """Every row by column name, JSON columns decoded, in primary-key order."""
    order = ", ".join(c.name for c in table.primary_key.columns)
    with engine.connect() as conn:
        result = conn.exec_driver_sql(f"SELECT * FROM {table.name} ORDER BY {order}")
        keys = list(result.keys())
        out = [dict(zip(keys, r, strict=True)) for r in result]
    for r in out:
        for k in ("data", "payload"):
            if isinstance(r.get(k), str):
                r[k] = json.loads(r[k])
    return out


def _as_crossed(table: Any, values: dict[str, Any]) -> dict[str, Any]:
    """A county row as its replica holds it: what the default boundary policy lets cross (names masked, key data
    cleared, ID and phone numbers in free text masked)."""
    if table is cases:
        values["applicant"] = mask_name(values["applicant"])
        values["data"] = {}
    elif table is case_events:
        values["payload"] = _UP.screen("case_event", {"payload": values["payload"]}).payload["payload"]
    elif table is case_pauses and values["reason"] is not None:
        values["reason"] = scrub(values["reason"])
    return values


def assert_replica_equal(a: Engine, b: Engine, *, skip_events: Sequence[str] = ()) -> None:
    for table in REPLICATED:
        left = named_rows(a, table)
        if table is case_events and skip_events:
            left = [r for r in left if f"{r['case_no']}#{r['n']:04d}" not in skip_events]
        assert named_rows(b, table) == [_as_crossed(table, r) for r in left], table.name


def sealed(engine: Engine, **options: Any) -> list[Batch]:
    source = SqlBatchSource(engine, COUNTY, **options)
    source.seal()
    return list(source.batches_after(COUNTY, 0, ALL))


def sink(engine: Engine, node: str = CITY, **options: Any) -> SqlBatchSink:
    return SqlBatchSink(engine, node, default_appliers(), relay=options.pop("relay", True), **options)


def receive_all(target: SqlBatchSink, batches: Sequence[Batch], sender: str = COUNTY) -> None:
    for b in batches:
        receipt = target.receive(sender, b)
        assert not receipt.duplicate
        assert receipt.mark == Mark(b.origin, b.last_seq, b.batch_hash)


def assert_chain(batches: Sequence[Batch], origin: str = COUNTY) -> None:
    mark = Mark(origin)
    for b in batches:
        assert check_batch(mark, b) is Verdict.APPLY
        mark = Mark(origin, b.last_seq, b.batch_hash)


def rechain(origin: str, records: Sequence[Record], size: int) -> list[Batch]:
    """Hand-made batches of ``records`` (hashes valid), chained from the start."""
    out, prev = [], ZERO_HASH
    for i in range(0, len(records), size):
        out.append(seal_batch(origin, prev, records[i : i + size]))
        prev = out[-1].batch_hash
    return out


def outbox_records(engine: Engine, origin: str = COUNTY) -> list[Record]:
    with engine.connect() as conn:
        found = conn.execute(select(outbox).where(outbox.c.origin == origin).order_by(outbox.c.seq)).all()
    return [Record(r.record_type, r.record_id, r.op, r.seq, r.payload.encode(), to_us(r.created_at)) for r in found]


# -- the county side --------------------------------------------------------------------------------------------


def test_the_stores_implement_the_ports(county: Engine) -> None:
    source: BatchSource = SqlBatchSource(county, COUNTY)
    target: BatchSink = sink(county, CITY)
    assert source.origins() == [COUNTY]
    assert target.node == CITY


def test_each_case_row_keeps_the_seq_of_its_latest_snapshot(county: Engine) -> None:
    latest: dict[str, int] = {}
    for r in outbox_records(county):
        if r.record_type == "case":
            latest[r.record_id] = r.origin_seq
    with county.connect() as conn:
        stored = dict(conn.execute(select(cases.c.case_no, cases.c.origin_seq)).all())
    assert stored == latest


def test_seal_chains_the_outbox_into_batches_of_at_most_max_records(county: Engine) -> None:
    source = SqlBatchSource(county, COUNTY, max_records=7)
    n = source.seal()
    batches = source.batches_after(COUNTY, 0, ALL)
    assert len(batches) == n == count(county, batch_log)
    assert batches[0].prev_hash == ZERO_HASH
    assert all(len(b.records) == 7 for b in batches[:-1])
    assert 1 <= len(batches[-1].records) <= 7
    assert_chain(batches)
    # the records are the outbox rows exactly: payload bytes = the stored text, UTF-8
    assert [r for b in batches for r in b.records] == outbox_records(county)
    assert source.seal() == 0  # nothing new

    # new transitions continue the chain; the receiver asks from its high-water mark
    svc = ApprovalService(county, COUNTY, FakeClock(datetime(2026, 9, 25, 10, tzinfo=CST)))
    case_no = svc.submit(item_code=PROMISED, applicant="李四", data=FULL, actor="窗口 2").case_no
    svc.act(case_no, Action.ACCEPT, actor="审批员")
    assert source.seal() == 1
    newer = source.batches_after(COUNTY, batches[-1].last_seq, ALL)
    assert len(newer) == 1
    assert newer[0].prev_hash == batches[-1].batch_hash
    assert [r.record_id for r in newer[0].records] == [case_no, f"{case_no}#0001", case_no, f"{case_no}#0002"]
    assert_chain([*batches, *newer])
    # limit, and a high-water mark that is not a batch boundary (nothing can follow it)
    assert source.batches_after(COUNTY, 0, 3) == batches[:3]
    assert source.batches_after(COUNTY, 0, 0) == []
    assert source.batches_after(COUNTY, 3, ALL) == []
    assert source.batches_after(COUNTY, newer[0].last_seq, ALL) == []


def test_seal_splits_by_bytes_and_a_record_bigger_than_the_limit_travels_alone(county: Engine) -> None:
    records = outbox_records(county)
    sizes = {r.origin_seq: len(r.payload) for r in records}
    limit = 1000
    assert max(sizes.values()) > limit > min(sizes.values())  # case snapshots are bigger, events smaller
    batches = sealed(county, max_records=500, max_bytes=limit)
    assert_chain(batches)
    assert [r for b in batches for r in b.records] == records
    for b, following in zip(batches, [*batches[1:], None], strict=True):
        total = sum(len(r.payload) for r in b.records)
        assert total <= limit or len(b.records) == 1
        if following is not None:  # packed greedily: the next record would not have fitted
            assert total + len(following.records[0].payload) > limit
    assert any(len(b.records) == 1 and len(b.records[0].payload) > limit for b in batches)


def test_concurrent_sealers_make_one_chain(county: Engine) -> None:
    barrier = threading.Barrier(3)

    def seal() -> int:
        source = SqlBatchSource(county, COUNTY, max_records=3, batches_per_transaction=2)
        barrier.wait()
        return source.seal()

    with ThreadPoolExecutor(3) as pool:
        results = [f.result() for f in [pool.submit(seal) for _ in range(3)]]
    batches = SqlBatchSource(county, COUNTY).batches_after(COUNTY, 0, ALL)
    assert sum(results) == len(batches) == count(county, batch_log)
    assert_chain(batches)
    assert batches[-1].last_seq == len(outbox_records(county))


def test_a_signer_signs_each_new_batch(county: Engine) -> None:
    batches = sealed(county, max_records=50, signer=lambda digest: (b"sig:" + digest[:4], (b"chain",)))
    assert all(b.signature == b"sig:" + b.batch_hash[:4] and b.signer_chain == (b"chain",) for b in batches)


def test_acks_and_link_errors_are_remembered_per_link_and_origin(county: Engine) -> None:
    source = SqlBatchSource(county, COUNTY)
    source.record_link_error("up", COUNTY, "上级节点拒绝：哈希链断裂")
    source.record_ack("up", COUNTY, 12)
    source.record_ack("up", COUNTY, 30)
    source.record_link_error("backup", COUNTY, "连接失败")
    acks = {(a.link, a.origin): a for a in source.link_acks()}
    assert acks["up", COUNTY].acked_seq == 30
    assert acks["up", COUNTY].last_error is None  # cleared by the ack
    assert acks["backup", COUNTY].last_error == "连接失败"


# -- the city side: receive -------------------------------------------------------------------------------------


def test_receiving_every_batch_makes_the_city_equal_to_the_county(county: Engine, city: Engine) -> None:
    batches = sealed(county, max_records=7)
    target = sink(city)
    assert target.marks([COUNTY]) == [Mark(COUNTY)]
    receive_all(target, batches)
    assert_replica_equal(county, city)
    last = Mark(COUNTY, batches[-1].last_seq, batches[-1].batch_hash)
    assert target.marks([COUNTY, "371121"]) == [last, Mark("371121")]
    (status,) = target.status()
    assert (status.origin, status.high_water, status.records, status.quarantined) == (
        COUNTY,
        batches[-1].last_seq,
        batches[-1].last_seq,
        0,
    )
    assert target.status("3712") == []
    assert count(city, quarantine) == 0
    # the city holds the county's stream unchanged: the same outbox rows, the same batches
    assert rows(city, outbox) == rows(county, outbox)
    assert SqlBatchSource(city, CITY).batches_after(COUNTY, 0, ALL) == batches


def test_a_resent_batch_is_a_harmless_duplicate(county: Engine, city: Engine) -> None:
    batches = sealed(county, max_records=7)
    target = sink(city)
    receive_all(target, batches[:3])
    before = snapshot(city)
    for b in batches[:3]:
        receipt = target.receive(COUNTY, b)
        assert receipt.duplicate
        assert receipt.mark == Mark(COUNTY, batches[2].last_seq, batches[2].batch_hash)
    assert snapshot(city) == before
    receive_all(target, batches[3:])
    assert_replica_equal(county, city)


def test_a_resent_seq_with_other_content_is_refused_as_divergent_and_writes_nothing(
    county: Engine, city: Engine
) -> None:
    """An origin restored from an old backup seals other records at seqs the receiver holds: the batch is compared
    with the receipt of the one applied there and refused (DIVERGENT), never acknowledged as a duplicate — whether
    it ends where a received batch ended or not."""
    batches = sealed(county, max_records=7)
    target = sink(city)
    receive_all(target, batches[:3])
    before = snapshot(city)
    records = outbox_records(county)
    changed = [dataclasses.replace(r, payload=r.payload + b" ") for r in records[:14]]
    same_bounds = rechain(COUNTY, changed, 7)[1]  # seqs 8–14, another hash
    other_bounds = rechain(COUNTY, changed, 5)[1]  # seqs 6–10
    for bad in (same_bounds, other_bounds):
        with pytest.raises(BatchRefused) as caught:
            target.receive(COUNTY, bad)
        assert caught.value.reason == RefusalReason.DIVERGENT.value
        assert "已以不同内容接收过" in caught.value.message
    assert snapshot(city) == before
    assert target.receive(COUNTY, batches[1]).duplicate  # the batch really received still is a duplicate


def _bad_batches(batches: Sequence[Batch]) -> dict[str, tuple[Batch, str]]:
    b1, b2, b3 = batches[1], batches[2], batches[3]
    first = b2.records[0]
    tampered = dataclasses.replace(first, payload=first.payload.replace(b'"case_no":"', b'"case_no":"X', 1))
    not_utf8 = dataclasses.replace(first, payload=b'{"\xff":1}')
    return {
        "gap": (b3, "gap"),
        "reorder": (seal_batch(COUNTY, b1.prev_hash, [*b1.records[-2:], *b2.records]), "reorder"),
        "broken chain": (seal_batch(COUNTY, b"\x01" * 32, b2.records), "broken_chain"),
        "tampered": (dataclasses.replace(b2, records=(tampered, *b2.records[1:])), "bad_hash"),
        "not UTF-8": (seal_batch(COUNTY, b2.prev_hash, [not_utf8, *b2.records[1:]]), "malformed"),
        "own origin": (seal_batch(CITY, ZERO_HASH, [first]), "not_allowed"),
        "bad origin": (seal_batch("12345", ZERO_HASH, [first]), "malformed"),
    }


def test_gaps_reorders_broken_chains_and_tampering_are_refused_and_write_nothing(county: Engine, city: Engine) -> None:
    batches = sealed(county, max_records=7)
    target = sink(city)
    receive_all(target, batches[:2])
    before = snapshot(city)
    for name, (bad, reason) in _bad_batches(batches).items():
        with pytest.raises(BatchRefused) as refused:
            target.receive(COUNTY, bad)
        assert refused.value.reason == reason, name
        assert refused.value.high_water == (batches[1].last_seq if bad.origin == COUNTY else 0)
        assert refused.value.message
        assert snapshot(city) == before, name
    receive_all(target, batches[2:])  # the stream resumes where it was
    assert_replica_equal(county, city)


def test_a_sender_outside_the_allow_list_is_refused(county: Engine, city: Engine) -> None:
    batches = sealed(county, max_records=7)
    target = sink(city, allow=lambda sender, origin: origin.startswith(sender[:4]))
    with pytest.raises(BatchRefused) as refused:
        target.receive("371300", batches[0])
    assert refused.value.reason == "not_allowed"
    assert count(city, replication_marks) == 0
    assert target.receive(COUNTY, batches[0]).mark.high_water == batches[0].last_seq


# -- poison records, quarantine, replay --------------------------------------------------------------------------


def _poisoned_stream(records: Sequence[Record]) -> tuple[list[Record], dict[str, Record]]:
    """The county's records with three records spoiled in place (same seq): a case of another division, an event
    that is not JSON, a record of a type nobody handles. Also an intermediate snapshot that is not JSON."""
    by_case: dict[str, list[int]] = {}
    for i, r in enumerate(records):
        if r.record_type == "case":
            by_case.setdefault(r.record_id, []).append(i)
    busy = sorted(by_case.values(), key=len)[-2:]  # the two cases with the most snapshots
    foreign_at, stale_at = busy[0][1], busy[1][1]  # intermediate snapshots: the cases exist before and after
    event_at = foreign_at + 1
    unknown_at = stale_at + 3
    out = list(records)
    foreign_no = "371121" + records[foreign_at].record_id[6:]
    out[foreign_at] = dataclasses.replace(
        records[foreign_at],
        record_id=foreign_no,
        payload=records[foreign_at].payload.replace(records[foreign_at].record_id.encode(), foreign_no.encode()),
    )
    out[event_at] = dataclasses.replace(records[event_at], payload=b'{"case_no": "broken')
    out[stale_at] = dataclasses.replace(records[stale_at], payload=b"[")
    out[unknown_at] = dataclasses.replace(records[unknown_at], record_type="alarm")
    assert records[event_at].record_type == "case_event"
    assert records[unknown_at].record_type == "case_event"
    spoiled = {
        "foreign": out[foreign_at],
        "event": records[event_at],
        "stale": records[stale_at],
        "unknown": out[unknown_at],
    }
    return out, spoiled


def test_poison_records_are_quarantined_and_the_stream_goes_on(county: Engine, city: Engine) -> None:
    stream, spoiled = _poisoned_stream(outbox_records(county))
    batches = rechain(COUNTY, stream, 40)
    target = sink(city)
    with capture_logs() as logs:
        receipts = [target.receive(COUNTY, b) for b in batches]
    noted = [e for e in logs if e["event"] == "replication.quarantined"]
    assert len(noted) == 3
    assert all("payload" not in e and e["reason"] for e in noted)  # the payload may be personal: the table keeps it
    # the broken intermediate snapshot is followed in its batch by a later snapshot of the same case, which
    # carries the whole state: it is skipped unread, not quarantined
    assert sum(r.quarantined for r in receipts) == 3
    assert receipts[-1].mark == Mark(COUNTY, batches[-1].last_seq, batches[-1].batch_hash)

    service = QuarantineService(city, default_appliers())
    page = service.list()
    assert page.total == 3
    held = {q.seq: q for q in page.items}
    assert spoiled["stale"].origin_seq not in held
    foreign, event = held[spoiled["foreign"].origin_seq], held[spoiled["event"].origin_seq]
    unknown = held[spoiled["unknown"].origin_seq]
    assert "371121" in foreign.reason
    assert "不能由 371122 发送" in foreign.reason
    assert "JSON" in event.reason
    assert event.payload == '{"case_no": "broken'
    assert "未知的记录类型" in unknown.reason
    assert all(q.state is QuarantineState.HELD and q.origin == COUNTY for q in page.items)
    assert target.status()[0].quarantined == 3
    # everything else applied: the city equals the county but for the event still in quarantine, and the
    # record of an unknown type; the stale snapshot was superseded by the case's later ones anyway
    assert_replica_equal(county, city, skip_events=[spoiled["event"].record_id, spoiled["unknown"].record_id])

    # the admin fixes the event and replays it
    with pytest.raises(ValidationError):
        service.fix(event.id, "{not json")
    service.fix(event.id, spoiled["event"].payload.decode())
    assert service.replay(event.id).state is QuarantineState.REPLAYED
    # a record that is still wrong stays held, with the reason; then it is discarded
    with pytest.raises(RecordRejected, match="不能由 371122 发送"):
        service.replay(foreign.id)
    assert service.get(foreign.id).state is QuarantineState.HELD
    discarded = service.discard(foreign.id, "县级节点误报，已通知县里重发")
    assert discarded.state is QuarantineState.DISCARDED
    assert "已通知县里重发" in discarded.reason
    assert discarded.resolved_at is not None
    with pytest.raises(Conflict):
        service.replay(foreign.id)
    with pytest.raises(RecordRejected, match="未知的记录类型"):
        service.replay(unknown.id)
    service.discard(unknown.id, "无此类型")
    with pytest.raises(NotFound):
        service.get(10**6)

    assert_replica_equal(county, city, skip_events=[spoiled["unknown"].record_id])
    assert service.list().total == 0
    assert service.list(QuarantineState.REPLAYED).total == 1
    assert [q.id for q in service.list(None, page=2, page_size=2).items] == [event.id]  # ids in order
    with pytest.raises(ValidationError):
        service.list("lost")


def test_an_older_snapshot_never_overwrites_a_newer_one(county: Engine, city: Engine) -> None:
    records = outbox_records(county)
    receive_all(sink(city), sealed(county, max_records=50))
    before = rows(city, cases)
    applier = CaseApplier()
    snapshots = [r for r in records if r.record_type == "case"]
    first_of_each = {r.record_id: r for r in reversed(snapshots)}.values()
    with UnitOfWork(city) as uow:
        items = [Prepared(r, applier.prepare(COUNTY, r, __import__("json").loads(r.payload))) for r in first_of_each]
        assert applier.apply(uow.conn, COUNTY, items) == []
        uow.commit()
    assert rows(city, cases) == before


class _SettingsApplier:
    """A test record type ``setting`` written to ``node_settings``: a duplicate key violates the primary key."""

    def prepare(self, origin: str, record: Record, payload: Any) -> dict[str, str]:
        if payload.get("explode"):
            raise RuntimeError("a bug, not a poison record")
        return {"key": record.record_id, "value": str(payload["value"])}

    def apply(self, conn: Connection, origin: str, items: Sequence[Prepared[dict[str, str]]]) -> Sequence[Rejection]:
        conn.execute(insert(node_settings), [i.value for i in items])
        return []


def _setting(seq: int, key: str, value: Any) -> Record:
    return Record("setting", key, "insert", seq, ("{" + f'"value":{value}' + "}").encode(), 0)


def test_a_bulk_write_the_database_refuses_is_retried_record_by_record(city: Engine) -> None:
    appliers: dict[str, Applier[Any]] = {"setting": _SettingsApplier()}
    target = SqlBatchSink(city, CITY, appliers, relay=False)
    batch = seal_batch(COUNTY, ZERO_HASH, [_setting(1, "a", 1), _setting(2, "b", 2), _setting(3, "a", 3)])
    receipt = target.receive(COUNTY, batch)
    assert receipt.quarantined == 1
    with city.connect() as conn:
        stored = conn.execute(
            select(node_settings.c.key, node_settings.c.value).where(node_settings.c.key.in_(["a", "b"]))
        ).all()
        assert dict(stored) == {"a": "1", "b": "2"}
        (held,) = conn.execute(select(quarantine)).all()
    assert held.seq == 3
    assert held.reason.startswith("写入失败")
    assert count(city, outbox) == 0  # relay=False: no copy of the stream
    assert count(city, batch_log) == 0


def test_a_failure_that_is_not_the_records_fault_rolls_back_the_whole_batch(city: Engine) -> None:
    target = SqlBatchSink(city, CITY, {"setting": _SettingsApplier()}, relay=True)
    batch = seal_batch(COUNTY, ZERO_HASH, [_setting(1, "a", 1), _setting(2, "b", '1, "explode": true')])
    before = snapshot(city)
    with pytest.raises(RuntimeError):
        target.receive(COUNTY, batch)
    assert snapshot(city) == before
    assert target.marks([COUNTY]) == [Mark(COUNTY)]


# -- relay --------------------------------------------------------------------------------------------------------


def test_a_city_relays_the_county_stream_unchanged_and_the_province_ends_equal(
    county: Engine, clones: Callable[[str], Engine]
) -> None:
    city, province = clones("node"), clones("node")
    batches = sealed(county, max_records=9, signer=lambda digest: (b"county-signature:" + digest[:8], (b"chain",)))
    receive_all(sink(city, CITY), batches)

    relay = SqlBatchSource(city, CITY, max_records=500)
    assert relay.seal() == 0  # the city's own outbox is empty; the county's records are not the city's
    assert relay.origins() == [CITY, COUNTY]
    forwarded: list[Batch] = []
    while True:  # as a sender does: from the receiver's mark, a window at a time
        hw = forwarded[-1].last_seq if forwarded else 0
        window = relay.batches_after(COUNTY, hw, 4)
        if not window:
            break
        forwarded.extend(window)
    assert forwarded == batches  # same boundaries, records, hashes and the county's signatures

    receive_all(sink(province, PROVINCE), forwarded, sender=CITY)
    assert_replica_equal(county, province)
    assert rows(province, batch_log)[0][:7] == rows(city, batch_log)[0][:7]
