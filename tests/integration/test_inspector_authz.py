"""Who may see what through the inspectors' API (issue 15), at the province over real replicas (built as
``test_inspection`` builds them) and, for orders, across real tiers (``test_orders``):

- every route but the public ones (derived from the app's routes) answers 401 to an anonymous caller;
- a city inspector of 371100 logged in at the province gets 403 on a 371300 case, alert or county, and sees only
  3711xx in lists, whatever ``X-Sunshine-Division`` header it sends (the scope is the account's);
- roles are per level: an inspector is a city's or the province's, a county's account does not exist at the
  province, and a county-level account made there is refused every inspector route;
- a personal read (a case's or an alert's detail) is appended to the audit log with the user and its outcome;
- an order issued by a city inspector records the inspector's label, a county supervisor's 签收 and 办复 theirs.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from sqlalchemy import Engine

from city_aggregator.bootstrap import CityNode
from county_node.entrypoints.http import create_app as create_county_app
from federation.config import Config, NodeConfig
from federation.errors import ValidationError
from federation.nodes import build_node
from federation.storage import audit_log
from security.access import Role
from security.http import RULE_ATTR
from tests.integration.test_inspection import JUXIAN, PROVINCE, RIZHAO, YISHUI, Replicas, build_replicas
from tests.integration.test_orders import CITY, COUNTY, Tiers, red, tiers  # noqa: F401 - fixtures
from tests.people import add_staff, add_user, bearer, log_in

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette.testclient` is deprecated")
    from fastapi.testclient import TestClient

LINYI = "371300"
DIVISION_HEADER = "X-Sunshine-Division"  # once trusted as sent; now ignored


@pytest.fixture(scope="module")
def province(tmp_path_factory: pytest.TempPathFactory, bundle: Any) -> Iterator[tuple[CityNode, Replicas]]:
    from federation.storage.engine import make_engine
    from migrations.runner import upgrade

    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('authz') / 'node.db'}")
    try:
        upgrade(engine)
        replicas = build_replicas(engine, bundle)
        node = build_node(Config(node=NodeConfig(division=PROVINCE)), engine=engine, clock=replicas.clock)
        assert isinstance(node, CityNode)
        add_user(node.accounts, "sd-jiancha", [Role.INSPECTOR], division=PROVINCE, name="赵省督")
        add_user(node.accounts, "rz-jiancha", [Role.INSPECTOR], division=RIZHAO, name="钱市督")
        add_user(node.accounts, "rz-admin", [Role.NODE_ADMIN], division=RIZHAO, name="日照管理员")
        yield node, replicas
    finally:
        engine.dispose()


def _rules(dependant: Dependant) -> list[str]:
    found = [getattr(dependant.call, RULE_ATTR)] if hasattr(dependant.call, RULE_ATTR) else []
    for sub in dependant.dependencies:
        found += _rules(sub)
    return found


def _routes(app: FastAPI) -> list[tuple[str, str, list[str]]]:
    """(method, path with sample parameters, rules) of every API route of ``app`` (included routers too)."""
    out = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute):
            continue
        path = re.sub(r"\{[^}]+\}", "x", context.path)
        out += [(method, path, _rules(route.dependant)) for method in sorted(context.methods or ())]
    return out


def _audit(engine: Engine, user_id: str) -> list[tuple[str, str, str]]:
    with engine.connect() as conn:
        entries = audit_log.read_entries(conn, PROVINCE, user_id=user_id)
    return [(e.entry.action, e.entry.target, e.entry.outcome) for e in entries]


def test_every_route_has_a_rule_and_an_anonymous_caller_gets_401(province: tuple[CityNode, Replicas]) -> None:
    node, _ = province
    app = node.http_app()
    routes = _routes(app)
    assert {p for _, p, _ in routes} >= {"/api/v1/counties", "/api/v1/cases/x", "/api/v1/orders/x/withdraw"}
    with TestClient(app) as client:
        for method, path, rules in routes:
            assert rules, f"{method} {path} declares no rule"
            if "public" in rules:
                continue
            resp = client.request(method, path, json={}, follow_redirects=False)
            if not path.startswith("/api/"):  # a page: to the login page
                assert resp.status_code == 303, (method, path, resp.text)
                assert resp.headers["location"].startswith("/login"), (method, path)
                continue
            assert resp.status_code == 401, (method, path, resp.text)
            assert resp.json()["error"]["code"] == "unauthenticated"
        assert client.get("/api/v1/health").status_code == 200


def test_a_city_inspector_at_the_province_sees_its_own_subtree_whatever_it_sends(
    province: tuple[CityNode, Replicas],
) -> None:
    node, r = province
    with TestClient(node.http_app()) as client:
        log_in(client, "rz-jiancha")
        for header in ({}, {DIVISION_HEADER: PROVINCE}, {DIVISION_HEADER: LINYI}):
            for path in (
                f"/api/v1/counties/{YISHUI}",
                f"/api/v1/cases/{r.cases['C1']}",
                f"/api/v1/alerts/{YISHUI}-A000000001",
            ):
                resp = client.get(path, headers=header)
                assert resp.status_code == 403, (path, header, resp.text)
                assert resp.json()["error"]["code"] == "forbidden"
            counties = client.get("/api/v1/counties", headers=header).json()
            assert {i["county"][:4] for i in counties["items"]} == {"3711"}
            assert counties["scope"]["prefix"] == "3711"
            alerts = client.get("/api/v1/alerts", headers=header).json()["items"]
            assert alerts
            assert {a["origin"][:4] for a in alerts} == {"3711"}
            assert client.get(f"/api/v1/alerts?county={YISHUI}", headers=header).status_code == 403
            assert client.get("/api/v1/orders", headers=header).json()["total"] == 0
        assert client.get(f"/api/v1/cases/{r.cases['A2']}").status_code == 200  # its own: served
        # but it cannot act in the province's name, even on its own city's counties (review finding)
        body = {"kind": "supervise", "subject_kind": "case", "subject_id": r.cases["A2"], "reason": "请说明"}
        refused = client.post("/api/v1/orders", json=body)
        assert refused.status_code == 403, refused.text
        assert "本级人员" in refused.json()["error"]["message"]


def test_roles_are_per_level_a_county_account_is_no_use_at_the_province(province: tuple[CityNode, Replicas]) -> None:
    node, r = province
    with pytest.raises(ValidationError, match="只能在该县自己的节点"):  # a county's staff: at the county only
        add_user(node.accounts, "ju-supervisor", [Role.SUPERVISOR], division=JUXIAN, name="莒县监察员")
    with TestClient(node.http_app()) as client:
        # the county's own staff are accounts of the county node, not of the province
        refused = client.post("/api/v1/auth/token", data={"username": "supervisor", "password": "Sunshine-test-2026"})
        assert refused.status_code == 401
        # an account here without the inspector's role holds none of its permissions: every inspector route 403
        for user in ("rz-admin",):
            who = bearer(log_in(client, user))
            for path in (
                "/api/v1/counties",
                f"/api/v1/counties/{JUXIAN}",
                "/api/v1/alerts",
                f"/api/v1/alerts/{JUXIAN}-A000000002",
                f"/api/v1/cases/{r.cases['A2']}",
                "/api/v1/rankings",
                "/api/v1/trends",
            ):
                assert client.get(path, headers=who).status_code == 403, (user, path)
            body = {"kind": "urge", "subject_id": f"{JUXIAN}-A000000002", "reason": "x"}
            assert client.post("/api/v1/orders", json=body, headers=who).status_code == 403, user


def test_personal_reads_are_audited_with_the_user_and_the_outcome(province: tuple[CityNode, Replicas]) -> None:
    node, r = province
    case, own_alert, other_alert = r.cases["A2"], f"{JUXIAN}-A000000002", f"{YISHUI}-A000000001"
    before = len(_audit(node.engine, "rz-jiancha"))
    with TestClient(node.http_app()) as client:
        log_in(client, "rz-jiancha")
        assert client.get(f"/api/v1/cases/{case}").status_code == 200
        assert client.get(f"/api/v1/alerts/{own_alert}").status_code == 200
        assert client.get(f"/api/v1/alerts/{other_alert}").status_code == 403
        assert client.get(f"/api/v1/cases/{JUXIAN}-20260921-000099").status_code == 404
        assert client.get("/api/v1/counties").status_code == 200  # a summary: not a personal read
    entries = _audit(node.engine, "rz-jiancha")[before:]
    # on record before the data leaves ("read"); a read that then fails adds its error's code
    assert [(target, outcome) for action, target, outcome in entries if action != "login"] == [
        (f"/api/v1/cases/{case}", "read"),
        (f"/api/v1/alerts/{own_alert}", "read"),
        (f"/api/v1/alerts/{other_alert}", "read"),
        (f"/api/v1/alerts/{other_alert}", "forbidden"),
        (f"/api/v1/cases/{JUXIAN}-20260921-000099", "read"),
        (f"/api/v1/cases/{JUXIAN}-20260921-000099", "case_not_found"),
    ]
    with node.engine.connect() as conn:
        last = audit_log.read_entries(conn, PROVINCE, user_id="rz-jiancha", newest_first=True, limit=1)[0].entry
    assert (last.name, last.role, last.division) == ("钱市督", "督查员", RIZHAO)


def test_an_order_records_the_inspector_who_issued_it_and_the_supervisor_who_answered(
    tiers: Tiers,  # noqa: F811 - the fixture
    red: dict[str, str],  # noqa: F811 - the fixture
) -> None:
    t = tiers
    city = build_node(Config(node=NodeConfig(division=CITY, name="日照市")), engine=t.city, clock=t.clock)
    assert isinstance(city, CityNode)
    add_user(city.accounts, "rz-jiancha", [Role.INSPECTOR], name="王处长")
    add_staff(t.county.accounts)
    with TestClient(city.http_app()) as client:
        log_in(client, "rz-jiancha")
        issued = client.post("/api/v1/orders", json={"kind": "supervise", "subject_id": red["red"], "reason": "请办结"})
        assert issued.status_code == 201, issued.text
        order_id = issued.json()["order_id"]
        assert issued.json()["issued_by"] == "王处长（督查员，rz-jiancha）"
    t.down()
    alert = t.county.supervision.get_alert(red["red"])
    assert alert.history[-1]["actor"] == f"王处长（督查员，rz-jiancha）（{CITY}）"  # the alert's 督办 names them too
    supervisor = "王海燕（监察员，supervisor）"
    with TestClient(create_county_app(t.county)) as client:
        log_in(client, "supervisor")
        assert client.post(f"/api/v1/orders/{order_id}/receive").status_code == 200
        answered = client.post(f"/api/v1/orders/{order_id}/answer", json={"answer": "已办结"})
        assert answered.status_code == 200, answered.text
    t.up()
    with TestClient(city.http_app()) as client:
        log_in(client, "rz-jiancha")
        seen = client.get(f"/api/v1/orders/{order_id}").json()
    assert seen["county"] == COUNTY
    assert seen["reply"]["answered_by"] == supervisor
    assert [(h["action"], h["actor"]) for h in seen["reply"]["history"]] == [
        ("receive", supervisor),
        ("answer", supervisor),
    ]
