"""The runtime of replication in one process: real receivers and agents over real gRPC on loopback, SQLite.

Province 370000 → city 371100 → counties 371122 and 371121, built from configuration exactly as the ``serve``
and ``agent run`` commands build them (:mod:`sync_agent.runtime`): the province's standards come down to the
counties through the city, the counties' cases go up through the city, and every tier ends up holding exactly
its subtree. The status port (/metrics, /links) and the admin commands are checked against the live agents.
(The same with every node and agent in its own process, and the faults, are in ``tests/fault``.)
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from city_aggregator.bootstrap import replication_appliers as city_appliers
from county_node.approval.domain import Action
from county_node.approval.services import ApprovalService
from county_node.bootstrap import assemble_county_node
from county_node.bootstrap import replication_appliers as county_appliers
from federation.config import ClockConfig, Config, DatabaseConfig, NodeConfig, ReplicationConfig
from federation.errors import ConfigError
from federation.standards import StandardsBundle
from federation.storage.engine import engine_from_config
from federation.storage.holdings import approval_holdings
from federation.storage.uow import UnitOfWork
from federation.timeutil import CST
from federation.wire.v1 import replication_pb2 as pb
from federation.wire.v1 import replication_pb2_grpc as pb_grpc
from migrations.runner import upgrade
from province_center.bootstrap import replication_appliers as province_appliers
from province_center.standards import publish_standards
from sync_agent.entrypoints.cli import admin_app
from sync_agent.metrics import StatusServer, start_status_server
from sync_agent.runtime import Agent, build_agent, receiver_policy, start_receiver
from sync_agent.server import RunningServer

PROVINCE, CITY, JU, WULIAN = "370000", "371100", "371122", "371121"
FULL = {"统一社会信用代码": "91371122MA3C000001", "经营场所": "莒县城阳街道 1 号"}


def config(tmp: Path, division: str, **replication: Any) -> Config:
    d = tmp / division
    d.mkdir(exist_ok=True)
    return Config(
        node=NodeConfig(division=division, data_dir=str(d)),
        database=DatabaseConfig(url=f"sqlite:///{d / 'node.db'}", sqlite_synchronous="normal"),
        replication=ReplicationConfig(linger_ms=10, **replication),
    )


@dataclass
class Tier:
    cfg: Config
    engine: Engine
    receiver: RunningServer | None = None
    agent: Agent | None = None
    status: StatusServer | None = None

    @property
    def target(self) -> str:
        assert self.receiver is not None
        return self.receiver.target


@pytest.fixture
def federation(tmp_path: Path, bundle: StandardsBundle) -> Iterator[dict[str, Tier]]:
    """Receivers up (counties, city, province), standards published at the province, agents running."""
    tiers: dict[str, Tier] = {}
    appliers: dict[str, Callable[[], Any]] = {PROVINCE: province_appliers, CITY: city_appliers}
    for division in (PROVINCE, CITY, JU, WULIAN):
        cfg = config(tmp_path, division, listen="127.0.0.1:0")
        engine = engine_from_config(cfg)
        upgrade(engine)
        make = appliers.get(division, county_appliers)
        receiver = start_receiver(cfg, engine, make(), relay=division == CITY)
        tiers[division] = Tier(cfg, engine, receiver)
    publish_standards(tiers[PROVINCE].engine, bundle, PROVINCE, lambda: datetime(2026, 9, 1, 8, tzinfo=CST))
    links = {
        PROVINCE: {"downstream": (tiers[CITY].target,)},
        CITY: {"upstream": tiers[PROVINCE].target, "downstream": (tiers[JU].target, tiers[WULIAN].target)},
        JU: {"upstream": tiers[CITY].target},
        WULIAN: {"upstream": tiers[CITY].target},
    }
    try:
        for division, tier in tiers.items():
            tier.cfg = config(tmp_path, division, metrics="127.0.0.1:0", **links[division])
            tier.agent = build_agent(tier.cfg, engine=tier.engine)
            tier.status = start_status_server("127.0.0.1", 0, tier.agent)
            tier.agent.start()
        for county in (JU, WULIAN):
            wait_for(f"standards at {county}", lambda c=county: standards_version(tiers[c].engine) is not None)  # type: ignore[misc]
        yield tiers
    finally:
        for tier in tiers.values():
            if tier.agent is not None:
                tier.agent.stop()
            if tier.status is not None:
                tier.status.stop()
        for tier in tiers.values():
            if tier.receiver is not None:
                tier.receiver.stop(grace=0.5)
            tier.engine.dispose()


def wait_for(what: str, check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout:.0f} s: {what}")
        time.sleep(0.05)


def holdings(engine: Engine) -> dict[str, Any]:
    with UnitOfWork(engine, readonly=True) as uow:
        return {h.origin: h for h in approval_holdings(uow.conn)}


def standards_version(engine: Engine) -> str | None:
    from federation.storage.standards_store import current_bundle

    with UnitOfWork(engine, readonly=True) as uow:
        current = current_bundle(uow.conn)
    return current.version if current else None


def hall_work(engine: Engine, division: str, n: int) -> None:
    """``n`` cases at a county, each accepted, half of them through review, decision and conclusion."""
    moment = [datetime(2026, 9, 21, 9, tzinfo=CST)]

    def clock() -> datetime:
        moment[0] += timedelta(minutes=3)
        return moment[0]

    svc = ApprovalService(engine, division, clock, ClockConfig())
    for i in range(n):
        case_no = svc.submit(item_code="XK00003000", applicant="张三", data=FULL, actor="窗口 1").case_no
        svc.act(case_no, Action.ACCEPT, actor="审批员", params={})
        if i % 2:
            svc.act(case_no, Action.REVIEW, actor="审批员", params={"opinion": "同意"})
            svc.act(case_no, Action.DECIDE, actor="审批员", params={"outcome": "approve", "fee_charged": "0"})
            svc.act(case_no, Action.CONCLUDE, actor="审批员", params={})


def test_standards_go_down_cases_go_up_and_every_tier_holds_exactly_its_subtree(
    federation: dict[str, Tier], bundle: StandardsBundle
) -> None:
    t = federation
    for division in (JU, WULIAN, CITY):  # came down from the province, through the city
        assert standards_version(t[division].engine) == bundle.version

    hall_work(t[JU].engine, JU, 30)
    hall_work(t[WULIAN].engine, WULIAN, 20)

    def converged() -> bool:
        province, city = holdings(t[PROVINCE].engine), holdings(t[CITY].engine)
        return all(holdings(t[c].engine)[c] == city.get(c) == province.get(c) for c in (JU, WULIAN))

    wait_for("every county's cases at its city and at the province", converged)
    ju = holdings(t[JU].engine)[JU]
    assert (ju.cases, ju.events) == (30, 30 * 2 + 15 * 3)
    # each tier holds its subtree and nothing else
    assert set(holdings(t[JU].engine)) == {JU}
    assert set(holdings(t[CITY].engine)) == {JU, WULIAN}
    assert set(holdings(t[PROVINCE].engine)) == {JU, WULIAN}

    # the province's receiver states what it holds (the gRPC status call), equal to the counties' own seqs
    with grpc.insecure_channel(t[PROVINCE].target) as channel:
        reply = pb_grpc.ReplicationStub(channel).Status(pb.StatusRequest(origin_prefix="3711"), timeout=5)
    marks = {o.origin: o for o in reply.origins}
    assert set(marks) == {JU, WULIAN}
    assert marks[JU].high_water == ju.events + _case_snapshots(t[JU].engine)
    assert marks[JU].records == marks[JU].high_water  # every record received once, none twice
    assert marks[JU].quarantined == 0
    assert marks[JU].last_applied_at_us > 0


def _case_snapshots(engine: Engine) -> int:
    from sqlalchemy import func, select

    from federation.storage.tables import outbox

    with UnitOfWork(engine, readonly=True) as uow:
        return int(
            uow.conn.execute(
                select(func.count()).select_from(outbox).where(outbox.c.record_type == "case")
            ).scalar_one()
        )


def alert_rows(engine: Engine) -> list[dict[str, Any]]:
    from sqlalchemy import select

    from federation.storage.tables import alerts

    with UnitOfWork(engine, readonly=True) as uow:
        return [dict(r) for r in uow.conn.execute(select(alerts).order_by(alerts.c.alert_id)).mappings()]


def test_an_alert_raised_at_a_county_reaches_the_province(federation: dict[str, Tier]) -> None:
    t = federation
    node = assemble_county_node(t[JU].cfg, t[JU].engine, lambda: datetime(2026, 9, 21, 10, tzinfo=CST))
    case_no = node.approval.submit(item_code="XK00003000", applicant="张三", data=FULL, actor="窗口 1").case_no
    node.approval.act(case_no, Action.ACCEPT, actor="窗口 1")
    node.supervision.sweep(datetime(2026, 10, 20, 9, tzinfo=CST))  # long past the promised limit: red, escalated
    raised = alert_rows(t[JU].engine)
    assert {(a["rule_id"], a["light"]) for a in raised} >= {("SUP-002", "red")}
    wait_for("the county's alerts at the province", lambda: alert_rows(t[PROVINCE].engine) == raised)
    assert alert_rows(t[CITY].engine) == raised
    assert alert_rows(t[WULIAN].engine) == []  # nothing of a county goes down or sideways


def test_links_metrics_and_admin_commands_describe_the_live_agents(federation: dict[str, Tier]) -> None:
    t = federation
    hall_work(t[JU].engine, JU, 5)
    wait_for("the county's records at the province", lambda: JU in holdings(t[PROVINCE].engine))
    city = t[CITY]
    assert city.status is not None
    url = f"http://127.0.0.1:{city.status.port}"

    def up_acked() -> bool:
        links = httpx.get(f"{url}/links", timeout=5).json()["links"]
        up = next(link for link in links if link["link"] == "up")
        ju = next((o for o in up["origins"] if o["origin"] == JU), None)
        return ju is not None and ju["lag_records"] == 0 and ju["acked_seq"] > 0

    wait_for("the city's link up acknowledged", up_acked)
    body = httpx.get(f"{url}/links", timeout=5).json()
    assert body["node"] == CITY
    by_name = {link["link"]: link for link in body["links"]}
    assert set(by_name) == {"up", f"down-{t[JU].target}", f"down-{t[WULIAN].target}"}
    assert by_name["up"]["connected"] is True
    # down links carry the province's records (and the city's own), never a county's
    assert {o["origin"] for o in by_name[f"down-{t[JU].target}"]["origins"]} <= {PROVINCE, CITY}

    metrics = httpx.get(f"{url}/metrics", timeout=5)
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    text = metrics.text
    assert f'sunshine_replication_lag_records{{link="up",node="{CITY}",origin="{JU}"}} 0.0' in text
    assert "sunshine_replication_lag_seconds{" in text
    assert 'sunshine_replication_link_connected{link="up",node="371100"} 1.0' in text
    assert "# TYPE sunshine_replication_sent_batches_total counter" in text
    assert "# TYPE sunshine_quarantine_held_records gauge" in text
    assert httpx.get(f"{url}/nothing", timeout=5).status_code == 404

    runner = CliRunner()
    shown = runner.invoke(admin_app, ["links", "--url", url])
    assert shown.exit_code == 0, shown.output
    assert "up → " in shown.output
    assert JU in shown.output
    as_json = runner.invoke(admin_app, ["links", "--url", url, "--json"])
    assert json.loads(as_json.output)["node"] == CITY


def test_a_receiver_refuses_a_sender_outside_its_policy_and_an_agent_needs_a_link(tmp_path: Path) -> None:
    allowed = receiver_policy(CITY)
    assert allowed(JU, JU)  # a county sends its own records up
    assert not allowed(JU, WULIAN)  # … not its neighbour's
    assert not allowed("371302", "371302")  # a county of another city
    assert allowed(PROVINCE, PROVINCE)  # the province sends its standards down
    assert not allowed(PROVINCE, JU)  # … but never a county's records
    assert not allowed("371300", "371300")  # another city
    county = receiver_policy(JU)
    assert county(CITY, PROVINCE)
    assert county(CITY, CITY)
    assert not county(CITY, WULIAN)
    province = receiver_policy(PROVINCE)
    assert province(CITY, JU)
    assert province(CITY, CITY)
    assert not province(CITY, "371302")
    with pytest.raises(ConfigError, match="没有任何链路"):
        build_agent(config(tmp_path, JU))
    with pytest.raises(ConfigError, match="省级节点没有上级"):
        build_agent(config(tmp_path, PROVINCE, upstream="127.0.0.1:1"))
