"""The inspectors' API of a city or province node over hand-built replicas, on SQLite and PostgreSQL.

The replica rows are made the way a county makes them — the cases by the county's own approval service (one per
county, all writing into the one database the "province" reads), with a settable clock so every due moment and
light is exact — and the supervision rows (alerts, complaints, ratings) and the scores the scoring engine would
write are inserted by hand. The queries are checked for exact counts; then a real uvicorn server on 127.0.0.1
port 0 is hit over HTTP: summaries, alert list and detail, case drill-down with timeline and clock, rankings,
trends, and the scope (a city inspector, logged in at the province, cannot see another city's counties).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

import httpx
import pytest
import uvicorn
from fastapi import APIRouter
from sqlalchemy import Engine, insert

from city_aggregator.bootstrap import CityNode
from city_aggregator.inspection.context import InspectionContext
from city_aggregator.inspection.figures import month_range
from city_aggregator.inspection.http import create_inspector_app
from city_aggregator.inspection.scope import resolve_scope
from county_node.approval.domain import Action
from county_node.approval.services import ApprovalService
from federation.config import Config, NodeConfig
from federation.errors import Forbidden, InvalidDivisionCode, ValidationError
from federation.nodes import build_node
from federation.standards import StandardsBundle
from federation.storage.engine import make_engine
from federation.storage.standards_store import apply_bundle
from federation.storage.tables import alerts, complaints, ratings, scores
from federation.storage.uow import UnitOfWork
from federation.timeutil import CST
from migrations.runner import upgrade
from security.access import Permission, Principal, Role
from security.http import Who
from tests.conftest import FakeClock, create_pg_database
from tests.people import add_user, log_in

PROVINCE, RIZHAO, LINYI = "370000", "371100", "371300"
JUXIAN, WULIAN, YISHUI = "371122", "371121", "371323"  # 莒县, 五莲县 (日照市); 沂水县 (临沂市)
FOOD = "XK00003000"  # 食品经营许可: promised 5 working days, legal 10
FOOD_DATA = {"统一社会信用代码": "91371122MA3C000001", "经营场所": "莒县城阳街道 1 号"}
NOW = datetime(2026, 9, 30, 9, 0, tzinfo=CST)  # a Wednesday


def at(month: int, day: int, hour: int = 9) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=CST)


@dataclass
class Replicas:
    engine: Engine
    clock: FakeClock
    cases: dict[str, str]  # label -> case number


def _case(approval: ApprovalService, clock: FakeClock, submitted: datetime, *steps: tuple[datetime, Action]) -> str:
    """A case submitted at ``submitted``, then taken through ``steps`` (each at its moment)."""
    clock.now = submitted
    case_no = approval.submit(item_code=FOOD, applicant="张三", data=FOOD_DATA, actor="窗口01").case_no
    for moment, action in steps:
        clock.now = moment
        params: dict[str, Any] = {"outcome": "approve"} if action is Action.DECIDE else {}
        approval.act(case_no, action, actor="窗口01", params=params)
    return case_no


def _accepted(day: int) -> tuple[datetime, tuple[datetime, Action]]:
    """Submitted at 09:00 of September ``day`` and accepted at 10:00."""
    return at(9, day), (at(9, day, 10), Action.ACCEPT)


def _alert(n: int, origin: str, case_no: str, *, rule: str, light: str, status: str, opened: datetime, level: int = 0):
    return {
        "alert_id": f"{origin}-A{n:09d}",
        "origin": origin,
        "subject_kind": "case",
        "subject_id": case_no,
        "case_no": case_no,
        "rule_id": rule,
        "rule_version": 1,
        "rule_name": "超期（红灯）" if rule == "SUP-002" else "临近时限（黄灯预警）",
        "light": light,
        "status": status,
        "standing": status != "closed",
        "level": level,
        "department": "市场监督管理局",
        "standards_version": "2026.09.1",
        "opened_at": opened,
        "closed_at": opened + timedelta(days=1) if status == "closed" else None,
        "evidence": [f"{case_no}#0002"],
        "clock": None,
        "details": {},
        "parameters": {},
        "history": [],
        "updated_at": opened,
    }


def _complaint(n: int, origin: str, *, status: str, filed: datetime, due: datetime, answered: datetime | None):
    return {
        "complaint_id": f"{origin}-TS{n:08d}",
        "origin": origin,
        "target": "window",
        "target_id": "W01",
        "complainant": "李四",
        "content": "窗口人员态度不好",
        "channel": "window",
        "status": status,
        "limit_days": 3,
        "filed_at": filed,
        "idx_due_at": due,
        "answered_at": answered,
        "answered_by": "主任" if answered else None,
        "answer": "已整改" if answered else None,
        "history": [],
        "updated_at": answered or filed,
    }


def _rating(n: int, origin: str, case_no: str, level: int):
    return {
        "rating_id": f"{origin}-PJ{n:08d}",
        "origin": origin,
        "case_no": case_no,
        "staff": f"工作人员{n}",
        "level": level,
        "channel": "window",
        "at": at(9, 25),
        "negative": level <= 2,
        "status": "follow_up_pending" if level <= 2 else "recorded",
        "follow_up_limit_days": 5,
        "history": [],
        "updated_at": at(9, 25),
    }


def _score(subject: str, county: str, score: str, rank: int | None, *, version: str = "2026.09.1", **kw: Any):
    row = {
        "computed_by": PROVINCE,
        "rules_version": version,
        "period": "2026-09",
        "level": "county",
        "subject": subject,
        "county": county,
        "cases": 120,
        "score": Decimal(score),
        "small_sample": rank is None,
        "rank": rank,
        "ranked_of": 3,
        "breakdown": {"deductions": [{"rule": "yellow_card", "points": -5, "records": [f"{county}-A000000001"]}]},
        "input_digest": "0" * 64,
        "computed_at": at(10, 2),
    }
    row.update(kw)
    return row


def build_replicas(engine: Engine, bundle: StandardsBundle) -> Replicas:
    clock = FakeClock(at(9, 21))
    with UnitOfWork(engine) as uow:
        apply_bundle(uow.conn, bundle, clock.now)
        uow.commit()
    ju = ApprovalService(engine, JUXIAN, clock)
    wl = ApprovalService(engine, WULIAN, clock)
    ys = ApprovalService(engine, YISHUI, clock)
    rev, dec, con = Action.REVIEW, Action.DECIDE, Action.CONCLUDE
    c = {
        # 莒县: submitted only; red (accepted 09-21: due 09-30 00:00, the clock starts the next working day and
        # Sunday 09-27 is a make-up working day); white; decided on time and concluded; decided late (after its
        # due moment); yellow (accepted 09-22: due 10-01 00:00, yellow from 09-30)
        "A1": _case(ju, clock, at(9, 21)),
        "A2": _case(ju, clock, *_accepted(21)),
        "A3": _case(ju, clock, *_accepted(28)),
        "A4": _case(ju, clock, *_accepted(21), (at(9, 22), rev), (at(9, 23), dec), (at(9, 24), con)),
        "A5": _case(ju, clock, *_accepted(21), (at(9, 22), rev), (at(9, 30, 8), dec)),
        "A6": _case(ju, clock, *_accepted(22)),
        # 五莲县: red; decided on time and concluded
        "B1": _case(wl, clock, *_accepted(21)),
        "B2": _case(wl, clock, *_accepted(21), (at(9, 22), rev), (at(9, 22, 15), dec), (at(9, 23), con)),
        # 沂水县 (another city): decided on time
        "C1": _case(ys, clock, *_accepted(21), (at(9, 22), rev), (at(9, 22, 15), dec)),
    }
    with UnitOfWork(engine) as uow:
        uow.conn.execute(
            insert(alerts),
            [
                # the late decision's (closed: it still marks the case late)
                _alert(1, JUXIAN, c["A5"], rule="SUP-002", light="red", status="closed", opened=at(9, 30, 0)),
                _alert(2, JUXIAN, c["A2"], rule="SUP-002", light="red", status="open", opened=at(9, 30, 0), level=1),
                _alert(3, JUXIAN, c["A6"], rule="SUP-001", light="yellow", status="acknowledged", opened=at(9, 30, 0)),
                _alert(1, WULIAN, c["B1"], rule="SUP-002", light="red", status="open", opened=at(9, 30, 0)),
                _alert(1, YISHUI, c["C1"], rule="SUP-001", light="yellow", status="open", opened=at(9, 22, 0)),
            ],
        )
        uow.conn.execute(
            insert(complaints),
            [  # 莒县: open and overdue at NOW, answered on time, answered late; 五莲县: open, not yet due
                _complaint(1, JUXIAN, status="open", filed=at(9, 22), due=at(9, 25, 0), answered=None),
                _complaint(2, JUXIAN, status="answered", filed=at(9, 22), due=at(9, 25, 0), answered=at(9, 23)),
                _complaint(3, JUXIAN, status="closed", filed=at(9, 22), due=at(9, 25, 0), answered=at(9, 29)),
                _complaint(1, WULIAN, status="open", filed=at(9, 29), due=at(10, 10, 0), answered=None),
            ],
        )
        uow.conn.execute(
            insert(ratings),
            [
                _rating(1, JUXIAN, c["A4"], 5),
                _rating(2, JUXIAN, c["A4"], 4),
                _rating(3, JUXIAN, c["A5"], 1),
                _rating(1, WULIAN, c["B2"], 3),
                _rating(1, YISHUI, c["C1"], 2),
            ],
        )
        uow.conn.execute(
            insert(scores),
            [
                _score(WULIAN, WULIAN, "95.00", 1),
                _score(JUXIAN, JUXIAN, "92.50", 2),
                _score(YISHUI, YISHUI, "80.00", 3),
                _score("371102", "371102", "99.00", None, cases=8),  # a small sample: shown, not ranked
                # an older computation of the same period under other rules: not shown unless asked
                _score(JUXIAN, JUXIAN, "70.00", 1, version="2026.08.1", computed_at=at(10, 1), ranked_of=1),
                # the city's own computation for its counties
                _score(JUXIAN, JUXIAN, "90.00", 1, computed_by=RIZHAO, ranked_of=2),
                _score(WULIAN, WULIAN, "85.00", 2, computed_by=RIZHAO, ranked_of=2),
                _score(f"{JUXIAN}/市场监督管理局", JUXIAN, "88.00", 1, level="department", ranked_of=1),
            ],
        )
        uow.commit()
    clock.now = NOW
    return Replicas(engine, clock, c)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def replicas(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, bundle: StandardsBundle
) -> Iterator[Replicas]:
    """One replica data set per backend, shared by the module's tests (they only read it)."""
    drop = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('inspection') / 'node.db'}"
    else:
        url, drop = create_pg_database()
    engine = make_engine(url)
    try:
        upgrade(engine)
        built = build_replicas(engine, bundle)
        accounts = _node(built).accounts
        add_user(accounts, "sd-jiancha", [Role.INSPECTOR], division=PROVINCE, name="赵省督")
        add_user(accounts, "rz-jiancha", [Role.INSPECTOR], division=RIZHAO, name="钱市督")
        add_user(accounts, "sd-admin", [Role.NODE_ADMIN], division=PROVINCE, name="孙管理")
        yield built
    finally:
        engine.dispose()
        if drop is not None:
            drop()


