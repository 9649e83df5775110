"""The hall's 网上申报 pages (issue 17) on a county with an extranet node, over a real migrated SQLite database:
an online application applied as the county's receiver applies it, listed, opened (the phone masked), accepted
through the form (the case and its 受理通知书) or refused with its reason (required); a county without an extranet
node has no such entry in its navigation and says so on the page."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from county_node.bootstrap import CountyNode
from county_node.entrypoints.http import create_app
from federation.standards import StandardsBundle
from federation.storage.engine import make_engine
from federation.storage.tables import cases, public_submissions
from migrations.runner import upgrade
from tests.conftest import FakeClock
from tests.integration.test_hall_pages import BASE, Browser
from tests.integration.test_public_intake import PHONE, SUB_ID, count, county, receive, record, rows, submission
from tests.people import add_staff

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette.testclient` is deprecated")
    from fastapi.testclient import TestClient

OTHER = "371122-W20260921-8M4N2P"


def _hall(sqlite_url: str, clock: FakeClock, bundle: StandardsBundle, *, extranet: bool) -> Iterator[object]:
    engine = make_engine(sqlite_url)
    upgrade(engine)
    node = county(engine, clock, bundle, extranet=extranet)
    add_staff(node.accounts)
    with TestClient(create_app(node), base_url=BASE, follow_redirects=False) as client:
        yield node, client, engine
    engine.dispose()


@pytest.fixture
def hall(sqlite_url: str, clock: FakeClock, bundle: StandardsBundle) -> Iterator[tuple[CountyNode, TestClient, Engine]]:
    yield from _hall(sqlite_url, clock, bundle, extranet=True)  # type: ignore[misc]


def test_a_clerk_accepts_an_online_application_through_the_pages(hall: tuple[CountyNode, TestClient, Engine]) -> None:
    node, client, engine = hall
    receive(node, record("public_submission", SUB_ID, submission()))
    assert Browser(client, "supervisor").home == "/hall/cases"  # the queue stays the first page of who takes nothing in
    clerk = Browser(client, "clerk")
    assert clerk.home == "/hall/intake"
    page = clerk.get("/hall/online").text  # type: ignore[attr-defined]
    assert 'href="/hall/online"' in page  # the nav entry: this county has an extranet node
    assert f'<tr data-submission="{SUB_ID}" data-status="pending">' in page
    assert "食品经营许可" in page
    assert PHONE not in page

    detail = clerk.get(f"/hall/online/{SUB_ID}").text  # type: ignore[attr-defined]
    assert PHONE not in detail
    assert re.search(r'id="submission-phone">138\*+5678', detail)
    assert "莒县城阳街道 1 号" in detail
    assert "场所证明" in detail
    assert 'id="online-accept"' in detail
    assert 'id="online-refuse"' in detail
    assert not re.search(r"\d{4}-\d{2}-\d{2}T", detail)

    r = clerk.post(f"/hall/online/{SUB_ID}/accept", {"window": "三号窗口"})  # a window number it is not
    assert r.status_code == 422  # type: ignore[attr-defined]
    assert "窗口编号" in r.text  # type: ignore[attr-defined]
    assert count(engine, cases) == 0

    r = clerk.post(f"/hall/online/{SUB_ID}/accept", {"window": "W02"})
    assert r.status_code == 303  # type: ignore[attr-defined]
    location = r.headers["location"]  # type: ignore[attr-defined]
    match = re.fullmatch(r"/hall/cases/(371122-\d{8}-\d{6})/notice/acceptance", location)
    assert match is not None, location
    case_no = match.group(1)
    notice = clerk.get(location).text  # type: ignore[attr-defined]
    assert "受理通知书" in notice
    assert case_no in notice
    (sub,) = rows(engine, public_submissions)
    assert (sub["status"], sub["case_no"]) == ("accepted", case_no)
    assert node.approval.get(case_no).case.window == "W02"

    detail = clerk.get(f"/hall/online/{SUB_ID}").text  # type: ignore[attr-defined]
    assert 'id="online-accept"' not in detail
    assert f'id="submission-case">{case_no}<' in detail
    assert f'data-submission="{SUB_ID}"' not in clerk.get("/hall/online").text  # type: ignore[attr-defined]
    assert f'data-submission="{SUB_ID}"' in clerk.get("/hall/online?status=accepted").text  # type: ignore[attr-defined]
    r = clerk.post(f"/hall/online/{SUB_ID}/accept", {})  # twice: the domain's reason, nothing more written
    assert r.status_code == 409  # type: ignore[attr-defined]
    assert "已受理" in r.text  # type: ignore[attr-defined]
    assert count(engine, cases) == 1


def test_a_refusal_needs_its_reason(hall: tuple[CountyNode, TestClient, Engine]) -> None:
    node, client, engine = hall
    receive(node, record("public_submission", OTHER, submission(OTHER)))
    clerk = Browser(client, "clerk")
    r = clerk.post(f"/hall/online/{OTHER}/refuse", {"reason": "  "})
    assert r.status_code == 422  # type: ignore[attr-defined]
    assert "缺少不予受理的理由" in r.text  # type: ignore[attr-defined]
    assert rows(engine, public_submissions)[0]["status"] == "pending"
    r = clerk.post(f"/hall/online/{OTHER}/refuse", {"reason": "材料不全：缺少场所证明原件"})
    assert r.status_code == 303  # type: ignore[attr-defined]
    assert r.headers["location"] == f"/hall/online/{OTHER}"  # type: ignore[attr-defined]
    detail = clerk.get(f"/hall/online/{OTHER}").text  # type: ignore[attr-defined]
    assert 'id="submission-reason">材料不全：缺少场所证明原件<' in detail
    assert 'data-status="refused"' in detail
    assert count(engine, cases) == 0


def test_who_may_decide(hall: tuple[CountyNode, TestClient, Engine]) -> None:
    node, client, _ = hall
    receive(node, record("public_submission", SUB_ID, submission()))
    supervisor = Browser(client, "supervisor")  # reads cases, takes nothing in
    detail = supervisor.get(f"/hall/online/{SUB_ID}").text  # type: ignore[attr-defined]
    assert 'id="online-accept"' not in detail
    assert supervisor.post(f"/hall/online/{SUB_ID}/accept", {}).status_code == 403  # type: ignore[attr-defined]
    assert Browser(client, "clerk").get("/hall/online/371122-W20260921-ZZZZZZ").status_code == 404  # type: ignore[attr-defined]


def test_without_an_extranet_node_there_is_no_online_entry(
    sqlite_url: str, clock: FakeClock, bundle: StandardsBundle
) -> None:
    for _node, client, _ in _hall(sqlite_url, clock, bundle, extranet=False):  # type: ignore[misc]
        clerk = Browser(client, "clerk")
        assert 'href="/hall/online"' not in clerk.get("/hall/intake").text  # type: ignore[attr-defined]
        page = clerk.get("/hall/online").text  # type: ignore[attr-defined]
        assert 'id="online-none"' in page
        assert clerk.get(f"/hall/online/{SUB_ID}").status_code == 404  # type: ignore[attr-defined]
