"""The intranet/extranet boundary with real processes: a province, a city, a county and the county's extranet node
(外网节点), each its own ``sunshine`` process with its own database, enrolled in the federation's PKI, mutual TLS and
signed batches on every link (the county's public stream out, the extranet node's own stream in).

Judged here (issue 16): a public submission made on the extranet becomes a case after a clerk's acceptance at the
county and its status is visible on the extranet within seconds; a concluded case is rated once from the extranet
and the rating reaches the county; a complaint filed there reaches the hall; the province never holds the
applicant's unmasked ID or phone number (its database searched directly).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from sqlalchemy import select

from federation.config import load_config
from federation.storage.engine import engine_from_config
from federation.storage.tables import metadata
from province_center.demo.launcher import Federation, NodeSpec

pytestmark = pytest.mark.slow

TOPOLOGY = (NodeSpec("370000", "山东省"), NodeSpec("371100", "日照市", "370000"), NodeSpec("371122", "莒县", "371100"))
COUNTY = "371122"
EXTRANET = "371122-ext"
PHONE = "13912345678"
ID_NUMBER = "371122199001011234"
STATUS_WITHIN_S = 10.0  # "within seconds": the accepted status on the extranet after the clerk's acceptance

T = TypeVar("T")


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 30.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        got = probe()
        if got is not None:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"{timeout:.0f} 秒内未等到：{what}")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def fed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Federation]:
    fed = Federation(tmp_path_factory.mktemp("extranet"), TOPOLOGY, extranets=(COUNTY,))
    try:
        fed.init_all()
        fed.start_all()
        fed.wait_for_standards()
        yield fed
    finally:
        fed.stop_all()


@pytest.fixture(scope="module")
def portal(fed: Federation) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fed.url(EXTRANET), timeout=10.0, trust_env=False) as client:
        yield client


def _catalogue(portal: httpx.Client) -> list[dict[str, Any]] | None:
    items: list[dict[str, Any]] = portal.get("/api/v1/public/catalogue").json()["items"]
    return items or None


def _status(portal: httpx.Client, number: str, code: str) -> dict[str, Any]:
    reply = portal.post("/api/v1/public/status", json={"number": number, "query_code": code})
    assert reply.status_code == 200, reply.text
    body: dict[str, Any] = reply.json()
    return body


def _apply(portal: httpx.Client) -> tuple[str, str, dict[str, Any]]:
    items = wait_for("事项目录经公开数据流到达外网节点", lambda: _catalogue(portal))
    item = next(i for i in items if i["key_fields"] and i["kind"] != "instant")
    reply = portal.post(
        "/api/v1/public/submissions",
        json={
            "item_code": item["code"],
            "applicant": "张三丰",
            "applicant_id": ID_NUMBER,
            "phone": PHONE,
            "materials": ["申请书", "身份证复印件"],
            "data": {name: f"{name}（网上填报）" for name in item["key_fields"]},
            "note": f"联系电话 {PHONE}",
        },
    )
    assert reply.status_code == 201, reply.text
    body = reply.json()
    return body["submission_id"], body["query_code"], item


def test_a_public_submission_becomes_a_case_once_a_clerk_accepts_it_and_its_status_shows_within_seconds(
    fed: Federation, portal: httpx.Client
) -> None:
    submission, code, item = _apply(portal)
    before = _status(portal, submission, code)
    assert before["kind"] == "submission", before
    clerk = fed.as_role(COUNTY, "clerk")

    def pending() -> dict[str, Any] | None:
        items = clerk.get("/api/v1/intake").json()["items"]
        return next((s for s in items if s["submission_id"] == submission), None)

    held = wait_for("网上申报经入网数据流到达县级节点", pending)
    assert held["item_code"] == item["code"]
    assert held["phone"] == "139****5678", held  # the hall's list shows the phone masked (the SMS resolves it)
    assert not any(c["status"] == "accepted" for c in clerk.get("/api/v1/cases").json()["items"])  # not applied blindly

    reply = clerk.post(f"/api/v1/intake/{submission}/accept", json={"window": "W01"})
    assert reply.status_code == 201, reply.text
    accepted = reply.json()
    case_no = accepted["case"]["case"]["case_no"]
    started = time.monotonic()

    def shows_accepted() -> dict[str, Any] | None:
        body = _status(portal, submission, code)
        case = body.get("case") or {}
        return body if case.get("case_no") == case_no and case.get("status") == "accepted" else None

    shown = wait_for("受理后外网可查到办件状态", shows_accepted, timeout=STATUS_WITHIN_S)
    elapsed = time.monotonic() - started
    print(f"accepted at the county → visible on the extranet: {elapsed:.2f} s")
    assert elapsed < STATUS_WITHIN_S, elapsed
    by_case = _status(portal, case_no, code)  # the code given online opens the case by its number too
    assert by_case["kind"] == "case"
    assert by_case["case_no"] == case_no
    assert by_case["item_name"] == item["name"]
    # the code the hall gave at acceptance (SMS, 受理通知书) opens it as well
    assert _status(portal, case_no, accepted["query_code"])["case_no"] == case_no
    wrong = portal.post("/api/v1/public/status", json={"number": case_no, "query_code": "ZZZZZZZZ"})
    unknown = portal.post("/api/v1/public/status", json={"number": f"{COUNTY}-20200101-000001", "query_code": code})
    assert wrong.status_code == unknown.status_code == 404
    assert wrong.json() == unknown.json()  # no oracle for which case numbers exist
    assert shown["case"]["status_label"]


def _accept_when_it_arrives(clerk: httpx.Client, submission: str) -> str:
    wait_for("网上申报到达县级节点", lambda: True if clerk.get(f"/api/v1/intake/{submission}").is_success else None)
    reply = clerk.post(f"/api/v1/intake/{submission}/accept", json={})
    assert reply.status_code == 201, reply.text
    case_no: str = reply.json()["case"]["case"]["case_no"]
    return case_no


def _conclude(fed: Federation, case_no: str) -> None:
    approver = fed.as_role(COUNTY, "approver")
    for action, body in (("review", {"opinion": "材料齐全"}), ("decide", {"outcome": "approve"}), ("conclude", {})):
        reply = approver.post(f"/api/v1/cases/{case_no}/actions/{action}", json=body)
        assert reply.status_code == 200, (action, reply.text)


def test_a_concluded_case_is_rated_once_from_the_extranet_and_the_rating_reaches_the_hall(
    fed: Federation, portal: httpx.Client
) -> None:
    submission, code, _ = _apply(portal)
    clerk = fed.as_role(COUNTY, "clerk")
    case_no = _accept_when_it_arrives(clerk, submission)
    _conclude(fed, case_no)

    def open_for_rating() -> dict[str, Any] | None:
        reply = portal.post("/api/v1/public/status", json={"number": case_no, "query_code": code})
        if reply.status_code == 404:  # the case's public record is still on its way out
            return None
        assert reply.status_code == 200, reply.text
        case: dict[str, Any] = reply.json()
        return case if case.get("can_rate") else None

    concluded = wait_for("办结后外网可评价", open_for_rating)
    assert concluded["on_time"] is True
    rated = portal.post(
        "/api/v1/public/ratings", json={"case_no": case_no, "query_code": code, "level": 5, "comment": "办事快"}
    )
    assert rated.status_code == 201, rated.text
    again = portal.post("/api/v1/public/ratings", json={"case_no": case_no, "query_code": code, "level": 1})
    assert again.status_code == 409, again.text  # once per case
    supervisor = fed.as_role(COUNTY, "supervisor")

    def rating_at_county() -> dict[str, Any] | None:
        items = supervisor.get("/api/v1/ratings", params={"case_no": case_no}).json()["items"]
        return items[0] if items else None

    rating = wait_for("外网评价到达县级节点", rating_at_county)
    assert rating["level"] == 5

    disclosed = portal.get("/api/v1/public/disclosures").json()["items"]
    assert any(d["case_no"] == case_no for d in disclosed)  # 办件公示


def test_a_complaint_filed_on_the_extranet_reaches_the_hall(fed: Federation, portal: httpx.Client) -> None:
    reply = portal.post(
        "/api/v1/public/complaints",
        json={"complainant": "李四", "phone": PHONE, "content": f"窗口态度不好，回电 {PHONE}"},
    )
    assert reply.status_code == 201, reply.text
    supervisor = fed.as_role(COUNTY, "supervisor")

    def filed() -> dict[str, Any] | None:
        items = supervisor.get("/api/v1/complaints").json()["items"]
        return next((c for c in items if c["complainant"] == "李四"), None)

    complaint = wait_for("外网投诉到达县级节点", filed)
    assert "窗口态度不好" in complaint["content"]


def test_the_province_and_the_city_never_hold_the_applicant_s_id_or_phone_unmasked(
    fed: Federation, portal: httpx.Client
) -> None:
    submission, _, _ = _apply(portal)
    case_no = _accept_when_it_arrives(fed.as_role(COUNTY, "clerk"), submission)
    province = fed.province()

    def at_province() -> bool | None:
        return True if case_no in _everything_held(fed.config(province)) else None

    wait_for("受理的办件到达省级", at_province)
    for division in (province, "371100"):
        held = _everything_held(fed.config(division))
        assert case_no in held
        assert ID_NUMBER not in held, division
        assert PHONE not in held, division
        assert "张三丰" not in held, division  # the applicant's name is masked (张**)
    county = _everything_held(fed.config(COUNTY))
    assert ID_NUMBER in county  # the hall holds it: the test would see it


def _everything_held(config: Path) -> str:
    """Every value of every table of a node's database, as one text (read straight from the database)."""
    engine = engine_from_config(load_config(config, environ={}))
    parts: list[str] = []
    try:
        with engine.connect() as conn:
            for table in metadata.sorted_tables:
                for row in conn.execute(select(table)):
                    parts.extend(str(v) for v in row)
                    parts.extend(v.decode("utf-8", "replace") for v in row if isinstance(v, bytes))
    finally:
        engine.dispose()
    return "\n".join(parts)