def _node(r: Replicas, division: str = PROVINCE) -> CityNode:
    node = build_node(Config(node=NodeConfig(division=division)), engine=r.engine, clock=r.clock)
    assert isinstance(node, CityNode)  # the province's root is the city's with what the province adds
    return node


def _context(r: Replicas, division: str = PROVINCE) -> InspectionContext:
    return _node(r, division).inspection


# -- scope (pure) ---------------------------------------------------------------------------------------------------


def test_the_scope_is_the_narrower_of_node_and_inspector_and_unrelated_divisions_are_refused() -> None:
    assert resolve_scope(PROVINCE, None).prefix == "37"
    assert resolve_scope(PROVINCE, RIZHAO).prefix == "3711"
    assert resolve_scope(PROVINCE, JUXIAN).prefix == JUXIAN
    assert resolve_scope(RIZHAO, PROVINCE).prefix == "3711"  # a province inspector on a city node: the city's
    with pytest.raises(Forbidden, match="无权访问本节点"):
        resolve_scope(RIZHAO, LINYI)
    with pytest.raises(InvalidDivisionCode):
        resolve_scope(PROVINCE, "37110")
    city = resolve_scope(PROVINCE, RIZHAO)
    with pytest.raises(Forbidden, match="371323"):
        city.require_division(YISHUI)
    with pytest.raises(Forbidden, match="办件"):
        city.require_case("371323-20260921-000001")
    with pytest.raises(Forbidden, match="预警"):
        city.require_alert("371323-A000000001")
    assert city.require_case("371122-20260921-000001") == JUXIAN


