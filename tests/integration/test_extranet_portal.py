"""The extranet portal over real HTTP: a real uvicorn server on 127.0.0.1 port 0 and an httpx client
(``trust_env=False``), over a real SQLite store filled through the county's public stream.

The JSON API and the pages, the query-code oracle seen from outside (one status and body for an unknown number and a
wrong code), the CSRF refusal of a form, the rate limits (429 with ``Retry-After``, on an injected clock), the body
limit (413 before the body is read), the security headers, the client behind a trusted proxy, and logs that never
hold a phone number, an ID number or a query code."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest.mock import patch

import httpx
import pytest
import uvicorn
from sqlalchemy import Engine, select
from structlog.testing import capture_logs

from county_node.extranet.bootstrap import ExtranetNode
from county_node.extranet.domain import PortalLimits
from county_node.extranet.entrypoints.client import client_digest
from county_node.extranet.entrypoints.portal_http import CSRF_COOKIE, create_portal_app
from county_node.extranet.services import CodeChecks
from federation.http_server import http_config
from federation.public_records import DISCLOSURE, PUBLIC_CASE, PUBLIC_CATALOGUE
from federation.storage.engine import make_engine
from federation.storage.tables import ext_complaints, ext_submissions, outbox
from federation.storage.uow import UnitOfWork
from migrations.runner import upgrade
from tests.conftest import FakeClock
from tests.integration.extranet_fixtures import (
    CASE_CODE,
    COUNTY,
    T0,
    County,
    case_payload,
    catalogue_payload,
    concluded,
    disclosure_payload,
    ext_node,
    wipe,
)

CASE_1 = f"{COUNTY}-20261207-000001"
CASE_2 = f"{COUNTY}-20261207-000002"
KEY = b"k" * 32
API = "/api/v1/public"
APPLICATION = {
    "item_code": "A01",
    "applicant": "张三",
    "applicant_id": "370122199001011234",
    "phone": "13812345678",
    "materials": ["身份证"],
    "data": {"统一社会信用代码": "91371122MA3C0XXXX1", "经营场所": "城阳街道 1 号"},
}


class Monotonic:
    """The limits' clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class ServerThread:
    """A real uvicorn server on 127.0.0.1 port 0 in a thread (signals stay with the main thread), configured as
    ``serve_http`` configures every node's server (:func:`federation.http_server.http_config`)."""

    def __init__(self, app: Any) -> None:
        self.server = uvicorn.Server(http_config(app, "127.0.0.1", 0))
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


class Portal:
    def __init__(self, node: ExtranetNode, clock: Monotonic, client: httpx.Client) -> None:
        self.node = node
        self.clock = clock
        self.http = client

    def rows(self, table: Any) -> list[Any]:
        with UnitOfWork(self.node.engine, readonly=True) as uow:
            return list(uow.conn.execute(select(table)))

    def form(self, path: str) -> str:
        """GET a form page; the CSRF token of its hidden field (the cookie is kept by the client)."""
        page = self.http.get(path)
        assert page.status_code == 200, page.text
        found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert found is not None
        return found.group(1)


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Engine, Engine]]:
    engines = []
    for name in ("ext", "county"):
        eng = make_engine(f"sqlite:///{tmp_path_factory.mktemp(name) / 'node.db'}")
        upgrade(eng)
        engines.append(eng)
    yield engines[0], engines[1]
    for eng in engines:
        eng.dispose()


def _portal(stores: tuple[Engine, Engine], tmp_path: Path, **limits: Any) -> Iterator[Portal]:
    ext_engine, county_engine = stores
    wipe(ext_engine)
    wipe(county_engine)
    node = ext_node(ext_engine, FakeClock(T0), tmp_path, **limits)
    county = County(county_engine, ext_engine, node.receiver_appliers())
    county.send(
        (PUBLIC_CATALOGUE, "catalogue", catalogue_payload("A01", "B02")),
        (PUBLIC_CASE, CASE_1, concluded(CASE_1)),
        (PUBLIC_CASE, CASE_2, case_payload(CASE_2)),
        (DISCLOSURE, CASE_1, disclosure_payload(CASE_1, T0.date())),
    )
    clock = Monotonic()
    ext = node.config.extranet
    limiter = PortalLimits.per_config(
        client_per_minute=ext.client_per_minute,
        submissions_per_hour=ext.submissions_per_hour,
        case_per_minute=ext.case_per_minute,
        clock=clock,
    )
    with (
        ServerThread(create_portal_app(node, limits=limiter)) as base,
        httpx.Client(base_url=base, trust_env=False, timeout=10) as client,
    ):
        yield Portal(node, clock, client)


