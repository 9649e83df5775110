"""Orders (督办 / 催办) on SQLite and PostgreSQL: issued at a city or the province, carried down by the replication
store (sealed batches, the tiers' own appliers), acted on by the county on arrival, signed for (签收) and answered by
a person of the county, and the county's reply carried back up — plus every refusal, which writes nothing.

The county is a real node (approval + supervision) with a case gone red (``hall_and_supervision``); the city and
the province are databases on the same backend with their composition roots' appliers.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, Table, func, select

from city_aggregator.bootstrap import replication_appliers as city_appliers
from city_aggregator.orders import OrderDesk, OrdersContext
from county_node.approval.services import ApprovalService
from county_node.bootstrap import CountyNode, assemble_county_node
from county_node.bootstrap import replication_appliers as county_appliers
from county_node.entrypoints.supervision_schemas import alert_view
from county_node.supervision.adapters.order_replicas import ReplyApplier
from county_node.supervision.domain.alerts import Alert
from county_node.supervision.orders import CountyOrderApplier
from federation.config import Config, NodeConfig
from federation.errors import (
    AlertNotFound,
    CaseNotFound,
    Conflict,
    Forbidden,
    InvalidTransition,
    NotFound,
    RecordRejected,
    ValidationError,
)
from federation.replication import Prepared, Record
from federation.standards import StandardsBundle
from federation.storage import outbox as outbox_store
from federation.storage.engine import make_engine
from federation.storage.tables import alerts, counters, order_replies, orders, outbox, quarantine
from federation.storage.uow import UnitOfWork
from migrations.runner import upgrade
from province_center.bootstrap import replication_appliers as province_appliers
from sync_agent.store import SqlBatchSink, SqlBatchSource
from tests.conftest import FakeClock, create_pg_database
from tests.integration.test_supervision_replication import hall_and_supervision

COUNTY, OTHER, CITY, PROVINCE, OTHER_CITY = "371122", "371121", "371100", "370000", "371300"
ALL = 10**6
WATCHED = (orders, order_replies, outbox, counters, alerts)


@dataclasses.dataclass
class Tiers:
    """A county node, its city and the province on one backend, and the links between them as direct calls."""

    county: CountyNode
    clock: FakeClock
    city: Engine
    province: Engine

    def __post_init__(self) -> None:
        self.city_sink = SqlBatchSink(self.city, CITY, city_appliers(CITY), relay=True)
        self.province_sink = SqlBatchSink(self.province, PROVINCE, province_appliers(PROVINCE), relay=False)
        self.county_sink = SqlBatchSink(self.county.engine, COUNTY, county_appliers(self.county.approval), relay=False)

    @staticmethod
    def _deliver(source: Engine, origin: str, sink: SqlBatchSink, sender: str) -> None:
        (mark,) = sink.marks([origin])
        for b in SqlBatchSource(source, origin).batches_after(origin, mark.high_water, ALL):
            sink.receive(sender, b)

    def up(self) -> None:
        """The county's new records to the city and on to the province; the city's own records to the province."""
        SqlBatchSource(self.county.engine, COUNTY).seal()
        SqlBatchSource(self.city, CITY).seal()
        self._deliver(self.county.engine, COUNTY, self.city_sink, COUNTY)
        self._deliver(self.city, COUNTY, self.province_sink, CITY)
        self._deliver(self.city, CITY, self.province_sink, CITY)

    def down(self) -> None:
        """The province's new records to the city; the province's (relayed) and the city's to the county."""
        SqlBatchSource(self.province, PROVINCE).seal()
        SqlBatchSource(self.city, CITY).seal()
        self._deliver(self.province, PROVINCE, self.city_sink, PROVINCE)
        self._deliver(self.city, PROVINCE, self.county_sink, CITY)
        self._deliver(self.city, CITY, self.county_sink, CITY)

    def desk(self, node: str = CITY, scope: str = "") -> OrderDesk:
        engine = self.city if node == CITY else self.province
        return OrderDesk(OrdersContext(engine, node, self.clock, scope))


