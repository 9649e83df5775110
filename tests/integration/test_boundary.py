"""The boundary policy on real replication, SQLite and PostgreSQL: a county's records sealed from its outbox, received
by a city with the city's appliers and relayed to the province. The province's database, read directly (every
table, every column, the relayed batches too), never holds an unmasked ID number, 统一社会信用代码, phone number or
applicant name; a field the policy does not list never crosses; a record type it does not allow is refused at the
county — the county's own write commits — counted, audited once, and shown by the boundary report."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, select

from city_aggregator.bootstrap import replication_appliers as city_appliers
from county_node.approval.domain import Action
from county_node.approval.services import ApprovalService
from county_node.bootstrap import CountyNode, assemble_county_node
from county_node.bootstrap import replication_appliers as county_appliers
from federation.audit import StoredEntry
from federation.boundary import default_boundary_policy
from federation.config import Config, DatabaseConfig, NodeConfig, ReplicationConfig
from federation.standards import StandardsBundle
from federation.storage import outbox as outbox_store
from federation.storage.audit_log import read_entries
from federation.storage.boundary_report import boundary_report
from federation.storage.engine import engine_from_config, make_engine
from federation.storage.standards_store import current_bundle
from federation.storage.tables import boundary_refusals, cases, complaints, metadata, outbox, quarantine
from federation.storage.uow import UnitOfWork
from federation.timeutil import CST
from migrations.runner import upgrade
from province_center.bootstrap import replication_appliers as province_appliers
from province_center.standards import publish_standards
from sync_agent.domain import Mark
from sync_agent.runtime import Agent, build_agent, start_receiver
from sync_agent.server import RunningServer
from sync_agent.store import SqlBatchSink, SqlBatchSource
from tests.conftest import FakeClock, create_pg_database
from tests.integration.test_cli import init, ok, sunshine
from tests.integration.test_replication_runtime import wait_for

COUNTY, CITY, PROVINCE = "371122", "371100", "370000"
SOLE_TRADER = "XK00002000"  # 个体工商户设立登记, key data 经营者身份证号
FOOD = "XK00003000"  # key data 统一社会信用代码; 经营场所
ID_NUMBER = "370122199001011234"
CREDIT_CODE = "91371122MA3C000001"
PHONE = "13812345678"
APPLICANT = "欧阳明远"
ALL = 10**6


@dataclasses.dataclass
class Tiers:
    county: CountyNode
    clock: FakeClock
    city: Engine
    province: Engine

    def __post_init__(self) -> None:
        self.source = SqlBatchSource(self.county.engine, COUNTY, max_records=7)
        self.city_sink = SqlBatchSink(self.city, CITY, city_appliers(), relay=True)
        self.province_sink = SqlBatchSink(self.province, PROVINCE, province_appliers(), relay=False)

    def ship(self) -> None:
        self.source.seal()
        (mark,) = self.city_sink.marks([COUNTY])
        for b in self.source.batches_after(COUNTY, mark.high_water, ALL):
            assert self.city_sink.receive(COUNTY, b).mark == Mark(COUNTY, b.last_seq, b.batch_hash)
        (mark,) = self.province_sink.marks([COUNTY])
        for b in SqlBatchSource(self.city, CITY).batches_after(COUNTY, mark.high_water, ALL):
            assert self.province_sink.receive(CITY, b).mark.high_water == b.last_seq


@pytest.fixture
def tiers(engine: Engine, bundle: StandardsBundle, clock: FakeClock, tmp_path: Path) -> Iterator[Tiers]:
    drops = []
    engines = []
    for name in ("city", "province"):
        if engine.dialect.name == "sqlite":
            url = f"sqlite:///{tmp_path / f'{name}.db'}"
        else:
            url, drop = create_pg_database()
            drops.append(drop)
        tier = make_engine(url)
        upgrade(tier)
        ApprovalService(tier, CITY if name == "city" else PROVINCE, clock).apply_standards(bundle)
        engines.append(tier)
    county = assemble_county_node(Config(node=NodeConfig(division=COUNTY, name="莒县")), engine, clock)
    county.approval.apply_standards(bundle)
    try:
        yield Tiers(county, clock, engines[0], engines[1])
    finally:
        for tier in engines:
            tier.dispose()
        for drop in drops:
            drop()


def everything_held(engine: Engine) -> str:
    """Every value of every table of a node's database, as one text (the relayed batches and the quarantine too)."""
    parts: list[str] = []
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            for row in conn.execute(select(table)):
                parts.extend(json.dumps(v, ensure_ascii=False, default=str) for v in row)
                parts.extend(v.decode("utf-8", "replace") for v in row if isinstance(v, bytes))
    return "\n".join(parts)


