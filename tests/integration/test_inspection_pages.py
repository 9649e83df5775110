"""The inspectors' pages (issue 17) of the province over real replicas (built as ``test_inspection`` builds them,
then scored by the real scoring engine), driven in-process with FastAPI's TestClient through the page login:
the lights wall and its live part, alerts, an order issued, withdrawn, listed; the case drill-down (audited);
rankings and trends with their charts, a score explained, the monthly report as CSV — and the scope: a city's
inspector at the province sees its own counties only."""

from __future__ import annotations

import csv
import io
import json
import re
import warnings
from collections.abc import Iterator
from html import unescape
from typing import Any

import pytest
from sqlalchemy import delete, insert

from city_aggregator.bootstrap import CityNode
from city_aggregator.inspection.trend_store import refresh_trend_months
from city_aggregator.scoring.service import compute_scores
from federation.config import Config, NodeConfig
from federation.nodes import build_node
from federation.scoring_rules import default_scoring_rules, parse_scoring_rules
from federation.storage import audit_log
from federation.storage.engine import make_engine
from federation.storage.tables import alerts, scores
from federation.web import csrf_token
from migrations.runner import upgrade
from security.access import Role
from security.http import COOKIE
from tests.integration.test_inspection import (
    JUXIAN,
    NOW,
    PROVINCE,
    RIZHAO,
    WULIAN,
    YISHUI,
    Replicas,
    _alert,
    at,
    build_replicas,
)
from tests.people import PASSWORD, add_user

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette.testclient` is deprecated")
    from fastapi.testclient import TestClient

BASE = "http://testserver"


@pytest.fixture(scope="module")
def province(tmp_path_factory: pytest.TempPathFactory, bundle: Any) -> Iterator[tuple[CityNode, Replicas]]:
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('pages') / 'node.db'}")
    try:
        upgrade(engine)
        replicas = build_replicas(engine, bundle)
        with engine.begin() as conn:  # the hand-made scores replaced by the scoring engine's own
            conn.execute(delete(scores))
        rules = parse_scoring_rules(default_scoring_rules())
        compute_scores(engine, node=PROVINCE, scope="37", periods=["2026-09"], now=NOW, rules=rules, rules_version="r1")
        refresh_trend_months(engine, scope="37", months=["2026-09"], now=NOW)  # as `sunshine score run` does
        node = build_node(Config(node=NodeConfig(division=PROVINCE)), engine=engine, clock=replicas.clock)
        assert isinstance(node, CityNode)
        add_user(node.accounts, "sd-jiancha", [Role.INSPECTOR], division=PROVINCE, name="赵省督")
        add_user(node.accounts, "rz-jiancha", [Role.INSPECTOR], division=RIZHAO, name="钱市督")
        add_user(node.accounts, "sd-admin", [Role.NODE_ADMIN], division=PROVINCE, name="孙管理")
        yield node, replicas
    finally:
        engine.dispose()


def _client(node: CityNode, user: str) -> TestClient:
    client = TestClient(node.http_app(), base_url=BASE, follow_redirects=False)
    r = client.post("/login", data={"username": user, "password": PASSWORD, "next": "/"})
    assert r.status_code == 303, r.text
    return client


def _csrf(client: TestClient) -> str:
    return csrf_token(client.cookies[COOKIE])


def _text(html: str) -> str:
    """The visible text of a page (no tags, no attributes)."""
    html = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", html, flags=re.S)
    return unescape(re.sub(r"<[^>]+>", " ", html))


def _no_english(html: str) -> None:
    words = set(re.findall(r"[A-Za-z]{3,}", _text(html))) - {"SUP", "jiancha"}  # rule ids, account ids
    assert not words, words


def _tile(html: str, key: str) -> dict[str, int]:
    counts = r'data-white="(\d+)" data-yellow="(\d+)" data-red="(\d+)" data-alerts="(\d+)"'
    m = re.search(rf'data-key="{key}"\s+' + counts, html)
    assert m, key
    return dict(zip(("white", "yellow", "red", "alerts"), map(int, m.groups()), strict=True))


def test_the_lights_wall_counts_per_county_and_department_and_refreshes_in_place(
    province: tuple[CityNode, Replicas],
) -> None:
    node, _r = province
    with _client(node, "sd-jiancha") as client:
        assert client.get("/").headers["location"] == "/inspect/wall"
        page = client.get("/inspect/wall")
        assert page.status_code == 200, page.text
        _no_english(page.text)
        assert 'hx-get="/inspect/wall/live"' in page.text
        assert 'hx-trigger="every 5s"' in page.text
        assert _tile(page.text, JUXIAN) == {"white": 1, "yellow": 1, "red": 1, "alerts": 2}
        assert _tile(page.text, WULIAN) == {"white": 0, "yellow": 0, "red": 1, "alerts": 1}
        assert _tile(page.text, YISHUI)["alerts"] == 1
        assert page.text.count('data-testid="wall-tile"') == 137  # every county, those without data at zero
        assert 'data-testid="total-red">2<' in page.text
        # the newest red alerts (the closed one is not shown)
        assert f'data-alert="{JUXIAN}-A000000002"' in page.text
        assert f'data-alert="{WULIAN}-A000000001"' in page.text
        assert f'data-alert="{JUXIAN}-A000000001"' not in page.text
        live = client.get("/inspect/wall/live")
        assert live.status_code == 200
        assert "<html" not in live.text
        assert _tile(live.text, JUXIAN)["red"] == 1
        dept = client.get(f"/inspect/wall?county={JUXIAN}")
        assert "（各部门）" in dept.text
        assert "市场监督管理局" in dept.text
        assert 'hx-get="/inspect/wall/live?county=371122"' in dept.text
        wall = client.get("/inspect/wall?wall=1")
        assert '<body class="wall">' in wall.text


def test_a_city_inspector_sees_its_own_counties_only(province: tuple[CityNode, Replicas]) -> None:
    node, r = province
    with _client(node, "rz-jiancha") as client:
        page = client.get("/inspect/wall")
        keys = set(re.findall(r'data-testid="wall-tile" data-key="(\d+)"', page.text))
        assert keys == {"371102", "371103", WULIAN, JUXIAN}
        assert f"{YISHUI}-A" not in page.text
        alerts = client.get("/inspect/alerts?status=")
        assert set(re.findall(r'data-alert="(\d{6})-', alerts.text)) == {JUXIAN, WULIAN}
        for path in (
            f"/inspect/wall?county={YISHUI}",
            f"/inspect/alerts?county={YISHUI}",
            f"/inspect/alerts/{YISHUI}-A000000001",
            f"/inspect/cases/{r.cases['C1']}",
            f"/inspect/rankings/{YISHUI}",
            f"/inspect/trends?county={YISHUI}",
        ):
            refused = client.get(path)
            assert refused.status_code == 403, path
            assert "无权" in refused.text
        ranking = client.get("/inspect/rankings")
        assert set(re.findall(r'data-subject="(\d+)"', ranking.text)) <= {"371102", "371103", WULIAN, JUXIAN}
        body = client.get("/inspect/report.csv?month=2026-09").content.decode("utf-8-sig")
        assert {row[0] for row in list(csv.reader(io.StringIO(body)))[1:]} == {"371102", "371103", WULIAN, JUXIAN}
        # it reads its city's alerts here, but issues no order in the province's name: no form
        own = client.get(f"/inspect/alerts/{JUXIAN}-A000000002")
        assert own.status_code == 200
        assert 'id="order-form"' not in own.text
    with _client(node, "sd-admin") as client:  # no inspector's role: every page refused
        assert client.get("/inspect/wall").status_code == 403
        assert client.get("/inspect/alerts").status_code == 403


def test_alerts_and_an_order_issued_and_withdrawn(province: tuple[CityNode, Replicas]) -> None:
    node, _r = province
    alert = f"{JUXIAN}-A000000002"
    with _client(node, "sd-jiancha") as client:
        listed = client.get(f"/inspect/alerts?county={JUXIAN}&light=red")
        assert listed.status_code == 200
        _no_english(listed.text)
        assert f'data-alert="{alert}"' in listed.text
        assert "SUP-001" not in listed.text
        assert client.get("/inspect/alerts?light=blue").status_code == 422
        detail = client.get(f"/inspect/alerts/{alert}")
        assert detail.status_code == 200
        _no_english(detail.text)
        assert 'id="order-form"' in detail.text
        assert "尚未下发督办或催办" in detail.text
        form = {"kind": "supervise", "reason": "超期未办结，请三个工作日内办结", "reply_limit_days": "3"}
        assert client.post(f"/inspect/alerts/{alert}/orders", data=form).status_code == 403  # no CSRF token
        issued = client.post(f"/inspect/alerts/{alert}/orders", data=form | {"csrf": _csrf(client)})
        assert issued.status_code == 303, issued.text
        order_page = issued.headers["location"]
        order_id = order_page.rsplit("/", 1)[1]
        assert order_id.startswith(f"{PROVINCE}-OD")
        order = client.get(order_page)
        _no_english(order.text)
        assert "待签收" in order.text
        assert "赵省督" in order.text
        assert 'id="order-withdraw-form"' in order.text
        assert order_id in client.get(f"/inspect/alerts/{alert}").text
        listed = client.get("/inspect/orders?reply=pending")
        assert f'data-order="{order_id}"' in listed.text
        _no_english(listed.text)
        empty = client.post(f"/inspect/orders/{order_id}/withdraw", data={"reason": "", "csrf": _csrf(client)})
        assert empty.status_code == 422  # a reason is required
        withdrawn = client.post(
            f"/inspect/orders/{order_id}/withdraw", data={"reason": "县里已说明", "csrf": _csrf(client)}
        )
        assert withdrawn.status_code == 303
        assert withdrawn.headers["location"] == order_page
        after = client.get(order_page).text
        assert "已撤回" in after
        assert 'id="order-withdraw-form"' not in after


def test_the_case_drill_down_is_audited(province: tuple[CityNode, Replicas]) -> None:
    node, r = province
    alert = f"{JUXIAN}-A000000002"
    with _client(node, "sd-jiancha") as client:
        case_no = r.cases["A2"]
        drill = client.get(f"/inspect/cases/{case_no}")
        assert drill.status_code == 200
        _no_english(drill.text)
        assert "承诺时限" in drill.text
        assert "受理" in drill.text
        assert alert in drill.text
        assert client.get(f"/inspect/cases?case_no={case_no}").headers["location"] == f"/inspect/cases/{case_no}"
        assert client.get(f"/inspect/cases/{JUXIAN}-20260921-000099").status_code == 404
        assert client.get(f"/inspect/alerts/{alert}").status_code == 200
    with node.engine.connect() as conn:
        entries = audit_log.read_entries(conn, PROVINCE, user_id="sd-jiancha")
    targets = {(e.entry.target, e.entry.outcome) for e in entries}
    assert (f"/inspect/cases/{case_no}", "read") in targets
    assert (f"/inspect/alerts/{alert}", "read") in targets


def test_rankings_trends_explanation_and_the_monthly_report(province: tuple[CityNode, Replicas]) -> None:
    node, _ = province
    with _client(node, "sd-jiancha") as client:
        page = client.get("/inspect/rankings")
        assert page.status_code == 200, page.text
        _no_english(page.text)
        assert '<script src="/static/echarts.min.js" defer></script>' in page.text
        option = json.loads(unescape(re.search(r'id="rankings-chart" data-chart="([^"]*)"', page.text)[1]))
        assert option["series"][0]["type"] == "bar"
        assert "2026年9月" in page.text
        assert f'href="/inspect/rankings/{JUXIAN}?period=2026-09"' in page.text
        explained = client.get(f"/inspect/rankings/{JUXIAN}?period=2026-09")
        assert explained.status_code == 200, explained.text
        _no_english(explained.text)
        assert "依据记录" in explained.text
        assert "分项合计与总分一致" in explained.text
        assert client.get("/inspect/rankings?level=department").status_code == 200

        trends = client.get("/inspect/trends?from=2026-07&to=2026-09")
        assert trends.status_code == 200
        _no_english(trends.text)
        option = json.loads(unescape(re.search(r'id="trends-chart" data-chart="([^"]*)"', trends.text)[1]))
        assert option["xAxis"]["data"] == ["2026年7月", "2026年8月", "2026年9月"]
        assert option["series"][0]["data"][-1] == 8  # accepted in September: every case but the submitted one
        assert client.get("/inspect/trends?from=2026-13").status_code == 422

        report = client.get("/inspect/report?month=2026-09")
        assert report.status_code == 200
        _no_english(report.text)
        assert 'href="/inspect/report.csv?month=2026-09"' in report.text
        got = client.get("/inspect/report.csv?month=2026-09")
        assert got.status_code == 200
        assert got.headers["content-type"].startswith("text/csv")
        assert got.content.startswith("\ufeff".encode())
        rows = list(csv.reader(io.StringIO(got.content.decode("utf-8-sig"))))
        assert rows[0][:3] == ["区划代码", "县（市、区）", "受理件数"]
        ju = next(row for row in rows if row[0] == JUXIAN)
        assert ju[1] == "莒县"
        assert ju[2:6] == ["5", "2", "1", "1"]
        assert ju[12] != ""  # scored
        assert len(rows) == 1 + 137


def test_the_stored_trend_months_are_the_live_ones(province: tuple[CityNode, Replicas]) -> None:
    node, _ = province
    svc, scope = node.inspection.service, node.inspection.scope(None)
    for county in (None, JUXIAN, WULIAN):
        stored = svc.trends(scope, county=county, start="2026-08", end="2026-10", stored=True)
        live = svc.trends(scope, county=county, start="2026-08", end="2026-10")
        assert stored.stored == ("2026-09",)  # the month the scoring run counted
        assert stored.stored_at is not None
        assert stored.months == live.months
    city = node.inspection.scope(RIZHAO)
    stored = svc.trends(city, county=None, start="2026-09", end="2026-09", stored=True)
    assert stored.months == svc.trends(city, county=None, start="2026-09", end="2026-09").months
    assert stored.months[0].accepted == 7  # 莒县 5 and 五莲县 2; 沂水县 not in it


def test_a_video_alert_is_on_the_wall_with_its_clip(province: tuple[CityNode, Replicas]) -> None:
    node, _ = province
    lanshan = "371302"  # a county no other test of this module counts
    row = _alert(1, lanshan, "", rule="SUP-301", light="red", status="open", opened=at(9, 30, 8))
    clip = {
        "window": "W03",
        "camera_id": "CAM-7",
        "start": "2026-09-30T07:59:00+08:00",
        "end": "2026-09-30T08:03:00+08:00",
    }
    details = {
        "event_kind": "alarm",
        "camera_id": "CAM-7",
        "window": "W03",
        "at": "2026-09-30T08:00:00+08:00",
        "clip": clip,
    }
    row |= {"subject_kind": "video_event", "subject_id": "371302-E1", "case_no": None, "rule_name": "窗口视频报警"}
    row |= {"details": details, "evidence": ["371302-E1"]}
    with node.engine.begin() as conn:
        conn.execute(insert(alerts), [row])
    with _client(node, "sd-jiancha") as client:
        live = client.get("/inspect/wall/live").text
        assert 'data-alert="371302-A000000001" data-rule="SUP-301"' in live
        assert "摄像机 CAM-7" in live
        assert "2026年9月30日 07:59:00 至 2026年9月30日 08:03:00" in live  # China time
        assert _tile(live, lanshan)["alerts"] == 1
        detail = client.get("/inspect/alerts/371302-A000000001")
        assert detail.status_code == 200
        assert "窗口视频报警" in detail.text
