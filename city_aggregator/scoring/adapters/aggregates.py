"""The SQL side of scoring: monthly counts per county, department and window, set-based over the replicas.

Four grouped statements, each returning rows of ``(county, department, window, month, counts…)``:

* **cases** decided in the months: on time, working days used against budget, early, corrected. Working
  days come from a small temporary table of the calendar in force, one row per local day with the running count of
  working days before it (``cb``) and up to it (``ci``) — the clock's arithmetic as two joins, never a walk:

  - counting starts after the acceptance day (for an instant item, on it): ``start = ci(accepted)`` or
    ``cb(accepted)``;
  - a pause excludes the working days of ``[started, ended)``, clipped to the case's span;
  - ``used = max(0, cb(decided) − start − paused) + 1`` (the decision day counts as one), and the case is on time
    when ``used ≤ budget`` (promised + extension; 1 for an instant item) — exactly when the decision falls on or
    before the due day of the case clock.

  The item-mix expectation is the same scan: window sums over ``(item, month)`` give each item's on-time rate across
  the scope, and each group adds ``cases × rate`` in integer millionths.
  With them, in the same statement and the same rows, the **cases accepted** in the months, by the month of
  acceptance (受理): how many, how many of instant items — the volume the per-case rates and deductions are counted
  over, known as soon as a case is accepted (a second pass over the cases, grouped once with the first).
* **alerts** opened in the months: yellow and red cards, key-data-missing alerts (``SUP-007``).
* **complaints** filed and **ratings** (negative) given in the months: answered / followed up on time, late or
  overdue at ``now``, the rest still pending.

A row's department or window is NULL when the record has none (an alert about a complaint): it counts for the
county only. Rows come in no particular order (no sort: the scans group by hashing); the caller only sums them and
orders what it computes from them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    case,
    cast,
    func,
    literal,
    or_,
    select,
    text,
    union_all,
)
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from city_aggregator.scoring.domain import MEASURES, MICRO
from federation.calendar import FIRST_YEAR, LAST_YEAR, WorkingCalendar
from federation.storage.tables import alerts, case_pauses, cases, complaints, ratings
from federation.storage.types import UTCDateTime
from federation.timeutil import start_of_local_day

__all__ = ["DayTable", "MonthRow", "accepted_facts", "case_facts", "day_table", "monthly_rows"]

KEY_DATA_RULE = "SUP-007"


@dataclass(frozen=True, slots=True)
class MonthRow:
    county: str
    department: str | None
    window: str | None
    month: str
    counts: tuple[tuple[int, int], ...]  # (index in ``domain.MEASURES``, value) of the row's non-zero counts


_days_meta = MetaData()
_days = Table(
    "tmp_score_days",
    _days_meta,
    Column("day", Date, primary_key=True),
    Column("cb", Integer, nullable=False),  # working days before this day (running count over the calendar span)
    Column("ci", Integer, nullable=False),  # working days up to and including this day
    Column("ym", String(7), nullable=False),
    prefixes=["TEMPORARY"],
)


@dataclass(frozen=True, slots=True)
class DayTable:
    table: Table
    first: date
    end: date  # exclusive


class day_table:  # noqa: N801 - used as a context manager, reads like a function
    """A temporary table of local days with their working-day running counts, for the life of a transaction."""

    def __init__(self, conn: Connection, calendar: WorkingCalendar, first: date, end: date) -> None:
        self._conn = conn
        first = max(date(FIRST_YEAR, 1, 2), first)
        end = min(date(LAST_YEAR, 12, 31), end)
        self.days = DayTable(_days, first, end)
        self._rows = []
        for ordinal in range(first.toordinal(), end.toordinal()):
            d = date.fromordinal(ordinal)
            self._rows.append(
                {"day": d, "cb": calendar.cum(ordinal - 1), "ci": calendar.cum(ordinal), "ym": f"{d:%Y-%m}"}
            )

    def __enter__(self) -> DayTable:
        _days.drop(self._conn, checkfirst=True)
        _days.create(self._conn)
        self._conn.execute(_days.insert(), self._rows)
        if self._conn.dialect.name == "postgresql":
            self._conn.execute(text("ANALYZE tmp_score_days"))
            # for this transaction only: the grouped scans are estimated (wrongly) as costly enough to JIT-compile,
            # which costs more than a second per scan, and their sorts and hashes fit in memory
            self._conn.execute(text("SET LOCAL jit = off"))
            self._conn.execute(text("SET LOCAL work_mem = '64MB'"))
        return self.days

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            _days.drop(self._conn)


def _local_day(col: Any, dialect: str) -> ColumnElement[Any]:
    """The China-Standard-Time date of a stored UTC moment, comparable with ``tmp_score_days.day``."""
    if dialect == "sqlite":
        return func.date(col, "+8 hours")
    return cast(func.timezone("Asia/Shanghai", col), Date)


def _local_month(col: Any, dialect: str) -> ColumnElement[Any]:
    """The China-Standard-Time month (``YYYY-MM``, as ``tmp_score_days.ym``) of a stored UTC moment."""
    if dialect == "sqlite":
        return func.strftime("%Y-%m", col, "+8 hours")
    return func.to_char(func.timezone("Asia/Shanghai", col), "YYYY-MM")


def _least(a: Any, b: Any) -> ColumnElement[Any]:
    return case((a < b, a), else_=b)


def _greatest(a: Any, b: Any) -> ColumnElement[Any]:
    return case((a > b, a), else_=b)


def _in_scope(col: ColumnElement[str], scope: str) -> ColumnElement[bool]:
    return col.like(f"{scope}%")


def _moment_range(first: date, end: date) -> tuple[datetime, datetime]:
    return start_of_local_day(first), start_of_local_day(end)


def case_facts(conn: Connection, days: DayTable, *, scope: str, first: date, end: date, early_percent: int) -> Any:
    """A subquery: one row per case decided in ``[first, end)`` (local days) with its clock facts."""
    d = conn.dialect.name
    lo, hi = _moment_range(first, end)
    wa = days.table.alias("wa")
    wd = days.table.alias("wd")
    budget = cases.c.promised_budget + cases.c.extension_days
    instant_clock = budget == 0
    start = case((instant_clock, func.coalesce(wa.c.cb, 0)), else_=func.coalesce(wa.c.ci, 0))
    base = (
        select(
            cases.c.case_no,
            cases.c.origin,
            cases.c.department,
            cases.c.window,
            cases.c.item_code,
            wd.c.ym,
            wd.c.cb.label("cb_dec"),
            start.label("cum_start"),
            case((instant_clock, 1), else_=budget).label("budget"),
            instant_clock.label("instant_clock"),
        )
        .select_from(
            cases.join(wd, wd.c.day == _local_day(cases.c.decided_at, d)).outerjoin(
                wa, wa.c.day == _local_day(cases.c.accepted_at, d)
            )
        )
        .where(
            _in_scope(cases.c.origin, scope),
            cases.c.decided_at >= literal(lo, UTCDateTime),
            cases.c.decided_at < literal(hi, UTCDateTime),
            cases.c.accepted_at.is_not(None),
        )
    ).cte("score_cases")
    ws = days.table.alias("ws")
    we = days.table.alias("we")
    end_cb = _least(func.coalesce(we.c.cb, base.c.cb_dec), base.c.cb_dec)
    pause_days = end_cb - _greatest(func.coalesce(ws.c.cb, 0), base.c.cum_start)
    paused = (
        select(
            case_pauses.c.case_no,
            func.sum(case((pause_days > 0, pause_days), else_=0)).label("paused"),
            func.sum(case((case_pauses.c.kind == "correction", 1), else_=0)).label("corrections"),
        )
        .select_from(
            base.join(case_pauses, case_pauses.c.case_no == base.c.case_no)
            .outerjoin(ws, ws.c.day == _local_day(case_pauses.c.started_at, d))
            .outerjoin(we, we.c.day == _local_day(case_pauses.c.ended_at, d))
        )
        .group_by(case_pauses.c.case_no)
    ).subquery("score_pauses")
    gross = base.c.cb_dec - base.c.cum_start - func.coalesce(paused.c.paused, 0)
    used = case((gross > 0, gross), else_=0) + 1
    return (
        select(
            base.c.case_no,
            base.c.origin,
            base.c.department,
            base.c.window,
            base.c.item_code,
            base.c.ym,
            case((used <= base.c.budget, 1), else_=0).label("on_time"),
            case((base.c.instant_clock, 0), else_=used).label("used"),
            case((base.c.instant_clock, 0), else_=base.c.budget).label("budget"),
            case((and_(~base.c.instant_clock, used * 100 <= base.c.budget * early_percent), 1), else_=0).label("early"),
            case((base.c.instant_clock, 0), else_=1).label("eligible"),
            case((func.coalesce(paused.c.corrections, 0) > 0, 1), else_=0).label("corrected"),
        )
        .select_from(base.outerjoin(paused, paused.c.case_no == base.c.case_no))
        .subquery("score_facts")
    )


def _case_rows(conn: Connection, facts: Any, accepted: Any) -> Iterator[tuple[Any, ...]]:
    """The decided cases' counts and the accepted cases' counts of each (county, department, window, month), in one
    row: the two are put together (``UNION ALL``) and grouped once, so a key decided and accepted in the same month
    is one row, not two."""
    per_item = (
        select(
            facts.c.origin,
            facts.c.department,
            facts.c.window,
            facts.c.item_code,
            facts.c.ym,
            func.count().label("n"),
            func.sum(facts.c.on_time).label("on_time"),
            func.sum(facts.c.used).label("used"),
            func.sum(facts.c.budget).label("budget"),
            func.sum(facts.c.early).label("early"),
            func.sum(facts.c.eligible).label("eligible"),
            func.sum(facts.c.corrected).label("corrected"),
        ).group_by(facts.c.origin, facts.c.department, facts.c.window, facts.c.item_code, facts.c.ym)
    ).cte("score_items")
    # each item's on-time rate across the scope that month, joined back (a hash join, no sort for a window)
    item_totals = (
        select(
            per_item.c.item_code,
            per_item.c.ym,
            cast(func.sum(per_item.c.n), BigInteger).label("item_n"),
            cast(func.sum(per_item.c.on_time), BigInteger).label("item_ok"),
        ).group_by(per_item.c.item_code, per_item.c.ym)
    ).subquery("score_item_totals")
    r = per_item.c
    t = item_totals.c
    expected = cast(r.n, BigInteger) * t.item_ok * MICRO // t.item_n
    zero = literal(0, BigInteger)
    decided = select(
        r.origin,
        r.department,
        r.window,
        r.ym,
        r.n,
        r.on_time,
        expected.label("expected"),
        r.used,
        r.budget,
        r.early,
        r.eligible,
        r.corrected,
        zero.label("accepted"),
        zero.label("instant"),
    ).select_from(per_item.join(item_totals, and_(t.item_code == r.item_code, t.ym == r.ym)))
    a = accepted.c
    taken = select(a.origin, a.department, a.window, a.ym, *([zero] * 8), literal(1, BigInteger), a.instant)
    both = union_all(decided, taken).subquery("score_case_counts")
    b = both.c
    counts = [func.sum(col) for col in list(b)[4:]]
    stmt = select(b.origin, b.department, b.window, b.ym, *counts).group_by(b.origin, b.department, b.window, b.ym)
    yield from conn.execute(stmt)


_CASE_MEASURES = (
    "cases",
    "on_time",
    "expected_micro",
    "used_days",
    "budget_days",
    "early",
    "eligible",
    "corrected",
    "accepted",
    "instant",
)


def accepted_facts(conn: Connection, *, scope: str, first: date, end: date) -> Any:
    """A subquery: one row per case accepted (受理) in ``[first, end)`` (local days), with its month of acceptance
    (computed from the moment: no working days are needed, so no join with the day table)."""
    lo, hi = _moment_range(first, end)
    return (
        select(
            cases.c.case_no,
            cases.c.origin,
            cases.c.department,
            cases.c.window,
            _local_month(cases.c.accepted_at, conn.dialect.name).label("ym"),
            case((cases.c.kind == "instant", 1), else_=0).label("instant"),
        )
        .where(
            _in_scope(cases.c.origin, scope),
            cases.c.accepted_at >= literal(lo, UTCDateTime),
            cases.c.accepted_at < literal(hi, UTCDateTime),
        )
        .subquery("score_accepted")
    )


def _flag(cond: ColumnElement[bool]) -> ColumnElement[int]:
    return func.sum(case((cond, 1), else_=0))


def _alert_rows(conn: Connection, days: DayTable, scope: str, first: date, end: date) -> Any:
    d = conn.dialect.name
    lo, hi = _moment_range(first, end)
    w = days.table.alias("w")
    dept = func.coalesce(alerts.c.department, cases.c.department)
    stmt = (
        select(
            alerts.c.origin,
            dept,
            cases.c.window,
            w.c.ym,
            _flag(alerts.c.light == "yellow"),
            _flag(alerts.c.light == "red"),
            _flag(alerts.c.rule_id == KEY_DATA_RULE),
        )
        .select_from(
            alerts.outerjoin(cases, cases.c.case_no == alerts.c.case_no).join(
                w, w.c.day == _local_day(alerts.c.opened_at, d)
            )
        )
        .where(
            _in_scope(alerts.c.origin, scope),
            alerts.c.opened_at >= literal(lo, UTCDateTime),
            alerts.c.opened_at < literal(hi, UTCDateTime),
            or_(alerts.c.light.in_(("yellow", "red")), alerts.c.rule_id == KEY_DATA_RULE),
        )
        .group_by(alerts.c.origin, dept, cases.c.window, w.c.ym)
    )
    return conn.execute(stmt)


def _complaint_rows(conn: Connection, days: DayTable, *, scope: str, first: date, end: date, now: datetime) -> Any:
    d = conn.dialect.name
    lo, hi = _moment_range(first, end)
    w = days.table.alias("w")
    q = complaints.c
    window = func.coalesce(cases.c.window, case((q.target == "window", q.target_id), else_=None))
    due = q.idx_due_at
    nowl = literal(now, UTCDateTime)
    stmt = (
        select(
            q.origin,
            cases.c.department,
            window,
            w.c.ym,
            func.count(),
            _flag(and_(q.answered_at.is_not(None), q.answered_at <= due)),
            _flag(or_(q.answered_at > due, and_(q.answered_at.is_(None), due <= nowl))),
        )
        .select_from(
            complaints.outerjoin(cases, cases.c.case_no == q.case_no).join(w, w.c.day == _local_day(q.filed_at, d))
        )
        .where(
            _in_scope(q.origin, scope), q.filed_at >= literal(lo, UTCDateTime), q.filed_at < literal(hi, UTCDateTime)
        )
        .group_by(q.origin, cases.c.department, window, w.c.ym)
    )
    return conn.execute(stmt)


def _rating_rows(conn: Connection, days: DayTable, *, scope: str, first: date, end: date, now: datetime) -> Any:
    d = conn.dialect.name
    lo, hi = _moment_range(first, end)
    w = days.table.alias("w")
    r = ratings.c
    due = r.idx_due_at
    nowl = literal(now, UTCDateTime)
    stmt = (
        select(
            r.origin,
            cases.c.department,
            cases.c.window,
            w.c.ym,
            func.count(),
            _flag(and_(r.followed_up_at.is_not(None), r.followed_up_at <= due)),
            _flag(or_(r.followed_up_at > due, and_(r.followed_up_at.is_(None), due <= nowl))),
        )
        .select_from(ratings.outerjoin(cases, cases.c.case_no == r.case_no).join(w, w.c.day == _local_day(r.at, d)))
        .where(
            _in_scope(r.origin, scope),
            r.negative.is_(True),
            r.at >= literal(lo, UTCDateTime),
            r.at < literal(hi, UTCDateTime),
        )
        .group_by(r.origin, cases.c.department, cases.c.window, w.c.ym)
    )
    return conn.execute(stmt)


def monthly_rows(
    conn: Connection,
    days: DayTable,
    *,
    scope: str,
    months: Sequence[str],
    now: datetime,
    early_percent: int,
) -> list[MonthRow]:
    """Every count of every (county, department, window, month) of ``months`` in ``scope`` (in no particular order)."""
    wanted = set(months)
    first = min(date.fromisoformat(m + "-01") for m in months)
    last = max(date.fromisoformat(m + "-01") for m in months)
    end = (last + timedelta(days=32)).replace(day=1)
    out: list[MonthRow] = []

    def emit(rows: Any, names: Sequence[str]) -> None:
        index = [MEASURES.index(name) for name in names]
        for row in rows:
            county, department, window, month, *counts = row
            if month in wanted:
                values = tuple((i, int(v)) for i, v in zip(index, counts, strict=True) if v)
                out.append(MonthRow(county, department, window, month, values))

    facts = case_facts(conn, days, scope=scope, first=first, end=end, early_percent=early_percent)
    accepted = accepted_facts(conn, scope=scope, first=first, end=end)
    emit(_case_rows(conn, facts, accepted), _CASE_MEASURES)
    emit(_alert_rows(conn, days, scope, first, end), ("yellow", "red", "key_missing"))
    emit(
        _complaint_rows(conn, days, scope=scope, first=first, end=end, now=now),
        ("complaints", "complaints_on_time", "complaints_missed"),
    )
    emit(
        _rating_rows(conn, days, scope=scope, first=first, end=end, now=now),
        ("negatives", "negatives_on_time", "negatives_missed"),
    )
    return out