def the_hall_at_work(t: Tiers) -> dict[str, str]:
    """Cases with an applicant's ID number and credit code as key data, and ID and phone numbers in free text."""
    node, clock = t.county, t.clock
    clock.now = datetime(2026, 9, 21, 10, tzinfo=CST)
    trader = node.approval.submit(
        item_code=SOLE_TRADER, applicant=APPLICANT, data={"经营者身份证号": ID_NUMBER}, actor="窗口 1"
    )
    food = node.approval.submit(
        item_code=FOOD,
        applicant=APPLICANT,
        data={"统一社会信用代码": CREDIT_CODE, "经营场所": "莒县城阳街道 1 号"},
        actor="窗口 2",
    )
    node.approval.act(food.case_no, Action.ACCEPT, actor="窗口 2")
    node.approval.act(
        food.case_no, Action.REQUEST_CORRECTION, actor="窗口 2", params={"reason": f"请补充联系电话 {PHONE} 的机主证明"}
    )
    complaint = node.supervision.file_complaint(
        target="case",
        target_id=food.case_no,
        complainant=APPLICANT,
        content=f"身份证 {ID_NUMBER}，电话 {PHONE}，办理太慢",
        actor="受理员",
    )
    rating = node.supervision.rate(case_no=trader.case_no, staff="窗口 1", level=2, comment=f"回电 {PHONE}")
    return {
        "trader": trader.case_no,
        "food": food.case_no,
        "complaint": complaint.complaint_id,
        "rating": rating.rating_id,
    }


def test_the_province_never_holds_an_unmasked_id_phone_or_name(tiers: Tiers) -> None:
    t = tiers
    ids = the_hall_at_work(t)
    # free text in a history entry too: the answer is kept in the complaint's history, the follow-up in the rating's
    t.county.supervision.answer_complaint(
        ids["complaint"], answer=f"已回电 {PHONE}，核对身份证 {ID_NUMBER}", actor="科长"
    )
    t.county.supervision.follow_up(ids["rating"], note=f"已回访 {PHONE}", actor="科长")
    t.ship()

    # the county keeps everything
    county_text = everything_held(t.county.engine)
    assert ID_NUMBER in county_text
    assert PHONE in county_text
    assert APPLICANT in county_text

    for tier in (t.city, t.province):
        held = everything_held(tier)
        for secret in (ID_NUMBER, CREDIT_CODE, PHONE, APPLICANT):
            assert secret not in held, (tier.url, secret)
        with tier.connect() as conn:
            case = conn.execute(select(cases.c.applicant, cases.c.data).where(cases.c.case_no == ids["trader"])).one()
            complaint = conn.execute(
                select(complaints.c.complainant, complaints.c.content).where(
                    complaints.c.complaint_id == ids["complaint"]
                )
            ).one()
            held_in_quarantine = conn.execute(select(quarantine.c.record_id)).all()
        assert (case.applicant, case.data) == ("欧***", {})
        assert complaint.complainant == "欧***"
        assert complaint.content == "身份证 370122********1234，电话 138****5678，办理太慢"
        assert held_in_quarantine == []  # the redacted records are ones the receivers apply


def test_a_field_the_policy_does_not_list_does_not_cross(tiers: Tiers) -> None:
    t = tiers
    ids = the_hall_at_work(t)
    # a newer county writer adds a field to the case record without a policy entry for it
    with UnitOfWork(t.county.engine) as uow:
        snapshot = t.county.approval.get(ids["trader"]).case.to_snapshot()
        (seq,) = outbox_store.append(
            uow.conn,
            origin=COUNTY,
            records=[outbox_store.OutboxRecord("case", ids["trader"], "upsert", snapshot | {"applicant_phone": PHONE})],
            created_at=t.clock.now,
        )
        uow.commit()
    assert seq > 0  # the record crosses …
    with t.county.engine.connect() as conn:
        payload = json.loads(conn.execute(select(outbox.c.payload).where(outbox.c.seq == seq)).scalar_one())
        refused = conn.execute(select(boundary_refusals)).mappings().all()
        audited = [(e.entry.target,) for e in refusal_entries(conn)]
    assert "applicant_phone" not in payload
    assert payload["applicant"] == "欧***"
    assert [(r["direction"], r["record_type"], r["field"], r["count"]) for r in refused] == [
        ("up", "case", "applicant_phone", 1)
    ]
    assert audited == [("up:case.applicant_phone",)]
    t.ship()
    for tier in (t.city, t.province):
        assert PHONE not in everything_held(tier)