@pytest.fixture
def portal(stores: tuple[Engine, Engine], tmp_path: Path) -> Iterator[Portal]:
    yield from _portal(stores, tmp_path, client_per_minute=1000, case_per_minute=1000, submissions_per_hour=1000)


# -- the JSON API ----------------------------------------------------------------------------------------------------


def test_apply_and_ask_through_the_api(portal: Portal) -> None:
    catalogue = portal.http.get(f"{API}/catalogue")
    assert sorted(i["code"] for i in catalogue.json()["items"]) == ["A01", "B02"]
    with capture_logs() as logs:
        made = portal.http.post(f"{API}/submissions", json=APPLICATION)
    assert made.status_code == 201, made.text
    sid, code = made.json()["submission_id"], made.json()["query_code"]
    asked = portal.http.post(f"{API}/status", json={"number": sid, "query_code": code})
    assert asked.status_code == 200
    assert (asked.json()["kind"], asked.json()["state_label"]) == ("submission", "待受理")
    case = portal.http.post(f"{API}/status", json={"number": CASE_1, "query_code": CASE_CODE}).json()
    assert (case["status_label"], case["on_time_label"], case["can_rate"]) == ("已办结", "按时", True)
    # nothing secret in the logs: no phone, no ID number, no query code — the client only as its digest
    text = repr(logs)
    for secret in ("13812345678", "370122199001011234", code):
        assert secret not in text
    assert client_digest(KEY, "127.0.0.1") in text


def test_an_unknown_number_and_a_wrong_code_look_the_same_from_outside(portal: Portal) -> None:
    answers = [
        portal.http.post(f"{API}/status", json={"number": number, "query_code": code})
        for number, code in ((CASE_1, "WRONG234"), (f"{COUNTY}-20261207-000099", "WRONG234"), (CASE_2, "AAAA2222"))
    ]
    assert {a.status_code for a in answers} == {404}
    assert len({a.content for a in answers}) == 1
    assert answers[0].json()["error"]["message"].startswith("未找到该办件或查询码不正确")


def test_refusals_are_clear_4xx_json_naming_the_field(portal: Portal) -> None:
    too_long = portal.http.post(
        f"{API}/complaints", json={"complainant": "李四", "phone": "13912345678", "content": "长" * 2001}
    )
    assert too_long.status_code == 422
    assert too_long.json()["error"]["details"]["field"] == "content"
    assert "投诉内容" in too_long.json()["error"]["message"]
    bad_phone = portal.http.post(f"{API}/submissions", json=APPLICATION | {"phone": "123"})
    assert bad_phone.status_code == 422
    assert "手机号码" in bad_phone.json()["error"]["message"]
    not_json = portal.http.post(f"{API}/complaints", content=b"complainant=x", headers={"content-type": "text/plain"})
    assert not_json.status_code == 422
    assert "JSON" in not_json.json()["error"]["message"]
    unknown = portal.http.post(f"{API}/ratings", json={"case_no": CASE_1, "query_code": CASE_CODE, "level": 5, "x": 1})
    assert unknown.status_code == 422
    rated = portal.http.post(f"{API}/ratings", json={"case_no": CASE_1, "query_code": CASE_CODE, "level": 5})
    assert rated.status_code == 201
    assert rated.json()["label"] == "非常满意"
    again = portal.http.post(f"{API}/ratings", json={"case_no": CASE_1, "query_code": CASE_CODE, "level": 1})
    assert again.status_code == 409
    assert "只能评价一次" in again.json()["error"]["message"]
    assert len(portal.rows(ext_submissions)) == 0
    assert len(portal.rows(ext_complaints)) == 0


