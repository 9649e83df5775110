"""No 5xx from bad input (issue 15, items 6 and 7), on SQLite and PostgreSQL through the real FastAPI apps.

Each bad request gets a 4xx in the one error shape with a Chinese message, and changes nothing: huge page and step
numbers, NUL characters and lone surrogates anywhere in a request, bodies over 8 MiB, moments outside 2000–2099
(video segments, events, bindings, queries; trend months), fees finer than a cent. A segment indexed through a URI
alias (``cam1/../cam1/a.mp4``) keeps its file through a purge that removes another spelling of it.

Every client is built by :func:`county_client` or :func:`inspector_client` (one place each, to add a login later).
The tests whose requests are all refused share one node of each backend for the module (:func:`shared_client`),
each comparing what its own request changed; a test that writes anything gets a node of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import warnings
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from county_node.bootstrap import CountyNode, assemble_county_node
from county_node.entrypoints.http import create_app
from federation.config import Config, NodeConfig, VideoConfig
from federation.errors import Conflict
from federation.http_errors import error_view, http_status
from federation.http_guard import MAX_BODY, RequestGuard
from federation.nodes import build_node
from federation.standards import StandardsBundle
from federation.storage.engine import make_engine
from federation.storage.tables import camera_bindings, cameras, cases, outbox, video_events, video_segments
from federation.timeutil import CST
from migrations.runner import upgrade
from security.access import Role
from security.accounts import Accounts
from tests.conftest import FakeClock, create_pg_database
from tests.integration.test_supervision_http import assert_error
from tests.integration.video_fixtures import CAM1, COUNTY, add_case
from tests.people import add_user, log_in

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette.testclient` is deprecated")
    from fastapi.testclient import TestClient

API = "/api/v1"
DAY = datetime(2026, 9, 21, tzinfo=CST)
CITY = "371100"
ENTERPRISE = "XK00001000"
ENTERPRISE_DATA = {"统一社会信用代码": "91371122MA3C000000", "法定代表人": "王五"}


def count(engine: Engine, table: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def counts(engine: Engine) -> dict[str, int]:
    """The rows a refused request must not change: the records and their outbox rows — not the audit log, which
    records the refusal (its entries replicate through the outbox too)."""
    held = {t.name: count(engine, t) for t in (cases, video_segments, video_events, camera_bindings, cameras)}
    with engine.connect() as conn:
        query = select(func.count()).select_from(outbox).where(outbox.c.record_type != "audit")
        held["outbox"] = int(conn.execute(query).scalar_one())
    return held


def _person(accounts: Accounts, user_id: str, roles: list[Role]) -> None:
    with contextlib.suppress(Conflict):  # a second client over the same node
        add_user(accounts, user_id, roles)


def county_client(node: CountyNode) -> TestClient:
    """The one place a county client is built, logged in as one person holding the county's every write role."""
    _person(node.accounts, "all-roles", [Role.APPROVER, Role.SUPERVISOR, Role.NODE_ADMIN])
    client = TestClient(create_app(node))
    log_in(client, "all-roles")
    return client


def inspector_client(engine: Engine, clock: FakeClock, division: str = CITY) -> TestClient:
    """The one place an inspectors' client (city or province) is built: the app ``sunshine city serve`` runs,
    logged in as an inspector of ``division``."""
    node = build_node(Config(node=NodeConfig(division=division)), engine=engine, clock=clock)
    _person(node.accounts, "inspector", [Role.INSPECTOR])
    client = TestClient(node.http_app())
    log_in(client, "inspector")
    return client


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "nvr"
    (path / "cam1").mkdir(parents=True)
    return path


@pytest.fixture
def node(engine: Engine, tmp_path: Path, root: Path, bundle: StandardsBundle) -> CountyNode:
    config = Config(
        node=NodeConfig(division=COUNTY, name="莒县", data_dir=str(tmp_path)),
        video=VideoConfig(storage_root=str(root), max_purge_share=1.0),
    )
    county = assemble_county_node(config, engine, FakeClock(DAY + timedelta(hours=9)))
    county.approval.apply_standards(bundle)
    return county


@pytest.fixture
def client(node: CountyNode) -> Iterator[TestClient]:
    with county_client(node) as c:
        yield c


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def shared_engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """One migrated database of each backend for the module's tests that only send requests which must be refused
    (each compares what its own request changed): built once, not once a test."""
    drop = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('bad-input') / 'node.db'}"
    else:
        url, drop = create_pg_database()
    eng = make_engine(url)
    upgrade(eng)
    yield eng
    eng.dispose()
    if drop is not None:
        drop()