def test_month_ranges_default_to_a_year_and_are_bounded() -> None:
    months = month_range(None, None, NOW)
    assert (months[0].isoformat(), months[-1].isoformat(), len(months)) == ("2025-10-01", "2026-09-01", 12)
    assert len(month_range("2024-01", "2026-12", NOW)) == 36
    with pytest.raises(ValidationError, match="36"):
        month_range("2023-12", "2026-12", NOW)
    with pytest.raises(ValidationError, match="晚于"):
        month_range("2026-10", "2026-09", NOW)
    with pytest.raises(ValidationError, match="格式错误"):
        month_range("2026-13", None, NOW)


# -- queries on both backends ---------------------------------------------------------------------------------------


def test_per_county_summaries_have_exact_counts(replicas: Replicas) -> None:
    svc = _context(replicas).service
    found = svc.counties(resolve_scope(PROVINCE, None))
    by = {fig.county: fig for fig, _name in found.items}
    assert len(found.items) == 137  # every county of the province, those without data at zero
    ju = by[JUXIAN]
    assert ju.cases.total == 6
    assert {k: v for k, v in ju.cases.by_status.items() if v} == {
        "submitted": 1,
        "accepted": 3,
        "approved": 1,
        "concluded": 1,
    }
    assert ju.cases.by_light == {"white": 1, "yellow": 1, "red": 1}
    assert (ju.cases.decided, ju.cases.late, ju.cases.on_time) == (2, 1, 1)
    assert (ju.alerts.active, ju.alerts.by_light, ju.alerts.by_rule) == (
        2,
        {"red": 1, "yellow": 1},
        {"SUP-001": 1, "SUP-002": 1},
    )
    cp = ju.complaints
    assert (cp.total, cp.open, cp.overdue, cp.answered, cp.answered_on_time) == (3, 1, 1, 2, 1)
    assert (ju.ratings.total, ju.ratings.negative, ju.ratings.by_level) == (3, 1, {5: 1, 4: 1, 1: 1})
    wl = by[WULIAN]
    assert (wl.cases.total, wl.cases.by_light["red"], wl.cases.decided, wl.cases.late) == (2, 1, 1, 0)
    assert (wl.complaints.open, wl.complaints.overdue) == (1, 0)
    assert by["371102"].cases.total == 0  # known county, nothing sent yet
    assert (found.total.cases.total, found.total.cases.decided, found.total.cases.late) == (9, 4, 1)
    assert found.total.alerts.active == 4  # the closed one is not counted

    city = svc.counties(resolve_scope(PROVINCE, RIZHAO))
    assert [fig.county for fig, _ in city.items] == ["371102", "371103", WULIAN, JUXIAN]
    assert [name for _, name in city.items] == ["东港区", "岚山区", "五莲县", "莒县"]
    assert city.total.cases.total == 8  # 沂水县 not in it


