"""``approval``: full case lifecycles per second through the service layer, on SQLite and PostgreSQL.

One lifecycle is submit → accept → review → decide (approve) → conclude through
:class:`county_node.approval.services.ApprovalService`: five use cases, five transactions, each writing the
case, its event and two outbox rows. The item (食品经营许可) has key data, supplied at submit, so the
decision is allowed. Each backend gets a fresh database migrated to head with the catalogue bundle applied;
a few lifecycles warm it up, then ``N`` are timed in one pass (N = 2000 on SQLite, 1000 on PostgreSQL at
scale 1). The service runs on a fake clock that starts 2026-09-21 09:00 CST and moves 20 ms per reading.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bench.harness import Options, catalogue_bundle, postgresql_problem, progress, scaled, temp_postgresql_database
from county_node.approval.domain import Action, Status
from county_node.approval.services import ApprovalService
from federation.standards import Item, StandardsBundle
from federation.storage.engine import make_engine
from federation.timeutil import CST
from migrations.runner import upgrade

__all__ = ["TARGET_SQLITE_PER_S", "SteppingClock", "run"]

NAME = "approval"
TARGET_SQLITE_PER_S = 300
BASE_SQLITE_N = 2000
BASE_POSTGRESQL_N = 1000
WARMUP = 20
DIVISION = "370102"
ITEM_CODE = "XK00003000"  # 食品经营许可: promised 5 working days, key data 统一社会信用代码;经营场所
TRANSACTIONS_PER_LIFECYCLE = 5


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


def _lifecycles_per_s(
    backend: str,
    url: str,
    bundle: StandardsBundle,
    *,
    n: int,
    warmup: int,
    say: Callable[[str], None],
    sqlite_synchronous: str = "full",
) -> float:
    engine = make_engine(url, sqlite_synchronous=sqlite_synchronous)
    try:
        started = time.perf_counter()
        upgrade(engine)
        clock = SteppingClock(datetime(2026, 9, 21, 9, 0, tzinfo=CST), timedelta(milliseconds=20))
        service = ApprovalService(engine, DIVISION, clock)
        service.apply_standards(bundle)
        item = bundle.item(ITEM_CODE)
        data = {field: f"{field}-示例" for field in item.key_fields}
        say(f"{backend}: migrated and standards applied in {time.perf_counter() - started:.2f}s; warming up")
        for _ in range(warmup):
            _lifecycle(service, item, data)
        say(f"{backend}: timing {n:,} lifecycles ({n * TRANSACTIONS_PER_LIFECYCLE:,} transactions)")
        every = max(1, n // 4)
        started = time.perf_counter()
        for i in range(1, n + 1):
            status = _lifecycle(service, item, data)
            if status is not Status.CONCLUDED:  # pragma: no cover - the service would have raised
                raise RuntimeError(f"lifecycle ended in {status}, not concluded")
            if i % every == 0 and i < n:
                say(f"{backend}: {i:,}/{n:,} ({i / (time.perf_counter() - started):,.0f}/s so far)")
        per_s = n / (time.perf_counter() - started)
    finally:
        engine.dispose()
    say(f"{backend}: {per_s:,.1f} lifecycles/s ({per_s * TRANSACTIONS_PER_LIFECYCLE:,.0f} transactions/s)")
    return per_s


def _postgresql(options: Options, bundle: StandardsBundle, say: Callable[[str], None]) -> float | None:
    if not options.postgresql:
        say("postgresql: skipped (--no-postgresql); figure is null")
        return None
    problem = postgresql_problem(options.postgres_admin_url)
    if problem is not None:
        say(f"postgresql: skipped, figure is null — {problem}")
        return None
    n = scaled(BASE_POSTGRESQL_N, options.scale)
    with temp_postgresql_database(options.postgres_admin_url) as url:
        return _lifecycles_per_s("postgresql", url, bundle, n=n, warmup=min(WARMUP, n), say=say)


def run(options: Options) -> dict[str, Any]:
    """Run the benchmark; return its figures (the caller prints them as the result line)."""

    def say(message: str) -> None:
        progress(NAME, message)

    bundle = catalogue_bundle()
    n = scaled(BASE_SQLITE_N, options.scale)
    # the node's default (synchronous=FULL: every commit survives a power cut), then the faster opt-in
    with tempfile.TemporaryDirectory(prefix="sunshine-bench-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'node.db'}"
        sqlite_per_s = _lifecycles_per_s("sqlite", url, bundle, n=n, warmup=min(WARMUP, n), say=say)
    with tempfile.TemporaryDirectory(prefix="sunshine-bench-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'node.db'}"
        sqlite_normal_per_s = _lifecycles_per_s(
            "sqlite (synchronous=normal)", url, bundle, n=n, warmup=min(WARMUP, n), say=say, sqlite_synchronous="normal"
        )
    postgresql_per_s = _postgresql(options, bundle, say)
    return {
        "bench": NAME,
        "sqlite_per_s": round(sqlite_per_s, 1),
        "sqlite_synchronous": "full",
        "sqlite_normal_per_s": round(sqlite_normal_per_s, 1),
        "postgresql_per_s": None if postgresql_per_s is None else round(postgresql_per_s, 1),
        "target_sqlite_per_s": TARGET_SQLITE_PER_S,
        "ratio_to_target": round(sqlite_per_s / TARGET_SQLITE_PER_S, 3),
        "normal_ratio_to_target": round(sqlite_normal_per_s / TARGET_SQLITE_PER_S, 3),
        "lifecycles": n,
        "postgresql_lifecycles": None if postgresql_per_s is None else scaled(BASE_POSTGRESQL_N, options.scale),
        "transactions_per_lifecycle": TRANSACTIONS_PER_LIFECYCLE,
    }
