"""Supervision records replicating up on SQLite and PostgreSQL: a county's alerts, complaints and ratings, made by
the real supervision service, sealed from its outbox, received by a city with the city's own appliers and relayed
to the province — rows equal at every tier, newer snapshots overwrite, older ones and duplicates never do, and a
forged or malformed record is quarantined with its reason while the rest of its batch applies."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, Table, select

from city_aggregator.bootstrap import replication_appliers as city_appliers
from county_node.approval.domain import Action
from county_node.approval.services import ApprovalService
from county_node.bootstrap import CountyNode, assemble_county_node
from county_node.supervision.adapters.replica import (
    ALERTS,
    COMPLAINTS,
    RATINGS,
    SnapshotApplier,
    supervision_appliers,
)
from federation.boundary import default_boundary_policy
from federation.config import Config, NodeConfig
from federation.errors import RecordRejected
from federation.replication import Prepared, Record
from federation.standards import StandardsBundle
from federation.storage import outbox as outbox_store
from federation.storage.engine import make_engine
from federation.storage.tables import alerts, cases, complaints, outbox, quarantine, ratings
from federation.storage.uow import UnitOfWork
from federation.timeutil import CST, to_us
from migrations.runner import upgrade
from province_center.bootstrap import replication_appliers as province_appliers
from sync_agent.domain import Batch, Mark
from sync_agent.store import SqlBatchSink, SqlBatchSource
from tests.conftest import FakeClock, create_pg_database

COUNTY, OTHER, CITY, PROVINCE = "371122", "371121", "371100", "370000"
FOOD = "XK00003000"  # promised 5 working days
FOOD_DATA = {"统一社会信用代码": "91371122MA3C000001", "经营场所": "莒县城阳街道 1 号"}
REPLICATED = (alerts, complaints, ratings)
ALL = 10**6


def at(year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=CST)


# -- three tiers of one backend ---------------------------------------------------------------------------------


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

    def ship(self) -> list[Batch]:
        """Seal the county's new outbox rows, receive them at the city and relay the city's copy to the province;
        the batches the county sent."""
        self.source.seal()
        (mark,) = self.city_sink.marks([COUNTY])
        sent = self.source.batches_after(COUNTY, mark.high_water, ALL)
        for b in sent:
            assert self.city_sink.receive(COUNTY, b).mark == Mark(COUNTY, b.last_seq, b.batch_hash)
        (mark,) = self.province_sink.marks([COUNTY])
        for b in SqlBatchSource(self.city, CITY).batches_after(COUNTY, mark.high_water, ALL):
            assert self.province_sink.receive(CITY, b).mark.high_water == b.last_seq
        return sent


@pytest.fixture
def tiers(engine: Engine, bundle: StandardsBundle, clock: FakeClock, tmp_path: Path) -> Iterator[Tiers]:
    """The county on the ``engine`` fixture (either backend); a city and the province on the same backend."""
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


def rows(engine: Engine, table: Table) -> list[dict[str, Any]]:
    """Every row, every column (``origin_seq`` too: a replica keeps the seq of the county's record), in key order.
    Read through the table's types: a JSON column compares as its value, whatever text the driver stored."""
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(table).order_by(*table.primary_key.columns)).mappings()]


_UP = default_boundary_policy().compile("").direction("up")
_RECORD_TYPES = {"alerts": "alert", "complaints": "complaint", "ratings": "rating"}


def as_crossed(table: Table, row: dict[str, Any]) -> dict[str, Any]:
    """A county row as the tiers above hold it: its text fields as the default boundary policy lets them cross
    (names masked, ID and phone numbers in free text masked)."""
    text = {k: v for k, v in row.items() if isinstance(v, str)}
    return row | _UP.screen(_RECORD_TYPES[table.name], text).payload


def assert_tiers_equal(t: Tiers) -> None:
    for table in REPLICATED:
        held = [as_crossed(table, r) for r in rows(t.county.engine, table)]
        assert held, table.name
        assert rows(t.city, table) == held, table.name
        assert rows(t.province, table) == held, table.name


def row_of(engine: Engine, table: Table, key: str) -> dict[str, Any]:
    with engine.connect() as conn:
        found = conn.execute(select(table).where(table.c[next(iter(table.primary_key.columns)).name] == key))
        return dict(found.mappings().one())


def outbox_records(engine: Engine, *types: str) -> list[Record]:
    with engine.connect() as conn:
        stmt = select(outbox).where(outbox.c.origin == COUNTY, outbox.c.record_type.in_(types)).order_by(outbox.c.seq)
        found = conn.execute(stmt).all()
    return [Record(r.record_type, r.record_id, r.op, r.seq, r.payload.encode(), to_us(r.created_at)) for r in found]