def test_alert_list_filters_and_pages_within_the_scope(replicas: Replicas) -> None:
    svc = _context(replicas).service
    province, city = resolve_scope(PROVINCE, None), resolve_scope(PROVINCE, RIZHAO)
    assert svc.alerts(province).total == 5
    assert svc.alerts(city).total == 4
    assert svc.alerts(city, status="active").total == 3
    assert svc.alerts(city, light="red", status="active").total == 2
    assert [a.alert_id for a in svc.alerts(city, rule_id="SUP-002", county=JUXIAN).items] == [
        f"{JUXIAN}-A000000002",  # same moment as A…01: the higher id first
        f"{JUXIAN}-A000000001",
    ]
    assert svc.alerts(province, level=1).total == 1
    page = svc.alerts(province, page=2, page_size=2)
    assert (len(page.items), page.total) == (2, 5)
    with pytest.raises(Forbidden):
        svc.alerts(city, county=YISHUI)
    with pytest.raises(ValidationError, match="灯色"):
        svc.alerts(city, light="green")


def test_trends_bucket_by_local_month(replicas: Replicas) -> None:
    svc = _context(replicas).service
    trend = svc.trends(resolve_scope(PROVINCE, None), county=None, start="2026-08", end="2026-10")
    aug, sep, oct_ = trend.months
    assert (aug.month, sep.month, oct_.month) == ("2026-08", "2026-09", "2026-10")
    assert (aug.accepted, oct_.accepted, oct_.decided, oct_.alerts_raised) == (0, 0, 0, 0)
    assert (sep.accepted, sep.decided, sep.late, sep.concluded) == (8, 4, 1, 2)
    assert (sep.alerts_raised, sep.alerts_yellow, sep.alerts_red, sep.complaints) == (5, 2, 3, 4)
    ju = svc.trends(resolve_scope(PROVINCE, RIZHAO), county=JUXIAN, start="2026-09", end="2026-09").months[0]
    assert (ju.accepted, ju.decided, ju.late, ju.concluded, ju.alerts_raised, ju.complaints) == (5, 2, 1, 1, 3, 3)


