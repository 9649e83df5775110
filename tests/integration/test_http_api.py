"""The county HTTP API over a real migrated database, driven in-process with FastAPI's TestClient.

The node is assembled by hand with a :class:`tests.conftest.FakeClock`, so deadlines and lights are exact. The
lifecycle test runs on SQLite and PostgreSQL (``engine`` fixture); the others on SQLite. Every client logs in
(``tests.people``): the approver (审批负责人, who may take cases in and decide them) unless a test says otherwise;
the timeline's actor is the logged-in person.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from county_node.approval.domain import Action
from county_node.approval.domain.lifecycle import _PARAMS
from county_node.bootstrap import CountyNode, assemble_county_node
from county_node.entrypoints.http import create_app
from county_node.entrypoints.schemas import ACTION_BODIES
from federation.config import Config, NodeConfig
from federation.errors import (
    CalendarError,
    CaseNotFound,
    ConcurrentUpdate,
    ConfigError,
    InvalidTransition,
    ItemNotFound,
    StandardsError,
    StandardsNotLoaded,
    StorageError,
    SunshineError,
    ValidationError,
)
from federation.http_errors import http_status
from federation.standards import StandardsBundle
from federation.storage.audit_log import AUDIT_RECORD
from federation.storage.engine import make_engine
from federation.storage.tables import outbox
from federation.timeutil import CST
from migrations.runner import upgrade
from tests.conftest import FakeClock
from tests.people import PASSWORD, add_staff, bearer, log_in

with warnings.catch_warnings():
    # Starlette asks for the "httpx2" distribution instead of httpx; the client behaves the same. Only the
    # import warns, so the suite's warnings-as-errors stays in force for everything the tests do.
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette.testclient` is deprecated")
    from fastapi.testclient import TestClient

DIVISION = "371122"
ENTERPRISE = "XK00001000"  # 企业设立登记: promised 1, legal 3 working days; key fields below
ENTERPRISE_DATA = {"统一社会信用代码": "91371122MA3C000000", "法定代表人": "王五"}
FOOD = "XK00003000"  # 食品经营许可: promised 5, legal 10
JOINT = "XK00036000"  # 建设项目联合审批: three departments
CLERK = "孙丽（窗口人员，clerk）"
APPROVER = "李建国（审批负责人，approver）"


def make_node(engine: Engine, clock: FakeClock) -> CountyNode:
    config = Config(node=NodeConfig(division=DIVISION, name="莒县"))
    county = assemble_county_node(config, engine, clock)
    add_staff(county.accounts)
    return county


def as_user(client: TestClient, user_id: str) -> dict[str, str]:
    """The bearer header of another person of the hall (the client's own login stays its default)."""
    resp = client.post("/api/v1/auth/token", data={"username": user_id, "password": PASSWORD})
    assert resp.status_code == 200, resp.text
    client.cookies.clear()
    return bearer(str(resp.json()["access_token"]))


@pytest.fixture
def sqlite_engine(sqlite_url: str) -> Iterator[Engine]:
    eng = make_engine(sqlite_url)
    upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def node(sqlite_engine: Engine, clock: FakeClock, bundle: StandardsBundle) -> CountyNode:
    county = make_node(sqlite_engine, clock)
    county.approval.apply_standards(bundle)
    return county


@pytest.fixture
def client(node: CountyNode) -> Iterator[TestClient]:
    with TestClient(create_app(node)) as c:
        log_in(c, "approver")
        yield c


def submit(client: TestClient, item_code: str = ENTERPRISE, **extra: Any) -> str:
    body = {"item_code": item_code, "applicant": "张三", "data": ENTERPRISE_DATA, **extra}
    resp = client.post("/api/v1/cases", json=body)
    assert resp.status_code == 201, resp.text
    case_no: str = resp.json()["case"]["case_no"]
    return case_no


def act(
    client: TestClient, case_no: str, action: str, *, headers: dict[str, str] | None = None, **params: Any
) -> dict[str, Any]:
    resp = client.post(f"/api/v1/cases/{case_no}/actions/{action}", json=params, headers=headers)
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def assert_error(resp: Any, status: int, code: str) -> dict[str, Any]:
    """The one error shape: {"error": {"code", "message" (Chinese), "details"}} and nothing else."""
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    body = resp.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert any("\u4e00" <= ch <= "\u9fff" for ch in body["error"]["message"]), body  # a Chinese message
    assert "Traceback" not in resp.text
    error: dict[str, Any] = body["error"]
    return error


def outbox_rows(engine: Engine) -> int:
    """Outbox rows but the audit log's (a refused write is audited, and that entry goes up too)."""
    with engine.connect() as conn:
        query = select(func.count()).select_from(outbox).where(outbox.c.record_type != AUDIT_RECORD)
        return int(conn.execute(query).scalar_one())


# -- node and catalogue -------------------------------------------------------------------------------------------


def test_health_reports_division_clock_and_standards(client: TestClient) -> None:
    assert client.get("/api/v1/health").json() == {
        "status": "ok",
        "division": DIVISION,
        "now": "2026-09-21T09:00:00+08:00",
        "standards_version": "2026.09.1",
    }


def test_catalogue_lists_the_items_in_force(client: TestClient, bundle: StandardsBundle) -> None:
    body = client.get("/api/v1/catalogue").json()
    assert body["standards_version"] == "2026.09.1"
    assert body["items"] == [i.to_dict() for i in bundle.items]
    joint = next(i for i in body["items"] if i["code"] == JOINT)
    assert joint["kind"] == "joint"
    assert [d["department"] for d in joint["joint_departments"]] == ["自然资源局", "住房和城乡建设局", "消防救援大队"]


def test_node_without_catalogue_is_not_ready(sqlite_engine: Engine, clock: FakeClock) -> None:
    with TestClient(create_app(make_node(sqlite_engine, clock))) as c:
        log_in(c, "clerk")
        assert c.get("/api/v1/health").json()["standards_version"] is None
        assert c.get("/api/v1/catalogue").json() == {"standards_version": None, "items": []}
        resp = c.post("/api/v1/cases", json={"item_code": ENTERPRISE, "applicant": "张三"})
        error = assert_error(resp, 503, "standards_not_loaded")
        assert "sunshine county init" in error["message"]


# -- the lifecycle ------------------------------------------------------------------------------------------------


def _drive_to_concluded(c: TestClient, clock: FakeClock) -> str:
    """申请 → 受理 → 补正 → 审核 → 延期 → 决定 → 办结, checking what each step returns: the client's clerk takes
    the case in, the approver reviews, extends and decides."""
    approver = as_user(c, "approver")
    resp = c.post(
        "/api/v1/cases",
        json={"item_code": ENTERPRISE, "applicant": "张三", "data": {"法定代表人": "王五"}},
    )
    assert resp.status_code == 201
    created = resp.json()
    case_no: str = created["case"]["case_no"]
    assert case_no == "371122-20260921-000001"
    assert resp.headers["location"] == f"/api/v1/cases/{case_no}"
    assert (created["case"]["status"], created["case"]["status_label"]) == ("submitted", "已申请")
    assert created["clock"] is None  # not accepted: no clock yet
    assert [e["action"] for e in created["timeline"]] == ["submit"]

    clock.set(2026, 9, 21, 9, 30)
    accepted = act(c, case_no, "accept", note="材料齐全")
    assert accepted["clock"]["promised"]["due_date"] == "2026-09-22"
    assert accepted["clock"]["promised"]["due_at"] == "2026-09-23T00:00:00+08:00"
    assert accepted["clock"]["legal"]["due_date"] == "2026-09-24"

    clock.set(2026, 9, 22, 10, 0)  # 补正 for the whole of Tuesday: the clock does not run that day
    corrected = act(c, case_no, "request_correction", reason="缺少法定代表人身份证明")
    assert corrected["case"]["status"] == "correction"
    assert corrected["clock"]["promised"]["paused"] is True
    assert corrected["clock"]["promised"]["due_at"] is None
    clock.set(2026, 9, 23, 9, 0)
    act(c, case_no, "receive_correction", data={"统一社会信用代码": "91371122MA3C000000"})
    clock.set(2026, 9, 23, 10, 0)
    act(c, case_no, "review", headers=approver, opinion="符合条件")
    clock.set(2026, 9, 23, 10, 30)
    extended = act(c, case_no, "extend", headers=approver, days=2, reason="需现场核查", approver="分管局长")
    assert extended["case"]["extension_days"] == 2
    clock.set(2026, 9, 24, 9, 0)
    act(c, case_no, "decide", headers=approver, outcome="approve")
    clock.set(2026, 9, 24, 15, 0)
    act(c, case_no, "conclude", note="已发证")
    return case_no


def _assert_concluded_case(case: dict[str, Any]) -> None:
    assert (case["status"], case["status_label"]) == ("concluded", "已办结")
    assert (case["item_code"], case["item_name"]) == (ENTERPRISE, "企业设立登记")
    assert (case["department"], case["kind"]) == ("市场监督管理局", "promised")
    assert case["data"] == ENTERPRISE_DATA
    assert case["decision"] == "approved"
    assert (case["fee_standard"], case["fee_charged"]) == ("0.00", "0.00")
    assert (case["promised_budget"], case["legal_budget"], case["extension_days"]) == (1, 3, 2)
    assert case["extension_reason"] == "需现场核查"
    assert case["accepted_at"] == "2026-09-21T09:30:00+08:00"
    assert case["concluded_at"] == "2026-09-24T15:00:00+08:00"
    assert case["pauses"] == [
        {
            "n": 1,
            "kind": "correction",
            "kind_label": "补正",
            "started_at": "2026-09-22T10:00:00+08:00",
            "ended_at": "2026-09-23T09:00:00+08:00",
            "reason": "缺少法定代表人身份证明",
        }
    ]
    assert case["tasks"] == []


def _assert_timeline(timeline: list[dict[str, Any]]) -> None:
    assert [(e["action"], e["action_label"]) for e in timeline] == [
        ("submit", "申请"),
        ("accept", "受理"),
        ("request_correction", "补正告知"),
        ("receive_correction", "补正接收"),
        ("review", "审核"),
        ("extend", "延期"),
        ("decide", "审批决定"),
        ("conclude", "办结"),
    ]
    assert [e["n"] for e in timeline] == list(range(1, 9))
    assert [e["actor"] for e in timeline] == [CLERK] * 4 + [APPROVER] * 3 + [CLERK]
    assert timeline[5]["payload"] == {"days": 2, "reason": "需现场核查", "approver": "分管局长"}
    assert timeline[-1]["to_status_label"] == "已办结"
    assert all(e["at"].endswith("+08:00") for e in timeline)


def test_lifecycle_to_concluded_with_timeline_and_clock(
    engine: Engine, clock: FakeClock, bundle: StandardsBundle
) -> None:
    node = make_node(engine, clock)
    node.approval.apply_standards(bundle)
    with TestClient(create_app(node)) as c:
        log_in(c, "clerk")
        case_no = _drive_to_concluded(c, clock)
        clock.set(2026, 10, 20, 9, 0)  # read much later: a concluded case is read at its conclusion
        detail = c.get(f"/api/v1/cases/{case_no}").json()
        listed = c.get("/api/v1/cases", params={"status": "concluded"}).json()

    _assert_concluded_case(detail["case"])
    _assert_timeline(detail["timeline"])
    promised = detail["clock"]["promised"]
    # budget 1 + 2 extension days, Tuesday paused, Friday 25th is the Mid-Autumn holiday: due Monday 28th.
    # Concluded Thursday 24th: the clock stopped — no remaining time, no light (issue 17), but what it used
    # (Wednesday and Thursday; Tuesday was paused) and that it kept its limit.
    assert (detail["clock"]["state"], detail["clock"]["stopped_by"], detail["clock"]["stopped_label"]) == (
        "stopped",
        "concluded",
        "已办结",
    )
    assert promised == {
        "due_date": "2026-09-28",
        "due_at": "2026-09-29T00:00:00+08:00",
        "paused": False,
        "remaining_days": 0,
        "elapsed_days": 1,
        "overdue_days": 0,
        "light": "none",
        "yellow_at": None,
        "budget_days": 3,
        "calendar_version": promised["calendar_version"],
        "provisional": False,
        "warnings": [],
        "stopped": {"at": "2026-09-24T15:00:00+08:00", "used_days": 2, "in_time": True, "overdue_days": 0},
    }
    assert promised["calendar_version"]
    legal = detail["clock"]["legal"]
    assert (legal["due_date"], legal["budget_days"], legal["light"]) == ("2026-09-30", 5, "none")
    assert legal["stopped"] is not None
    assert legal["stopped"]["in_time"]
    assert detail["clock"]["tasks"] == {}
    assert detail["as_of"] == "2026-10-20T09:00:00+08:00"
    assert [c["case_no"] for c in listed["items"]] == [case_no]
    assert listed["items"][0]["status_label"] == "已办结"


def test_joint_case_has_one_sub_clock_per_department(client: TestClient) -> None:
    case_no = submit(client, JOINT, data={"项目代码": "2026-371122-47-01-000001", "建设单位": "莒县城投"})
    act(client, case_no, "accept")
    detail = act(client, case_no, "review")
    assert set(detail["clock"]["tasks"]) == {"自然资源局", "住房和城乡建设局", "消防救援大队"}
    assert detail["clock"]["tasks"]["住房和城乡建设局"]["budget_days"] == 15

    resp = client.post(f"/api/v1/cases/{case_no}/actions/decide", json={"outcome": "approve"})
    error = assert_error(resp, 409, "joint_tasks_pending")
    assert error["details"]["pending"] == ["住房和城乡建设局", "消防救援大队", "自然资源局"]

    for dept in ("自然资源局", "住房和城乡建设局", "消防救援大队"):
        detail = act(client, case_no, "complete_task", department=dept, outcome="agree", opinion="同意")
    assert {t["status"] for t in detail["case"]["tasks"]} == {"done"}
    assert act(client, case_no, "decide", outcome="approve")["case"]["status"] == "approved"


# -- errors -------------------------------------------------------------------------------------------------------


def test_unknown_item_is_404(client: TestClient) -> None:
    resp = client.post("/api/v1/cases", json={"item_code": "XK99999000", "applicant": "张三"})
    error = assert_error(resp, 404, "item_not_found")
    assert "XK99999000" in error["message"]
    assert error["details"] == {"item_code": "XK99999000"}


def test_unknown_case_is_404(client: TestClient) -> None:
    assert_error(client.get("/api/v1/cases/371122-20260921-999999"), 404, "case_not_found")
    resp = client.post("/api/v1/cases/371122-20260921-999999/actions/accept", json={})
    assert_error(resp, 404, "case_not_found")


def test_unknown_action_is_404(client: TestClient) -> None:
    case_no = submit(client)
    error = assert_error(
        client.post(f"/api/v1/cases/{case_no}/actions/approve_quickly", json={}),
        404,
        "not_found",
    )
    assert "approve_quickly" in error["message"]
    assert_error(client.post(f"/api/v1/cases/{case_no}/actions/submit", json={}), 404, "not_found")
    assert len(client.get(f"/api/v1/cases/{case_no}").json()["timeline"]) == 1


def test_invalid_transition_is_409_and_writes_nothing(client: TestClient, node: CountyNode) -> None:
    case_no = submit(client)
    before = client.get(f"/api/v1/cases/{case_no}").json()
    rows = outbox_rows(node.engine)

    resp = client.post(f"/api/v1/cases/{case_no}/actions/decide", json={"outcome": "approve"})
    error = assert_error(resp, 409, "invalid_transition")
    assert error["message"] == "办件当前状态为“已申请”，不能执行“审批决定”"
    assert error["details"] == {"case_no": case_no, "action": "decide", "status": "submitted"}

    after = client.get(f"/api/v1/cases/{case_no}").json()
    assert len(after["timeline"]) == len(before["timeline"]) == 1
    assert after["case"] == before["case"]
    assert outbox_rows(node.engine) == rows


def test_extension_is_allowed_once(client: TestClient) -> None:
    case_no = submit(client)
    act(client, case_no, "accept")
    act(client, case_no, "extend", days=1, reason="核查", approver="局长")
    resp = client.post(
        f"/api/v1/cases/{case_no}/actions/extend",
        json={"days": 1, "reason": "再次核查", "approver": "局长"},
    )
    assert_error(resp, 409, "extension_already_used")


@pytest.mark.parametrize(
    ("action", "params", "fragment"),
    [
        ("extend", {"days": 0, "reason": "核查", "approver": "局长"}, "延期天数"),  # the domain's range check
        ("extend", {"days": 11, "reason": "核查", "approver": "局长"}, "延期天数"),
        ("extend", {"days": "三天", "reason": "核查", "approver": "局长"}, "days：应为整数"),  # the body model
        ("decide", {"outcome": "maybe"}, "outcome：取值无效"),
        ("accept", {"priority": "high"}, "不接受参数：priority"),  # extra parameters reach the domain
        ("suspend", {}, "reason：缺少必填项"),
        ("suspend", {"reason": "  "}, "缺少暂停原因"),
    ],
)
def test_bad_action_parameters_are_422_and_write_nothing(
    client: TestClient, action: str, params: dict[str, Any], fragment: str
) -> None:
    case_no = submit(client)
    if action != "accept":
        act(client, case_no, "accept")
    if action == "decide":
        act(client, case_no, "review")
    events = len(client.get(f"/api/v1/cases/{case_no}").json()["timeline"])

    resp = client.post(f"/api/v1/cases/{case_no}/actions/{action}", json={**params})
    error = assert_error(resp, 422, "validation_error")
    assert fragment in error["message"]
    assert len(client.get(f"/api/v1/cases/{case_no}").json()["timeline"]) == events


def test_key_data_missing_before_decide_is_409(client: TestClient) -> None:
    case_no = submit(client, data={"法定代表人": "王五"})
    act(client, case_no, "accept")
    act(client, case_no, "review")
    resp = client.post(f"/api/v1/cases/{case_no}/actions/decide", json={"outcome": "approve"})
    error = assert_error(resp, 409, "key_data_missing")
    assert "统一社会信用代码" in error["message"]
    act(client, case_no, "record_data", data={"统一社会信用代码": "91371122MA3C000000"})
    assert act(client, case_no, "decide", outcome="approve")["case"]["status"] == "approved"


def test_request_validation_errors_use_the_chinese_error_shape(client: TestClient) -> None:
    error = assert_error(client.post("/api/v1/cases", json={"data": {"法定代表人": 5}}), 422, "validation_error")
    assert error["message"].startswith("请求参数不正确：")
    fields = {e["field"]: e["message"] for e in error["details"]["errors"]}
    assert fields == {
        "请求体 item_code": "缺少必填项",
        "请求体 applicant": "缺少必填项",
        "请求体 data.法定代表人": "应为文字",
    }

    resp = client.post("/api/v1/cases", content=b'{"item_code": ', headers={"content-type": "application/json"})
    assert "不是有效的 JSON" in assert_error(resp, 422, "validation_error")["message"]
    resp = client.post("/api/v1/cases", json={"item_code": ENTERPRISE, "applicant": "张三", "x": 1})
    assert "不接受此参数" in assert_error(resp, 422, "validation_error")["message"]
    assert "page" in assert_error(client.get("/api/v1/cases?page=0"), 422, "validation_error")["message"]
    assert_error(client.get("/api/v1/cases?page_size=201"), 422, "validation_error")
    assert "status" in assert_error(client.get("/api/v1/cases?status=lost"), 422, "validation_error")["message"]
    assert_error(client.get("/api/v1/cases?light=green"), 422, "validation_error")


def test_who_acts_is_the_login_anonymous_is_401_and_a_wrong_role_403(client: TestClient, node: CountyNode) -> None:
    case_no = submit(client)
    body = {"item_code": ENTERPRISE, "applicant": "张三", "data": ENTERPRISE_DATA}
    anonymous = client.post("/api/v1/cases", json=body, headers={"Authorization": ""})
    assert "未登录" in assert_error(anonymous, 401, "unauthenticated")["message"]
    assert anonymous.headers["WWW-Authenticate"] == "Bearer"
    assert_error(client.get(f"/api/v1/cases/{case_no}", headers={"Authorization": ""}), 401, "unauthenticated")
    clerk = as_user(client, "clerk")
    assert act(client, case_no, "accept", headers=clerk)["timeline"][-1]["actor"] == CLERK
    rows = outbox_rows(node.engine)
    refused = client.post(f"/api/v1/cases/{case_no}/actions/review", json={}, headers=clerk)  # the approver's
    assert "无权" in assert_error(refused, 403, "forbidden")["message"]
    supervisor = as_user(client, "supervisor")  # reads cases, takes none in
    assert_error(client.post("/api/v1/cases", json=body, headers=supervisor), 403, "forbidden")
    assert client.get("/api/v1/cases", headers=supervisor).json()["total"] == 1
    assert outbox_rows(node.engine) == rows  # nothing but the refusals' audit entries
    detail = client.get(f"/api/v1/cases/{case_no}").json()
    assert [(e["action"], e["actor"]) for e in detail["timeline"]] == [("submit", APPROVER), ("accept", CLERK)]


def test_unknown_path_and_method_use_the_error_shape(client: TestClient) -> None:
    assert_error(client.get("/api/v1/nothing-here"), 404, "not_found")
    resp = client.delete("/api/v1/cases")
    assert_error(resp, 405, "method_not_allowed")
    assert resp.headers["allow"]


def test_unexpected_errors_are_500_without_traceback(node: CountyNode, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> dict[str, Any]:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(node.approval, "summary", broken)
    with TestClient(create_app(node), raise_server_exceptions=False) as c:
        log_in(c, "clerk")
        resp = c.get("/api/v1/summary")
    error = assert_error(resp, 500, "internal")
    assert "secret" not in resp.text
    assert error["details"] == {}


def test_storage_errors_are_503(node: CountyNode, monkeypatch: pytest.MonkeyPatch) -> None:
    def unreachable() -> dict[str, Any]:
        raise StorageError("无法连接数据库：connection refused", backend="postgresql")

    monkeypatch.setattr(node.approval, "summary", unreachable)
    with TestClient(create_app(node)) as c:
        log_in(c, "clerk")
        error = assert_error(c.get("/api/v1/summary"), 503, "storage_error")
    assert error["details"] == {"backend": "postgresql"}


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (ValidationError("x"), 422),
        (CaseNotFound("x"), 404),
        (ItemNotFound("x"), 404),
        (InvalidTransition("x"), 409),
        (ConcurrentUpdate("x"), 409),
        (StandardsError("x"), 409),
        (StorageError("x"), 503),
        (ConfigError("x"), 500),
        (CalendarError("x"), 500),
        (SunshineError("x"), 500),
    ],
)
def test_one_status_per_error_class(exc: SunshineError, status: int) -> None:
    assert http_status(exc) == status