def test_invisible_control_and_bidi_characters_are_refused(portal: Portal) -> None:
    spoofed = portal.http.post(f"{API}/submissions", json=APPLICATION | {"applicant": "张三\u202egnp.exe"})
    assert spoofed.status_code == 422
    assert spoofed.json()["error"]["details"]["field"] == "applicant"
    assert spoofed.json()["error"]["message"] == "申请人：含有不可见的控制字符"
    escape = portal.http.post(
        f"{API}/complaints", json={"complainant": "李四", "phone": "13912345678", "content": "x\x1b[2Jy"}
    )
    assert escape.status_code == 422
    assert escape.json()["error"]["details"]["field"] == "content"
    lines = portal.http.post(
        f"{API}/complaints", json={"complainant": "李四", "phone": "13912345678", "content": "第一行\n第二行"}
    )
    assert lines.status_code == 201
    token = portal.form("/apply/A01")
    form = {"csrf_token": token, "applicant": "张三", "phone": "13812345678", "kf0": "x", "kf1": "y"}
    hidden = portal.http.post("/apply/A01", data=form | {"materials": "身份证\x1c营业执照"})
    assert hidden.status_code == 422
    assert "申请材料：含有不可见的控制字符" in hidden.text
    assert portal.rows(ext_submissions) == []


def test_disclosures_and_security_headers(portal: Portal) -> None:
    listed = portal.http.get(f"{API}/disclosures", params={"page": 1, "page_size": 5})
    assert listed.json()["total"] == 1
    assert listed.json()["items"][0]["on_time_label"] in {"按时", "超时"}
    page = portal.http.get("/disclosures")
    assert CASE_1 in page.text
    assert "办件公示" in page.text
    for response in (listed, page, portal.http.get("/")):
        h = response.headers
        assert h["content-security-policy"].startswith("default-src 'self'")
        assert (h["x-content-type-options"], h["x-frame-options"], h["referrer-policy"]) == (
            "nosniff",
            "DENY",
            "same-origin",
        )
        assert h["cache-control"] == "no-store"


# -- the pages -------------------------------------------------------------------------------------------------------


def test_apply_on_the_pages_and_see_the_code_once(portal: Portal) -> None:
    home = portal.http.get("/")
    assert "事项A01" in home.text
    assert 'href="/apply/A01"' in home.text
    token = portal.form("/apply/A01")
    assert portal.http.cookies.get(CSRF_COOKIE) == token
    form = {
        "csrf_token": token,
        "applicant": "张三",
        "phone": "13812345678",
        "kf0": "91371122MA3C0XXXX1",
        "kf1": "城阳街道 1 号",
        "materials": "身份证\n营业执照",
    }
    missing = portal.http.post("/apply/A01", data=form | {"kf1": ""})
    assert missing.status_code == 422
    assert "请填写“经营场所”" in missing.text
    assert "张三" in missing.text
    done = portal.http.post("/apply/A01", data=form)
    assert done.status_code == 200, done.text
    sid = re.search(r"(371122-W\d{8}-[0-9A-Z]{6})", done.text)
    code = re.search(r'查询码：<span class="code">([0-9A-Z]{8})<', done.text)
    assert sid is not None
    assert code is not None
    (row,) = portal.rows(ext_submissions)
    assert row.materials == ["身份证", "营业执照"]
    token = portal.form("/status")
    asked = portal.http.post("/status", data={"csrf_token": token, "number": sid.group(1), "query_code": code.group(1)})
    assert "待受理" in asked.text
    wrong = portal.http.post("/status", data={"csrf_token": token, "number": sid.group(1), "query_code": "WRONG234"})
    assert wrong.status_code == 404
    assert "未找到该办件或查询码不正确" in wrong.text


