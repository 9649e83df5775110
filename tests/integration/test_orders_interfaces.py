"""The interfaces of orders (督办 / 催办), in-process on SQLite: the issuer's HTTP routes and ``sunshine city order``,
the county's ``/api/v1/orders`` routes and ``sunshine order`` — same service, same views (``--json`` equals the API
body), Chinese errors. Over HTTP everyone logs in as a named person (``tests.people``): the issuer and every
actor recorded is that person's label, and an inspector's scope is their account's subtree.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from city_aggregator.orders import OrdersContext
from city_aggregator.orders.http import create_orders_app
from county_node.bootstrap import assemble_county_node
from county_node.entrypoints.http import create_app
from federation.config import Config, NodeConfig
from federation.nodes import build_node
from federation.standards import StandardsBundle
from federation.storage import audit_log
from federation.storage.engine import make_engine
from federation.storage.tables import orders, outbox
from migrations.runner import upgrade
from security.access import Role
from security.accounts import accounts_for
from tests.conftest import FakeClock
from tests.integration.test_cli import actor_label, error_line, login, ok, sunshine
from tests.integration.test_orders import CITY, COUNTY, Tiers, held_rows, row
from tests.integration.test_supervision_http import assert_error
from tests.integration.test_supervision_replication import hall_and_supervision
from tests.people import add_staff, add_user, bearer, log_in

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette.testclient` is deprecated")
    from fastapi.testclient import TestClient


def _config(path: Path, division: str, db: Path) -> Path:
    path.write_text(
        f'[node]\ndivision = "{division}"\ndata_dir = "{db.parent}"\n\n[database]\nurl = "sqlite:///{db}"\n',
        encoding="utf-8",
    )
    return path


@pytest.fixture
def setup(tmp_path: Path, bundle: StandardsBundle, clock: FakeClock) -> Iterator[tuple[Tiers, dict[str, str]]]:
    engines: list[Engine] = []
    for name in ("county", "city", "province"):
        (tmp_path / name).mkdir()
        eng = make_engine(f"sqlite:///{tmp_path / name / 'node.db'}")
        upgrade(eng)
        engines.append(eng)
    county = assemble_county_node(Config(node=NodeConfig(division=COUNTY, name="莒县")), engines[0], clock)
    county.approval.apply_standards(bundle)
    from county_node.approval.services import ApprovalService

    ApprovalService(engines[1], CITY, clock).apply_standards(bundle)
    t = Tiers(county, clock, engines[1], engines[2])
    ids = hall_and_supervision(t)
    t.up()
    try:
        yield t, ids
    finally:
        for eng in engines:
            eng.dispose()


WANG = "王处长（督查员，rz-jiancha）"  # the city's inspector, as orders record them


def test_the_issuers_http_routes(setup: tuple[Tiers, dict[str, str]]) -> None:
    t, ids = setup
    accounts = accounts_for(t.city, CITY)
    add_user(accounts, "rz-jiancha", [Role.INSPECTOR], name="王处长")
    body = {"kind": "supervise", "subject_id": ids["red"], "reason": "超期未办结"}
    with TestClient(create_orders_app(OrdersContext(t.city, CITY, t.clock), accounts)) as client:
        assert_error(client.post("/api/v1/orders", json=body), 401, "unauthenticated")
        log_in(client, "rz-jiancha")
        resp = client.post("/api/v1/orders", json={**body, "reply_limit_days": 3})
        assert resp.status_code == 201, resp.text
        issued = resp.json()
        order_id = issued["order_id"]
        assert resp.headers["Location"] == f"/api/v1/orders/{order_id}"
        assert (issued["kind_label"], issued["status_label"], issued["reply_label"]) == ("督办", "已下发", "待签收")
        assert (issued["issued_by"], issued["history"][0]["actor"]) == (WANG, WANG)
        assert client.get(f"/api/v1/orders/{order_id}").json() == issued
        page = client.get("/api/v1/orders", params={"county": COUNTY, "reply": "pending"}).json()
        assert [o["order_id"] for o in page["items"]] == [order_id]
        assert page["total"] == 1

        before = held_rows(t.city, outbox)
        assert_error(client.post("/api/v1/orders", json={**body, "reason": ""}), 422, "validation_error")
        assert_error(client.post("/api/v1/orders", json={**body, "kind": "scold"}), 422, "validation_error")
        assert_error(client.post("/api/v1/orders", json={**body, "subject_id": "371122-A0"}), 404, "alert_not_found")
        assert_error(client.post("/api/v1/orders", json={**body, "extra": 1}), 422, "validation_error")
        assert_error(client.post("/api/v1/orders", json={**body, "issued_by": "别人"}), 422, "validation_error")
        assert_error(client.get("/api/v1/orders/371100-OD00000099"), 404, "not_found")
        assert_error(client.get("/api/v1/orders", params={"reply": "lost"}), 422, "validation_error")
        assert held_rows(t.city, outbox) == before

        withdrawn = client.post(f"/api/v1/orders/{order_id}/withdraw", json={"reason": "误发"})
        assert withdrawn.json()["status_label"] == "已撤回"
        assert withdrawn.json()["history"][-1]["actor"] == WANG
        again = client.post(f"/api/v1/orders/{order_id}/close", json={})
        assert "不能办结" in assert_error(again, 409, "invalid_transition")["message"]

    # a city inspector narrowed to another county sees nothing of this one
    with TestClient(create_orders_app(lambda: OrdersContext(t.city, CITY, t.clock, "371121"), accounts)) as client:
        log_in(client, "rz-jiancha")
        assert client.get("/api/v1/orders").json()["total"] == 0
        assert_error(client.get(f"/api/v1/orders/{order_id}"), 404, "not_found")


def test_the_countys_http_routes(setup: tuple[Tiers, dict[str, str]]) -> None:
    t, ids = setup
    order_id = t.desk().issue(subject_id=ids["red"], kind="urge", reason="请办结", issued_by="王处长")["order_id"]
    t.down()
    add_staff(t.county.accounts)
    supervisor = "王海燕（监察员，supervisor）"
    with TestClient(create_app(t.county)) as client:
        assert_error(client.get("/api/v1/orders"), 401, "unauthenticated")
        clerk = bearer(log_in(client, "clerk"))  # reads orders, cannot sign for or answer them
        log_in(client, "supervisor")
        page = client.get("/api/v1/orders", headers=clerk).json()
        assert [(o["order_id"], o["reply_label"]) for o in page["items"]] == [(order_id, "待签收")]  # nobody yet
        assert_error(client.post(f"/api/v1/orders/{order_id}/receive", headers=clerk), 403, "forbidden")
        received = client.post(f"/api/v1/orders/{order_id}/receive")
        assert received.status_code == 200, received.text
        assert received.json()["reply_label"] == "已签收"
        assert_error(client.post(f"/api/v1/orders/{order_id}/receive"), 409, "invalid_transition")
        assert client.get("/api/v1/orders", params={"reply": "answered"}).json()["total"] == 0
        shown = client.get(f"/api/v1/orders/{order_id}").json()
        assert [(h["action_label"], h["actor"]) for h in shown["reply"]["history"]] == [("签收", supervisor)]
        assert_error(
            client.post(f"/api/v1/orders/{order_id}/answer", json={"answer": " "}),
            422,
            "validation_error",
        )
        by_text = {"by": "李科长", "answer": "已办结"}  # no free-text actor: the logged-in person answers
        assert_error(client.post(f"/api/v1/orders/{order_id}/answer", json=by_text), 422, "validation_error")
        resp = client.post(f"/api/v1/orders/{order_id}/answer", json={"answer": "已办结", "acknowledge": True})
        assert resp.status_code == 200, resp.text
        assert (resp.json()["reply_label"], resp.json()["reply"]["answered_by"]) == ("已办复", supervisor)
        assert client.get(f"/api/v1/alerts/{ids['red']}").json()["acknowledged_at"] is not None
        again = client.post(f"/api/v1/orders/{order_id}/answer", json={"answer": "再次"})
        assert_error(again, 409, "invalid_transition")
        assert_error(client.get("/api/v1/orders/371100-OD00000099"), 404, "not_found")


def test_sunshine_city_order_and_sunshine_order(setup: tuple[Tiers, dict[str, str]], tmp_path: Path) -> None:
    """Real processes (``python -m federation.cli``): a command configures logging for its own process."""
    t, ids = setup
    city = ["--config", str(_config(tmp_path / "city.toml", CITY, Path(str(t.city.url.database))))]
    county = ["--config", str(_config(tmp_path / "county.toml", COUNTY, Path(str(t.county.engine.url.database))))]

    issue = ["city", "order", "issue", "--alert", ids["red"], "--kind", "supervise", "--reason", "超期未办结"]
    anonymous = sunshine(*issue, "--reply-days", "2", *city)  # nobody logged in at the city's command line
    assert "错误[unauthenticated]：命令行尚未登录" in error_line(anonymous)
    assert "--by" not in ok(sunshine("city", "order", "issue", "--help", *city))  # no free-text actor any more
    assert held_rows(t.city, orders) == 0
    add_user(accounts_for(t.city, CITY), "wang", [Role.INSPECTOR], name="王处长")
    login(city, "wang")
    out = ok(sunshine(*issue, "--reply-days", "2", *city))
    order_id = "371100-OD00000001"
    assert f"已下发督办指令 {order_id}（371122）" in out
    assert "待签收" in out
    listed = json.loads(ok(sunshine("city", "order", "list", "--json", *city)))
    assert [(o["order_id"], o["issued_by"]) for o in listed["items"]] == [(order_id, "王处长（督查员，wang）")]
    # a refusal: the one Chinese error line, exit status 2, nothing written
    before = held_rows(t.city, orders)
    refused = sunshine("city", "order", "issue", "--alert", ids["red"], "--kind", "scold", "--reason", "x", *city)
    assert "错误[validation_error]：未知的指令类型“scold”" in error_line(refused)
    assert held_rows(t.city, orders) == before
    with t.city.connect() as conn:  # who issued it, and who was refused, are on the city's audit chain
        trail = [(e.entry.user_id, e.entry.action, e.entry.outcome) for e in audit_log.read_entries(conn, CITY)]
    assert ("wang", "order.issue", "ok") in trail
    assert ("wang", "order.issue", "validation_error") in trail

    t.down()
    add_staff(t.county.accounts)
    login(county, "supervisor")  # the county's 监察员 answers, as the person logged in
    shown = json.loads(ok(sunshine("order", "show", order_id, "--json", *county)))
    assert (shown["reply_label"], shown["kind_label"]) == ("待签收", "督办")  # until a person signs for it
    answered = ok(sunshine("order", "answer", order_id, "--answer", "已办结并约谈经办人", *county))
    assert f"已办复指令 {order_id}" in answered
    assert f"办复：已办结并约谈经办人（{actor_label('supervisor')}" in answered
    assert f"签收  {actor_label('supervisor')}" in answered  # signed for by the same person
    t.up()
    seen = json.loads(ok(sunshine("city", "order", "show", order_id, "--json", *city)))
    assert (seen["reply_label"], seen["reply"]["answer"]) == ("已办复", "已办结并约谈经办人")
    assert row(t.city, orders, order_id)["status"] == "issued"


def test_the_inspectors_app_serves_orders_within_the_callers_scope(setup: tuple[Tiers, dict[str, str]]) -> None:
    """Mounted on the province's inspectors' API, the order routes act within the subtree of the logged-in
    inspector's account, whatever header is sent: a 临沂 (371300) inspector can neither order nor see a 莒县 alert;
    a 日照 one sees it but cannot order in the province's name; the province's inspector orders, and is recorded
    as the issuer."""
    t, ids = setup
    config = Config(node=NodeConfig(division="370000", name="山东省"))
    node = build_node(config, engine=t.province)
    accounts = node.accounts  # type: ignore[attr-defined]
    add_user(accounts, "ly-jiancha", [Role.INSPECTOR], division="371300", name="临沂督查")
    add_user(accounts, "rz-jiancha", [Role.INSPECTOR], division="371100", name="日照督查")
    add_user(accounts, "sd-jiancha", [Role.INSPECTOR], division="370000", name="省督查")
    body = {"kind": "urge", "subject_id": ids["red"], "reason": "请尽快办结"}
    with TestClient(node.http_app()) as client:  # type: ignore[attr-defined]
        linyi = bearer(log_in(client, "ly-jiancha")) | {"X-Sunshine-Division": "371100"}  # the header is ignored
        rizhao = bearer(log_in(client, "rz-jiancha"))
        province = bearer(log_in(client, "sd-jiancha"))
        before = held_rows(t.province, orders)
        refused = client.post("/api/v1/orders", json=body, headers=linyi)
        assert refused.status_code == 403, refused.text
        assert any("\u4e00" <= ch <= "\u9fff" for ch in refused.json()["error"]["message"]), refused.text
        assert held_rows(t.province, orders) == before  # nothing written
        assert_error(client.post("/api/v1/orders", json=body, headers=rizhao), 403, "forbidden")  # 省级督办: not its
        assert held_rows(t.province, orders) == before
        issued = client.post("/api/v1/orders", json=body, headers=province)
        assert issued.status_code == 201, issued.text
        assert issued.json()["issued_by"] == "省督查（督查员，sd-jiancha）"
        assert client.get("/api/v1/orders", headers=linyi).json()["total"] == 0
        assert client.get("/api/v1/orders", headers=rizhao).json()["total"] == 1
        assert client.get("/api/v1/orders", headers=province).json()["total"] == 1
        order_id = issued.json()["order_id"]
        assert_error(client.get(f"/api/v1/orders/{order_id}", headers=linyi), 404, "not_found")
        assert_error(  # not the province's own people: refused whatever the order (nothing learnt of it)
            client.post(f"/api/v1/orders/{order_id}/withdraw", json={"reason": "x"}, headers=linyi), 403, "forbidden"
        )