def hall_and_supervision(t: Tiers) -> dict[str, str]:
    """A case gone red, its alerts, two complaints and two ratings (one negative): what the county has to send."""
    node, clock = t.county, t.clock
    clock.now = at(2026, 9, 21, 10)
    case = node.approval.submit(item_code=FOOD, applicant="张三", data=FOOD_DATA, actor="窗口 1")
    clock.now += timedelta(minutes=10)
    node.approval.act(case.case_no, Action.ACCEPT, actor="窗口 1")
    with node.engine.connect() as conn:
        due = conn.execute(select(cases.c.idx_due_at).where(cases.c.case_no == case.case_no)).scalar_one()
    node.supervision.sweep(due)
    clock.now = due + timedelta(hours=1)
    with node.engine.connect() as conn:
        stmt = select(alerts.c.rule_id, alerts.c.alert_id).where(alerts.c.case_no == case.case_no)
        raised: dict[str, str] = dict(conn.execute(stmt).all())
    assert set(raised) == {"SUP-002", "SUP-003"}  # red, and never reviewed
    sup = node.supervision
    on_case = sup.file_complaint(
        target="case", target_id=case.case_no, complainant="张三", content="办理太慢", channel="12345", actor="受理员"
    )
    on_window = sup.file_complaint(
        target="window", target_id="3 号窗口", complainant="李四", content="态度差", actor="受理员"
    )
    good = sup.rate(case_no=case.case_no, staff="窗口 1", level=5, comment="很快")
    bad = sup.rate(case_no=case.case_no, staff="审批员", level=2, comment="反复补正")
    return {
        "case": case.case_no,
        "red": raised["SUP-002"],
        "unreviewed": raised["SUP-003"],
        "complaint": on_case.complaint_id,
        "window_complaint": on_window.complaint_id,
        "good": good.rating_id,
        "bad": bad.rating_id,
    }


# -- rows equal at every tier; newer snapshots overwrite --------------------------------------------------------


def test_supervision_records_reach_the_city_and_the_province_and_newer_snapshots_overwrite(tiers: Tiers) -> None:
    t = tiers
    ids = hall_and_supervision(t)
    t.ship()
    assert_tiers_equal(t)
    red = row_of(t.province, alerts, ids["red"])
    assert (red["status"], red["level"], red["light"], red["standing"]) == ("open", 0, "red", True)
    assert red["origin"] == COUNTY
    assert red["clock"] == row_of(t.county.engine, alerts, ids["red"])["clock"]  # JSON columns as JSON values
    assert [h["action"] for h in red["history"]] == ["raise"]
    assert row_of(t.province, ratings, ids["bad"])["status"] == "follow_up_pending"

    # after the first shipment: the red alert is escalated (not acknowledged in time), then acknowledged; the
    # complaint answered, the negative rating followed up
    sup = t.county.supervision
    ack_due = sup.get_alert(ids["red"]).ack_due_at
    assert ack_due is not None
    sup.sweep(ack_due)
    t.clock.now = ack_due + timedelta(hours=1)
    sup.act(ids["red"], "acknowledge", actor="李科长")
    sup.answer_complaint(ids["complaint"], answer="已督促办理", actor="科长")
    sup.follow_up(ids["bad"], note="已回访，申请人表示理解", actor="科长")
    sent = t.ship()
    assert sent  # the new snapshots travelled as batches of their own
    assert_tiers_equal(t)
    for tier in (t.city, t.province):
        red = row_of(tier, alerts, ids["red"])
        assert (red["status"], red["level"]) == ("acknowledged", 1)
        assert [h["action"] for h in red["history"]] == ["raise", "escalate", "acknowledge"]
        assert row_of(tier, complaints, ids["complaint"])["status"] == "answered"
        assert row_of(tier, ratings, ids["bad"])["status"] == "followed_up"
    for tier in (t.city, t.province):
        assert held_in_quarantine(tier) == {}


def held_in_quarantine(engine: Engine) -> dict[str, str]:
    """The supervision records held in a tier's quarantine: record id → reason."""
    stmt = select(quarantine.c.record_id, quarantine.c.reason).where(
        quarantine.c.record_type.in_(["alert", "complaint", "rating"]), quarantine.c.state == "held"
    )
    with engine.connect() as conn:
        return dict(conn.execute(stmt.order_by(quarantine.c.seq)).all())


# -- older snapshots and duplicates -------------------------------------------------------------------------------


