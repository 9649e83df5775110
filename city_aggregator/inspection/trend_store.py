"""月度趋势, precomputed: each county's figures of a month (``trend_months``), refreshed by the scoring run
(``sunshine score run``) over the months it scores, so that a year's trend at a province (millions of cases) reads
a few thousand rows.

The counts are the live trend's (:func:`city_aggregator.inspection.queries.monthly_figures`) grouped by county as
well as by month — one ``GROUP BY`` per measure over the whole scope, never a query per county or per month; a
late decision is counted from the overdue alerts (few) joined to their cases, rather than probed per decided
case. ``trend_refreshes`` records which months of which scope were refreshed and when: a trend reads those
months from here and counts the others live (:meth:`InspectionService.trends` with ``stored=True``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Engine, and_, case, delete, distinct, func, insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.sql import ColumnElement

from city_aggregator.inspection.figures import MonthFigures, month_bounds, month_label, parse_month
from city_aggregator.inspection.queries import LATE_RULE
from city_aggregator.inspection.wall import prefix_range
from federation.clock import Light
from federation.storage.tables import alerts, cases, complaints, trend_months, trend_refreshes
from federation.storage.uow import UnitOfWork

__all__ = ["FIELDS", "count_by_county", "refresh_trend_months", "stored_by_county", "stored_months"]

FIELDS = (
    "accepted",
    "decided",
    "late",
    "concluded",
    "alerts_raised",
    "alerts_yellow",
    "alerts_red",
    "complaints",
)


def _by_county_month(
    conn: Connection,
    moment: Any,
    bounds: Sequence[datetime],
    where: Sequence[ColumnElement[bool]],
    *,
    origin: Any,
    counted: Any = None,
    extras: Sequence[ColumnElement[bool]] = (),
) -> dict[tuple[str, int], tuple[int, ...]]:
    """(county, month index) → (count, *conditional counts) of the rows whose ``moment`` falls in the months."""
    bucket = case(*((moment < bounds[i + 1], i) for i in range(len(bounds) - 1)))
    inner = (
        select(
            origin.label("o"),
            bucket.label("m"),
            (counted if counted is not None else origin).label("k"),
            *(case((x, 1), else_=0).label(f"x{i}") for i, x in enumerate(extras)),
        )
        .where(moment >= bounds[0], moment < bounds[-1], *where)
        .subquery()
    )
    count = func.count(distinct(inner.c.k)) if counted is not None else func.count()
    stmt = select(inner.c.o, inner.c.m, count, *(func.sum(inner.c[f"x{i}"]) for i in range(len(extras)))).group_by(
        inner.c.o, inner.c.m
    )
    return {(str(r[0]), int(r[1])): tuple(int(x or 0) for x in r[2:]) for r in conn.execute(stmt)}


def count_by_county(conn: Connection, prefix: str, months: list[date]) -> dict[tuple[str, str], MonthFigures]:
    """(county, ``2026-09``) → the month's figures, for every county of ``prefix`` holding data in ``months``."""
    bounds = month_bounds(months)
    labels = [month_label(m) for m in months]
    out: dict[tuple[str, str], MonthFigures] = {}

    def of(key: tuple[str, int]) -> MonthFigures:
        county, i = key
        return out.setdefault((county, labels[i]), MonthFigures(labels[i]))

    in_cases = prefix_range(cases.c.origin, prefix)
    for k, (n,) in _by_county_month(conn, cases.c.accepted_at, bounds, [in_cases], origin=cases.c.origin).items():
        of(k).accepted = n
    for k, (n,) in _by_county_month(conn, cases.c.decided_at, bounds, [in_cases], origin=cases.c.origin).items():
        of(k).decided = n
    late = select(cases.c.origin, cases.c.decided_at, cases.c.case_no).join(
        alerts, and_(alerts.c.case_no == cases.c.case_no, alerts.c.rule_id == LATE_RULE)
    )
    late_sq = late.where(in_cases).subquery()
    for k, (n,) in _by_county_month(
        conn, late_sq.c.decided_at, bounds, [], origin=late_sq.c.origin, counted=late_sq.c.case_no
    ).items():
        of(k).late = n
    for k, (n,) in _by_county_month(conn, cases.c.concluded_at, bounds, [in_cases], origin=cases.c.origin).items():
        of(k).concluded = n
    lights = [alerts.c.light == Light.YELLOW.value, alerts.c.light == Light.RED.value]
    for k, (n, yellow, red) in _by_county_month(
        conn, alerts.c.opened_at, bounds, [prefix_range(alerts.c.origin, prefix)], origin=alerts.c.origin, extras=lights
    ).items():
        f = of(k)
        f.alerts_raised, f.alerts_yellow, f.alerts_red = n, yellow, red
    for k, (n,) in _by_county_month(
        conn, complaints.c.filed_at, bounds, [prefix_range(complaints.c.origin, prefix)], origin=complaints.c.origin
    ).items():
        of(k).complaints = n
    return out