@pytest.fixture
def tiers(engine: Engine, bundle: StandardsBundle, clock: FakeClock, tmp_path: Path) -> Iterator[Tiers]:
    drops, engines = [], []
    for name, division in (("city", CITY), ("province", PROVINCE)):
        if engine.dialect.name == "sqlite":
            url = f"sqlite:///{tmp_path / f'{name}.db'}"
        else:
            url, drop = create_pg_database()
            drops.append(drop)
        tier = make_engine(url)
        upgrade(tier)
        ApprovalService(tier, division, clock).apply_standards(bundle)
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


@pytest.fixture
def red(tiers: Tiers) -> dict[str, str]:
    """A red alert (and a never-reviewed one) raised at the county and held by the city and the province."""
    ids = hall_and_supervision(tiers)
    tiers.up()
    return ids


def snapshot(engine: Engine, tables: tuple[Table, ...] = WATCHED) -> dict[str, list[tuple[Any, ...]]]:
    with engine.connect() as conn:
        return {t.name: [tuple(r) for r in conn.execute(select(t).order_by(*t.primary_key.columns))] for t in tables}


def row(engine: Engine, table: Table, key: str) -> dict[str, Any]:
    pk = next(iter(table.primary_key.columns))
    with engine.connect() as conn:
        return dict(conn.execute(select(table).where(pk == key)).mappings().one())


