"""``sweep``: one supervision sweep over 1,000,000 open cases (target < 3 s on SQLite and on PostgreSQL).

The county holds ``1,000,000 × scale`` open (running) cases with a realistic spread of due moments: about 3 %
already overdue, 7 % due today or tomorrow, the rest due over the next four weeks, each with the promised budget
of a catalogue item and the exact due and yellow moments the approval service would index (computed on the real
calendar). 0.1 % also have a step-rule wake-up due (their timeline is stored), so the full re-evaluation path is
in the figure too.

Two sweeps are timed on each backend:

* **cold** (``*_cold_s``): the first sweep ever, at 18:00 of the previous working day — every light alert due at
  that moment is raised (the worst case: a node that has never swept);
* **daily** (``sqlite_s`` / ``postgresql_s``, the figure against the target): the next sweep, one working day
  later — what a working day's passing changed: newly yellow, newly red (with their yellow alerts cleared),
  step wake-ups, and escalation of the alerts nobody acknowledged.

Both bring every light up to date and raise the alerts that are due; the numbers of alerts raised are reported.
"""

from __future__ import annotations

import random
import tempfile
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, insert, select

from bench.harness import Options, catalogue_bundle, optional_postgresql, progress, scaled
from county_node.bootstrap import assemble_county_node
from federation.calendar import WorkingCalendar
from federation.clock import ClockSpec, LightPolicy, compute_deadline, read_clock
from federation.config import Config, NodeConfig
from federation.identities import format_case_number
from federation.standards import StandardsBundle
from federation.storage.engine import make_engine
from federation.storage.tables import alerts, case_events, cases
from federation.timeutil import CST
from migrations.runner import upgrade

__all__ = ["NAME", "run"]

NAME = "sweep"
TARGET_S = 3.0
BASE_CASES = 1_000_000
DIVISION = "371122"
ITEM_CODE = "XK00003000"
NOW = datetime(2026, 11, 24, 18, 0, tzinfo=CST)  # a Tuesday evening
_INSERT_CHUNK = 20_000

Say = Callable[[str], None]


class _Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _template(engine: Engine, bundle: StandardsBundle) -> dict[str, Any]:
    """One real case (submitted and accepted through the service) whose row the generator clones."""
    clock = _Clock(NOW - timedelta(days=40))
    node = assemble_county_node(Config(node=NodeConfig(division=DIVISION, name="莒县")), engine, clock)
    node.approval.apply_standards(bundle)
    item = bundle.item(ITEM_CODE)
    data = {f: f"{f}-示例" for f in item.key_fields}
    case = node.approval.submit(item_code=ITEM_CODE, applicant="莒县某某餐饮有限公司", data=data, actor="窗口 1")
    clock.now += timedelta(minutes=10)
    node.approval.act(case.case_no, "accept", actor="窗口 1")
    with engine.connect() as conn:
        row = dict(conn.execute(select(cases).where(cases.c.case_no == case.case_no)).mappings().one())
        events = [
            dict(r) for r in conn.execute(select(case_events).where(case_events.c.case_no == case.case_no)).mappings()
        ]
    with engine.begin() as conn:  # the template itself is not part of the population
        conn.execute(alerts.delete())
        conn.execute(case_events.delete())
        conn.execute(cases.delete())
    row["events"] = events
    return row


def _moments(
    calendar: WorkingCalendar, policy: LightPolicy, rng: random.Random, n: int
) -> list[tuple[datetime, int, datetime, datetime | None]]:
    """``n`` (accepted_at, budget, due_at, yellow_at) with the spread described in the module docstring."""
    today = NOW.date()
    working = [d for d in (today - timedelta(days=i) for i in range(120)) if calendar.is_working_day(d)]
    ahead = [d for d in (today + timedelta(days=i) for i in range(1, 60)) if calendar.is_working_day(d)]
    cache: dict[tuple[int, int], tuple[datetime, datetime, datetime | None]] = {}
    out = []
    for _ in range(n):
        u = rng.random()
        if u < 0.03:
            due_day = working[rng.randint(1, 3)]  # overdue by 1–3 working days
        elif u < 0.10:
            due_day = working[0] if rng.random() < 0.5 else ahead[0]  # due today or tomorrow: yellow
        else:
            due_day = ahead[rng.randint(1, 19)]
        budget = rng.choice((5, 5, 10, 15, 20))
        key = (due_day.toordinal(), budget)
        if key not in cache:
            # the acceptance day that puts the due moment at the end of due_day with this budget
            back = date.fromordinal(calendar.nth_working(calendar.cum(due_day.toordinal()) - budget))
            accepted = datetime(back.year, back.month, back.day, 10, 0, tzinfo=CST)
            spec = ClockSpec(accepted, budget)
            deadline = compute_deadline(calendar, spec)
            reading = read_clock(calendar, spec, accepted, policy, deadline)
            assert deadline.due_at is not None
            cache[key] = (accepted, deadline.due_at, reading.yellow_at)
        accepted, due_at, yellow_at = cache[key]
        out.append((accepted, budget, due_at, yellow_at))
    return out


