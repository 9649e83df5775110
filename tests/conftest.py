"""Shared fixtures: real SQLite and real PostgreSQL databases migrated to head, a demo standards bundle.

PostgreSQL: ``SUNSHINE_TEST_POSTGRES_URL`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``)
is the admin connection; each test module gets its own freshly created database, dropped afterwards. Outside
CI, an unreachable server skips the PostgreSQL tests with the reason; in CI (``CI=true``) it fails them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from datetime import date, datetime
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from federation.calendar import WorkingCalendar
from federation.calendar_seed import seed_years
from federation.data import CATALOGUE_CSV
from federation.standards import StandardsBundle, bundle_from_catalogue_csv
from federation.storage.engine import make_engine
from federation.timeutil import CST
from migrations.runner import upgrade
from security import accounts

PRODUCTION_HASHER = accounts._HASHER

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"  # the project's shared data, beside the checkout (CI has it)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--shift-clock",
        metavar="YYYY-MM-DD",
        help="run the suite with this process's wall clock moved to that day (time-machine), to find tests that "
        "depend on the day they run; e.g. `make test PYTEST_ARGS='--shift-clock 2027-03-15'`",
    )


def pytest_configure(config: pytest.Config) -> None:
    day = config.getoption("--shift-clock")
    if day:
        import time_machine

        traveller = time_machine.travel(datetime.fromisoformat(day).replace(hour=10, tzinfo=CST), tick=True)
        traveller.start()
        config.add_cleanup(traveller.stop)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The files holding a long test (marked ``fault`` or ``slow``: real federations of processes) run first, in
    their order: `make test` gives each worker whole files (pytest-xdist ``--dist loadfile``, pyproject.toml), and
    a long file handed out last would finish alone while the other workers idle."""
    long_files = {item.path for item in items if item.get_closest_marker("fault") or item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in long_files)  # stable: the order within each group is kept


# the passphrase of the nodes' encrypted keyrings in the tests' processes (a production node gets its own from its
# service manager); set once, so every command a test runs can read the keyring its node was given
os.environ.setdefault("SUNSHINE_KEYRING_PASSPHRASE", "test-" + uuid.uuid4().hex)

PG_ADMIN_URL = os.environ.get("SUNSHINE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _pg_reachable() -> str | None:
    try:
        eng = create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
        with eng.connect() as conn:
            conn.execute(text("select 1"))
        eng.dispose()
    except Exception as exc:  # any failure to connect means "not reachable"
        return f"{type(exc).__name__}: {exc}".splitlines()[0]
    return None


_PG_PROBE: dict[str, str | None] = {}  # "problem" -> why PostgreSQL is unreachable (None: reachable)


def require_postgresql() -> None:
    """Skip (outside CI) or fail (in CI) when PostgreSQL is not reachable."""
    if "problem" not in _PG_PROBE:
        _PG_PROBE["problem"] = _pg_reachable()
    problem = _PG_PROBE["problem"]
    if problem:
        where = make_url(PG_ADMIN_URL).render_as_string(hide_password=True)
        msg = f"PostgreSQL at {where} unreachable: {problem}"
        if IN_CI:
            pytest.fail(f"CI=true requires PostgreSQL: {msg}")
        pytest.skip(msg)


def create_pg_database() -> tuple[str, Callable[[], None]]:
    """Create a fresh, uniquely named database; return its URL and a function that drops it."""
    require_postgresql()
    name = f"sunshine_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url, drop


# Argon2id at the production parameters (19 MiB, 2 passes) costs ~50 ms a hash and a login; the suite creates and logs
# in thousands of accounts. In this process (in-process tests) passwords are hashed at Argon2's minimum instead —
# injected here, never through a setting production could read. A stored hash names its own parameters, so a hash
# made here verifies anywhere, and every ``sunshine`` subprocess a test runs still hashes at the real parameters;
# ``real_password_hashing`` gives a test the production hasher back (tests/integration/test_sessions.py).
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@pytest.fixture(scope="session", autouse=True)
def _fast_password_hashing() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(accounts, "_HASHER", FAST_HASHER)
        yield


@pytest.fixture
def real_password_hashing(monkeypatch: pytest.MonkeyPatch) -> PasswordHasher:
    """The production hasher of :mod:`security.accounts` for this test; returned."""
    monkeypatch.setattr(accounts, "_HASHER", PRODUCTION_HASHER)
    return PRODUCTION_HASHER


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'node.db'}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    url, drop = create_pg_database()
    try:
        yield url
    finally:
        drop()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database of each backend (the storage contract suite runs on both)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'node.db'}"
        return
    url, drop = create_pg_database()
    try:
        yield url
    finally:
        drop()


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """A migrated engine on each backend."""
    eng = make_engine(db_url)
    upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture(scope="session")
def seeded_years() -> list:  # type: ignore[type-arg]
    return seed_years()


@pytest.fixture(scope="session")
def calendar(seeded_years: list) -> WorkingCalendar:  # type: ignore[type-arg]
    return WorkingCalendar(seeded_years)


@pytest.fixture(scope="session")
def bundle(seeded_years: list) -> StandardsBundle:  # type: ignore[type-arg]
    return bundle_from_catalogue_csv(CATALOGUE_CSV, "2026.09.1", date(2026, 9, 1), seeded_years)


class FakeClock:
    """A settable clock for services under test (the service's real port is a zero-argument callable)."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def set(self, year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
        self.now = datetime(year, month, day, hour, minute, tzinfo=CST)
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 9, 21, 9, 0, tzinfo=CST))


class ProxyTrap:
    """A real local listener posing as an HTTP proxy: it counts every connection and answers each request with a
    fake success (what a malicious proxy would do with an SMS gateway's request)."""

    def __init__(self) -> None:
        import socket
        import threading

        self.connections = 0
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        body = b'{"accepted": true, "id": "proxy-fake"}'
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                conn.settimeout(2)
                try:
                    conn.recv(65536)
                    conn.sendall(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                        + f"Content-Length: {len(body)}\r\n\r\n".encode()
                        + body
                    )
                except OSError:
                    pass

    def close(self) -> None:
        self._sock.close()


@pytest.fixture
def proxy_trap(monkeypatch: pytest.MonkeyPatch) -> Iterator[ProxyTrap]:
    """Every proxy variable of the environment pointed at a :class:`ProxyTrap` (and a bogus CA file)."""
    trap = ProxyTrap()
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.setenv(name, trap.url)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SSL_CERT_FILE", "/nonexistent/ca.pem")
    yield trap
    trap.close()