@pytest.fixture(scope="module")
def shared_client(
    shared_engine: Engine, tmp_path_factory: pytest.TempPathFactory, bundle: StandardsBundle
) -> Iterator[TestClient]:
    """A county client (:func:`county_client`) over :func:`shared_engine`, for the refused requests."""
    data_dir = tmp_path_factory.mktemp("bad-input-node")
    config = Config(
        node=NodeConfig(division=COUNTY, name="莒县", data_dir=str(data_dir)),
        video=VideoConfig(storage_root=str(data_dir / "nvr"), max_purge_share=1.0),
    )
    county = assemble_county_node(config, shared_engine, FakeClock(DAY + timedelta(hours=9)))
    county.approval.apply_standards(bundle)
    with county_client(county) as c:
        yield c


def submit(client: TestClient) -> str:
    body = {"item_code": ENTERPRISE, "applicant": "张三", "data": ENTERPRISE_DATA}
    resp = client.post(f"{API}/cases", json=body)
    assert resp.status_code == 201, resp.text
    case_no: str = resp.json()["case"]["case_no"]
    return case_no


def register_camera(client: TestClient) -> None:
    body = {"camera_id": CAM1, "name": "一号窗口", "hall": "政务服务中心", "window": "W01", "since": "2026-09-01T00:00"}
    assert client.post(f"{API}/cameras", json=body).status_code == 201


def segment(uri: str, start: datetime) -> dict[str, Any]:
    end = start + timedelta(minutes=5)
    return {
        "camera_id": CAM1,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "uri": uri,
        "size": 5,
        "checksum": "ab",
    }


# -- huge integers ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/cases?page=63509941115305144090624",
        "/orders?page=147419947319974304",
        "/alerts?page=1e20",
        "/alerts?page=1000001",
        "/complaints?page=99999999999999999999",
        "/ratings?page=99999999999999999999",
        "/cases?page_size=99999999999999999999",
        "/video/events?from=2026-09-21&to=2026-09-22&limit=99999999999999999999",
    ],
)
def test_a_page_number_too_large_is_422(shared_client: TestClient, path: str) -> None:
    err = assert_error(shared_client.get(API + path), 422, "validation_error")
    assert "查询参数" in err["message"]


def test_a_step_number_too_large_is_422(client: TestClient, engine: Engine) -> None:
    add_case(engine, "371122-20260921-000001", "W01", [DAY + timedelta(hours=8)])
    resp = client.get(f"{API}/cases/371122-20260921-000001/steps/357559568585973305965618921472/clip")
    assert_error(resp, 422, "validation_error")


def test_the_service_refuses_a_huge_page_too(node: CountyNode) -> None:
    from county_node.approval.adapters.repository import CaseFilter
    from federation.errors import ValidationError

    with pytest.raises(ValidationError, match="页码从 1 到 1000000"):
        node.approval.list(CaseFilter(), page=63509941115305144090624)


def test_the_inspectors_pages_are_bounded(engine: Engine, clock: FakeClock) -> None:
    with inspector_client(engine, clock) as c:
        for path in ("/alerts?page=1e20", "/rankings?page=63509941115305144090624", "/orders?page=147419947319974304"):
            assert_error(c.get(API + path), 422, "validation_error")


# -- NUL, lone surrogates, huge bodies -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b'{"item_code": "XK00001000", "applicant": "\\u0000", "data": {}}',
        b'{"item_code": "XK00001000", "applicant": "\\ud800", "data": {}}',
        b'{"item_code": "XK00001000", "applicant": "a\\udfff", "data": {}}',
        b'{"item_code": "XK00001000", "applicant": "x", "data": {"\\u0000": "v"}}',
        b'{"item_code": "XK00001000", "applicant": "x\x00", "data": {}}',
        b'{"item_code": "XK00001000", "applicant": "\xed\xa0\x80", "data": {}}',
        b"[" * 100_000 + b"]" * 100_000,
        b'{"item_code": 1' + b"1" * 5000 + b"}",
    ],
    ids=["nul-escape", "high-surrogate", "low-surrogate", "nul-key", "raw-nul", "utf8-surrogate", "deep", "digits"],
)
def test_nul_and_lone_surrogates_in_a_json_body_are_422_and_store_nothing(
    shared_client: TestClient, shared_engine: Engine, raw: bytes
) -> None:
    before = counts(shared_engine)
    resp = shared_client.post(f"{API}/cases", content=raw, headers={"content-type": "application/json"})
    assert_error(resp, 422, "validation_error")
    assert counts(shared_engine) == before
    assert shared_client.get(f"{API}/health").status_code == 200  # the connection still serves


def test_a_valid_surrogate_pair_is_stored(client: TestClient) -> None:
    raw = b'{"item_code": "XK00001000", "applicant": "\\ud83d\\ude00", "data": %s}'
    data = str(ENTERPRISE_DATA).replace("'", '"').encode()
    resp = client.post(f"{API}/cases", content=raw % data, headers={"content-type": "application/json"})
    assert resp.status_code == 201, resp.text
    assert resp.json()["case"]["applicant"] == "😀"


