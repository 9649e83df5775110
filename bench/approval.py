"""``approval``: full case lifecycles per second through the service layer, on SQLite and PostgreSQL.

One lifecycle is submit → accept → review → decide (approve) → conclude through
:class:`county_node.approval.services.ApprovalService`: five use cases, five transactions, each writing the
case, its event and two outbox rows. The item (食品经营许可) has key data, supplied at submit, so the
decision is allowed. Each backend gets a fresh database migrated to head with the catalogue bundle applied;
a few lifecycles warm it up, then ``N`` are timed in one pass (N = 2000 on SQLite, 1000 on PostgreSQL at
scale 1). The service runs on a fake clock that starts 2026-09-21 09:00 CST and moves 20 ms per reading.

Each backend is timed twice, on two fresh databases in alternating chunks: without authentication, and with it
(:class:`People`: every use case checks a bearer token and the role's permission and appends its audit entry in
its own transaction). Issue 15's target: the authenticated figure within 10 % of the other (ratio ≥ 0.9).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from bench.harness import Options, catalogue_bundle, postgresql_problem, progress, scaled, temp_postgresql_database
from county_node.approval.domain import Action, Status
from county_node.approval.services import ApprovalService
from federation.audit import audited
from federation.standards import Item, StandardsBundle
from federation.storage.engine import make_engine
from federation.timeutil import CST
from migrations.runner import upgrade
from security.access import Permission, Role
from security.accounts import accounts_for

__all__ = ["TARGET_SQLITE_PER_S", "SteppingClock", "run"]

NAME = "approval"
TARGET_SQLITE_PER_S = 300
BASE_SQLITE_N = 2000
BASE_POSTGRESQL_N = 1000
WARMUP = 20
DIVISION = "370102"
ITEM_CODE = "XK00003000"  # 食品经营许可: promised 5 working days, key data 统一社会信用代码;经营场所
TRANSACTIONS_PER_LIFECYCLE = 5
TARGET_AUTH_RATIO = 0.9  # issue 15: with authentication on, within 10 % of the figure without it
PASSWORD = "bench-password-2026"


class SteppingClock:
    """A fake "now" that starts at ``start`` and moves ``step`` forward on every reading."""

    def __init__(self, start: datetime, step: timedelta) -> None:
        self._now = start
        self._step = step

    def __call__(self) -> datetime:
        self._now += self._step
        return self._now


def _lifecycle(service: ApprovalService, item: Item, data: dict[str, str]) -> Status:
    case = service.submit(item_code=item.code, applicant="济南某某餐饮有限公司", data=data, actor="窗口03")
    service.act(case.case_no, Action.ACCEPT, actor="窗口03")
    service.act(case.case_no, Action.REVIEW, actor="审核员", params={"opinion": "材料齐全"})
    service.act(case.case_no, Action.DECIDE, actor="科长", params={"outcome": "approve"})
    return service.act(case.case_no, Action.CONCLUDE, actor="窗口03").status


class People:
    """Authentication on (issue 15): a clerk and an approver with accounts, logged in once; every use case takes
    the person its bearer token stands for and checks the role's permission, then runs in an audit scope: its
    audit entry is appended (and queued up) in the use case's own transaction, by the statement that also checks
    the session is still live — what the HTTP API does per write request, without HTTP."""

    def __init__(self, engine: Engine) -> None:
        self.accounts = accounts_for(engine, DIVISION)
        for user_id, role in (("w03", Role.CLERK), ("kz01", Role.APPROVER)):
            self.accounts.add(user_id, name=user_id, division=DIVISION, roles=[role.value], password=PASSWORD)
        self.clerk = self.accounts.login("w03", PASSWORD).token
        self.approver = self.accounts.login("kz01", PASSWORD).token

    @contextmanager
    def acting(self, token: str, permission: Permission, action: str, target: str) -> Iterator[str]:
        who = self.accounts.claimed(token, source="127.0.0.1")  # as the HTTP API takes a write's person
        who.require(permission)
        actor = who.actor(permission)
        with audited(self.accounts.scope(actor, action, target, token=token)):  # the session checked live at commit
            yield actor.label


def _authenticated_lifecycle(service: ApprovalService, people: People, item: Item, data: dict[str, str]) -> Status:
    intake, decide = Permission.CASE_INTAKE, Permission.CASE_DECIDE
    with people.acting(people.clerk, intake, "申请", "/api/v1/cases") as actor:
        case = service.submit(item_code=item.code, applicant="济南某某餐饮有限公司", data=data, actor=actor)
    no = case.case_no
    steps = (
        (people.clerk, intake, Action.ACCEPT, None),
        (people.approver, decide, Action.REVIEW, {"opinion": "材料齐全"}),
        (people.approver, decide, Action.DECIDE, {"outcome": "approve"}),
        (people.clerk, intake, Action.CONCLUDE, None),
    )
    status = case.status
    for token, permission, action, params in steps:
        with people.acting(token, permission, action.value, f"/api/v1/cases/{no}/actions/{action.value}") as actor:
            status = service.act(no, action, actor=actor, params=params).status
    return status


class _Run:
    """One database timed in chunks (so that two modes interleave and share the machine's noise)."""

    def __init__(
        self, label: str, url: str, bundle: StandardsBundle, *, authenticated: bool, sqlite_synchronous: str
    ) -> None:
        self.label = label
        self.engine = make_engine(url, sqlite_synchronous=sqlite_synchronous)
        upgrade(self.engine)
        clock = SteppingClock(datetime(2026, 9, 21, 9, 0, tzinfo=CST), timedelta(milliseconds=20))
        self.service = ApprovalService(self.engine, DIVISION, clock)
        self.service.apply_standards(bundle)
        self.item = bundle.item(ITEM_CODE)
        self.data = {field: f"{field}-示例" for field in self.item.key_fields}
        self.people = People(self.engine) if authenticated else None
        self.seconds = 0.0
        self.done = 0

    def once(self) -> Status:
        if self.people is None:
            return _lifecycle(self.service, self.item, self.data)
        return _authenticated_lifecycle(self.service, self.people, self.item, self.data)

    def chunk(self, n: int) -> None:
        started = time.perf_counter()
        for _ in range(n):
            status = self.once()
            if status is not Status.CONCLUDED:  # pragma: no cover - the service would have raised
                raise RuntimeError(f"lifecycle ended in {status}, not concluded")
        self.seconds += time.perf_counter() - started
        self.done += n

    @property
    def per_s(self) -> float:
        return self.done / self.seconds

    def close(self) -> None:
        self.engine.dispose()


def _interleaved(
    backend: str,
    urls: tuple[str, str],
    bundle: StandardsBundle,
    *,
    n: int,
    warmup: int,
    say: Callable[[str], None],
    sqlite_synchronous: str = "full",
) -> tuple[float, float]:
    """Lifecycles per second without and with authentication, on two fresh databases timed in alternating chunks
    of 50 (the same machine, the same minutes)."""
    plain = _Run(backend, urls[0], bundle, authenticated=False, sqlite_synchronous=sqlite_synchronous)
    auth = _Run(f"{backend} authenticated", urls[1], bundle, authenticated=True, sqlite_synchronous=sqlite_synchronous)
    try:
        for run in (plain, auth):
            for _ in range(warmup):
                run.once()
        say(f"{backend}: timing {n:,} lifecycles each without and with authentication, interleaved")
        chunk, left = 50, n
        while left > 0:
            k = min(chunk, left)
            plain.chunk(k)
            auth.chunk(k)
            left -= k
    finally:
        plain.close()
        auth.close()
    say(
        f"{backend}: {plain.per_s:,.1f}/s without, {auth.per_s:,.1f}/s with authentication "
        f"(ratio {auth.per_s / plain.per_s:.3f})"
    )
    return plain.per_s, auth.per_s


def _postgresql(
    options: Options, bundle: StandardsBundle, say: Callable[[str], None]
) -> tuple[float, float] | tuple[None, None]:
    if not options.postgresql:
        say("postgresql: skipped (--no-postgresql); figure is null")
        return None, None
    problem = postgresql_problem(options.postgres_admin_url)
    if problem is not None:
        say(f"postgresql: skipped, figure is null — {problem}")
        return None, None
    n = scaled(BASE_POSTGRESQL_N, options.scale)
    with (
        temp_postgresql_database(options.postgres_admin_url) as url,
        temp_postgresql_database(options.postgres_admin_url) as url2,
    ):
        return _interleaved("postgresql", (url, url2), bundle, n=n, warmup=min(WARMUP, n), say=say)


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round(b / a, 3)


def run(options: Options) -> dict[str, Any]:
    """Run the benchmark; return its figures (the caller prints them as the result line)."""

    def say(message: str) -> None:
        progress(NAME, message)

    bundle = catalogue_bundle()
    n = scaled(BASE_SQLITE_N, options.scale)
    # the node's default (synchronous=FULL: every commit survives a power cut), then the faster opt-in
    with tempfile.TemporaryDirectory(prefix="sunshine-bench-") as tmp:
        urls = (f"sqlite:///{Path(tmp) / 'node.db'}", f"sqlite:///{Path(tmp) / 'auth.db'}")
        sqlite_per_s, sqlite_auth_per_s = _interleaved("sqlite", urls, bundle, n=n, warmup=min(WARMUP, n), say=say)
    with tempfile.TemporaryDirectory(prefix="sunshine-bench-") as tmp:
        urls = (f"sqlite:///{Path(tmp) / 'node.db'}", f"sqlite:///{Path(tmp) / 'auth.db'}")
        sqlite_normal_per_s, sqlite_normal_auth_per_s = _interleaved(
            "sqlite (synchronous=normal)",
            urls,
            bundle,
            n=n,
            warmup=min(WARMUP, n),
            say=say,
            sqlite_synchronous="normal",
        )
    postgresql_per_s, postgresql_auth_per_s = _postgresql(options, bundle, say)
    return {
        "bench": NAME,
        "sqlite_per_s": round(sqlite_per_s, 1),
        "sqlite_authenticated_per_s": round(sqlite_auth_per_s, 1),
        "sqlite_auth_ratio": _ratio(sqlite_per_s, sqlite_auth_per_s),
        "sqlite_synchronous": "full",
        "sqlite_normal_per_s": round(sqlite_normal_per_s, 1),
        "sqlite_normal_authenticated_per_s": round(sqlite_normal_auth_per_s, 1),
        "sqlite_normal_auth_ratio": _ratio(sqlite_normal_per_s, sqlite_normal_auth_per_s),
        "postgresql_per_s": None if postgresql_per_s is None else round(postgresql_per_s, 1),
        "postgresql_authenticated_per_s": None if postgresql_auth_per_s is None else round(postgresql_auth_per_s, 1),
        "postgresql_auth_ratio": _ratio(postgresql_per_s, postgresql_auth_per_s),
        "target_auth_ratio": TARGET_AUTH_RATIO,
        "target_sqlite_per_s": TARGET_SQLITE_PER_S,
        "ratio_to_target": round(sqlite_per_s / TARGET_SQLITE_PER_S, 3),
        "normal_ratio_to_target": round(sqlite_normal_per_s / TARGET_SQLITE_PER_S, 3),
        "lifecycles": n,
        "postgresql_lifecycles": None if postgresql_per_s is None else scaled(BASE_POSTGRESQL_N, options.scale),
        "transactions_per_lifecycle": TRANSACTIONS_PER_LIFECYCLE,
    }
