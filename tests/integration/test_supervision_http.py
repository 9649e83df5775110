"""The supervision routes of the county HTTP API (电子监察) over a real migrated SQLite database, in-process.

The node is assembled by hand with a :class:`tests.conftest.FakeClock` (as in ``test_http_api``), so a sweep
``now`` is an exact moment: the red light is raised at the case's due moment, not a second before. The client is
logged in as the county's supervisor (监察员); cases are taken in by the window clerk (窗口人员). Who acts is the
logged-in person: the history names them, no request body does.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from county_node.bootstrap import CountyNode, assemble_county_node
from county_node.entrypoints.http import create_app
from county_node.supervision.domain import CASE_RULES
from federation.config import Config, NodeConfig
from federation.standards import StandardsBundle
from federation.storage.audit_log import AUDIT_RECORD
from federation.storage.engine import make_engine
from federation.storage.tables import alerts, complaints, outbox, ratings
from migrations.runner import upgrade
from tests.conftest import FakeClock
from tests.people import PASSWORD, add_staff, bearer, log_in

with warnings.catch_warnings():
    # Starlette asks for the "httpx2" distribution instead of httpx; the client behaves the same (see test_http_api)
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette.testclient` is deprecated")
    from fastapi.testclient import TestClient

DIVISION = "371122"
FOOD = "XK00003000"  # 食品经营许可: promised 5 working days
FOOD_DATA = {"统一社会信用代码": "91371122MA3C000001", "经营场所": "莒县城阳街道 1 号"}
UNKNOWN_CASE = f"{DIVISION}-20260921-999999"
SUPERVISOR = "王海燕（监察员，supervisor）"  # the logged-in person, as every history records them
ANONYMOUS = {"Authorization": ""}  # a request without the client's login


@pytest.fixture
def sqlite_engine(sqlite_url: str) -> Iterator[Engine]:
    eng = make_engine(sqlite_url)
    upgrade(eng)
    yield eng
    eng.dispose()


def make_node(engine: Engine, clock: FakeClock) -> CountyNode:
    return assemble_county_node(Config(node=NodeConfig(division=DIVISION, name="莒县")), engine, clock)


@pytest.fixture
def node(sqlite_engine: Engine, clock: FakeClock, bundle: StandardsBundle) -> CountyNode:
    county = make_node(sqlite_engine, clock)
    county.approval.apply_standards(bundle)
    return county


@pytest.fixture
def client(node: CountyNode) -> Iterator[TestClient]:
    add_staff(node.accounts)
    with TestClient(create_app(node)) as c:
        log_in(c, "supervisor")
        yield c


def as_user(client: TestClient, user_id: str) -> dict[str, str]:
    """The bearer header of another person of the hall (the client stays logged in as the supervisor)."""
    resp = client.post("/api/v1/auth/token", data={"username": user_id, "password": PASSWORD})
    assert resp.status_code == 200, resp.text
    client.cookies.clear()
    return bearer(str(resp.json()["access_token"]))


def assert_error(resp: Any, status: int, code: str) -> dict[str, Any]:
    """The one error shape, with a Chinese message and no traceback."""
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code, body
    assert any("\u4e00" <= ch <= "\u9fff" for ch in body["error"]["message"]), body
    assert "Traceback" not in resp.text
    error: dict[str, Any] = body["error"]
    return error


def counts(engine: Engine) -> dict[str, int]:
    """Rows of the supervision tables and of the outbox but its audit records (a refusal is audited: that entry
    goes up with the county's records; nothing else may be written)."""
    with engine.connect() as conn:
        found = {
            t.name: int(conn.execute(select(func.count()).select_from(t)).scalar_one())
            for t in (alerts, complaints, ratings)
        }
        query = select(func.count()).select_from(outbox).where(outbox.c.record_type != AUDIT_RECORD)
        return found | {"outbox": int(conn.execute(query).scalar_one())}


def accepted_case(client: TestClient) -> tuple[str, datetime]:
    """A food licence submitted and accepted now; its case number and promised due moment."""
    clerk = as_user(client, "clerk")
    body = {"item_code": FOOD, "applicant": "张三", "data": FOOD_DATA}
    resp = client.post("/api/v1/cases", json=body, headers=clerk)
    assert resp.status_code == 201, resp.text
    case_no: str = resp.json()["case"]["case_no"]
    resp = client.post(f"/api/v1/cases/{case_no}/actions/accept", json={}, headers=clerk)
    assert resp.status_code == 200, resp.text
    due_at = datetime.fromisoformat(resp.json()["clock"]["promised"]["due_at"])
    return case_no, due_at


def sweep(client: TestClient) -> dict[str, Any]:
    resp = client.post("/api/v1/supervision/sweep")
    assert resp.status_code == 200, resp.text
    report: dict[str, Any] = resp.json()
    return report


def red_alert(client: TestClient, clock: FakeClock) -> tuple[str, str]:
    """A case swept at its due moment: its case number and the id of its red alert (SUP-002)."""
    case_no, due_at = accepted_case(client)
    clock.now = due_at
    report = sweep(client)
    assert report["raised"]["SUP-002"] == 1
    clock.now = due_at + timedelta(hours=1)
    page = client.get("/api/v1/alerts", params={"rule_id": "SUP-002", "case_no": case_no}).json()
    assert page["total"] == 1
    alert_id: str = page["items"][0]["alert_id"]
    return case_no, alert_id


# -- sweep and alert queries ---------------------------------------------------------------------------------------


def test_sweep_raises_the_red_light_at_the_due_moment(client: TestClient, clock: FakeClock) -> None:
    _, due_at = accepted_case(client)
    clock.now = due_at - timedelta(seconds=1)
    assert "SUP-002" not in sweep(client)["raised"]
    clock.now = due_at
    report = sweep(client)
    assert report["as_of"] == due_at.isoformat()
    assert report["raised"]["SUP-002"] == 1
    assert report["rule_names"]["SUP-002"] == "超期（红灯）"
    assert set(report) == {"as_of", "raised", "cleared", "escalated", "evaluated", "rule_names"}
    assert "SUP-002" not in sweep(client)["raised"]  # never alerted twice


def test_alert_list_filters_and_labels(client: TestClient, clock: FakeClock) -> None:
    case_no, alert_id = red_alert(client, clock)
    page = client.get("/api/v1/alerts", params={"light": "red"}).json()
    assert page["total"] == 1
    assert (page["page"], page["page_size"]) == (1, 20)
    item = page["items"][0]
    assert item["alert_id"] == alert_id
    assert item["case_no"] == case_no
    assert item["light"] == "red"
    assert item["light_label"] == "红灯"
    assert item["status"] == "open"
    assert item["status_label"] == "待签收"
    assert item["rule_name"] == "超期（红灯）"
    assert item["level_label"] == "县级"
    assert item["evidence"]
    assert item["clock"]["due_at"].endswith("+08:00")
    assert item["opened_at"].endswith("+08:00")
    assert item["history"][0]["action_label"] == "触发"

    def total(**params: Any) -> int:
        resp = client.get("/api/v1/alerts", params=params)
        assert resp.status_code == 200, resp.text
        n: int = resp.json()["total"]
        return n

    everything = total()
    assert everything >= 2  # the red light, and SUP-003 (the step never reviewed)
    assert total(rule_id="SUP-002") == 1
    assert total(rule_id="SUP-001") == 0
    assert total(status="active") == everything
    assert total(status="open", light="red") == 1
    assert total(status="closed") == 0
    assert total(case_no=case_no) == everything
    assert total(case_no=UNKNOWN_CASE) == 0
    assert total(level=0) == everything
    assert total(level=1) == 0
    one = client.get("/api/v1/alerts", params={"page_size": 1, "page": 2}).json()
    assert len(one["items"]) == 1
    assert one["total"] == everything

    assert "预警灯色" in assert_error(client.get("/api/v1/alerts?light=green"), 422, "validation_error")["message"]
    assert "监察规则" in assert_error(client.get("/api/v1/alerts?rule_id=SUP-999"), 422, "validation_error")["message"]
    assert "预警状态" in assert_error(client.get("/api/v1/alerts?status=done"), 422, "validation_error")["message"]
    assert_error(client.get("/api/v1/alerts?page_size=0"), 422, "validation_error")
    assert_error(client.get("/api/v1/alerts?level=3"), 422, "validation_error")


def test_alert_detail_and_unknown_alert(client: TestClient, clock: FakeClock) -> None:
    _, alert_id = red_alert(client, clock)
    detail = client.get(f"/api/v1/alerts/{alert_id}").json()
    assert detail["alert_id"] == alert_id
    assert detail["parameters"] == {"yellow_days": 1, "yellow_share": 0.8}
    error = assert_error(client.get(f"/api/v1/alerts/{DIVISION}-A000009999"), 404, "alert_not_found")
    assert "未找到预警" in error["message"]


# -- alert actions ---------------------------------------------------------------------------------------------------


def test_alert_lifecycle_over_http(client: TestClient, clock: FakeClock) -> None:
    _, alert_id = red_alert(client, clock)
    url = f"/api/v1/alerts/{alert_id}"
    steps = [
        ("acknowledge", {}, "acknowledged", "已签收"),
        ("urge", {"reason": "请今日内办结"}, "urged", "已催办"),
        ("supervise", {"reason": "挂牌督办"}, "supervised", "已督办"),
        ("close", {"reason": "已办结，约谈经办人"}, "closed", "已关闭"),
    ]
    for action, body, status, label in steps:
        clock.now += timedelta(minutes=10)
        resp = client.post(f"{url}/{action}", json=body)
        assert resp.status_code == 200, resp.text
        assert resp.json()["status"] == status
        assert resp.json()["status_label"] == label
    closed = client.get(url).json()
    assert closed["close_reason"] == "已办结，约谈经办人"
    assert closed["closed_at"] == clock.now.isoformat()
    assert [h["action"] for h in closed["history"]] == ["raise", "acknowledge", "urge", "supervise", "close"]
    assert [h["action_label"] for h in closed["history"]] == ["触发", "签收", "催办", "督办", "关闭"]
    assert {h["actor"] for h in closed["history"][1:]} == {SUPERVISOR}
    assert closed["history"][2] == {
        "action": "urge",
        "action_label": "催办",
        "actor": SUPERVISOR,
        "at": closed["history"][2]["at"],
        "reason": "请今日内办结",
    }


def test_bad_alert_actions_are_refused_and_write_nothing(
    client: TestClient, clock: FakeClock, sqlite_engine: Engine
) -> None:
    _, alert_id = red_alert(client, clock)
    url = f"/api/v1/alerts/{alert_id}"
    before = counts(sqlite_engine)
    urge = assert_error(client.post(f"{url}/urge", json={}), 422, "validation_error")
    assert "原因" in urge["message"]
    anonymous = client.post(f"{url}/acknowledge", json={}, headers=ANONYMOUS)
    assert_error(anonymous, 401, "unauthenticated")
    assert anonymous.headers["WWW-Authenticate"] == "Bearer"
    clerk = as_user(client, "clerk")  # reads alerts, does not handle them
    assert client.get(url, headers=clerk).status_code == 200
    assert (
        "无权" in assert_error(client.post(f"{url}/acknowledge", json={}, headers=clerk), 403, "forbidden")["message"]
    )
    assert_error(client.post(f"{url}/escalate", json={}, headers=clerk), 403, "forbidden")
    assert_error(client.post("/api/v1/supervision/sweep", headers=clerk), 403, "forbidden")
    assert client.get(url).json()["status"] == "open"
    extra = client.post(f"{url}/acknowledge", json={"level": 2})
    assert "不接受此参数" in assert_error(extra, 422, "validation_error")["message"]
    unknown = assert_error(client.post(f"{url}/reopen", json={}), 404, "not_found")
    assert "未知的预警操作“reopen”" in unknown["message"]
    assert "acknowledge" in unknown["message"]
    system = assert_error(client.post(f"{url}/escalate", json={}), 404, "not_found")
    assert "由系统执行" in system["message"]
    missing = client.post(f"/api/v1/alerts/{DIVISION}-A000009999/acknowledge", json={})
    assert_error(missing, 404, "alert_not_found")
    assert counts(sqlite_engine) == before

    assert client.post(f"{url}/close", json={"reason": "已处理"}).status_code == 200
    before = counts(sqlite_engine)
    again = assert_error(client.post(f"{url}/close", json={"reason": "再关"}), 409, "invalid_transition")
    assert "已关闭" in again["message"]
    assert_error(client.post(f"{url}/acknowledge", json={}), 409, "invalid_transition")
    assert counts(sqlite_engine) == before


# -- the case's supervision view -------------------------------------------------------------------------------------


def test_case_supervision_view(client: TestClient, clock: FakeClock) -> None:
    case_no, alert_id = red_alert(client, clock)
    client.post(
        "/api/v1/complaints",
        json={"target": "case", "target_id": case_no, "complainant": "张三", "content": "超期"},
    )
    client.post("/api/v1/ratings", json={"case_no": case_no, "staff": "窗口01", "level": 1, "comment": "太慢"})
    view = client.get(f"/api/v1/cases/{case_no}/supervision").json()
    assert view["case_no"] == case_no
    assert view["as_of"] == clock.now.isoformat()
    assert [r["rule_id"] for r in view["rules"]] == [r.rule_id for r in CASE_RULES]
    rules = {r["rule_id"]: r for r in view["rules"]}
    red = rules["SUP-002"]
    assert red["fired"]
    assert red["rule_name"] == "超期（红灯）"
    assert red["light"] == "red"
    assert red["light_label"] == "红灯"
    assert red["evidence"]
    assert red["clock"]["overdue_days"] >= 0
    assert red["clock"]["due_at"].endswith("+08:00")
    assert isinstance(red["details"], dict)
    assert not rules["SUP-001"]["fired"]
    assert rules["SUP-001"]["light"] is None
    assert alert_id in [a["alert_id"] for a in view["alerts"]]
    assert [c["content"] for c in view["complaints"]] == ["超期"]
    assert [(r["level"], r["level_label"]) for r in view["ratings"]] == [(1, "非常不满意")]
    assert_error(client.get(f"/api/v1/cases/{UNKNOWN_CASE}/supervision"), 404, "case_not_found")


# -- complaints ------------------------------------------------------------------------------------------------------


def test_complaint_lifecycle_over_http(client: TestClient, clock: FakeClock) -> None:
    case_no, _ = accepted_case(client)
    body = {
        "target": "case",
        "target_id": case_no,
        "complainant": "张三",
        "content": "办理太慢",
        "channel": "12345",
    }
    resp = client.post("/api/v1/complaints", json=body)
    assert resp.status_code == 201, resp.text
    filed = resp.json()
    complaint_id = filed["complaint_id"]
    assert resp.headers["Location"] == f"/api/v1/complaints/{complaint_id}"
    assert filed["status"] == "open"
    assert filed["status_label"] == "待答复"
    assert filed["target_label"] == "办件"
    assert filed["channel_label"] == "12345 热线"
    assert filed["case_no"] == case_no
    assert filed["limit_days"] == 5
    assert filed["due_at"].endswith("+08:00")
    window = client.post(
        "/api/v1/complaints",
        json={
            "target": "window",
            "target_id": "3 号窗口",
            "complainant": "李四",
            "content": "态度差",
            "limit_days": 20,
        },
    ).json()
    assert window["limit_days"] == 20
    assert window["channel"] == "window"

    assert client.get("/api/v1/complaints").json()["total"] == 2
    by_case = client.get("/api/v1/complaints", params={"case_no": case_no}).json()
    assert [c["complaint_id"] for c in by_case["items"]] == [complaint_id]
    assert client.get("/api/v1/complaints", params={"status": "answered"}).json()["total"] == 0
    assert_error(client.get("/api/v1/complaints?status=pending"), 422, "validation_error")
    assert client.get(f"/api/v1/complaints/{complaint_id}").json() == filed

    # not answered in time: the sweep raises SUP-101
    clock.now = datetime.fromisoformat(filed["due_at"])
    assert sweep(client)["raised"]["SUP-101"] == 1
    clock.now += timedelta(hours=2)
    answered = client.post(f"/api/v1/complaints/{complaint_id}/answer", json={"answer": "已督促办理"})
    assert answered.status_code == 200, answered.text
    assert answered.json()["status_label"] == "已答复"
    assert answered.json()["answered_by"] == SUPERVISOR
    assert client.get("/api/v1/complaints", params={"status": "answered"}).json()["total"] == 1
    closed = client.post(f"/api/v1/complaints/{complaint_id}/close", json={"reason": "申请人满意"})
    assert closed.status_code == 200, closed.text
    assert closed.json()["status"] == "closed"
    assert [h["action_label"] for h in closed.json()["history"]] == ["登记投诉", "答复", "办结"]
    assert {h["actor"] for h in closed.json()["history"]} == {SUPERVISOR}
    again = client.post(f"/api/v1/complaints/{complaint_id}/close", json={})
    assert_error(again, 409, "invalid_transition")
    answer_closed = client.post(f"/api/v1/complaints/{complaint_id}/answer", json={"answer": "x"})
    assert_error(answer_closed, 409, "invalid_transition")


def test_bad_complaints_are_refused_and_write_nothing(client: TestClient, sqlite_engine: Engine) -> None:
    base = {"target": "case", "complainant": "张三", "content": "太慢"}
    before = counts(sqlite_engine)
    unknown_case = client.post("/api/v1/complaints", json={**base, "target_id": UNKNOWN_CASE})
    assert "未找到办件" in assert_error(unknown_case, 404, "case_not_found")["message"]
    bad_target = client.post("/api/v1/complaints", json={**base, "target": "building", "target_id": "1"})
    assert "target" in assert_error(bad_target, 422, "validation_error")["message"]
    empty = client.post("/api/v1/complaints", json={**base, "target": "window", "target_id": "1", "content": " "})
    assert "投诉内容" in assert_error(empty, 422, "validation_error")["message"]
    channel = client.post("/api/v1/complaints", json={**base, "target": "window", "target_id": "1", "channel": "fax"})
    assert "未知的渠道" in assert_error(channel, 422, "validation_error")["message"]
    limit = client.post("/api/v1/complaints", json={**base, "target": "window", "target_id": "1", "limit_days": -1})
    assert "答复时限" in assert_error(limit, 422, "validation_error")["message"]
    missing = f"/api/v1/complaints/{DIVISION}-TS00000099"
    assert_error(client.get(missing), 404, "complaint_not_found")
    assert_error(client.post(f"{missing}/answer", json={"answer": "x"}), 404, "complaint_not_found")
    assert_error(client.post(f"{missing}/close", json={}), 404, "complaint_not_found")
    assert counts(sqlite_engine) == before
    open_one = client.post("/api/v1/complaints", json={**base, "target": "staff", "target_id": "王五"}).json()
    before = counts(sqlite_engine)
    early = client.post(f"/api/v1/complaints/{open_one['complaint_id']}/close", json={})
    assert "请先答复" in assert_error(early, 409, "invalid_transition")["message"]
    assert counts(sqlite_engine) == before


# -- ratings ---------------------------------------------------------------------------------------------------------


def test_ratings_and_follow_up_over_http(client: TestClient, clock: FakeClock) -> None:
    case_no, _ = accepted_case(client)
    resp = client.post("/api/v1/ratings", json={"case_no": case_no, "staff": "窗口01", "level": 5, "comment": "很快"})
    assert resp.status_code == 201, resp.text
    good = resp.json()
    assert resp.headers["Location"] == f"/api/v1/ratings/{good['rating_id']}"
    assert good["level_label"] == "非常满意"
    assert good["status"] == "recorded"
    assert good["status_label"] == "已记录"
    assert not good["negative"]
    assert good["due_at"] is None
    bad = client.post(
        "/api/v1/ratings",
        json={"case_no": case_no, "staff": "审批员", "level": 2, "comment": "反复补正", "channel": "app"},
    ).json()
    assert bad["negative"]
    assert bad["status_label"] == "待回访"
    assert bad["channel_label"] == "移动端"
    assert bad["due_at"] is not None

    assert client.get("/api/v1/ratings").json()["total"] == 2
    negatives = client.get("/api/v1/ratings", params={"negative": "true"}).json()
    assert [r["rating_id"] for r in negatives["items"]] == [bad["rating_id"]]
    assert client.get("/api/v1/ratings", params={"negative": "false"}).json()["total"] == 1
    assert client.get("/api/v1/ratings", params={"staff": "窗口01"}).json()["items"][0] == good
    assert client.get("/api/v1/ratings", params={"case_no": UNKNOWN_CASE}).json()["total"] == 0
    assert client.get(f"/api/v1/ratings/{bad['rating_id']}").json() == bad

    clock.now = datetime.fromisoformat(bad["due_at"])
    assert sweep(client)["raised"]["SUP-201"] == 1
    clock.now += timedelta(hours=1)
    done = client.post(f"/api/v1/ratings/{bad['rating_id']}/follow-up", json={"note": "已回访，申请人表示理解"})
    assert done.status_code == 200, done.text
    assert done.json()["status_label"] == "已回访"
    assert done.json()["follow_up_note"] == "已回访，申请人表示理解"
    assert [h["action_label"] for h in done.json()["history"]] == ["评价", "回访"]
    assert done.json()["followed_up_by"] == SUPERVISOR
    again = client.post(f"/api/v1/ratings/{bad['rating_id']}/follow-up", json={"note": "再访"})
    assert "不需要回访" in assert_error(again, 409, "invalid_transition")["message"]
    good_follow = client.post(f"/api/v1/ratings/{good['rating_id']}/follow-up", json={"note": "x"})
    assert_error(good_follow, 409, "invalid_transition")


@pytest.mark.parametrize("level", [0, 6, -1, 2.5, "五", "5", True, None])
def test_a_rating_outside_one_to_five_is_422_in_chinese_and_writes_nothing(
    client: TestClient, sqlite_engine: Engine, level: Any
) -> None:
    case_no, _ = accepted_case(client)
    before = counts(sqlite_engine)
    resp = client.post("/api/v1/ratings", json={"case_no": case_no, "staff": "窗口01", "level": level})
    error = assert_error(resp, 422, "validation_error")
    assert "level" in error["message"] or "评价等级" in error["message"]
    if level in (0, 6, -1):
        assert "评价等级应为 1（非常不满意）到 5（非常满意）之间的整数" in error["message"]
    assert counts(sqlite_engine) == before


def test_bad_ratings_are_refused_and_write_nothing(client: TestClient, sqlite_engine: Engine) -> None:
    case_no, _ = accepted_case(client)
    assert client.post("/api/v1/ratings", json={"case_no": case_no, "staff": "窗口01", "level": 4}).status_code == 201
    before = counts(sqlite_engine)
    twice = client.post("/api/v1/ratings", json={"case_no": case_no, "staff": "窗口01", "level": 5})
    assert "已对工作人员" in assert_error(twice, 409, "conflict")["message"]
    unknown = client.post("/api/v1/ratings", json={"case_no": UNKNOWN_CASE, "staff": "窗口01", "level": 5})
    assert_error(unknown, 404, "case_not_found")
    no_staff = client.post("/api/v1/ratings", json={"case_no": case_no, "level": 5})
    assert_error(no_staff, 422, "validation_error")
    missing = f"/api/v1/ratings/{DIVISION}-PJ00000099"
    assert_error(client.get(missing), 404, "rating_not_found")
    assert_error(client.post(f"{missing}/follow-up", json={"note": "x"}), 404, "rating_not_found")
    assert counts(sqlite_engine) == before


# -- summary, openapi, a node without standards ----------------------------------------------------------------------


def test_supervision_summary(client: TestClient, clock: FakeClock) -> None:
    empty = client.get("/api/v1/supervision/summary").json()
    assert empty["alerts"]["by_status"] == dict.fromkeys(["open", "acknowledged", "urged", "supervised", "closed"], 0)
    assert empty["complaints"]["by_status"] == {"open": 0, "answered": 0, "closed": 0}
    assert empty["ratings"]["by_level"] == {"5": 0, "4": 0, "3": 0, "2": 0, "1": 0}
    assert empty["alerts"]["rule_names"]["SUP-101"] == "投诉超时未答复"
    assert empty["alerts"]["light_labels"] == {"yellow": "黄灯", "red": "红灯"}

    case_no, alert_id = red_alert(client, clock)
    client.post(f"/api/v1/alerts/{alert_id}/acknowledge", json={})
    client.post(
        "/api/v1/complaints",
        json={"target": "case", "target_id": case_no, "complainant": "张三", "content": "超期"},
    )
    client.post("/api/v1/ratings", json={"case_no": case_no, "staff": "窗口01", "level": 2})
    summary = client.get("/api/v1/supervision/summary").json()
    assert summary["alerts"]["by_rule"]["SUP-002"] == 1
    assert summary["alerts"]["by_light"]["red"] == 1
    assert summary["alerts"]["by_status"]["acknowledged"] == 1
    red = next(r for r in summary["alerts"]["rows"] if r["rule_id"] == "SUP-002")
    assert red == {
        "rule_id": "SUP-002",
        "rule_name": "超期（红灯）",
        "light": "red",
        "status": "acknowledged",
        "count": 1,
    }
    assert summary["complaints"]["by_status"]["open"] == 1
    assert summary["ratings"]["by_level"]["2"] == 1
    assert summary["ratings"]["level_labels"]["2"] == "不满意"


def test_openapi_documents_the_supervision_routes_in_chinese(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    expected = {
        ("/api/v1/alerts", "get"): "预警列表",
        ("/api/v1/alerts/{alert_id}", "get"): "预警详情",
        ("/api/v1/alerts/{alert_id}/acknowledge", "post"): "签收预警（acknowledge）",
        ("/api/v1/alerts/{alert_id}/urge", "post"): "催办预警（urge）",
        ("/api/v1/alerts/{alert_id}/supervise", "post"): "督办预警（supervise）",
        ("/api/v1/alerts/{alert_id}/close", "post"): "关闭预警（close）",
        ("/api/v1/cases/{case_no}/supervision", "get"): "办件监察视图",
        ("/api/v1/complaints", "post"): "登记投诉",
        ("/api/v1/complaints", "get"): "投诉列表",
        ("/api/v1/complaints/{complaint_id}", "get"): "投诉详情",
        ("/api/v1/complaints/{complaint_id}/answer", "post"): "答复投诉",
        ("/api/v1/complaints/{complaint_id}/close", "post"): "办结投诉",
        ("/api/v1/ratings", "post"): "好差评",
        ("/api/v1/ratings", "get"): "评价列表",
        ("/api/v1/ratings/{rating_id}", "get"): "评价详情",
        ("/api/v1/ratings/{rating_id}/follow-up", "post"): "差评回访",
        ("/api/v1/supervision/sweep", "post"): "立即巡检",
        ("/api/v1/supervision/summary", "get"): "监察汇总",
    }
    for (path, method), summary in expected.items():
        assert paths[path][method]["summary"] == summary, (path, method)
    assert "/api/v1/alerts/{alert_id}/{action}" not in paths  # the catch-all for unknown actions is not an operation


def test_a_node_without_standards_cannot_sweep(sqlite_engine: Engine, clock: FakeClock) -> None:
    bare = make_node(sqlite_engine, clock)
    add_staff(bare.accounts)
    with TestClient(create_app(bare)) as c:
        log_in(c, "supervisor")
        assert_error(c.post("/api/v1/supervision/sweep"), 503, "standards_not_loaded")
        assert c.get("/api/v1/alerts").json()["total"] == 0