def refresh_trend_months(engine: Engine, *, scope: str, months: Sequence[str], now: datetime) -> int:
    """Count the figures of ``months`` (``2026-09``…) for every county of the division prefix ``scope`` and store
    them, replacing what was stored for those months and counties; the number of rows written."""
    firsts = sorted({parse_month(m, "month") for m in months})
    if not firsts:
        return 0
    # counted over the contiguous span (the buckets need consecutive months), stored for the months asked
    span = [firsts[0]]
    while span[-1] < firsts[-1]:
        last = span[-1]
        span.append(date(last.year + last.month // 12, last.month % 12 + 1, 1))
    labels = [month_label(m) for m in firsts]
    with UnitOfWork(engine) as uow:
        conn = uow.conn
        counted = count_by_county(conn, scope, span)
        rows = [
            {"county": county, "month": label, **{f: getattr(fig, f) for f in FIELDS}}
            for (county, label), fig in sorted(counted.items())
            if label in labels
        ]
        conn.execute(
            delete(trend_months).where(prefix_range(trend_months.c.county, scope), trend_months.c.month.in_(labels))
        )
        if rows:
            conn.execute(insert(trend_months), rows)
        conn.execute(
            delete(trend_refreshes).where(trend_refreshes.c.scope == scope, trend_refreshes.c.month.in_(labels))
        )
        conn.execute(insert(trend_refreshes), [{"scope": scope, "month": m, "refreshed_at": now} for m in labels])
        uow.commit()
    return len(rows)


def _refreshed(conn: Connection, prefix: str, labels: list[str]) -> dict[str, datetime]:
    """Month → when it was last refreshed for a scope covering ``prefix`` (the months never refreshed absent)."""
    covering = [prefix[:n] for n in range(1, len(prefix) + 1)]
    return {
        str(r[0]): r[1]
        for r in conn.execute(
            select(trend_refreshes.c.month, func.max(trend_refreshes.c.refreshed_at))
            .where(trend_refreshes.c.month.in_(labels), trend_refreshes.c.scope.in_(covering))
            .group_by(trend_refreshes.c.month)
        )
    }


def stored_by_county(conn: Connection, prefix: str, month: str) -> tuple[dict[str, MonthFigures], datetime] | None:
    """County → its stored figures of ``month`` under ``prefix``, and when they were counted; None when no
    refresh covering ``prefix`` counted that month."""
    refreshed = _refreshed(conn, prefix, [month])
    if month not in refreshed:
        return None
    out: dict[str, MonthFigures] = {}
    stmt = select(trend_months).where(prefix_range(trend_months.c.county, prefix), trend_months.c.month == month)
    for r in conn.execute(stmt).mappings():
        out[str(r["county"])] = MonthFigures(month, **{f: int(r[f]) for f in FIELDS})
    return out, refreshed[month]


def stored_months(
    conn: Connection, prefix: str, county: str | None, months: list[date]
) -> tuple[dict[str, MonthFigures], datetime | None]:
    """The figures of those of ``months`` a refresh covering ``prefix`` stored (summed over the scope, or of
    ``county``), and the oldest refresh they come from (None: none stored)."""
    labels = [month_label(m) for m in months]
    refreshed = _refreshed(conn, prefix, labels)
    if not refreshed:
        return {}, None
    where = trend_months.c.county == county if county is not None else prefix_range(trend_months.c.county, prefix)
    stmt = (
        select(trend_months.c.month, *(func.sum(trend_months.c[f]) for f in FIELDS))
        .where(where, trend_months.c.month.in_(list(refreshed)))
        .group_by(trend_months.c.month)
    )
    out = {m: MonthFigures(m) for m in refreshed}
    for r in conn.execute(stmt):
        fig = out[str(r[0])]
        for f, value in zip(FIELDS, r[1:], strict=True):
            setattr(fig, f, int(value or 0))
    return out, min(refreshed.values())
