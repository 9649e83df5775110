"""People for the tests (issue 15): accounts of each role at a node, and logged-in HTTP clients.

Every test that talks to an HTTP API logs in as a named person of the right role, exactly as a user would
(``POST /api/v1/auth/token``); every test that runs a write command logs the command line in
(``sunshine user login --password-file``, :func:`password_file`); :data:`PASSWORD` is every test account's
password.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from federation.storage.engine import make_engine
from security.access import Role
from security.accounts import Accounts, accounts_for

__all__ = [
    "COUNTY_STAFF",
    "PASSWORD",
    "add_staff",
    "add_staff_at",
    "add_user",
    "bearer",
    "log_in",
    "password_file",
]

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


def add_staff_at(database_url: str, division: str) -> None:
    """The people of :data:`COUNTY_STAFF` over a node's database (an initialised node the tests run commands on);
    an id the node has already (``admin``, the first admin ``init`` made) is left as it is."""
    engine = make_engine(database_url)
    try:
        accounts = accounts_for(engine, division)
        have = {a.user_id for a in accounts.all()}
        for user_id, (name, roles) in COUNTY_STAFF.items():
            if user_id not in have:
                add_user(accounts, user_id, roles, name=name)
    finally:
        engine.dispose()


def password_file(directory: Path, password: str = PASSWORD) -> Path:
    """A file holding ``password`` (for ``--password-file``), in ``directory``."""
    path = directory / "test-password.txt"
    path.write_text(password + "\n", encoding="utf-8")
    return path