def test_an_older_snapshot_never_overwrites_a_newer_one_and_duplicates_are_harmless(tiers: Tiers) -> None:
    t = tiers
    ids = hall_and_supervision(t)
    first = t.ship()
    sup = t.county.supervision
    sup.act(ids["red"], "acknowledge", actor="李科长")
    t.clock.now += timedelta(hours=1)
    sup.act(ids["red"], "urge", actor="县监察室", reason="请今日内办结")
    sup.answer_complaint(ids["complaint"], answer="已督促办理", actor="科长")
    t.ship()
    before = {table.name: rows(t.city, table) for table in REPLICATED}

    # every snapshot the county ever sent, oldest first, applied again straight through the appliers: the
    # older ones are ignored, the latest ones equal what is held — nothing changes
    records = outbox_records(t.county.engine, "alert", "complaint", "rating")
    appliers = supervision_appliers()
    with UnitOfWork(t.city) as uow:
        for record_type, applier in appliers.items():
            items = [
                Prepared(r, applier.prepare(COUNTY, r, json.loads(r.payload)))
                for r in records
                if r.record_type == record_type
            ]
            assert len(items) > 1
            assert applier.apply(uow.conn, COUNTY, items) == []
            # one snapshot at a time, the oldest last: still nothing
            for item in reversed(items):
                assert applier.apply(uow.conn, COUNTY, [item]) == []
        uow.commit()
    assert {table.name: rows(t.city, table) for table in REPLICATED} == before
    assert row_of(t.city, alerts, ids["red"])["status"] == "urged"

    # batches resent by the county are duplicates: nothing written
    for b in first:
        assert t.city_sink.receive(COUNTY, b).duplicate
    assert {table.name: rows(t.city, table) for table in REPLICATED} == before


def test_a_new_standing_alert_and_the_end_of_the_old_one_apply_in_either_order(tiers: Tiers) -> None:
    """At most one standing alert per subject and rule, at every tier: the snapshot where the old alert stops
    standing is written before the new standing one, whatever their order in the batch."""
    t = tiers
    ids = hall_and_supervision(t)
    t.ship()
    old = {k: v for k, v in row_of(t.city, alerts, ids["red"]).items() if k != "origin_seq"}
    new_id = f"{COUNTY}-A000000900"
    payloads = [  # the new one first
        {**old, "alert_id": new_id, "history": []},
        {**old, "standing": False, "status": "closed", "close_reason": "条件消除"},
    ]
    records = [
        _record("alert", p["alert_id"], json.loads(json.dumps(p, default=datetime.isoformat)), seq=1000 + i)
        for i, p in enumerate(payloads)
    ]
    applier = SnapshotApplier(ALERTS)
    with UnitOfWork(t.city) as uow:
        items = [Prepared(r, applier.prepare(COUNTY, r, json.loads(r.payload))) for r in records]
        assert applier.apply(uow.conn, COUNTY, items) == []
        uow.commit()
    assert row_of(t.city, alerts, new_id)["standing"]
    assert (row_of(t.city, alerts, ids["red"])["standing"], row_of(t.city, alerts, ids["red"])["origin_seq"]) == (
        False,
        1001,
    )


# -- forged and malformed records ----------------------------------------------------------------------------------


def _forge(t: Tiers, ids: dict[str, str]) -> dict[str, str]:
    """Outbox rows a conforming county never writes, appended to the county's own outbox between genuine writes
    (so they travel in the same batches as genuine records): record id → the reason expected for it."""
    county = t.county.engine
    red = {k: v for k, v in row_of(county, alerts, ids["red"]).items() if k != "origin_seq"}
    complaint = {k: v for k, v in row_of(county, complaints, ids["complaint"]).items() if k != "origin_seq"}
    rating = {k: v for k, v in row_of(county, ratings, ids["good"]).items() if k != "origin_seq"}
    foreign_id, foreign_case = f"{OTHER}-A000000001", f"{OTHER}-20260921-000001"
    forged = [
        # an alert of another county
        ("alert", foreign_id, {**red, "alert_id": foreign_id}),
        # a genuine alert's id (newer than the one held), the origin column of another county
        ("alert", ids["unreviewed"], {**red, "alert_id": ids["unreviewed"], "origin": OTHER}),
        # an alert about another county's case
        ("alert", f"{COUNTY}-A000000901", {**red, "alert_id": f"{COUNTY}-A000000901", "case_no": foreign_case}),
        # malformed: a required field missing, a level that is not an integer, a level out of range
        ("complaint", f"{COUNTY}-TS00000901", {**complaint, "complaint_id": f"{COUNTY}-TS00000901", "status": None}),
        ("alert", f"{COUNTY}-A000000902", {**red, "alert_id": f"{COUNTY}-A000000902", "level": "1"}),
        ("rating", f"{COUNTY}-PJ00000901", {**rating, "rating_id": f"{COUNTY}-PJ00000901", "level": 9}),
    ]
    with UnitOfWork(county) as uow:
        records = [outbox_store.OutboxRecord(kind, rid, "upsert", payload) for kind, rid, payload in forged]
        outbox_store.append(uow.conn, origin=COUNTY, records=records, created_at=t.clock())
        uow.commit()
    return {
        foreign_id: f"属于区划 {OTHER}，不能由 {COUNTY} 发送",
        ids["unreviewed"]: f"来源“{OTHER}”与批次来源 {COUNTY} 不符",
        f"{COUNTY}-A000000901": f"不属于区划 {COUNTY}",
        f"{COUNTY}-TS00000901": "缺少必填字段“status”",
        f"{COUNTY}-A000000902": "字段“level”应为整数",
        f"{COUNTY}-PJ00000901": "“level”取值“9”未知",
    }