def test_a_form_without_its_csrf_token_or_from_another_site_is_refused(portal: Portal) -> None:
    complaint = {"complainant": "李四", "phone": "13912345678", "content": "态度差"}
    stranger = httpx.post(str(portal.http.base_url.join("/complaint")), data=complaint, trust_env=False)
    assert stranger.status_code == 403
    assert "页面已过期或来源不明" in stranger.text
    token = portal.form("/complaint")
    forged = portal.http.post("/complaint", data=complaint | {"csrf_token": "x" * 32})
    assert forged.status_code == 403
    cross = portal.http.post(
        "/complaint", data=complaint | {"csrf_token": token}, headers={"origin": "https://evil.example"}
    )
    assert cross.status_code == 403
    assert portal.rows(ext_complaints) == []
    assert portal.rows(outbox) == []
    done = portal.http.post("/complaint", data=complaint | {"csrf_token": token})
    assert done.status_code == 200
    assert "投诉已提交" in done.text
    assert len(portal.rows(ext_complaints)) == 1


def test_the_pages_take_url_encoded_forms_only(portal: Portal) -> None:
    token = portal.form("/complaint")
    fields = {"csrf_token": token, "complainant": "李四", "phone": "13912345678", "content": "态度\x00差"}
    multipart = portal.http.post("/complaint", data=fields, files={"attachment": ("a.txt", b"x")})
    assert multipart.status_code == 415, multipart.text
    assert "不支持的提交格式" in multipart.text
    parts = b"".join(  # multipart without any file, a NUL in a field: RequestGuard does not look into it
        b'--b0undary\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n' % (k.encode(), v.encode())
        for k, v in fields.items()
    )
    forged = portal.http.post(
        "/complaint",
        content=parts + b"--b0undary--\r\n",
        headers={"content-type": "multipart/form-data; boundary=b0undary"},
    )
    assert forged.status_code == 415
    for kind, body in (("text/plain", b"content=x"), ("application/json", b'{"content": "x"}')):
        other = portal.http.post("/complaint", content=body, headers={"content-type": kind})
        assert other.status_code == 415
    nul = portal.http.post("/complaint", data=fields)  # url-encoded: %00 is refused as in JSON
    assert nul.status_code == 422
    assert "空字符" in nul.text
    assert portal.rows(ext_complaints) == []
    done = portal.http.post("/complaint", data=fields | {"content": "态度差"})
    assert done.status_code == 200


# -- limits ---------------------------------------------------------------------------------------------------


@pytest.fixture
def tight(stores: tuple[Engine, Engine], tmp_path: Path) -> Iterator[Portal]:
    yield from _portal(
        stores,
        tmp_path,
        client_per_minute=6,
        case_per_minute=2,
        submissions_per_hour=1,
        max_body_bytes=2048,
        trusted_proxies=("127.0.0.1",),
    )


def test_rate_limits_answer_429_with_retry_after(tight: Portal) -> None:
    def ask(number: str, client: str = "203.0.113.7") -> httpx.Response:
        return tight.http.post(
            f"{API}/status",
            json={"number": number, "query_code": "WRONG234"},
            headers={"x-forwarded-for": f"198.51.100.1, {client}"},  # the left hop is the client's own claim
        )

    # failed code checks per number and client: the third wrong code of one client within a minute is refused
    assert [ask(CASE_1).status_code for _ in range(3)] == [404, 404, 429]
    refused = ask(CASE_1)
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) == 60
    assert "该编号查询码输错次数过多" in refused.json()["error"]["message"]
    assert ask(CASE_2).status_code == 404  # another number is not held back
    # the applicant's right code, from their own address, is never refused by those failures — nor counted
    applicant = {"x-forwarded-for": "203.0.113.50"}
    right = {"number": CASE_1, "query_code": CASE_CODE}
    assert [tight.http.post(f"{API}/status", json=right, headers=applicant).status_code for _ in range(3)] == [200] * 3

    # per client: the 7th request of one address within a minute is refused, on the pages too
    for _ in range(5):
        tight.http.get("/", headers={"x-forwarded-for": "192.0.2.1"})
    assert tight.http.get(f"{API}/catalogue", headers={"x-forwarded-for": "192.0.2.1"}).status_code == 200
    page = tight.http.get("/", headers={"x-forwarded-for": "192.0.2.1"})
    assert page.status_code == 429
    assert "访问过于频繁" in page.text
    assert "retry-after" in page.headers
    assert tight.http.get("/", headers={"x-forwarded-for": "192.0.2.2"}).status_code == 200
    tight.clock.now += 61  # a minute later the address may ask again
    assert tight.http.get("/", headers={"x-forwarded-for": "192.0.2.1"}).status_code == 200

    # applications and complaints per client per hour (here: one)
    first = tight.http.post(f"{API}/submissions", json=APPLICATION, headers={"x-forwarded-for": "192.0.2.3"})
    assert first.status_code == 201
    second = tight.http.post(
        f"{API}/complaints",
        json={"complainant": "李四", "phone": "13912345678", "content": "x"},
        headers={"x-forwarded-for": "192.0.2.3"},
    )
    assert second.status_code == 429
    assert int(second.headers["retry-after"]) == 3600
    (row,) = tight.rows(ext_submissions)
    assert row.client == client_digest(KEY, "192.0.2.3")  # the client behind the trusted proxy, as a digest