@pytest.mark.parametrize(
    "path", ["/cases/a%00b", "/cases?department=a%00b", "/cases?department=%ED%A0%80", "/cases/%ED%A0%80"]
)
def test_nul_and_bad_utf8_in_path_or_query_are_422(shared_client: TestClient, path: str) -> None:
    assert_error(shared_client.get(API + path), 422, "validation_error")


def test_nul_in_a_form_body_is_422(shared_client: TestClient) -> None:
    resp = shared_client.post(
        f"{API}/cases", content=b"applicant=a%00b", headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert_error(resp, 422, "validation_error")


def test_a_nul_in_a_multipart_login_is_a_failed_login_not_a_storage_error(shared_client: TestClient) -> None:
    """Multipart bodies are only counted by the guard; the login route sends nothing but a well-formed account id
    to the database (PostgreSQL answered a NUL with a 503 "storage_error")."""
    for username in ("ad\x00min", "admin\x00", "\x00"):
        files = {"username": (None, username), "password": (None, "x\x00y")}
        resp = shared_client.post("/api/v1/auth/token", files=files)
        assert resp.status_code == 401, resp.text
        assert resp.json()["error"]["message"] == "账号或密码错误"


def test_a_body_over_8_mib_is_413_whether_declared_or_streamed(
    shared_client: TestClient, shared_engine: Engine
) -> None:
    before = counts(shared_engine)
    big = b'["' + b"a" * MAX_BODY + b'"]'
    resp = shared_client.post(f"{API}/video/segments", content=big, headers={"content-type": "application/json"})
    assert_error(resp, 413, "limit_exceeded")

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it streams
        for _ in range(9):
            yield b" " * (1024 * 1024)

    resp = shared_client.post(f"{API}/video/segments", content=chunks(), headers={"content-type": "application/json"})
    assert_error(resp, 413, "limit_exceeded")
    assert counts(shared_engine) == before


def test_a_body_longer_than_its_content_length_is_counted() -> None:
    """The guard alone, with an ASGI app that must never run: a Content-Length that lies is not trusted."""
    reached: list[bool] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        reached.append(True)

    guard = RequestGuard(app, render=lambda e: (http_status(e), error_view(e)), max_body=10)
    messages = [{"type": "http.request", "body": b"x" * 8, "more_body": True}] * 2
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "path": "/", "raw_path": b"/", "query_string": b"", "headers": [(b"content-length", b"5")]}
    asyncio.run(guard(scope, receive, send))
    assert sent[0]["status"] == 413
    assert not reached


# -- moments outside 2000–2099 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "start",
    [
        datetime(1900, 1, 1, 9, tzinfo=CST),
        datetime(9999, 1, 1, 9, tzinfo=CST),
        datetime(1, 1, 1, 9, tzinfo=CST),
        datetime.fromisoformat("9999-12-31T23:54:59-12:00"),
    ],
)
def test_segments_outside_the_century_are_422(client: TestClient, engine: Engine, root: Path, start: datetime) -> None:
    register_camera(client)
    before = counts(engine)
    resp = client.post(f"{API}/video/segments", json=[segment((root / "x.mp4").as_uri(), start)])
    assert_error(resp, 422, "validation_error")
    assert counts(engine) == before
    listing = client.get(f"{API}/video/segments", params={"camera": CAM1, "from": "2026-01-01", "to": "2026-12-31"})
    assert listing.status_code == 200


@pytest.mark.parametrize(
    "request_",
    [
        ("GET", "/video/segments", None, {"camera": CAM1, "from": "0001-01-01T00:00:00", "to": "2026-01-01"}),
        ("GET", "/video/segments", None, {"camera": CAM1, "from": "2026-01-01", "to": "9999-12-31T23:59:59-12:00"}),
        ("GET", "/video/events", None, {"from": "0001-01-01", "to": "9999-12-31T23:59:59-12:00"}),
        ("POST", "/video/events", [{"camera_id": CAM1, "kind": "motion", "at": "9999-12-31T23:59:59-12:00"}], None),
        ("POST", "/video/events", [{"camera_id": CAM1, "kind": "motion", "at": "0001-01-01T00:00:00"}], None),
        ("POST", f"/cameras/{CAM1}/bind", {"window": "W02", "valid_from": "9999-12-31T23:59:59-12:00"}, None),
        ("POST", f"/cameras/{CAM1}/bind", {"window": "W02", "valid_from": "0001-01-01T00:00:00"}, None),
        ("POST", f"/cameras/{CAM1}/bind", {"window": "W02", "valid_to": "9999-12-31T23:59:59-12:00"}, None),
        (
            "POST",
            "/cameras",
            {"camera_id": CAM1, "name": "a", "hall": "b", "window": "W2", "since": "1900-01-01"},
            None,
        ),
    ],
)
def test_video_moments_outside_the_century_are_422(
    client: TestClient, engine: Engine, request_: tuple[str, str, Any, Any]
) -> None:
    method, path, body, params = request_
    register_camera(client)
    before = counts(engine)
    resp = client.request(method, API + path, json=body, params=params)
    assert_error(resp, 422, "validation_error")
    assert counts(engine) == before


