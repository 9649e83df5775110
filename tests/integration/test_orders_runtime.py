"""Orders end to end in one process: real receivers and agents over real gRPC on loopback (SQLite), built from
configuration as ``serve`` and ``agent run`` build them. A county's red alert goes up; the city issues a 督办 on it;
the order comes down, the county's alert shows 督办 by the city's inspector; the county answers; the city sees
已办复 with who, when and what.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from city_aggregator.bootstrap import replication_appliers as city_appliers
from city_aggregator.orders import OrderDesk, OrdersContext
from county_node.approval.domain import Action
from county_node.bootstrap import CountyNode, assemble_county_node
from county_node.bootstrap import replication_appliers as county_appliers
from federation.errors import NotFound
from federation.standards import StandardsBundle
from federation.storage.engine import engine_from_config
from federation.storage.tables import alerts
from federation.timeutil import CST
from migrations.runner import upgrade
from province_center.bootstrap import replication_appliers as province_appliers
from province_center.standards import publish_standards
from sync_agent.runtime import build_agent, start_receiver
from tests.integration.test_replication_runtime import FULL, Tier, config, standards_version, wait_for

PROVINCE, CITY, JU = "370000", "371100", "371122"


@pytest.fixture
def federation(tmp_path: Path, bundle: StandardsBundle) -> Iterator[tuple[dict[str, Tier], CountyNode]]:
    tiers: dict[str, Tier] = {}
    county: CountyNode | None = None
    try:
        for division in (PROVINCE, CITY, JU):
            cfg = config(tmp_path, division, listen="127.0.0.1:0")
            engine = engine_from_config(cfg)
            upgrade(engine)
            if division == JU:
                county = assemble_county_node(cfg, engine, lambda: datetime(2026, 9, 21, 10, tzinfo=CST))
                appliers = county_appliers(county.approval)
            else:
                appliers = (province_appliers if division == PROVINCE else city_appliers)(division)
            tiers[division] = Tier(cfg, engine, start_receiver(cfg, engine, appliers, relay=division == CITY))
        assert county is not None
        publish_standards(tiers[PROVINCE].engine, bundle, PROVINCE, lambda: datetime(2026, 9, 1, 8, tzinfo=CST))
        links = {
            PROVINCE: {"downstream": (tiers[CITY].target,)},
            CITY: {"upstream": tiers[PROVINCE].target, "downstream": (tiers[JU].target,)},
            JU: {"upstream": tiers[CITY].target},
        }
        for division, tier in tiers.items():
            tier.cfg = config(tmp_path, division, **links[division])
            tier.agent = build_agent(tier.cfg, engine=tier.engine)
            tier.agent.start()
        wait_for("standards at the county", lambda: standards_version(tiers[JU].engine) is not None)
        yield tiers, county
    finally:
        for tier in tiers.values():
            if tier.agent is not None:
                tier.agent.stop()
        for tier in tiers.values():
            if tier.receiver is not None:
                tier.receiver.stop(grace=0.5)
            tier.engine.dispose()


def test_a_city_supervises_a_county_alert_and_sees_the_countys_answer(
    federation: tuple[dict[str, Tier], CountyNode],
) -> None:
    t, county = federation
    case_no = county.approval.submit(item_code="XK00003000", applicant="张三", data=FULL, actor="窗口 1").case_no
    county.approval.act(case_no, Action.ACCEPT, actor="窗口 1")
    county.supervision.sweep(datetime(2026, 10, 20, 9, tzinfo=CST))  # long past the promised limit: red
    with county.engine.connect() as conn:
        red = conn.execute(select(alerts.c.alert_id).where(alerts.c.rule_id == "SUP-002")).scalar_one()

    def city_holds_alert() -> bool:
        with t[CITY].engine.connect() as conn:
            return conn.execute(select(alerts.c.alert_id).where(alerts.c.alert_id == red)).first() is not None

    wait_for("the county's red alert at the city", city_holds_alert)
    desk = OrderDesk(OrdersContext(t[CITY].engine, CITY, lambda: datetime(2026, 10, 20, 10, tzinfo=CST)))
    order_id = desk.issue(
        subject_id=red, kind="supervise", reason="超期未办结，请当日办结", issued_by="市监察室 王处长"
    )["order_id"]

    wait_for(
        "the alert supervised at the county", lambda: county.supervision.get_alert(red).status.value == "supervised"
    )
    alert = county.supervision.get_alert(red)
    assert alert.history[-1]["actor"] == f"市监察室 王处长（{CITY}）"
    assert desk.get(order_id)["reply_label"] == "待签收"  # arrival signs for nothing: a person does
    county.orders.receive(order_id, by="王海燕（监察员，supervisor）")
    wait_for("the county's 签收 at the city", lambda: desk.get(order_id)["reply_label"] == "已签收")

    county.orders.answer(order_id, by="县政务服务中心 李科长", answer="已办结，约谈经办人", acknowledge=True)
    wait_for("the county's 办复 at the city", lambda: desk.get(order_id)["reply_label"] == "已办复")
    seen = desk.get(order_id)
    assert seen["reply"] is not None
    assert (seen["reply"]["answered_by"], seen["reply"]["answer"]) == ("县政务服务中心 李科长", "已办结，约谈经办人")
    province = OrderDesk(OrdersContext(t[PROVINCE].engine, PROVINCE))
    wait_for("the order and its answer at the province", lambda: _reply_label(province, order_id) == "已办复")
    # the city's alert replica shows the 督办 and the county's acknowledgement
    wait_for(
        "the acknowledged alert at the city",
        lambda: city_holds_alert() and _acknowledged(t[CITY], red),
    )


def _reply_label(desk: OrderDesk, order_id: str) -> str | None:
    try:
        return desk.get(order_id)["reply_label"]
    except NotFound:  # not arrived yet
        return None


def _acknowledged(tier: Tier, alert_id: str) -> bool:
    with tier.engine.connect() as conn:
        found = conn.execute(
            select(alerts.c.status, alerts.c.acknowledged_at).where(alerts.c.alert_id == alert_id)
        ).first()
    return found is not None and found.status == "supervised" and found.acknowledged_at is not None
