"""People for the tests (issue 15): accounts of each role at a node, and logged-in HTTP clients.

Every test that talks to an HTTP API logs in as a named person of the right role, exactly as a user would
(``POST /api/v1/auth/token``); :data:`PASSWORD` is every test account's password.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from security.access import Role
from security.accounts import Accounts

__all__ = ["COUNTY_STAFF", "PASSWORD", "add_staff", "add_user", "bearer", "log_in"]

PASSWORD = "Sunshine-test-2026"

# user id → (name, roles) of a county's hall, as `add_staff` creates them
COUNTY_STAFF: dict[str, tuple[str, tuple[Role, ...]]] = {
    "clerk": ("孙丽", (Role.CLERK,)),
    "approver": ("李建国", (Role.APPROVER,)),
    "supervisor": ("王海燕", (Role.SUPERVISOR,)),
    "admin": ("张伟民", (Role.NODE_ADMIN,)),
}


def add_user(
    accounts: Accounts, user_id: str, roles: Iterable[Role], *, division: str | None = None, name: str | None = None
) -> None:
    accounts.add(
        user_id,
        name=name or user_id,
        division=division or accounts.division,
        roles=[r.value for r in roles],
        password=PASSWORD,
    )


def add_staff(accounts: Accounts, division: str | None = None) -> None:
    """The county hall's four people of :data:`COUNTY_STAFF` (prefixed by nothing: ids are per node)."""
    for user_id, (name, roles) in COUNTY_STAFF.items():
        add_user(accounts, user_id, roles, division=division, name=name)


def log_in(client: Any, user_id: str, password: str = PASSWORD) -> str:
    """Log ``client`` (a TestClient or an httpx client) in as ``user_id``; return the bearer token. The client's
    default headers then carry it."""
    r = client.post("/api/v1/auth/token", data={"username": user_id, "password": password})
    assert r.status_code == 200, r.text
    token = str(r.json()["access_token"])
    client.headers["Authorization"] = f"Bearer {token}"
    client.cookies.clear()
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
