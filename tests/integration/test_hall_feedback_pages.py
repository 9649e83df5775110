"""The hall's 登记投诉 and 好差评 forms (issue 17) on the 投诉与评价 page, over a real migrated SQLite database: a clerk
registers a complaint and a rating for a case reached from its card; a wrong input is shown on the form in Chinese
(audited with its error's code) and writes nothing; a role without ``feedback.record`` sees no forms and is refused."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, func, select

from county_node.entrypoints.http import create_app
from federation.standards import StandardsBundle
from federation.storage.audit_log import read_entries
from federation.storage.engine import make_engine
from federation.storage.tables import complaints, ratings
from migrations.runner import upgrade
from tests.conftest import FakeClock
from tests.integration.test_hall_pages import BASE, Browser, _take_in
from tests.integration.test_http_api import make_node

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette.testclient` is deprecated")
    from fastapi.testclient import TestClient

Hall = tuple[TestClient, Engine]


@pytest.fixture
def hall(sqlite_url: str, clock: FakeClock, bundle: StandardsBundle) -> Iterator[Hall]:
    engine = make_engine(sqlite_url)
    upgrade(engine)
    node = make_node(engine, clock)
    node.approval.apply_standards(bundle)
    with TestClient(create_app(node), base_url=BASE, follow_redirects=False) as client:
        yield client, engine
    engine.dispose()


def _count(engine: Engine, table: object) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def test_a_clerk_registers_a_complaint_and_a_rating_for_a_case(hall: Hall) -> None:
    client, engine = hall
    clerk = Browser(client, "clerk")
    case_no = _take_in(clerk)
    card = clerk.get(f"/hall/cases/{case_no}").text  # type: ignore[attr-defined]
    assert f'href="/hall/feedback?case_no={case_no}#complaint-new-card" id="case-feedback"' in card
    page = clerk.get(f"/hall/feedback?case_no={case_no}").text  # type: ignore[attr-defined]
    assert f'id="complaint-new-target-id" name="target_id" required maxlength="200" value="{case_no}"' in page
    assert f'id="rating-new-case" name="case_no" required maxlength="32" value="{case_no}"' in page
    assert 'for="rating-new-level"' in page

    form = {"target": "case", "target_id": case_no, "complainant": "李四", "content": "办理太慢", "channel": "phone"}
    r = clerk.post("/hall/complaints", form)
    assert r.status_code == 303  # type: ignore[attr-defined]
    location = r.headers["location"]  # type: ignore[attr-defined]
    complaint_id = location.rsplit("#complaint-", 1)[1]
    page = clerk.get("/hall/feedback").text  # type: ignore[attr-defined]
    assert f'<article class="card" id="complaint-{complaint_id}" data-status="open">' in page
    assert "办理太慢" in page
    assert "电话" in page

    r = clerk.post("/hall/ratings", {"case_no": case_no, "staff": "窗口01 孙丽", "level": "1", "comment": "态度差"})
    assert r.status_code == 303  # type: ignore[attr-defined]
    location = r.headers["location"]  # type: ignore[attr-defined]
    assert location.startswith("/hall/feedback?rated=")
    page = clerk.get(location.split("#")[0]).text  # type: ignore[attr-defined]
    notice = re.search(r'<p class="notice" id="rating-recorded" role="status">(.*?)</p>', page)
    assert notice is not None
    assert "窗口01 孙丽，非常不满意（差评" in notice.group(1)
    assert 'data-status="follow_up_pending"' in page  # listed among the ratings to follow up
    assert not re.search(r"\d{4}-\d{2}-\d{2}T", page)
    r = clerk.post("/hall/ratings", {"case_no": case_no, "staff": "窗口01 孙丽", "level": "5"})
    assert r.status_code == 409  # type: ignore[attr-defined]
    assert "已对工作人员“窗口01 孙丽”评价过" in r.text  # type: ignore[attr-defined]
    assert (_count(engine, complaints), _count(engine, ratings)) == (1, 1)


def test_wrong_inputs_stay_on_the_form_in_chinese(hall: Hall) -> None:
    client, engine = hall
    clerk = Browser(client, "clerk")
    case_no = _take_in(clerk)
    cases_ = [
        (
            "/hall/complaints",
            {"target": "case", "target_id": "371122-20260921-999999", "complainant": "李四", "content": "慢"},
            404,
            "未找到办件",
        ),
        (
            "/hall/complaints",
            {"target": "window", "target_id": "W01", "complainant": "李四", "content": " "},
            422,
            "请填写投诉内容",
        ),
        (
            "/hall/complaints",
            {"target": "window", "target_id": "W01", "complainant": "李四", "content": "慢", "limit_days": "三"},
            422,
            "答复时限应为整数",
        ),
        ("/hall/ratings", {"case_no": case_no, "staff": "孙丽", "level": ""}, 422, "请选择评价等级"),
        ("/hall/ratings", {"case_no": case_no, "staff": "孙丽", "level": "9"}, 422, "评价等级应为 1"),
        ("/hall/ratings", {"case_no": case_no, "staff": " ", "level": "5"}, 422, "请填写被评价的工作人员"),
    ]
    for url, form, status, message in cases_:
        r = clerk.post(url, form)
        assert r.status_code == status, (url, form, r.text)  # type: ignore[attr-defined]
        assert message in r.text, (url, form)  # type: ignore[attr-defined]
        error = re.search(r'data-testid="form-error">(.*?)</p>', r.text)  # type: ignore[attr-defined]
        assert error is not None
        assert not re.search(r"[A-Za-z_]+=", error.group(1)), error.group(1)  # the message, not its details
    r = clerk.post("/hall/complaints", cases_[1][1] | {"content": "", "complainant": "王五"})
    assert 'value="王五"' in r.text  # type: ignore[attr-defined]  # what was typed stays on the form
    assert (_count(engine, complaints), _count(engine, ratings)) == (0, 0)
    with engine.connect() as conn:
        outcomes = [e.entry.outcome for e in read_entries(conn, "371122") if e.entry.action == "登记投诉"]
    assert outcomes[0] == "case_not_found"
    assert set(outcomes[1:]) == {"validation_error"}


def test_without_feedback_record_there_are_no_forms(hall: Hall) -> None:
    client, engine = hall
    approver = Browser(client, "approver")  # reads feedback, records none
    page = approver.get("/hall/feedback").text  # type: ignore[attr-defined]
    assert 'id="complaint-new"' not in page
    assert 'id="rating-new"' not in page
    r = approver.post(
        "/hall/complaints", {"target": "window", "target_id": "W01", "complainant": "李四", "content": "慢"}
    )
    assert r.status_code == 403  # type: ignore[attr-defined]
    assert _count(engine, complaints) == 0
