"""Sessions end at once (issue 15): a token whose session was ended, or whose account was disabled, by another
process (another :class:`Accounts` over the same database, as ``sunshine user disable`` is) stops working on the
very next request — reads and writes — and a refused write changes nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from argon2 import PasswordHasher
from sqlalchemy import Engine, func, select

from county_node.bootstrap import CountyNode
from county_node.entrypoints.http import create_app
from federation.audit import StoredEntry
from federation.errors import Unauthenticated
from federation.standards import StandardsBundle
from federation.storage import audit_log
from federation.storage.engine import make_engine
from federation.storage.tables import cases, users
from migrations.runner import upgrade
from security.access import Role
from security.accounts import accounts_for
from tests.conftest import FakeClock
from tests.integration.test_http_api import ENTERPRISE, ENTERPRISE_DATA, TestClient, make_node
from tests.people import PASSWORD, add_user, log_in

NEW_CASE = {"item_code": ENTERPRISE, "applicant": "张三", "data": ENTERPRISE_DATA}


@pytest.fixture
def node(sqlite_url: str, clock: FakeClock, bundle: StandardsBundle) -> Iterator[CountyNode]:
    engine = make_engine(sqlite_url)
    upgrade(engine)
    county = make_node(engine, clock)
    county.approval.apply_standards(bundle)
    yield county
    engine.dispose()


@pytest.fixture
def client(node: CountyNode) -> Iterator[TestClient]:  # make_node added the hall's staff
    with TestClient(create_app(node)) as c:
        yield c


def _count(engine: Engine, table: object) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def _entries(node: CountyNode) -> list[StoredEntry]:
    """The county's audit chain (kept in its outbox: it replicates)."""
    with node.engine.connect() as conn:
        return audit_log.read_entries(conn, node.config.node.division)


def test_a_write_after_the_account_is_disabled_elsewhere_is_refused_and_writes_nothing(
    client: TestClient, node: CountyNode
) -> None:
    log_in(client, "clerk")
    assert client.post("/api/v1/cases", json=NEW_CASE).status_code == 201  # the app now knows this session
    before_cases, before_audit = _count(node.engine, cases), len(_entries(node))
    accounts_for(node.engine, node.config.node.division).set_disabled("clerk", True)  # another process
    r = client.post("/api/v1/cases", json=NEW_CASE)
    assert r.status_code == 401, r.text
    assert r.headers["www-authenticate"] == "Bearer"
    assert _count(node.engine, cases) == before_cases
    assert len(_entries(node)) == before_audit + 1  # only the admin's "disable"
    assert client.get("/api/v1/cases").status_code == 401


def test_a_logged_out_token_stops_at_once(client: TestClient, node: CountyNode) -> None:
    token = log_in(client, "approver")
    assert client.get("/api/v1/cases").status_code == 200
    assert client.post("/api/v1/auth/logout").status_code == 204
    client.headers["Authorization"] = f"Bearer {token}"
    assert client.get("/api/v1/cases").status_code == 401
    assert client.post("/api/v1/cases", json=NEW_CASE).status_code == 401


def test_changed_roles_end_the_sessions_of_the_account(client: TestClient, node: CountyNode) -> None:
    log_in(client, "approver")
    assert client.post("/api/v1/cases", json=NEW_CASE).status_code == 201
    accounts_for(node.engine, node.config.node.division).set_roles("approver", "clerk")
    assert client.post("/api/v1/cases", json=NEW_CASE).status_code == 401
    log_in(client, "approver")
    no = client.get("/api/v1/cases").json()["items"][0]["case_no"]
    assert client.post(f"/api/v1/cases/{no}/actions/review", json={"opinion": "好"}).status_code == 403


def test_the_cookie_session_works_like_the_bearer_token(client: TestClient) -> None:
    r = client.post("/api/v1/auth/token", data={"username": "clerk", "password": "Sunshine-test-2026"})
    assert r.status_code == 200
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert client.get("/api/v1/auth/me").json()["user_id"] == "clerk"
    assert client.get("/api/v1/cases").status_code == 200


def test_bad_logins_lock_the_account(client: TestClient) -> None:
    for _ in range(5):
        r = client.post("/api/v1/auth/token", data={"username": "clerk", "password": "wrong-password-1"})
        assert r.status_code == 401
        assert r.json()["error"]["message"] == "账号或密码错误"
    r = client.post("/api/v1/auth/token", data={"username": "clerk", "password": "Sunshine-test-2026"})
    assert r.status_code == 401
    assert "锁定" in r.json()["error"]["message"]
    r = client.post("/api/v1/auth/token", data={"username": "nobody", "password": "Sunshine-test-2026"})
    assert r.json()["error"]["message"] == "账号或密码错误"  # an unknown account reads the same as a bad password


def test_what_a_stranger_types_as_an_account_reaches_the_audit_log_only_as_a_digest(
    client: TestClient, node: CountyNode
) -> None:
    typed = "x\n#9 2026-01-01 假条目\x1b[2J"
    r = client.post("/api/v1/auth/token", data={"username": typed, "password": "whatever-123"})
    assert r.status_code == 401
    row = _entries(node)[-1].entry
    assert row.outcome == "unknown_user"
    assert row.user_id.startswith("sha256:")
    assert "\n" not in row.target


def test_passwords_are_hashed_at_the_production_parameters(
    real_password_hashing: PasswordHasher, node: CountyNode
) -> None:
    """The rest of this process's suite hashes at Argon2's minimum (tests/conftest.py); here the production hasher
    — Argon2id, 19 MiB, 2 passes, 1 lane — hashes a new account's password, which then logs in (and no other)."""
    accounts = accounts_for(node.engine, node.config.node.division)
    add_user(accounts, "hashed", [Role.CLERK])
    with node.engine.connect() as conn:
        stored = conn.execute(select(users.c.password_hash).where(users.c.user_id == "hashed")).scalar_one()
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert real_password_hashing.verify(stored, PASSWORD)
    assert accounts.login("hashed", PASSWORD).principal.user_id == "hashed"
    with pytest.raises(Unauthenticated, match="账号或密码错误"):
        accounts.login("hashed", "wrong-password-1")
    with pytest.raises(Unauthenticated, match="账号或密码错误"):
        accounts.login("nobody", PASSWORD)  # the dummy hash verified at the same cost
