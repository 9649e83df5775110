"""The hall's pages (issue 17) on a county node's app over a real migrated SQLite database (one walk on PostgreSQL),
driven in-process with FastAPI's TestClient, logged in through the login page with the session cookie and the
CSRF form field, as a browser would: take a case in through the intake form, act on it through the card's forms
until it is concluded, watch its light and remaining days with the clock."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select

from county_node.bootstrap import CountyNode
from county_node.entrypoints.http import create_app
from county_node.supervision.ports import AlertFilter
from county_node.video.domain import Segment
from federation.standards import StandardsBundle
from federation.storage.audit_log import read_entries
from federation.storage.engine import make_engine
from federation.storage.tables import cases
from federation.timeutil import CST
from federation.web import csrf_token
from migrations.runner import upgrade
from security.http import COOKIE
from tests.conftest import FakeClock
from tests.integration.test_http_api import make_node
from tests.people import PASSWORD

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette.testclient` is deprecated")
    from fastapi.testclient import TestClient

BASE = "http://testserver"
ITEM = "XK00001000"  # 企业设立登记: promised 1 working day, legal 3; key data 统一社会信用代码, 法定代表人


class Browser:
    """A TestClient logged in through ``/login`` (the session cookie), posting forms with the CSRF field."""

    def __init__(self, client: TestClient, user: str) -> None:
        self.client = client
        self.client.cookies.clear()
        r = client.post("/login", data={"username": user, "password": PASSWORD, "next": "/"})
        assert r.status_code == 303, r.text
        self.home = r.headers["location"]

    def get(self, url: str) -> object:
        return self.client.get(url)

    def post(self, url: str, data: dict[str, object]) -> object:
        return self.client.post(url, data={**data, "csrf": csrf_token(self.client.cookies[COOKIE])})


def _count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(cases)).scalar_one())


@pytest.fixture
def hall(sqlite_url: str, clock: FakeClock, bundle: StandardsBundle) -> Iterator[tuple[CountyNode, TestClient, Engine]]:
    engine = make_engine(sqlite_url)
    upgrade(engine)
    node = make_node(engine, clock)
    node.approval.apply_standards(bundle)
    with TestClient(create_app(node), base_url=BASE, follow_redirects=False) as client:
        yield node, client, engine
    engine.dispose()


def _take_in(b: Browser, **extra: object) -> str:
    form: dict[str, object] = {
        "item_code": ITEM,
        "applicant": "张三",
        "window": "W01",
        "data:统一社会信用代码": "91371122MA3C000000",
        "materials": ["申请书", "申请人身份证明"],
        **extra,
    }
    r = b.post("/hall/intake", form)
    assert r.status_code == 303, r.text  # type: ignore[attr-defined]
    location = r.headers["location"]  # type: ignore[attr-defined]
    assert location.startswith("/hall/cases/")
    return str(location.rsplit("/", 1)[1])


def _forms(page: str) -> set[str]:
    return set(re.findall(r'id="act-([a-z_]+)" data-testid="action-form"', page))


def test_each_role_lands_on_its_first_page_and_sees_its_nav(hall: tuple[CountyNode, TestClient, Engine]) -> None:
    _, client, _ = hall
    assert Browser(client, "clerk").home == "/hall/intake"
    page = client.get("/hall/intake").text
    for label in ("办件受理", "办件队列", "预警", "投诉与评价", "督办"):
        assert label in page
    assert Browser(client, "supervisor").home == "/hall/cases"  # no intake: the queue first
    assert "办件受理" not in client.get("/hall/cases").text


def test_intake_to_conclusion_through_the_pages(hall: tuple[CountyNode, TestClient, Engine], clock: FakeClock) -> None:
    node, client, engine = hall
    clerk = Browser(client, "clerk")
    form = clerk.get(f"/hall/intake?item_code={ITEM}").text  # type: ignore[attr-defined]
    assert "统一社会信用代码" in form
    assert 'name="materials" value="申请书"' in form
    case_no = _take_in(clerk)
    card = clerk.get(f"/hall/cases/{case_no}").text  # type: ignore[attr-defined]
    assert "已申请" in card
    assert _forms(card) == {"accept", "refuse_acceptance", "record_data"}  # a clerk: no return (an approver's)
    assert clerk.post(f"/hall/cases/{case_no}/act/accept", {"note": ""}).status_code == 303  # type: ignore[attr-defined]

    queue = clerk.get("/hall/cases").text  # type: ignore[attr-defined]
    row = re.search(rf'<tr data-case="{case_no}" data-light="(\w+)">(.*?)</tr>', queue, re.S)
    assert row is not None
    assert row.group(1) == "white"
    assert 'data-testid="remaining">1<' in row.group(2)
    assert 'hx-trigger="every 10s"' in queue
    card = clerk.get(f"/hall/cases/{case_no}").text  # type: ignore[attr-defined]
    assert {"review", "decide", "suspend", "extend", "return"}.isdisjoint(_forms(card))  # no approver's actions
    assert "request_correction" in _forms(card)

    clock.now = datetime(2026, 9, 24, 10, 0, tzinfo=CST)  # two working days past the promised day
    live = clerk.get("/hall/cases/live?light=red").text  # type: ignore[attr-defined]
    assert f'data-case="{case_no}" data-light="red"' in live
    assert "已超时" in clerk.get(f"/hall/cases/{case_no}").text  # type: ignore[attr-defined]

    # 补正: the clerk asks for it; the 一次性告知书 lists it with the materials not ticked at intake
    r = clerk.post(f"/hall/cases/{case_no}/act/request_correction", {"reason": "营业执照副本复印件"})
    assert r.status_code == 303  # type: ignore[attr-defined]
    notice = clerk.get(f"/hall/cases/{case_no}/notice/correction").text  # type: ignore[attr-defined]
    assert "营业执照副本复印件" in notice
    assert "统一社会信用代码证明材料" in notice
    assert "申请书</li>" not in notice
    assert 'data-print id="print-notice"' in notice
    script = clerk.get("/static/sunshine.js").text  # type: ignore[attr-defined]
    assert '"[data-print]"' in script
    assert "window.print()" in script
    card = clerk.get(f"/hall/cases/{case_no}").text  # type: ignore[attr-defined]
    assert "暂停计时" in card
    assert "补正" in card
    r = clerk.post(f"/hall/cases/{case_no}/act/receive_correction", {"data:法定代表人": "王五"})
    assert r.status_code == 303  # type: ignore[attr-defined]

    _decide_and_conclude(Browser(client, "approver"), node, case_no)
    assert _count(engine) == 1


def _decide_and_conclude(approver: Browser, node: CountyNode, case_no: str) -> None:
    card = approver.get(f"/hall/cases/{case_no}").text  # type: ignore[attr-defined]
    assert {"review", "extend", "return", "suspend"} <= _forms(card)
    assert approver.post(f"/hall/cases/{case_no}/act/review", {"opinion": "材料齐全"}).status_code == 303  # type: ignore[attr-defined]
    # a wrong input (a deny without its reason): the card again with the domain's Chinese message, nothing written
    before = node.approval.get(case_no).case.event_count
    r = approver.post(f"/hall/cases/{case_no}/act/decide", {"outcome": "deny", "reason": ""})
    assert r.status_code in (409, 422)  # type: ignore[attr-defined]
    assert "不予许可的理由" in r.text  # type: ignore[attr-defined]
    assert node.approval.get(case_no).case.event_count == before
    r = approver.post(f"/hall/cases/{case_no}/act/extend", {"days": "很多", "reason": "x", "approver": "y"})
    assert r.status_code == 422  # type: ignore[attr-defined]
    assert "应为整数" in r.text  # type: ignore[attr-defined]
    assert approver.post(f"/hall/cases/{case_no}/act/decide", {"outcome": "approve"}).status_code == 303  # type: ignore[attr-defined]
    assert approver.post(f"/hall/cases/{case_no}/act/conclude", {}).status_code == 303  # type: ignore[attr-defined]

    card = approver.get(f"/hall/cases/{case_no}").text  # type: ignore[attr-defined]
    assert "已办结" in card
    assert 'id="clock-stopped"' in card
    assert "时钟已停止" in card
    assert _forms(card) == set()
    for step in ("受理", "补正告知", "补正接收", "审核", "审批决定", "办结"):
        assert f"<strong>{step}</strong>" in card
    assert f'href="/hall/cases/{case_no}/steps/1/clip"' in card
    notice = approver.get(f"/hall/cases/{case_no}/notice/acceptance").text  # type: ignore[attr-defined]
    assert "受理通知书" in notice
    assert "2026年9月21日" in notice
    assert 'data-print id="print-notice"' in notice  # the print button: sunshine.js's listener, no inline script
    assert "<script>" not in notice
    assert "onclick" not in notice
    assert not re.search(r"\d{4}-\d{2}-\d{2}T", card + notice)  # no raw ISO moments on a page


def test_a_wrong_intake_shows_a_chinese_error_and_writes_nothing(hall: tuple[CountyNode, TestClient, Engine]) -> None:
    _, client, engine = hall
    clerk = Browser(client, "clerk")
    r = clerk.post("/hall/intake", {"item_code": ITEM, "applicant": "张三", "window": "三号窗口"})
    assert r.status_code == 422  # type: ignore[attr-defined]
    assert "窗口编号" in r.text  # type: ignore[attr-defined]
    assert "(field=" not in r.text  # type: ignore[attr-defined]  # the Chinese message, not its English details
    assert 'value="张三"' in r.text  # type: ignore[attr-defined]  # what was typed stays on the form
    r = clerk.post("/hall/intake", {"item_code": ITEM, "applicant": "  "})
    assert r.status_code == 422  # type: ignore[attr-defined]
    assert "缺少申请人" in r.text  # type: ignore[attr-defined]
    r = clerk.post("/hall/intake", {"item_code": "XK99999999", "applicant": "张三"})
    assert r.status_code == 422  # type: ignore[attr-defined]
    assert "请从事项目录中选择" in r.text  # type: ignore[attr-defined]
    assert _count(engine) == 0
    with engine.connect() as conn:
        outcomes = [e.entry.outcome for e in read_entries(conn, "371122") if e.entry.action == "办件受理：申请"]
    assert outcomes == ["validation_error"] * 3  # each refused form on the audit record with its error's code


def test_a_form_without_the_csrf_token_is_refused(hall: tuple[CountyNode, TestClient, Engine]) -> None:
    _, client, engine = hall
    Browser(client, "clerk")
    r = client.post("/hall/intake", data={"item_code": ITEM, "applicant": "张三"})
    assert r.status_code == 403
    assert _count(engine) == 0


def test_another_countys_case_is_not_found(hall: tuple[CountyNode, TestClient, Engine]) -> None:
    _, client, _ = hall
    b = Browser(client, "approver")
    for url in ("/hall/cases/370102-20260921-000001", "/hall/cases/370102-20260921-000001/notice/acceptance"):
        r = b.get(url)
        assert r.status_code in (403, 404), url  # type: ignore[attr-defined]
        assert r.headers["content-type"].startswith("text/html")  # type: ignore[attr-defined]


def test_the_supervisor_handles_an_alert_and_feedback(
    hall: tuple[CountyNode, TestClient, Engine], clock: FakeClock
) -> None:
    node, client, _ = hall
    case_no = _take_in(Browser(client, "clerk"))
    node.approval.act(case_no, node_action("accept"), actor="孙丽")
    clock.now = datetime(2026, 9, 25, 10, 0, tzinfo=CST)
    node.supervision.sweep()
    complaint = node.supervision.file_complaint(
        target="case", target_id=case_no, complainant="李四", content="办理太慢", channel="window", actor="孙丽"
    )
    sup = Browser(client, "supervisor")
    page = sup.get("/hall/alerts").text  # type: ignore[attr-defined]
    ids = re.findall(r'<tr data-alert="([^"]+)"', page)
    assert ids
    assert "县级" in page
    alert_id = ids[0]
    detail = sup.get(f"/hall/alerts/{alert_id}").text  # type: ignore[attr-defined]
    assert 'id="alert-act-acknowledge"' in detail
    r = sup.post(f"/hall/alerts/{alert_id}/close", {"reason": ""})
    assert r.status_code == 422  # type: ignore[attr-defined]
    assert "必须填写原因" in r.text  # type: ignore[attr-defined]
    assert sup.post(f"/hall/alerts/{alert_id}/acknowledge", {}).status_code == 303  # type: ignore[attr-defined]
    detail = sup.get(f"/hall/alerts/{alert_id}").text  # type: ignore[attr-defined]
    assert 'id="alert-act-acknowledge"' not in detail
    assert "已签收" in detail
    page = sup.get("/hall/alerts").text  # type: ignore[attr-defined]
    assert 'hx-get="/hall/alerts/live?status=active&amp;light=&page=1" hx-trigger="every 10s"' in page
    live = sup.get("/hall/alerts/live?status=active&light=&page=1")  # the list's live part: a fragment, no reload
    assert live.status_code == 200  # type: ignore[attr-defined]
    assert "<html" not in live.text  # type: ignore[attr-defined]
    assert f'<tr data-alert="{alert_id}" data-status="acknowledged"' in live.text  # type: ignore[attr-defined]
    assert "更新于 2026年9月25日 10:00:00" in live.text  # type: ignore[attr-defined]

    feedback = sup.get("/hall/feedback").text  # type: ignore[attr-defined]
    assert f'id="answer-{complaint.complaint_id}"' in feedback
    r = sup.post(f"/hall/complaints/{complaint.complaint_id}/answer", {"answer": "已督促办结"})
    assert r.status_code == 303  # type: ignore[attr-defined]
    feedback = sup.get("/hall/feedback").text  # type: ignore[attr-defined]
    assert f'id="close-{complaint.complaint_id}"' in feedback
    clerk_view = Browser(client, "clerk").get("/hall/alerts/" + alert_id).text  # type: ignore[attr-defined]
    assert 'id="alert-act-' not in clerk_view  # a clerk reads alerts, never handles them
    assert Browser(client, "supervisor").get("/hall/orders").status_code == 200  # type: ignore[attr-defined]


def test_a_steps_clip_and_an_alerts_clip_in_chinese(
    hall: tuple[CountyNode, TestClient, Engine], clock: FakeClock
) -> None:
    node, client, _ = hall
    camera = "37112200001311000001"
    node.video.register_camera(
        camera, name="一号窗口摄像机", hall="莒县政务服务大厅", window="W01", since=datetime(2026, 9, 1, tzinfo=CST)
    )
    start = datetime(2026, 9, 21, 8, 55, tzinfo=CST)
    node.video.add_segments([Segment(camera, start, start + timedelta(minutes=5), "file:///nvr/w01/0855.mp4", 9, "x")])
    clerk = Browser(client, "clerk")
    case_no = _take_in(clerk)  # step 1 at 09:00 (the clock), window W01: 08:55–09:00 recorded, 09:00–09:05 not
    card = clerk.get(f"/hall/cases/{case_no}").text  # type: ignore[attr-defined]
    assert f'href="/hall/cases/{case_no}/steps/1/clip"' in card
    page = clerk.get(f"/hall/cases/{case_no}/steps/1/clip").text  # type: ignore[attr-defined]
    assert "一号窗口摄像机" in page
    assert 'id="clip-window">W01<' in page
    assert "2026年9月21日 08:55:00" in page
    assert "file:///nvr/w01/0855.mp4" in page
    assert page.count('data-testid="clip-segment"') == 1
    assert 'data-testid="clip-gap">2026年9月21日 09:00:00 至' in page
    assert not re.search(r"\d{4}-\d{2}-\d{2}T", page)
    assert clerk.get(f"/hall/cases/{case_no}/steps/9/clip").status_code == 404  # type: ignore[attr-defined]

    node.approval.act(case_no, node_action("accept"), actor="孙丽")  # step 2, at 09:00 too
    clock.now = datetime(2026, 9, 25, 10, 0, tzinfo=CST)  # past the promised day: an alert
    node.supervision.sweep()
    alert_id = node.supervision.list_alerts(AlertFilter(status="active"), page=1, page_size=5).items[0].alert_id
    detail = clerk.get(f"/hall/alerts/{alert_id}").text  # type: ignore[attr-defined]
    assert f'href="/hall/alerts/{alert_id}/clip"' in detail
    page = clerk.get(f"/hall/alerts/{alert_id}/clip").text  # type: ignore[attr-defined]
    assert f"预警 {alert_id}" in page
    assert "file:///nvr/w01/0855.mp4" in page  # the case's last step before the alert: the acceptance at 09:00

    later = _take_in(clerk)  # at 10:00 on the 25th: the camera is there, nothing recorded
    page = clerk.get(f"/hall/cases/{later}/steps/1/clip").text  # type: ignore[attr-defined]
    assert 'id="clip-none">该时段无录像' in page
    unwatched = _take_in(clerk, window="W09")
    page = clerk.get(f"/hall/cases/{unwatched}/steps/1/clip").text  # type: ignore[attr-defined]
    assert "窗口 W09 在 2026年9月25日 10:00:00 未绑定摄像机" in page
    assert Browser(client, "approver").get(f"/hall/cases/{case_no}/steps/1/clip").status_code == 200  # type: ignore[attr-defined]


def node_action(name: str) -> object:
    from county_node.approval.domain import Action

    return Action(name)


@pytest.mark.postgresql
def test_the_queue_and_card_on_postgresql(engine: Engine, clock: FakeClock, bundle: StandardsBundle) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("the SQLite walk is above")
    node = make_node(engine, clock)
    node.approval.apply_standards(bundle)
    with TestClient(create_app(node), base_url=BASE, follow_redirects=False) as client:
        clerk = Browser(client, "clerk")
        case_no = _take_in(clerk)
        assert clerk.post(f"/hall/cases/{case_no}/act/accept", {}).status_code == 303  # type: ignore[attr-defined]
        assert f'data-case="{case_no}" data-light="white"' in clerk.get("/hall/cases").text  # type: ignore[attr-defined]
        assert "承诺时限" in clerk.get(f"/hall/cases/{case_no}").text  # type: ignore[attr-defined]