def held_rows(engine: Engine, table: Table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def quarantined(engine: Engine) -> dict[str, str]:
    stmt = select(quarantine.c.record_id, quarantine.c.reason).where(
        quarantine.c.record_type.in_(["order", "order_reply"]), quarantine.c.state == "held"
    )
    with engine.connect() as conn:
        return dict(conn.execute(stmt.order_by(quarantine.c.seq)).all())


def outbox_types(engine: Engine, origin: str) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        stmt = select(outbox.c.record_type, outbox.c.record_id).where(outbox.c.origin == origin)
        return [(r.record_type, r.record_id) for r in conn.execute(stmt.order_by(outbox.c.seq))]


# -- issuing: refusals write nothing ----------------------------------------------------------------------------


def test_refused_orders_write_nothing(tiers: Tiers, red: dict[str, str]) -> None:
    t = tiers
    # an alert closed at the county (its closed snapshot reached the city)
    t.county.supervision.act(red["unreviewed"], "close", actor="县监察室", reason="已核实，属正常审查")
    t.up()
    before = snapshot(t.city)
    desk = t.desk()
    good = {"kind": "supervise", "reason": "超期未办结", "issued_by": "王处长"}
    refusals: list[tuple[dict[str, Any], type[Exception], str]] = [
        ({"subject_id": f"{COUNTY}-A000009999"}, AlertNotFound, "未找到预警"),
        ({"subject_id": red["unreviewed"]}, InvalidTransition, "已关闭，不能督办"),
        ({"subject_id": red["red"], "reason": "  "}, ValidationError, "缺少督办原因"),
        ({"subject_id": red["red"], "issued_by": ""}, ValidationError, "缺少下发人"),
        ({"subject_id": red["red"], "kind": "scold"}, ValidationError, "未知的指令类型“scold”"),
        ({"subject_id": red["red"], "subject_kind": "window"}, ValidationError, "未知的督办对象类型"),
        ({"subject_id": red["red"], "reply_limit_days": -1}, ValidationError, "办复时限"),
        ({"subject_id": red["red"], "reply_limit_days": True}, ValidationError, "办复时限"),
        ({"subject_id": f"{COUNTY}-20260921-999999", "subject_kind": "case"}, CaseNotFound, "未找到办件"),
    ]
    for change, error, message in refusals:
        with pytest.raises(error, match=message):
            desk.issue(**{**good, **change})
    # outside the caller's scope: a city inspector narrowed to another county of the city
    # (403, the same answer for an id that exists and one that does not: nothing is revealed)
    for subject in (red["red"], f"{COUNTY}-A999999999"):
        with pytest.raises(Forbidden, match=f"不在您的监察范围（区划代码以 {OTHER} 开头）内"):
            t.desk(scope=OTHER).issue(subject_id=subject, **good)
    assert snapshot(t.city) == before
    # contexts that cannot issue at all
    with pytest.raises(ValidationError, match="县级区划"):
        OrdersContext(t.city, COUNTY)
    with pytest.raises(ValidationError, match="不在本节点 371100 的辖区内"):
        OrdersContext(t.city, CITY, scope="3713")


# -- down, received and acted on, answered, back up ------------------------------------------------------------


def test_a_city_order_is_received_acted_on_answered_and_seen_answered_by_the_city(  # noqa: PLR0915 - one story
    tiers: Tiers, red: dict[str, str]
) -> None:
    t = tiers
    t.clock.now += timedelta(hours=1)
    desk = t.desk()
    issued = desk.issue(
        subject_id=red["red"],
        kind="supervise",
        reason="超期未办结，请三日内办结",
        issued_by="王处长",
        reply_limit_days=3,
    )
    order_id = issued["order_id"]
    assert order_id == f"{CITY}-OD00000001"
    assert (issued["county"], issued["case_no"], issued["status"]) == (COUNTY, red["case"], "issued")
    assert (issued["reply_status"], issued["reply_label"]) == ("pending", "待签收")
    assert issued["reply_due_at"] is not None
    assert issued["reply_due_at"] > issued["issued_at"]
    assert outbox_types(t.city, CITY)[-1] == ("order", order_id)
    with t.city.connect() as conn:
        assert row(t.city, orders, order_id)["origin_seq"] == outbox_store.high_water(conn, CITY)

    t.clock.now += timedelta(minutes=5)
    t.down()
    # the county holds the order, the alert is supervised by the issuer, and nobody has signed for it yet: the
    # node signs for nothing itself (issue 15), the order waits for a person's 签收
    held = row(t.county.engine, orders, order_id)
    assert (held["issuer"], held["kind"], held["status"]) == (CITY, "supervise", "issued")
    assert t.county.orders.get(order_id)["reply_status"] == "pending"
    alert = t.county.supervision.get_alert(red["red"])
    assert alert.status.value == "supervised"
    last = alert.history[-1]
    assert (last["action"], last["actor"]) == ("supervise", f"王处长（{CITY}）")
    assert order_id in last["reason"]
    assert (last["order_id"], last["order_level"]) == (order_id, 1)
    # issue 17: the alert shows the tier that supervised it (市级), recorded by the county in its own alert with
    # the order id, while its own escalation level stays what the county's sweep made it
    assert (alert.level, alert.supervision_level, alert.supervising_order) == (0, 1, order_id)
    county_view = alert_view(alert)
    assert (county_view["level_label"], county_view["supervising_order"]) == ("市级", order_id)
    assert outbox_types(t.county.engine, COUNTY)[-1] == ("alert", red["red"])
    assert quarantined(t.county.engine) == {}

    # delivered again (a resend) or redelivered: nothing more happens
    before = snapshot(t.county.engine)
    t.down()
    assert snapshot(t.county.engine) == before
    t.up()
    assert desk.get(order_id)["reply_label"] == "待签收"

    # a person of the county signs for it (with its outbox record); once
    t.clock.now += timedelta(minutes=5)
    received = t.county.orders.receive(order_id, by="王海燕（监察员，supervisor）")
    assert received["reply_status"] == "received"
    reply = row(t.county.engine, order_replies, order_id)
    assert (reply["county"], reply["status"], reply["received_at"]) == (COUNTY, "received", t.clock.now)
    assert [(h["action"], h["actor"], h["reason"]) for h in reply["history"]] == [
        ("receive", "王海燕（监察员，supervisor）", "")
    ]
    assert outbox_types(t.county.engine, COUNTY)[-1] == ("order_reply", order_id)
    with pytest.raises(InvalidTransition, match="不能重复签收"):
        t.county.orders.receive(order_id, by="王海燕（监察员，supervisor）")

    # back up: the city sees 已签收, then the county answers (and signs for the alert), the city sees 已办复
    t.up()
    assert desk.get(order_id)["reply_label"] == "已签收"
    assert row(t.city, alerts, red["red"])["status"] == "supervised"
    # what replicated up says 市级 too: the city's replica of the alert carries the county's record of the order
    assert alert_view(Alert.from_row(row(t.city, alerts, red["red"])))["level_label"] == "市级"
    t.clock.now += timedelta(hours=2)
    answered = t.county.orders.answer(
        order_id, by="县政务服务中心 李科长", answer="已于当日办结，并约谈经办人", acknowledge=True
    )
    assert answered["reply_status"] == "answered"
    alert = t.county.supervision.get_alert(red["red"])
    assert (alert.status.value, alert.acknowledged_at) == ("supervised", t.clock.now)
    with pytest.raises(InvalidTransition, match="不能重复办复"):
        t.county.orders.answer(order_id, by="李科长", answer="再次办复")
    t.up()
    for engine, node in ((t.city, CITY), (t.province, PROVINCE)):
        seen = OrderDesk(OrdersContext(engine, node, t.clock)).get(order_id)
        assert (seen["reply_label"], seen["issuer"]) == ("已办复", CITY)
        assert seen["reply"] is not None
        assert seen["reply"]["answered_by"] == "县政务服务中心 李科长"
        assert seen["reply"]["answer"] == "已于当日办结，并约谈经办人"
        assert seen["reply"]["answered_at"] is not None
        assert [h["action"] for h in seen["reply"]["history"]] == ["receive", "answer"]
        assert quarantined(engine) == {}
    assert row(t.province, order_replies, order_id) == row(t.county.engine, order_replies, order_id)
    page = desk.list(reply="answered")
    assert [o["order_id"] for o in page["items"]] == [order_id]
    assert desk.list(reply="pending")["total"] == 0

    # the issuer closes it; ids stay gap-free after a refused attempt
    with pytest.raises(ValidationError):
        desk.issue(subject_id=red["red"], kind="urge", reason="", issued_by="王处长")
    second = desk.issue(subject_id=red["case"], subject_kind="case", kind="urge", reason="请加快", issued_by="王处长")
    assert second["order_id"] == f"{CITY}-OD00000002"
    closed = desk.close(order_id, actor="王处长", reason="办复满意")
    assert closed["status"] == "closed"
    with pytest.raises(InvalidTransition, match="不能撤回"):
        desk.withdraw(order_id, actor="王处长", reason="误发")


def test_a_province_order_reaches_the_county_through_the_city_and_its_answer_the_province(
    tiers: Tiers, red: dict[str, str]
) -> None:
    t = tiers
    province = t.desk(PROVINCE)
    order_id = province.issue(subject_id=red["red"], kind="urge", reason="请尽快办结", issued_by="省监察室")["order_id"]
    assert order_id == f"{PROVINCE}-OD00000001"
    t.down()
    assert row(t.city, orders, order_id)["issuer"] == PROVINCE  # the city holds what it relays
    urged = t.county.supervision.get_alert(red["red"])
    assert urged.status.value == "urged"
    assert alert_view(urged)["level_label"] == "省级"  # a province order: 省级, whichever tier relayed it
    t.county.orders.answer(order_id, by="李科长", answer="已办结")  # not signed for yet: the same person signs too
    t.up()
    seen = province.get(order_id)
    assert seen["reply_label"] == "已办复"
    assert seen["reply"] is not None
    assert [(h["action"], h["actor"]) for h in seen["reply"]["history"]] == [
        ("receive", "李科长"),
        ("answer", "李科长"),
    ]
    # the city sees the province's order on its county, but only the issuer may withdraw it
    city = t.desk()
    assert city.get(order_id)["reply_label"] == "已办复"
    with pytest.raises(Conflict, match="只有下发机关可以撤回"):
        city.withdraw(order_id, actor="王处长", reason="不需要")
    # a scope that excludes the county does not see it
    with pytest.raises(NotFound):
        t.desk(PROVINCE, scope="3713").get(order_id)
    assert t.desk(PROVINCE, scope="3713").list()["total"] == 0


def test_an_order_on_an_alert_closed_meanwhile_is_signed_for_and_the_alert_left_alone(
    tiers: Tiers, red: dict[str, str]
) -> None:
    t = tiers
    order_id = t.desk().issue(subject_id=red["red"], kind="urge", reason="请办结", issued_by="王处长")["order_id"]
    t.county.supervision.act(red["red"], "close", actor="县监察室", reason="已办结")  # before the order arrives
    t.down()
    assert t.county.supervision.get_alert(red["red"]).status.value == "closed"
    t.county.orders.receive(order_id, by="王海燕（监察员，supervisor）")
    reply = row(t.county.engine, order_replies, order_id)
    assert reply["status"] == "received"
    assert reply["history"][0]["actor"] == "王海燕（监察员，supervisor）"
    assert "预警未催办" in reply["history"][0]["reason"]


def test_withdrawn_orders_newer_snapshots_win_and_a_withdrawn_order_cannot_be_answered(
    tiers: Tiers, red: dict[str, str]
) -> None:
    t = tiers
    desk = t.desk()
    first = desk.issue(subject_id=red["red"], kind="urge", reason="请办结", issued_by="王处长")["order_id"]
    t.down()
    t.county.orders.receive(first, by="王海燕（监察员，supervisor）")
    desk.withdraw(first, actor="王处长", reason="误发")
    # issued and withdrawn before the county ever saw it: stored withdrawn, never signed for, alert untouched
    second = desk.issue(subject_id=red["unreviewed"], kind="supervise", reason="请审查", issued_by="王处长")["order_id"]
    desk.withdraw(second, actor="王处长", reason="误发")
    t.down()
    assert row(t.county.engine, orders, first)["status"] == "withdrawn"
    assert row(t.county.engine, orders, second)["status"] == "withdrawn"
    with t.county.engine.connect() as conn:
        assert conn.execute(select(order_replies.c.order_id).where(order_replies.c.order_id == second)).first() is None
    assert t.county.supervision.get_alert(red["unreviewed"]).status.value == "open"
    with pytest.raises(InvalidTransition, match="已撤回，不能办复"):
        t.county.orders.answer(first, by="李科长", answer="已办结")
    with pytest.raises(InvalidTransition, match="已撤回，不能签收"):
        t.county.orders.answer(second, by="李科长", answer="已办结")
    with pytest.raises(InvalidTransition, match="已撤回，不能签收"):
        t.county.orders.receive(second, by="李科长")

    # every order snapshot the city ever sent, oldest last, straight through the county's applier: nothing changes
    before = snapshot(t.county.engine)
    applier = CountyOrderApplier(COUNTY, t.clock)
    records = [r for r in _outbox_records(t.city, CITY) if r.record_type == "order"]
    assert len(records) == 4
    with UnitOfWork(t.county.engine) as uow:
        for r in reversed(records):
            item = Prepared(r, applier.prepare(CITY, r, json.loads(r.payload)))
            assert applier.apply(uow.conn, CITY, [item]) == []
        uow.commit()
    assert snapshot(t.county.engine) == before


def _outbox_records(engine: Engine, origin: str) -> list[Record]:
    with engine.connect() as conn:
        found = conn.execute(select(outbox).where(outbox.c.origin == origin).order_by(outbox.c.seq)).all()
    return [Record(r.record_type, r.record_id, r.op, r.seq, r.payload.encode(), 0) for r in found]


# -- forged, foreign and malformed records ---------------------------------------------------------------------


def test_another_countys_order_is_ignored_and_forged_or_malformed_ones_are_quarantined(
    tiers: Tiers, red: dict[str, str]
) -> None:
    t = tiers
    genuine = t.desk().issue(subject_id=red["red"], kind="supervise", reason="请办结", issued_by="王处长")
    base = {k: v for k, v in row(t.city, orders, genuine["order_id"]).items() if k != "origin_seq"}

    def forged(n: int, **change: Any) -> tuple[str, dict[str, Any]]:
        order_id = f"{CITY}-OD{n:08d}"
        return order_id, {**base, "order_id": order_id, **change}

    other_id, other = forged(901, county=OTHER, subject_id=f"{OTHER}-A000000001", case_no=None)
    bad = dict(
        [
            forged(902, kind="scold"),
            forged(903, subject_id=f"{OTHER}-A000000001"),
            forged(904, issuer=PROVINCE),
            forged(905, reason=None),
        ]
    )
    with UnitOfWork(t.city) as uow:  # appended to the city's own outbox: they travel in the city's batches
        outbox_store.append(
            uow.conn,
            origin=CITY,
            records=[outbox_store.OutboxRecord("order", k, "upsert", p) for k, p in [(other_id, other), *bad.items()]],
            created_at=t.clock(),
        )
        uow.commit()
    t.down()
    assert set(quarantined(t.county.engine)) == set(bad)  # not the other county's order: ignored
    reasons = quarantined(t.county.engine)
    assert "“kind”取值“scold”未知" in reasons[f"{CITY}-OD00000902"]
    assert "不属于区划 371122" in reasons[f"{CITY}-OD00000903"]
    assert "不能由 371100 发送" in reasons[f"{CITY}-OD00000904"]
    assert "缺少必填字段“reason”" in reasons[f"{CITY}-OD00000905"]
    assert held_rows(t.county.engine, orders) == 1  # the genuine one
    assert t.county.orders.get(genuine["order_id"])["reply_status"] == "pending"  # awaiting a person's 签收

    # an origin that is not an ancestor of the county: refused even when the order names this county
    applier = CountyOrderApplier(COUNTY, t.clock)
    genuine_payload = json.loads(json.dumps(base, default=str))
    for origin, message in ((OTHER, "不能由 371121 发送"), (OTHER_CITY, "不能由 371300 发送")):
        record = Record("order", genuine["order_id"], "upsert", 99, b"{}", 0)
        with pytest.raises(RecordRejected, match=message):
            applier.prepare(origin, record, genuine_payload)
    assert applier.prepare(CITY, Record("order", other_id, "upsert", 99, b"{}", 0), other) is None


def test_a_reply_is_accepted_only_from_the_county_the_order_names(tiers: Tiers, red: dict[str, str]) -> None:
    t = tiers
    order_id = t.desk().issue(subject_id=red["red"], kind="urge", reason="请办结", issued_by="王处长")["order_id"]
    t.down()
    t.county.orders.receive(order_id, by="王海燕（监察员，supervisor）")
    t.up()
    reply = {k: v for k, v in row(t.city, order_replies, order_id).items() if k != "origin_seq"}
    payload = json.loads(json.dumps(reply, default=lambda v: v.isoformat()))
    applier = ReplyApplier()
    record = Record("order_reply", order_id, "upsert", 500, b"{}", 0)
    with pytest.raises(RecordRejected, match="属于区划 371122，不能由 371121 发送"):
        applier.prepare(OTHER, record, payload)
    with pytest.raises(RecordRejected, match="不是下发机关 371100 所辖"):
        applier.prepare("371302", record, {**payload, "county": "371302"})
    # a neighbour claiming the order in its own name: the order held here names another county
    forged = applier.prepare(OTHER, record, {**payload, "county": OTHER, "answer": "伪造"})
    before = snapshot(t.city, (order_replies,))
    with UnitOfWork(t.city) as uow:
        (rejection,) = applier.apply(uow.conn, OTHER, [Prepared(record, forged)])
        uow.commit()
    assert "下发给 371122，不能由 371121 办复" in rejection.reason
    assert snapshot(t.city, (order_replies,)) == before
    # an older snapshot of the genuine reply never overwrites the newer one
    genuine = applier.prepare(COUNTY, Record("order_reply", order_id, "upsert", 1, b"{}", 0), payload)
    with UnitOfWork(t.city) as uow:
        assert applier.apply(uow.conn, COUNTY, [Prepared(record, genuine)]) == []
        uow.commit()
    assert snapshot(t.city, (order_replies,)) == before