def test_standards_not_loaded_is_503_other_standards_errors_409() -> None:
    assert http_status(StandardsNotLoaded("x")) == 503
    assert http_status(StandardsError("x")) == 409


# -- lists, lights and paging -------------------------------------------------------------------------------------


def test_list_filters_by_status_light_department_item_and_pages(client: TestClient, clock: FakeClock) -> None:
    late = [submit(client) for _ in range(3)]  # promised 1 working day
    for case_no in late:
        act(client, case_no, "accept")
    food = submit(client, FOOD, data={"统一社会信用代码": "91371122MA3C000001", "经营场所": "城阳街道"})
    act(client, food, "accept")  # promised 5 working days
    waiting = [submit(client) for _ in range(2)]  # never accepted: no clock, no light

    # on the day of acceptance nothing of any budget is used: every accepted case is white. (This test used to
    # expect the 1-day cases yellow at once — the bug of issue 17: a warning that fires at acceptance warns of
    # nothing and cost the county a SUP-001 alert for every 1-day case.)
    assert client.get("/api/v1/cases", params={"light": "yellow"}).json()["total"] == 0
    white = client.get("/api/v1/cases", params={"light": "white"}).json()
    assert {c["case_no"] for c in white["items"]} == {*late, food}
    assert client.get("/api/v1/cases", params={"light": "red"}).json()["total"] == 0

    clock.now = datetime(2026, 9, 22, 0, 0, tzinfo=CST)  # Tuesday 00:00: the 1-day cases' one day has begun
    yellow = client.get("/api/v1/cases", params={"light": "yellow"}).json()
    assert {c["case_no"] for c in yellow["items"]} == set(late)
    white = client.get("/api/v1/cases", params={"light": "white"}).json()
    assert [c["case_no"] for c in white["items"]] == [food]

    clock.now = datetime(2026, 9, 24, 9, 0, tzinfo=CST)  # Thursday: the 1-day cases were due Tuesday 24:00
    red = client.get("/api/v1/cases", params={"light": "red"}).json()
    assert red["total"] == 3
    assert {c["case_no"] for c in red["items"]} == set(late)
    assert all(c["light"] == "red" and c["due_at"] == "2026-09-23T00:00:00+08:00" for c in red["items"])
    assert red["as_of"] == "2026-09-24T09:00:00+08:00"
    white = client.get("/api/v1/cases", params={"light": "white"}).json()
    assert [c["case_no"] for c in white["items"]] == [food]

    detail = client.get(f"/api/v1/cases/{late[0]}").json()
    assert detail["clock"]["promised"]["light"] == "red"
    assert detail["clock"]["promised"]["overdue_days"] == 2
    assert detail["clock"]["legal"]["light"] == "yellow"  # legal limit: due Thursday, today

    submitted = client.get("/api/v1/cases", params={"status": "submitted"}).json()
    assert {c["case_no"] for c in submitted["items"]} == set(waiting)
    assert all(c["light"] is None and c["due_at"] is None for c in submitted["items"])
    assert all(c["status_label"] == "已申请" for c in submitted["items"])
    by_item = client.get("/api/v1/cases", params={"item_code": FOOD}).json()
    assert [c["case_no"] for c in by_item["items"]] == [food]
    assert by_item["items"][0]["item_name"] == "食品经营许可"
    assert client.get("/api/v1/cases", params={"department": "市场监督管理局"}).json()["total"] == 6
    assert client.get("/api/v1/cases", params={"department": "公安局"}).json()["total"] == 0
    both = client.get("/api/v1/cases", params={"status": "accepted", "light": "red"}).json()
    assert both["total"] == 3

    everything = [*late, food, *waiting]
    seen: list[str] = []
    for number in (1, 2, 3):
        page = client.get("/api/v1/cases", params={"page": number, "page_size": 4}).json()
        assert (page["total"], page["page"], page["page_size"]) == (6, number, 4)
        seen += [c["case_no"] for c in page["items"]]
    assert seen == sorted(everything, reverse=True)  # newest first, each exactly once

    summary = client.get("/api/v1/summary").json()
    assert summary["as_of"] == "2026-09-24T09:00:00+08:00"
    assert summary["by_status"]["accepted"] == 4
    assert summary["by_status"]["submitted"] == 2
    assert summary["by_status"]["concluded"] == 0
    assert summary["by_light"] == {"white": 1, "yellow": 0, "red": 3}