def test_rankings_show_the_latest_rules_of_the_node_or_the_province(replicas: Replicas) -> None:
    svc = _context(replicas).service
    province, city = resolve_scope(PROVINCE, None), resolve_scope(PROVINCE, RIZHAO)
    found = svc.rankings(province, period="2026-09")
    assert found.choice is not None
    assert (found.choice.computed_by, found.choice.rules_version) == (PROVINCE, "2026.09.1")
    assert found.choice.versions == ("2026.09.1", "2026.08.1")
    assert [(r["subject"], r["rank"]) for r in found.rows] == [(WULIAN, 1), (JUXIAN, 2), (YISHUI, 3), ("371102", None)]
    assert [r["subject"] for r in svc.rankings(city).rows] == [WULIAN, JUXIAN, "371102"]  # latest period by default
    older = svc.rankings(province, period="2026-09", rules_version="2026.08.1")
    assert [(r["subject"], str(r["score"])) for r in older.rows] == [(JUXIAN, "70.00")]
    by_city = svc.rankings(city, period="2026-09", computed_by=RIZHAO)
    assert [(r["subject"], r["rank"]) for r in by_city.rows] == [(JUXIAN, 1), (WULIAN, 2)]
    dept = svc.rankings(city, period="2026-09", level="department", county=JUXIAN)
    assert [r["subject"] for r in dept.rows] == [f"{JUXIAN}/市场监督管理局"]
    # the city node itself prefers its own computation
    assert _context(replicas, RIZHAO).service.rankings(resolve_scope(RIZHAO, None)).choice.computed_by == RIZHAO  # type: ignore[union-attr]
    assert svc.rankings(province, period="2025-01").choice is None
    with pytest.raises(ValidationError, match="考核周期"):
        svc.rankings(province, period="2026-13")


# -- HTTP: a real server --------------------------------------------------------------------------------------------