def test_forged_and_malformed_records_are_quarantined_and_the_rest_of_the_batch_applies(tiers: Tiers) -> None:
    t = tiers
    ids = hall_and_supervision(t)
    t.ship()
    sup = t.county.supervision
    sup.act(ids["red"], "acknowledge", actor="李科长")  # genuine, before the forged records …
    expected = _forge(t, ids)
    t.clock.now += timedelta(hours=1)
    sup.answer_complaint(ids["complaint"], answer="已督促办理", actor="科长")  # … and after them
    t.source = SqlBatchSource(t.county.engine, COUNTY, max_records=50)  # all in one batch
    (batch,) = t.ship()
    before, *forged, after = batch.records  # the forged records travel between two genuine ones
    assert (before.record_id, after.record_id) == (ids["red"], ids["complaint"])
    assert {r.record_id for r in forged} == set(expected)

    # the genuine records applied: every tier equals the county, the forged ones changed nothing
    assert_tiers_equal(t)
    assert row_of(t.province, alerts, ids["red"])["status"] == "acknowledged"
    assert row_of(t.province, complaints, ids["complaint"])["status"] == "answered"
    for tier in (t.city, t.province):  # the city relays the batch unchanged: the province holds its own copy
        held = held_in_quarantine(tier)
        assert set(held) == set(expected)
        for record_id, reason in expected.items():
            assert reason in held[record_id], record_id


# -- prepare, record by record ------------------------------------------------------------------------------------


def _record(record_type: str, record_id: str, payload: Any, op: str = "upsert", seq: int = 7) -> Record:
    return Record(record_type, record_id, op, seq, json.dumps(payload).encode(), 0)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"rating_id": f"{COUNTY}-X1"}, "与记录编号"),
        ({"status": "lost"}, "“status”取值“lost”未知"),
        ({"negative": "yes"}, "应为 true 或 false"),
        ({"at": "2026-09-21T10:00:00"}, "缺少时区"),
        ({"history": "none"}, "JSON 对象或数组"),
        ({"case_no": "371122-2026"}, "格式错误"),
    ],
)
def test_prepare_refuses_a_mistyped_or_foreign_row_with_the_reason(change: dict[str, Any], reason: str) -> None:
    rating_id = f"{COUNTY}-PJ00000001"
    row = {
        "rating_id": rating_id,
        "origin": COUNTY,
        "case_no": f"{COUNTY}-20260921-000001",
        "staff": "窗口 1",
        "level": 5,
        "comment": None,
        "channel": "window",
        "at": at(2026, 9, 21, 10).isoformat(),
        "negative": False,
        "status": "recorded",
        "follow_up_limit_days": 3,
        "idx_due_at": None,
        "followed_up_at": None,
        "followed_up_by": None,
        "follow_up_note": None,
        "history": [],
        "updated_at": at(2026, 9, 21, 10).isoformat(),
    }
    applier = SnapshotApplier(RATINGS)
    prepared = applier.prepare(COUNTY, _record("rating", rating_id, row), row)
    assert prepared.origin_seq == 7
    assert prepared.row["at"] == at(2026, 9, 21, 10)
    bad = {**row, **change}
    with pytest.raises(RecordRejected, match=reason):
        applier.prepare(COUNTY, _record("rating", rating_id, bad), bad)
    with pytest.raises(RecordRejected, match="不支持操作"):
        applier.prepare(COUNTY, _record("rating", rating_id, row, op="insert"), row)
    with pytest.raises(RecordRejected, match="JSON 对象"):
        applier.prepare(COUNTY, _record("rating", rating_id, [row]), [row])


def test_the_upper_tiers_apply_the_supervision_record_types() -> None:
    for appliers in (city_appliers(), province_appliers()):
        assert {ALERTS.record_type, COMPLAINTS.record_type, RATINGS.record_type} <= set(appliers)
        assert list(appliers).index("case") < list(appliers).index("alert")