def refusal_entries(conn: Connection) -> list[StoredEntry]:
    """The county's audit entries of boundary refusals (its chain is kept in its outbox: they cross too)."""
    return [e for e in read_entries(conn, COUNTY) if e.entry.action == "boundary.refuse"]


def bundle_without(bundle: StandardsBundle, record_type: str, version: str) -> StandardsBundle:
    policy = default_boundary_policy().to_dict()
    del policy["up"][record_type]
    return dataclasses.replace(bundle, version=version, boundary=policy)


def test_a_record_type_the_policy_does_not_allow_is_refused_counted_and_audited(tiers: Tiers) -> None:
    t = tiers
    ids = the_hall_at_work(t)
    t.county.approval.apply_standards(bundle_without(t.county.approval.standards.bundle, "complaint", "2026.09.2"))
    node = t.county
    first = node.supervision.file_complaint(
        target="window", target_id="3 号窗口", complainant="李四", content="态度差", actor="受理员"
    )
    second = node.supervision.file_complaint(
        target="window", target_id="3 号窗口", complainant="王五", content="等太久", actor="受理员"
    )
    node.supervision.answer_complaint(ids["complaint"], answer="已督促", actor="科长")
    t.ship()
    with node.engine.connect() as conn:
        held_here = {r[0] for r in conn.execute(select(complaints.c.complaint_id))}
        queued = {r[0] for r in conn.execute(select(outbox.c.record_id).where(outbox.c.record_type == "complaint"))}
        refused = conn.execute(select(boundary_refusals)).mappings().all()
        audited = [(e.entry.target, e.entry.detail) for e in refusal_entries(conn)]
        report = boundary_report(conn, COUNTY)
    # the county's own writes committed; none of them was queued up
    assert {first.complaint_id, second.complaint_id, ids["complaint"]} <= held_here
    assert queued == {ids["complaint"]}  # only the one filed before the policy changed
    assert [(r["direction"], r["record_type"], r["field"], r["count"], r["policy_version"]) for r in refused] == [
        ("up", "complaint", "", 3, "2026.09.2")
    ]
    assert len(audited) == 1
    assert audited[0][0] == "up:complaint"
    assert "2026.09.2" in audited[0][1]
    with t.province.connect() as conn:
        at_province = {r[0] for r in conn.execute(select(complaints.c.complaint_id))}
    assert at_province == {ids["complaint"]}  # the province still holds the first snapshot, nothing newer
    with t.province.connect() as conn:  # the refusal's audit entry crossed with the county's chain
        assert [e.entry.target for e in read_entries(conn, COUNTY) if e.entry.action == "boundary.refuse"] == [
            "up:complaint"
        ]
    (up,) = report.directions
    by_type = {r.record_type: r for r in up.types}
    assert (by_type["complaint"].allowed, by_type["complaint"].refused, by_type["complaint"].crossed) == (False, 3, 1)
    assert by_type["case"].allowed
    assert by_type["case"].crossed > 0
    assert ("applicant", "mask_name") in by_type["case"].redacted
    assert ("payload.data", "clear") in by_type["case_event"].redacted
    assert report.policy_version == "2026.09.2"


def test_the_report_lists_the_policy_in_force_and_every_type_of_its_direction(tiers: Tiers) -> None:
    t = tiers
    the_hall_at_work(t)
    with t.county.engine.connect() as conn:
        report = boundary_report(conn, COUNTY).to_dict()
    (up,) = report["directions"]
    assert up["direction"] == "up"
    assert report["default_policy"] is False
    assert report["policy_version"] == "2026.09.1"
    assert {r["record_type"] for r in up["types"]} >= {"case", "case_event", "complaint", "rating", "alert"}
    assert all(isinstance(r["crossed"], int) for r in up["types"])
    assert json.dumps(report, ensure_ascii=False)  # plain JSON


# -- over the real runtime: gRPC receivers and agents on loopback, province → city → county -----------------------


@dataclasses.dataclass
class Node:
    cfg: Config
    engine: Engine
    receiver: RunningServer
    agent: Agent | None = None