@pytest.mark.parametrize("query", ["from=9999-01", "to=9999-12", "from=0001-01&to=2026-01", "from=1999-12"])
def test_trend_months_outside_the_century_are_422(engine: Engine, clock: FakeClock, query: str) -> None:
    for division in (CITY, "370000"):
        with inspector_client(engine, clock, division) as c:
            assert_error(c.get(f"{API}/trends?{query}"), 422, "validation_error")


# -- money -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fee", ["0.001", "80.005", "1E-9"])
def test_a_fee_finer_than_a_cent_is_refused_not_rounded(client: TestClient, engine: Engine, fee: str) -> None:
    case_no = submit(client)
    for action in ("accept", "review"):
        assert client.post(f"{API}/cases/{case_no}/actions/{action}", json={}).status_code == 200
    before = counts(engine)
    body = {"outcome": "approve", "fee_charged": fee}
    err = assert_error(client.post(f"{API}/cases/{case_no}/actions/decide", json=body), 422, "validation_error")
    assert "两位小数" in err["message"]
    assert counts(engine) == before
    body["fee_charged"] = "80.50"
    resp = client.post(f"{API}/cases/{case_no}/actions/decide", json=body)
    assert resp.status_code == 200, resp.text
    assert resp.json()["case"]["fee_charged"] == "80.50"


# -- item 7: a purge through a URI alias -----------------------------------------------------------------------------


def test_a_purge_keeps_a_file_still_indexed_through_an_alias(
    client: TestClient, node: CountyNode, engine: Engine, root: Path
) -> None:
    register_camera(client)
    recording = root / "cam1" / "recent28.mp4"
    recording.write_bytes(b"video")
    alias = f"{(root / 'cam1').as_uri()}/../cam1/recent28.mp4"
    old = segment(recording.as_uri(), DAY - timedelta(days=40))  # expired
    recent = segment(alias, DAY + timedelta(hours=8))  # kept, the same file through an alias
    resp = client.post(f"{API}/video/segments", json=[old, recent])
    assert resp.status_code == 201, resp.text

    found = client.get(f"{API}/video/segments", params={"camera": CAM1, "from": "2026-09-21", "to": "2026-09-22"})
    assert [s["uri"] for s in found.json()["segments"]] == [recording.as_uri()]  # stored in its canonical form

    report = client.post(f"{API}/video/purge").json()
    assert (report["status"], report["removed"]) == ("done", 1)
    assert report["files"]["removed"] == 0
    assert recording.exists()
    assert count(engine, video_segments) == 1


# -- found by schemathesis -------------------------------------------------------------------------------------------


def test_a_complaint_limit_beyond_the_calendar_is_422(client: TestClient, engine: Engine) -> None:
    """``limit_days`` 263966166 ran the deadline past the working calendar: 500 calendar_out_of_range before."""
    before = counts(engine)
    body = {"target": "window", "target_id": "W01", "complainant": "李四", "content": "久等"}
    resp = client.post(f"{API}/complaints", json=body | {"limit_days": 263966166})
    err = assert_error(resp, 422, "validation_error")
    assert "250" in err["message"]
    assert counts(engine) == before
    assert client.post(f"{API}/complaints", json=body | {"limit_days": 250}).status_code == 201


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        ("file:///data/nvr/cam1/../cam1/recent28.mp4", "file:///data/nvr/cam1/recent28.mp4"),
        ("file:///data/nvr/./cam1//a%20b.mp4", "file:///data/nvr/cam1/a%20b.mp4"),
        ("file:////data/nvr/a.mp4", "file:///data/nvr/a.mp4"),
        ("cam1/../cam1/a.mp4", "cam1/a.mp4"),
        ("/data/nvr/x/../a.mp4", "/data/nvr/a.mp4"),
        ("rtsp://nvr/cam1/../a", "rtsp://nvr/cam1/../a"),
    ],
)
def test_canonical_uri_gives_one_spelling_per_file(given: str, canonical: str) -> None:
    from county_node.video.domain import canonical_uri

    assert canonical_uri(given) == canonical
    assert canonical_uri(canonical) == canonical
