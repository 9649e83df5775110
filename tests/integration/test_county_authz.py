"""Every route of the county HTTP API has a rule (issue 15), derived from the app itself: anonymous → 401 with
``WWW-Authenticate: Bearer``; logged in without the route's permission → 403. A write is audited in the node's
hash-chained audit log with the person (account, name, role) and the action; a refused write is audited with
outcome ``forbidden`` and changes nothing else.

The routes are read from ``create_app(node).routes`` (``APIRoute`` only, the hidden catch-alls included; login and
health are public) and each route's rule from its dependencies (``security.http.RULE_ATTR``), so a new route is
covered the day it is added.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from sqlalchemy import Engine, func, select

from county_node.bootstrap import CountyNode, assemble_county_node
from county_node.entrypoints.http import create_app
from federation.config import Config, ExtranetConfig, NodeConfig
from federation.standards import StandardsBundle
from federation.storage.audit_log import AUDIT_RECORD, read_entries
from federation.storage.engine import make_engine
from federation.storage.tables import complaints, outbox
from federation.timeutil import CST
from migrations.runner import upgrade
from security.access import ROLE_PERMISSIONS, Permission, Role
from security.http import AUTH_PREFIX, RULE_ATTR
from tests.conftest import FakeClock
from tests.people import PASSWORD, add_staff, add_user, bearer

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette.testclient` is deprecated")
    from fastapi.testclient import TestClient

DIVISION = "371122"
START = datetime(2026, 9, 21, 9, 0, tzinfo=CST)
PUBLIC = {f"{AUTH_PREFIX}/token", f"{AUTH_PREFIX}/logout", f"{AUTH_PREFIX}/me", "/api/v1/health"}
PUBLIC_PAGES = {"/", "/login", "/logout", "/account"}  # the login pages (tests/integration/test_web_login.py)
# who is tried for a 403: the first of these lacking the route's permission (the exchange admin lacks them all)
PEOPLE: dict[str, tuple[Role, ...]] = {
    "clerk": (Role.CLERK,),
    "approver": (Role.APPROVER,),
    "supervisor": (Role.SUPERVISOR,),
    "admin": (Role.NODE_ADMIN,),
    "exchange": (Role.EXCHANGE_ADMIN,),
}
# a value for each path parameter: well-formed, of this county, naming nothing that exists
SAMPLES = {
    "case_no": f"{DIVISION}-20260921-000001",
    "alert_id": f"{DIVISION}-A000000001",
    "complaint_id": f"{DIVISION}-TS00000001",
    "rating_id": f"{DIVISION}-PJ00000001",
    "order_id": f"{DIVISION}-DB00000001",
    "submission_id": f"{DIVISION}-W20260921-AAAAAA",
    "camera_id": "37112200001311000001",
    "n": "1",
    "record_id": "1",  # a quarantined record (the exchange admin's pages)
    "action": "nothing",  # a name no declared route has: the hidden catch-alls
}


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str
    rule: str | None  # "require:<permission>[:personal]", "public", or None (no rule: a failure)

    @property
    def url(self) -> str:
        return re.sub(r"\{(\w+)\}", lambda m: SAMPLES[m.group(1)], self.path)

    @property
    def permission(self) -> Permission | None:
        if self.rule is None or not self.rule.startswith("require:"):
            return None
        return Permission(self.rule.split(":")[1])

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def _rules(dependant: Dependant) -> list[str]:
    found = [str(getattr(dependant.call, RULE_ATTR))] if hasattr(dependant.call, RULE_ATTR) else []
    for sub in dependant.dependencies:
        found += _rules(sub)
    return found


def routes_of(app: FastAPI, *, pages: bool = False) -> list[Route]:
    """Every API route of ``app`` (``pages``: every web page) with its full path (included routers flattened),
    one per method."""
    out: list[Route] = []
    for ctx in iter_route_contexts(app.routes):
        if not isinstance(ctx.original_route, APIRoute) or ctx.path in PUBLIC | PUBLIC_PAGES:
            continue
        if ctx.path.startswith("/api/") == pages:
            continue
        rules = _rules(ctx.dependant)
        for method in sorted(ctx.methods or ()):
            out.append(Route(method, str(ctx.path), rules[0] if len(rules) == 1 else None))
    return out


def _make_node(engine: Engine, clock: FakeClock) -> CountyNode:
    extranet = ExtranetConfig(link="127.0.0.1:7001")  # the 网上受理 routes are covered too
    return assemble_county_node(
        Config(node=NodeConfig(division=DIVISION, name="莒县"), extranet=extranet), engine, clock
    )


def _collected(*, pages: bool = False) -> list[Route]:
    """The routes, at collection time, of an app over an empty in-memory database (building it reads nothing)."""
    engine = make_engine("sqlite://")
    try:
        return routes_of(create_app(_make_node(engine, FakeClock(START))), pages=pages)
    finally:
        engine.dispose()


def _params(*, pages: bool = False) -> list[object]:
    params: list[object] = []
    for route in _collected(pages=pages):
        params.append(pytest.param(route, id=str(route)))
    return params


ROUTES = _params()
PAGES = _params(pages=True)


def _counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            "complaints": int(conn.execute(select(func.count()).select_from(complaints)).scalar_one()),
            "outbox": int(
                conn.execute(
                    select(func.count()).select_from(outbox).where(outbox.c.record_type != AUDIT_RECORD)
                ).scalar_one()
            ),
        }


@dataclass
class Hall:
    node: CountyNode
    client: TestClient
    tokens: dict[str, str]

    def entries(self) -> list[tuple[str, str, str, str, str, str]]:
        with self.node.engine.connect() as conn:
            found = read_entries(conn, DIVISION)
        return [
            (e.entry.user_id, e.entry.name, e.entry.role, e.entry.action, e.entry.target, e.entry.outcome)
            for e in found
        ]


def _hall(engine: Engine, bundle: StandardsBundle) -> Iterator[Hall]:
    node = _make_node(engine, FakeClock(START))
    node.approval.apply_standards(bundle)
    add_staff(node.accounts)
    add_user(node.accounts, "exchange", PEOPLE["exchange"], name="赵交换")
    with TestClient(create_app(node)) as client:
        tokens = {}
        for user_id in PEOPLE:
            resp = client.post(f"{AUTH_PREFIX}/token", data={"username": user_id, "password": PASSWORD})
            assert resp.status_code == 200, resp.text
            tokens[user_id] = str(resp.json()["access_token"])
        client.cookies.clear()
        yield Hall(node, client, tokens)


@pytest.fixture(scope="module")
def hall(tmp_path_factory: pytest.TempPathFactory, bundle: StandardsBundle) -> Iterator[Hall]:
    """One hall for the per-route checks (they write nothing: every request is refused before the endpoint)."""
    path: Path = tmp_path_factory.mktemp("authz") / "node.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    try:
        yield from _hall(engine, bundle)
    finally:
        engine.dispose()


@pytest.fixture
def fresh(sqlite_url: str, bundle: StandardsBundle) -> Iterator[Hall]:
    engine = make_engine(sqlite_url)
    upgrade(engine)
    try:
        yield from _hall(engine, bundle)
    finally:
        engine.dispose()


def test_the_routes_are_found_and_every_one_has_one_rule() -> None:
    routes = _collected()
    assert len(routes) > 40
    paths = {str(r) for r in routes}
    for expected in (
        "POST /api/v1/cases",
        "POST /api/v1/cases/{case_no}/actions/{action}",  # the hidden catch-all
        "POST /api/v1/alerts/{alert_id}/{action}",
        "POST /api/v1/supervision/sweep",
        "POST /api/v1/video/purge",
        "GET /api/v1/scores",
        "GET /api/v1/intake",
        "POST /api/v1/intake/{submission_id}/accept",
        "POST /api/v1/intake/{submission_id}/refuse",
    ):
        assert expected in paths
    unruled = [str(r) for r in routes if r.rule is None and not r.path.startswith("/api/v1/orders")]
    assert unruled == []
    assert all(r.rule != "public" for r in routes)


@pytest.mark.parametrize("route", ROUTES)
def test_anonymous_is_401_with_a_bearer_challenge(hall: Hall, route: Route) -> None:
    for headers in ({}, bearer("not-a-token")):
        resp = hall.client.request(
            route.method, route.url, json={} if route.method == "POST" else None, headers=headers
        )
        assert resp.status_code == 401, (str(route), resp.text)
        assert resp.headers["WWW-Authenticate"] == "Bearer"
        assert resp.json()["error"]["code"] == "unauthenticated"


@pytest.mark.parametrize("route", ROUTES)
def test_a_role_without_the_permission_is_403(hall: Hall, route: Route) -> None:
    permission = route.permission
    assert permission is not None, f"{route}: no rule"
    user_id = next(u for u, roles in PEOPLE.items() if not any(permission in ROLE_PERMISSIONS[r] for r in roles))
    body: dict[str, str] | None = {} if route.method == "POST" else None
    resp = hall.client.request(route.method, route.url, json=body, headers=bearer(hall.tokens[user_id]))
    assert resp.status_code == 403, (str(route), user_id, resp.text)
    assert resp.json()["error"]["code"] == "forbidden"
    assert resp.json()["error"]["details"] == {"permission": permission.value}


def test_each_county_permission_is_held_by_a_hall_role() -> None:
    used = {r.permission for r in _collected() if r.permission is not None}
    hall_roles = (Role.CLERK, Role.APPROVER, Role.SUPERVISOR, Role.NODE_ADMIN)
    assert all(any(p in ROLE_PERMISSIONS[r] for r in hall_roles) for p in used)


def test_a_write_is_audited_with_the_person_and_the_action(fresh: Hall) -> None:
    before = len(fresh.entries())
    body = {"target": "window", "target_id": "W03", "complainant": "张三", "content": "态度差"}
    resp = fresh.client.post("/api/v1/complaints", json=body, headers=bearer(fresh.tokens["clerk"]))
    assert resp.status_code == 201, resp.text
    assert resp.json()["history"][0]["actor"] == "孙丽（窗口人员，clerk）"
    entries = fresh.entries()
    assert len(entries) == before + 1
    assert entries[-1] == ("clerk", "孙丽", "窗口人员", "登记投诉", "/api/v1/complaints", "ok")

    complaint_id = resp.json()["complaint_id"]
    url = f"/api/v1/complaints/{complaint_id}/answer"
    answered = fresh.client.post(url, json={"answer": "已整改"}, headers=bearer(fresh.tokens["supervisor"]))
    assert answered.status_code == 200, answered.text
    assert answered.json()["answered_by"] == "王海燕（监察员，supervisor）"
    assert fresh.entries()[-1] == ("supervisor", "王海燕", "监察员", "答复投诉", url, "ok")
    with fresh.node.engine.connect() as conn:  # the entry rides up with the county's records
        kinds = conn.execute(select(outbox.c.record_type).order_by(outbox.c.seq.desc()).limit(2)).scalars().all()
    assert AUDIT_RECORD in kinds


def test_a_refused_write_is_audited_as_forbidden_and_changes_nothing_else(fresh: Hall) -> None:
    before, counts = len(fresh.entries()), _counts(fresh.node.engine)
    body = {"target": "window", "target_id": "W03", "complainant": "张三", "content": "态度差"}
    refused = fresh.client.post("/api/v1/complaints", json=body, headers=bearer(fresh.tokens["approver"]))
    assert refused.status_code == 403, refused.text
    purge = fresh.client.post("/api/v1/video/purge", headers=bearer(fresh.tokens["supervisor"]))
    assert purge.status_code == 403, purge.text
    anonymous = fresh.client.post("/api/v1/complaints", json=body)
    assert anonymous.status_code == 401
    entries = fresh.entries()
    assert entries[before:] == [
        ("approver", "李建国", "审批负责人", "登记投诉", "/api/v1/complaints", "forbidden"),
        ("supervisor", "王海燕", "监察员", "按保留期清理录像", "/api/v1/video/purge", "forbidden"),
    ]
    assert _counts(fresh.node.engine) == counts
    assert fresh.client.get("/api/v1/complaints", headers=bearer(fresh.tokens["clerk"])).json()["total"] == 0


def test_a_read_is_not_audited(fresh: Hall) -> None:
    before = len(fresh.entries())
    for user_id in ("clerk", "approver", "supervisor"):
        assert fresh.client.get("/api/v1/alerts", headers=bearer(fresh.tokens[user_id])).status_code == 200
    assert len(fresh.entries()) == before


@pytest.mark.parametrize("route", PAGES)
def test_a_page_has_one_rule_and_sends_a_stranger_to_the_login(hall: Hall, route: Route) -> None:
    assert route.permission is not None, f"{route}: no rule"
    for headers in ({}, bearer("not-a-token")):
        resp = hall.client.request(route.method, route.url, headers=headers, follow_redirects=False)
        assert resp.status_code == 303, (str(route), resp.text)
        assert resp.headers["location"].startswith("/login")


@pytest.mark.parametrize("route", PAGES)
def test_a_page_refuses_a_role_without_its_permission_with_a_page(hall: Hall, route: Route) -> None:
    permission = route.permission
    assert permission is not None, f"{route}: no rule"
    user_id = next(u for u, roles in PEOPLE.items() if not any(permission in ROLE_PERMISSIONS[r] for r in roles))
    resp = hall.client.request(route.method, route.url, headers=bearer(hall.tokens[user_id]), follow_redirects=False)
    assert resp.status_code == 403, (str(route), user_id, resp.text)
    assert resp.headers["content-type"].startswith("text/html")
    assert "无权" in resp.text