def test_junk_queries_do_not_lock_the_applicant_out_but_a_number_under_attack_locks(tight: Portal) -> None:
    def ask(client: str, code: str = "WRONG234", path: str = "status") -> int:
        key = "number" if path == "status" else "case_no"
        body = {key: CASE_1, "query_code": code} | ({"level": 5} if path == "ratings" else {})
        return tight.http.post(f"{API}/{path}", json=body, headers={"x-forwarded-for": client}).status_code

    assert [ask("198.51.100.1") for _ in range(5)] == [404, 404, 429, 429, 429]  # junk: 2 failures a minute
    assert ask("203.0.113.50", CASE_CODE) == 200  # before: the junk had locked the number for everyone
    # a brute force from many addresses stops at 10 × case_per_minute failures of the number, from anyone …
    for n in range(2, 11):
        assert [ask(f"198.51.100.{n}", path=p) for p in ("status", "ratings")] == [404, 404]
    assert ask("198.51.100.11") == 429
    # … and a locked number answers 429 before the code is checked: the right code too (no oracle)
    for path in ("status", "ratings"):
        assert ask("203.0.113.50", CASE_CODE, path) == 429
    token = tight.form("/status")
    page = tight.http.post("/status", data={"csrf_token": token, "number": CASE_1, "query_code": CASE_CODE})
    assert page.status_code == 429
    assert "已暂停查询" in page.text
    tight.clock.now += 61
    assert ask("203.0.113.50", CASE_CODE) == 200
    assert ask("203.0.113.50", CASE_CODE, "ratings") == 201


