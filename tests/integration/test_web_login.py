"""The web pages' login, errors and CSRF (issue 17), on a county node's app over a real migrated SQLite database,
driven in-process with FastAPI's TestClient (the browser tests drive the same pages in Chromium)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import replace

import pytest
from sqlalchemy import Engine

from county_node.bootstrap import CountyNode
from county_node.entrypoints.http import create_app
from federation.errors import StorageError
from federation.standards import StandardsBundle
from federation.storage.engine import make_engine
from federation.web import csrf_token
from federation.web.kit import cn_date, cn_moment, safe_next
from migrations.runner import upgrade
from security.http import COOKIE
from tests.conftest import FakeClock
from tests.integration.test_http_api import make_node
from tests.people import PASSWORD

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette.testclient` is deprecated")
    from fastapi.testclient import TestClient

BASE = "http://testserver"


@pytest.fixture
def node(sqlite_url: str, clock: FakeClock, bundle: StandardsBundle) -> Iterator[CountyNode]:
    engine: Engine = make_engine(sqlite_url)
    upgrade(engine)
    county = make_node(engine, clock)
    county.approval.apply_standards(bundle)
    yield county
    engine.dispose()


@pytest.fixture
def client(node: CountyNode) -> Iterator[TestClient]:
    with TestClient(create_app(node), base_url=BASE, follow_redirects=False) as c:
        yield c


def login(client: TestClient, user: str, password: str = PASSWORD, next_: str = "/") -> object:
    return client.post("/login", data={"username": user, "password": password, "next": next_})


def test_a_page_without_login_goes_to_the_login_page(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 303
    assert r.headers["location"] == "/login"
    r = client.get("/login")
    assert r.status_code == 200
    assert "登录" in r.text
    assert "<script>" not in r.text
    assert "script-src 'self'" in r.headers["content-security-policy"]
    r = client.get("/account?x=1")
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=/account%3Fx%3D1"


def test_login_sets_an_httponly_session_and_goes_to_the_page_asked_for(client: TestClient) -> None:
    r = login(client, "clerk", next_="/account")
    assert r.status_code == 303
    assert r.headers["location"] == "/account"
    cookie = r.headers["set-cookie"]  # type: ignore[attr-defined]
    assert COOKIE in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    page = client.get("/account")
    assert page.status_code == 200
    assert "孙丽" in page.text
    assert "窗口人员" in page.text
    assert csrf_token(client.cookies[COOKIE]) in page.text  # the logout form carries the session's token


def test_a_wrong_password_shows_the_form_again_in_chinese(client: TestClient) -> None:
    r = login(client, "clerk", password="wrong-password")
    assert r.status_code == 401  # type: ignore[attr-defined]
    assert "账号或密码" in r.text
    assert 'value="clerk"' in r.text
    assert COOKIE not in client.cookies


def test_login_never_redirects_off_site(client: TestClient) -> None:
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        r = login(client, "clerk", next_=target)
        assert r.headers["location"] != target  # type: ignore[attr-defined]
        assert r.headers["location"].startswith("/")
        assert not r.headers["location"].startswith("//")
    assert safe_next("/hall/cases?page=2") == "/hall/cases?page=2"


def test_login_from_another_site_is_refused(client: TestClient) -> None:
    r = client.post(
        "/login",
        data={"username": "clerk", "password": PASSWORD, "next": "/"},
        headers={"Origin": "https://evil.example"},
    )
    assert r.status_code == 403
    assert "来源不明" in r.text
    assert COOKIE not in client.cookies


def test_a_cookie_write_needs_the_csrf_token(client: TestClient) -> None:
    login(client, "clerk")
    token = client.cookies[COOKIE]
    body = {"item_code": "XK00001000", "applicant": "张三", "data": {}}
    # the API with the session cookie alone (as a page on another site would send it): refused, nothing written
    r = client.post("/api/v1/cases", json=body)
    assert r.status_code == 403
    assert r.json()["error"]["details"]["reason"] == "csrf"
    assert client.get("/api/v1/cases").json()["total"] == 0
    wrong = client.post("/api/v1/cases", json=body, headers={"X-CSRF-Token": csrf_token("another-session")})
    assert wrong.status_code == 403
    # with the session's token (what a page's form or htmx request sends): accepted
    ok = client.post(
        "/api/v1/cases",
        json={**body, "data": {"统一社会信用代码": "91371122MA3C000000", "法定代表人": "王五"}},
        headers={"X-CSRF-Token": csrf_token(token)},
    )
    assert ok.status_code == 201, ok.text


def test_logout_ends_the_session(client: TestClient) -> None:
    login(client, "clerk")
    token = client.cookies[COOKIE]
    refused = client.post("/logout", data={"csrf": "forged"})
    assert refused.status_code == 403
    r = client.post("/logout", data={"csrf": csrf_token(token)})
    assert r.status_code == 303
    assert r.headers["location"] == "/login"
    client.cookies.set(COOKIE, token)
    assert client.get("/account").status_code == 303  # the session is over, not only the cookie


def test_an_error_on_a_page_is_a_page_and_on_the_api_json(client: TestClient) -> None:
    login(client, "clerk")
    page = client.get("/no-such-page")
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "未找到" in page.text
    api = client.get("/api/v1/no-such")
    assert api.status_code == 404
    assert api.headers["content-type"].startswith("application/json")


def test_static_files_are_served(client: TestClient) -> None:
    for name in ("htmx.min.js", "echarts.min.js", "sunshine.js", "sunshine.css"):
        assert client.get(f"/static/{name}").status_code == 200


def test_dates_are_chinese_in_china_time() -> None:
    assert cn_date("2026-12-06") == "2026年12月6日"
    assert cn_moment("2026-12-06T16:30:00+00:00") == "2026年12月7日 00:30"
    assert cn_date(None) == "—"


def test_the_token_endpoint_refuses_a_form_from_another_site(client: TestClient) -> None:
    # login CSRF: a form on another site posting the attacker's account to the OAuth2 endpoint (security review)
    r = client.post(
        "/api/v1/auth/token",
        data={"username": "clerk", "password": PASSWORD},
        headers={"Origin": "https://evil.example"},
    )
    assert r.status_code == 403
    assert "set-cookie" not in r.headers
    assert client.post("/api/v1/auth/token", data={"username": "clerk", "password": PASSWORD}).status_code == 200


def test_the_api_logout_with_the_cookie_alone_needs_the_csrf_token(client: TestClient) -> None:
    login(client, "clerk")
    token = client.cookies[COOKIE]
    assert client.post("/api/v1/auth/logout").status_code == 403
    assert client.get("/account").status_code == 200  # still logged in
    assert client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf_token(token)}).status_code == 204


def test_a_database_failure_at_login_shows_no_driver_text(
    client: TestClient, node: CountyNode, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreachable(*_args: object, **_kwargs: object) -> None:
        raise StorageError(
            "无法连接数据库：connection to server at 10.1.2.3, port 5432 failed (user sunshine)", backend="postgresql"
        )

    monkeypatch.setattr(node.accounts, "login", unreachable)
    page = login(client, "clerk")
    assert page.status_code == 503  # type: ignore[attr-defined]
    assert "10.1.2.3" not in page.text  # type: ignore[attr-defined]
    assert "数据库暂时无法访问" in page.text  # type: ignore[attr-defined]
    api = client.post("/api/v1/auth/token", data={"username": "clerk", "password": PASSWORD})
    assert api.status_code == 503
    assert "10.1.2.3" not in api.text


def test_the_cookie_is_secure_behind_a_tls_proxy(sqlite_url: str, clock: FakeClock, bundle: StandardsBundle) -> None:
    engine = make_engine(sqlite_url)
    upgrade(engine)
    try:
        county = make_node(engine, clock)
        county.config = replace(county.config, http=replace(county.config.http, secure_cookies=True))
        with TestClient(create_app(county), base_url=BASE, follow_redirects=False) as c:
            assert "Secure" in login(c, "clerk").headers["set-cookie"]  # type: ignore[attr-defined]
    finally:
        engine.dispose()