def _node_config(tmp: Path, division: str, url: str, **replication: Any) -> Config:
    d = tmp / division
    d.mkdir(exist_ok=True)
    return Config(
        node=NodeConfig(division=division, data_dir=str(d)),
        database=DatabaseConfig(url=url, sqlite_synchronous="normal"),
        replication=ReplicationConfig(linger_ms=10, **replication),
    )


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def running(request: pytest.FixtureRequest, tmp_path: Path, bundle: StandardsBundle) -> Iterator[dict[str, Node]]:
    """Province, city and county each with its receiver and its agent; the standards published at the province."""
    nodes: dict[str, Node] = {}
    drops = []
    appliers = {PROVINCE: province_appliers, CITY: city_appliers, COUNTY: county_appliers}
    try:
        for division in (PROVINCE, CITY, COUNTY):
            if request.param == "sqlite":
                url = f"sqlite:///{tmp_path / f'{division}.db'}"
            else:
                url, drop = create_pg_database()
                drops.append(drop)
            cfg = _node_config(tmp_path, division, url, listen="127.0.0.1:0")
            engine = engine_from_config(cfg)
            upgrade(engine)
            receiver = start_receiver(cfg, engine, appliers[division](), relay=division == CITY)
            nodes[division] = Node(cfg, engine, receiver)
        publish_standards(nodes[PROVINCE].engine, bundle, PROVINCE, lambda: datetime(2026, 9, 1, 8, tzinfo=CST))
        links: dict[str, dict[str, Any]] = {
            PROVINCE: {"downstream": (nodes[CITY].receiver.target,)},
            CITY: {"upstream": nodes[PROVINCE].receiver.target, "downstream": (nodes[COUNTY].receiver.target,)},
            COUNTY: {"upstream": nodes[CITY].receiver.target},
        }
        for division, node in nodes.items():
            node.cfg = _node_config(tmp_path, division, node.cfg.database.url, **links[division])
            node.agent = build_agent(node.cfg, engine=node.engine)
            node.agent.start()
        wait_for("the standards at the county", lambda: _version(nodes[COUNTY].engine) == bundle.version)
        yield nodes
    finally:
        for node in nodes.values():
            if node.agent is not None:
                node.agent.stop()
        for node in nodes.values():
            node.receiver.stop(grace=0.5)
            node.engine.dispose()
        for drop in drops:
            drop()


def _version(engine: Engine) -> str | None:
    with engine.connect() as conn:
        found = current_bundle(conn)
    return found.version if found else None


def test_over_grpc_the_province_database_holds_no_unmasked_id_phone_or_name(running: dict[str, Node]) -> None:
    county = running[COUNTY]
    clock = FakeClock(datetime(2026, 9, 21, 10, tzinfo=CST))
    node = assemble_county_node(county.cfg, county.engine, clock)
    t = Tiers(node, clock, running[CITY].engine, running[PROVINCE].engine)
    ids = the_hall_at_work(t)

    def arrived() -> bool:
        with running[PROVINCE].engine.connect() as conn:
            held = {r[0] for r in conn.execute(select(complaints.c.complaint_id))}
        return ids["complaint"] in held

    wait_for("the county's records at the province", arrived)
    for tier in (running[CITY].engine, running[PROVINCE].engine):
        held = everything_held(tier)
        for secret in (ID_NUMBER, CREDIT_CODE, PHONE, APPLICANT):
            assert secret not in held, (tier.url, secret)
        assert "欧***" in held
        assert "370122********1234" in held


# -- the operator's report --------------------------------------------------------------------------------------


def test_sunshine_admin_boundary_report(tmp_path: Path) -> None:
    data = tmp_path / "county"
    ok(init(data))
    config = ["--config", str(data / "sunshine.toml")]
    engine = make_engine(f"sqlite:///{data / 'node.db'}")
    try:
        moment = datetime(2026, 9, 21, 10, tzinfo=CST)
        svc = ApprovalService(engine, COUNTY, lambda: moment)
        svc.submit(item_code=SOLE_TRADER, applicant=APPLICANT, data={"经营者身份证号": ID_NUMBER}, actor="窗口 1")
        with UnitOfWork(engine) as uow:  # a record type the policy does not know
            outbox_store.append(
                uow.conn,
                origin=COUNTY,
                records=[outbox_store.OutboxRecord("applicant_register", "1", "upsert", {"name": APPLICANT})],
                created_at=moment,
            )
            uow.commit()
    finally:
        engine.dispose()
    text = ok(sunshine("admin", "boundary", "report", *config))
    assert f"节点 {COUNTY} 边界策略：标准版本" in text
    assert "上行（本级 → 上级）" in text
    assert "applicant_register，不允许：已放行 0 条，拒绝 1 条" in text  # a type without a name: its wire name
    assert "办件（case），允许：已放行 1 条，拒绝 0 条" in text
    assert "applicant（姓名脱敏）" in text
    assert "data（清空）" in text
    report = json.loads(ok(sunshine("admin", "boundary", "report", "--json", *config)))
    (up,) = report["directions"]
    by_type = {t["record_type"]: t for t in up["types"]}
    assert by_type["applicant_register"] == {
        "record_type": "applicant_register",
        "allowed": False,
        "crossed": 0,
        "redacted": [],
        "refused": 1,
        "dropped_fields": [],
    }
    assert APPLICANT not in json.dumps(report, ensure_ascii=False)