def test_concurrent_submissions_cannot_overrun_the_hourly_share(tight: Portal) -> None:
    base, threads = str(tight.http.base_url), 4
    start = threading.Barrier(threads)
    answers: list[int] = []

    def submit() -> None:
        with httpx.Client(base_url=base, trust_env=False, timeout=10) as client:
            start.wait(timeout=10)
            made = client.post(f"{API}/submissions", json=APPLICATION, headers={"x-forwarded-for": "192.0.2.9"})
            answers.append(made.status_code)

    workers = [threading.Thread(target=submit) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    assert sorted(answers) == [201] + [429] * (threads - 1)
    assert len(tight.rows(ext_submissions)) == 1


def test_bad_input_does_not_use_up_the_share_and_ipv6_counts_per_64(tight: Portal) -> None:
    def submit(client: str, **changes: Any) -> httpx.Response:
        return tight.http.post(f"{API}/submissions", json=APPLICATION | changes, headers={"x-forwarded-for": client})

    assert submit("2001:db8:1:2::1", phone="123").status_code == 422  # nothing stored: nothing counted
    assert submit("2001:db8:1:2::1").status_code == 201
    other_host = submit("2001:db8:1:2:ffff:ffff:ffff:fffe")  # another address of the same /64
    assert other_host.status_code == 429
    assert "提交过于频繁" in other_host.json()["error"]["message"]
    assert submit("2001:db8:1:3::1").status_code == 201  # the next /64 is another client
    clients = {row.client for row in tight.rows(ext_submissions)}
    assert clients == {client_digest(KEY, "2001:db8:1:2::/64"), client_digest(KEY, "2001:db8:1:3::/64")}


def test_code_checks_are_bounded_node_wide_and_busy_is_429_before_hashing(tight: Portal) -> None:
    checks = CodeChecks(1, wait=0.05)
    tight.node.portal.checks = checks
    right = {"number": CASE_1, "query_code": CASE_CODE}
    assert checks.semaphore.acquire(timeout=1)  # the one slot is busy (another lookup hashing)
    try:
        with patch("county_node.extranet.services.check_query_code", side_effect=AssertionError("hashed")):
            busy = tight.http.post(f"{API}/status", json=right)
            assert busy.status_code == 429
            assert busy.json()["error"]["message"] == "系统繁忙，请稍后再试"
            assert busy.headers["retry-after"] == "2"
            rating = {"case_no": CASE_1, "query_code": CASE_CODE, "level": 5}
            other = {"x-forwarded-for": "192.0.2.77"}
            assert tight.http.post(f"{API}/ratings", json=rating, headers=other).status_code == 429
            token = tight.form("/status")
            page = tight.http.post("/status", data={"csrf_token": token} | right)
            assert page.status_code == 429
            assert "系统繁忙" in page.text
        with patch("county_node.extranet.services.query_hash", side_effect=AssertionError("hashed")):
            assert tight.http.post(f"{API}/submissions", json=APPLICATION).status_code == 429
        assert tight.rows(ext_submissions) == []
    finally:
        checks.semaphore.release()
    # the two busy lookups were no failures (case_per_minute is 2 here), the busy application used no slot (1 an
    # hour here) — six requests of 127.0.0.1 in all, its client_per_minute
    assert tight.http.post(f"{API}/status", json=right).status_code == 200
    assert tight.http.post(f"{API}/submissions", json=APPLICATION).status_code == 201


def test_a_body_over_the_limit_is_refused_before_it_is_read(tight: Portal) -> None:
    big = {"complainant": "李四", "phone": "13912345678", "content": "x" * 4000}
    declared = tight.http.post(f"{API}/complaints", json=big)
    assert declared.status_code == 413
    assert "过大" in declared.json()["error"]["message"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while it streams in
        yield b'{"complainant": "x", "content": "'
        for _ in range(10):
            yield b"y" * 500
        yield b'"}'

    streamed = tight.http.post(f"{API}/complaints", content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413
    token = tight.form("/complaint")
    page = tight.http.post("/complaint", data={"csrf_token": token, "content": "z" * 4000})
    assert page.status_code == 413
    assert "提交的内容过大" in page.text
    assert tight.rows(ext_complaints) == []


@pytest.fixture
def direct(stores: tuple[Engine, Engine], tmp_path: Path) -> Iterator[Portal]:
    """No trusted proxy: the client is the socket peer, whatever ``X-Forwarded-For`` says."""
    yield from _portal(stores, tmp_path, client_per_minute=3, case_per_minute=10, submissions_per_hour=10)


def test_a_spoofed_forwarded_for_from_an_untrusted_peer_changes_nothing(direct: Portal) -> None:
    # served as serve_http serves it (uvicorn's own proxy headers off): only ClientResolver decides who asks, and
    # 127.0.0.1 is not a trusted proxy here — every spoofed address counts against the peer's one limit
    spoofed = [
        direct.http.get("/", headers={"x-forwarded-for": f"198.51.100.{n}", "forwarded": f"for=198.51.100.{n}"})
        for n in range(4)
    ]
    assert [r.status_code for r in spoofed] == [200, 200, 200, 429]
    direct.clock.now += 61
    made = direct.http.post(f"{API}/submissions", json=APPLICATION, headers={"x-forwarded-for": "203.0.113.5"})
    assert made.status_code == 201, made.text
    (row,) = direct.rows(ext_submissions)
    assert row.client == client_digest(KEY, "127.0.0.1")