class ServerThread:
    """A real uvicorn server on 127.0.0.1 port 0 in a thread (signals stay with the main thread)."""

    def __init__(self, app: Any) -> None:
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, access_log=False))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            assert self.thread.is_alive(), "uvicorn exited"
            time.sleep(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def _extra_router(ctx: InspectionContext) -> APIRouter:
    """A router mounted the way the orders router is: built from the context, its rule and scope from the login."""
    router = APIRouter(prefix="/api/v1")

    @router.get("/extra")
    def extra(who: Annotated[Principal, Who(Permission.INSPECT)]) -> dict[str, str]:
        return {"node": ctx.division, "prefix": ctx.scope(who.division).prefix}

    return router


@dataclass
class Api:
    client: httpx.Client  # the province's inspector (赵省督, 370000)
    r: Replicas
    city: httpx.Client  # 日照 (371100)'s inspector, logged in at the province


@pytest.fixture
def api(replicas: Replicas) -> Iterator[Api]:
    node = _node(replicas)
    app = create_inspector_app(node.inspection, node.accounts, routers=[_extra_router])
    with (
        ServerThread(app) as url,
        httpx.Client(base_url=url, timeout=10.0) as client,
        httpx.Client(base_url=url, timeout=10.0) as city,
    ):
        log_in(client, "sd-jiancha")
        log_in(city, "rz-jiancha")
        yield Api(client, replicas, city)


def test_http_summary_alerts_and_health(api: Api) -> None:
    client = api.client
    health = client.get("/api/v1/health").json()
    assert (health["division"], health["level"], health["prefix"]) == (PROVINCE, "province", "37")
    assert health["standards_version"] == "2026.09.1"
    assert health["now"] == "2026-09-30T09:00:00+08:00"
    assert "/api/v1/trends" in client.get("/openapi.json").json()["paths"]
    assert api.city.get("/api/v1/extra").json() == {"node": PROVINCE, "prefix": "3711"}
    assert client.get("/api/v1/extra").json() == {"node": PROVINCE, "prefix": "37"}

    body = client.get("/api/v1/counties").json()
    assert body["scope"] == {"node": PROVINCE, "division": PROVINCE, "prefix": "37"}
    ju = next(i for i in body["items"] if i["county"] == JUXIAN)
    assert ju["name"] == "莒县"
    assert ju["cases"]["by_light"] == {"white": 1, "yellow": 1, "red": 1}
    assert (ju["cases"]["decided"], ju["cases"]["on_time"], ju["cases"]["on_time_rate"]) == (2, 1, 0.5)
    assert ju["complaints"]["answered_on_time_rate"] == 0.5
    assert ju["ratings"]["by_level"] == {"5": 1, "4": 1, "3": 0, "2": 0, "1": 1}
    assert ju["ratings"]["satisfaction"] == 0.6667
    assert body["total"]["cases"]["total"] == 9
    assert next(i for i in body["items"] if i["county"] == "371102")["cases"]["on_time_rate"] is None

    one = client.get(f"/api/v1/counties/{WULIAN}").json()["summary"]
    assert (one["name"], one["cases"]["total"], one["alerts"]["active"]) == ("五莲县", 2, 1)

    alerts = client.get("/api/v1/alerts", params={"status": "active", "light": "red"}).json()
    assert alerts["total"] == 2
    assert {a["origin"] for a in alerts["items"]} == {JUXIAN, WULIAN}
    alert = client.get(f"/api/v1/alerts/{JUXIAN}-A000000002").json()
    assert (alert["rule_id"], alert["level_label"], alert["status_label"]) == ("SUP-002", "市级", "待签收")
    assert client.get(f"/api/v1/alerts/{JUXIAN}-A000000099").status_code == 404


def test_http_case_drill_down_has_timeline_clock_and_supervision(api: Api) -> None:
    client, r = api.client, api.r
    body = client.get(f"/api/v1/cases/{r.cases['A2']}").json()
    assert body["case"]["status"] == "accepted"
    assert [e["action"] for e in body["timeline"]] == ["submit", "accept"]
    promised = body["clock"]["promised"]
    assert (promised["light"], promised["due_at"], promised["budget_days"]) == (
        "red",
        "2026-09-30T00:00:00+08:00",
        5,
    )
    assert promised["overdue_days"] == 1  # today, 09-30
    assert [a["alert_id"] for a in body["alerts"]] == [f"{JUXIAN}-A000000002"]
    late = api.city.get(f"/api/v1/cases/{r.cases['A5']}").json()
    assert [e["action"] for e in late["timeline"]] == ["submit", "accept", "review", "decide"]
    assert [x["level"] for x in late["ratings"]] == [1]
    assert client.get(f"/api/v1/cases/{JUXIAN}-20260921-000099").status_code == 404
    bad = client.get("/api/v1/cases/not-a-case")
    assert bad.status_code == 422
    assert "格式错误" in bad.json()["error"]["message"]


def test_http_a_city_inspector_cannot_see_another_citys_counties(api: Api) -> None:
    client, r, city = api.client, api.r, api.city
    for path in (
        f"/api/v1/counties/{YISHUI}",
        f"/api/v1/cases/{r.cases['C1']}",
        f"/api/v1/alerts/{YISHUI}-A000000001",
        f"/api/v1/alerts?county={YISHUI}",
        f"/api/v1/trends?county={YISHUI}",
        f"/api/v1/rankings?county={YISHUI}",
    ):
        resp = city.get(path)
        assert resp.status_code == 403, path
        error = resp.json()["error"]
        assert error["code"] == "forbidden"
        assert "无权查看" in error["message"], error
    # the same requests by the province's own inspector are served
    assert client.get(f"/api/v1/counties/{YISHUI}").status_code == 200
    assert client.get(f"/api/v1/cases/{r.cases['C1']}").status_code == 200
    # lists are filtered to the inspector's counties
    counties = city.get("/api/v1/counties").json()
    assert [i["county"] for i in counties["items"]] == ["371102", "371103", WULIAN, JUXIAN]
    assert counties["total"]["name"] == "日照市"
    assert {a["origin"] for a in city.get("/api/v1/alerts").json()["items"]} == {JUXIAN, WULIAN}
    ranking = city.get("/api/v1/rankings", params={"period": "2026-09"}).json()
    assert [i["county"] for i in ranking["items"]] == [WULIAN, JUXIAN, "371102"]
    trend = city.get("/api/v1/trends", params={"from": "2026-09", "to": "2026-09"}).json()
    assert trend["months"][0]["accepted"] == 7
    # a person without the inspector's role; an unknown county
    with httpx.Client(base_url=str(client.base_url), timeout=10.0) as admin:
        log_in(admin, "sd-admin")
        assert admin.get("/api/v1/counties").status_code == 403
    missing = client.get("/api/v1/counties/379999")
    assert missing.status_code == 404
    assert "不是本节点所辖的县级区划" in missing.json()["error"]["message"]


def test_http_rankings_and_trends(api: Api) -> None:
    client = api.client
    body = client.get("/api/v1/rankings", params={"period": "2026-09", "level": "county"}).json()
    assert (body["computed_by"], body["rules_version"], body["versions"]) == (
        PROVINCE,
        "2026.09.1",
        ["2026.09.1", "2026.08.1"],
    )
    first = body["items"][0]
    assert (first["subject"], first["county_name"], first["score"], first["rank"], first["ranked_of"]) == (
        WULIAN,
        "五莲县",
        95.0,
        1,
        3,
    )
    assert first["breakdown"]["deductions"][0]["points"] == -5
    small = body["items"][-1]
    assert (small["subject"], small["small_sample"], small["rank"]) == ("371102", True, None)
    assert client.get("/api/v1/rankings", params={"level": "hall"}).status_code == 422
    assert client.get("/api/v1/rankings", params={"period": "2026-09", "rules_version": "x"}).status_code == 404
    empty = client.get("/api/v1/rankings", params={"period": "2024"}).json()
    assert (empty["items"], empty["computed_by"]) == ([], None)

    trend = client.get("/api/v1/trends", params={"from": "2026-08", "to": "2026-09"}).json()
    assert [m["month"] for m in trend["months"]] == ["2026-08", "2026-09"]
    sep = trend["months"][1]
    assert (sep["accepted"], sep["decided"], sep["on_time"], sep["on_time_rate"], sep["alerts_red"]) == (
        8,
        4,
        3,
        0.75,
        3,
    )
    assert client.get("/api/v1/trends", params={"from": "2026-9"}).status_code == 422