def _populate(engine: Engine, template: dict[str, Any], calendar: WorkingCalendar, n: int, say: Say) -> int:
    rng = random.Random(20261124)
    policy = LightPolicy(1, 0.8)
    moments = _moments(calendar, policy, rng, n)
    base = {k: v for k, v in template.items() if k != "events"}
    per_day: dict[Any, int] = {}
    woken = 0
    started = time.perf_counter()
    with engine.begin() as conn:
        rows: list[dict[str, Any]] = []
        events: list[dict[str, Any]] = []
        for i, (accepted, budget, due_at, yellow_at) in enumerate(moments):
            day = (accepted - timedelta(minutes=10)).date()
            seq = per_day[day] = per_day.get(day, 0) + 1
            case_no = format_case_number(DIVISION, day, seq)
            row = dict(base)
            wake = None
            if i % 1000 == 999:  # 0.1 %: a step wake-up due since yesterday, timeline stored
                wake = NOW - timedelta(hours=3)
                woken += 1
                for ev in template["events"]:
                    at = accepted if ev["n"] > 1 else accepted - timedelta(minutes=10)
                    events.append({**ev, "case_no": case_no, "at": at})
            row.update(
                case_no=case_no,
                submitted_at=accepted - timedelta(minutes=10),
                accepted_at=accepted,
                updated_at=accepted,
                promised_budget=budget,
                legal_budget=budget * 2,
                idx_due_at=due_at,
                idx_yellow_at=yellow_at,
                idx_legal_due_at=due_at,
                sup_wake_at=wake,
                sup_evidence=[f"{case_no}#0002"],
                origin_seq=None,
            )
            rows.append(row)
            if len(rows) >= _INSERT_CHUNK:
                conn.execute(insert(cases), rows)
                rows.clear()
        if rows:
            conn.execute(insert(cases), rows)
        if events:
            conn.execute(insert(case_events), events)
    say(f"{n:,} open cases written in {time.perf_counter() - started:.1f}s ({woken:,} with a step wake-up due)")
    return woken


def _analyse(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")


def _count_alerts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        stmt = select(alerts.c.rule_id, func.count()).group_by(alerts.c.rule_id)
        return {r: int(n) for r, n in conn.execute(stmt)}


def _measure(label: str, url: str, bundle: StandardsBundle, n: int, say: Say) -> dict[str, Any]:
    engine = make_engine(url)
    try:
        upgrade(engine)
        template = _template(engine, bundle)
        clock = _Clock(NOW)
        node = assemble_county_node(Config(node=NodeConfig(division=DIVISION, name="莒县")), engine, clock)
        calendar = node.approval.calendar
        _populate(engine, template, calendar, n, lambda m: say(f"{label}: {m}"))
        _analyse(engine)
        previous = NOW - timedelta(days=1)
        while not calendar.is_working_day(previous.date()):
            previous -= timedelta(days=1)
        started = time.perf_counter()
        cold = node.supervision.sweep(previous)
        cold_s = time.perf_counter() - started
        say(f"{label}: cold sweep at {previous:%Y-%m-%d %H:%M} in {cold_s:.2f}s: {cold.to_dict()}")
        _analyse(engine)
        started = time.perf_counter()
        daily = node.supervision.sweep(NOW)
        daily_s = time.perf_counter() - started
        say(f"{label}: daily sweep at {NOW:%Y-%m-%d %H:%M} in {daily_s:.2f}s: {daily.to_dict()}")
        started = time.perf_counter()
        again = node.supervision.sweep(NOW)
        idle_s = time.perf_counter() - started
        if sum(again.raised.values()) or again.escalated:  # pragma: no cover - would be a double alert
            raise RuntimeError(f"a second sweep at the same moment raised {again.to_dict()}")
        held = _count_alerts(engine)
        say(f"{label}: a second sweep at the same moment (nothing to do) in {idle_s:.2f}s; alerts {held}")
        return {
            "daily_s": daily_s,
            "cold_s": cold_s,
            "idle_s": idle_s,
            "daily_raised": sum(daily.raised.values()),
            "daily_cleared": sum(daily.cleared.values()),
            "daily_escalated": daily.escalated,
            "cold_raised": sum(cold.raised.values()),
        }
    finally:
        engine.dispose()


def run(options: Options) -> dict[str, Any]:
    def say(message: str) -> None:
        progress(NAME, message)

    bundle = catalogue_bundle()
    n = scaled(BASE_CASES, options.scale, minimum=1000)
    with tempfile.TemporaryDirectory(prefix="sunshine-bench-") as tmp:
        sqlite = _measure("sqlite", f"sqlite:///{Path(tmp) / 'county.db'}", bundle, n, say)
    pg: dict[str, Any] | None = None
    with optional_postgresql(options, say, nulls="figure is") as url:
        if url is not None:
            pg = _measure("postgresql", url, bundle, n, say)

    def r(v: float | None) -> float | None:
        return None if v is None else round(v, 3)

    return {
        "bench": NAME,
        "cases": n,
        "sqlite_s": r(sqlite["daily_s"]),
        "postgresql_s": r(pg["daily_s"]) if pg else None,
        "sqlite_cold_s": r(sqlite["cold_s"]),
        "postgresql_cold_s": r(pg["cold_s"]) if pg else None,
        "sqlite_idle_s": r(sqlite["idle_s"]),
        "postgresql_idle_s": r(pg["idle_s"]) if pg else None,
        "daily_raised": sqlite["daily_raised"],
        "daily_cleared": sqlite["daily_cleared"],
        "daily_escalated": sqlite["daily_escalated"],
        "cold_raised": sqlite["cold_raised"],
        "target_s": TARGET_S,
        "sqlite_ratio_to_target": round(sqlite["daily_s"] / TARGET_S, 3),
        "postgresql_ratio_to_target": round(pg["daily_s"] / TARGET_S, 3) if pg else None,
    }