# -- the contract -------------------------------------------------------------------------------------------------


def test_openapi_and_docs_are_served(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    for path in ("/api/v1/health", "/api/v1/catalogue", "/api/v1/cases", "/api/v1/cases/{case_no}", "/api/v1/summary"):
        assert path in paths
    for action in ACTION_BODIES:
        assert f"/api/v1/cases/{{case_no}}/actions/{action.value}" in paths
    schemas = spec["components"]["schemas"]
    assert schemas["ExtendBody"]["properties"]["days"]["type"] == "integer"
    assert set(schemas["ExtendBody"]["required"]) == {"days", "reason", "approver"}  # who acts: the login
    assert schemas["DecideBody"]["properties"]["outcome"]["enum"] == ["approve", "deny"]
    assert "ErrorView" in schemas
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert "text/html" in docs.headers["content-type"]


def test_every_action_but_submit_has_a_body_model_with_the_domains_parameters() -> None:
    assert set(ACTION_BODIES) == set(Action) - {Action.SUBMIT}
    for action, model in ACTION_BODIES.items():
        assert set(model.model_fields) == _PARAMS[action], action


def test_the_window_taking_a_case_in_is_kept_and_a_malformed_one_refused(client: TestClient, node: CountyNode) -> None:
    case_no = submit(client, window="W03")
    assert client.get(f"/api/v1/cases/{case_no}").json()["case"]["window"] == "W03"
    before = outbox_rows(node.engine)
    error = assert_error(
        client.post("/api/v1/cases", json={"item_code": ENTERPRISE, "applicant": "张三", "window": "三号窗"}),
        422,
        "validation_error",
    )
    assert "窗口编号" in error["message"]
    assert outbox_rows(node.engine) == before  # nothing written
