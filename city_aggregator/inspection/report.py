"""月报 — the monthly report of a scope: per county, the month's cases accepted, decided (on time, late),
concluded, alerts raised (yellow, red), complaints filed, and the county's score of that month when one was
computed; as rows and as a CSV file (UTF-8 with a BOM, so that Excel opens it in Chinese).

One ``GROUP BY origin`` per measure over the month's bounds — the definitions of :mod:`city_aggregator.inspection.
figures` (a trend's month), per county instead of per month; never a query per county.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, case, func, select
from sqlalchemy.engine import Connection
from sqlalchemy.sql import ColumnElement

from city_aggregator.inspection.figures import MonthFigures, month_bounds, month_label, parse_month, rate
from city_aggregator.inspection.queries import _late
from city_aggregator.inspection.scope import Scope
from city_aggregator.inspection.service import InspectionService
from city_aggregator.inspection.wall import prefix_range
from federation.clock import Light
from federation.storage.tables import alerts, cases, complaints
from federation.storage.uow import UnitOfWork

__all__ = ["MonthReport", "ReportRow", "month_report", "report_csv"]

HEADER = (
    "区划代码",
    "县（市、区）",
    "受理件数",
    "决定件数",
    "按时决定",
    "超期决定",
    "按时率",
    "办结件数",
    "触发预警",
    "黄灯预警",
    "红灯预警",
    "投诉件数",
    "考核得分",
    "名次",
)


@dataclass(frozen=True, slots=True)
class ReportRow:
    county: str
    name: str | None
    figures: MonthFigures
    score: float | None
    rank: int | None
    ranked_of: int | None


@dataclass(frozen=True, slots=True)
class MonthReport:
    month: str
    rows: list[ReportRow]
    rules_version: str | None  # of the scores shown (None: no score computed for the month)


def _grouped(
    conn: Connection,
    table: Any,
    moment: Any,
    bounds: tuple[datetime, datetime],
    prefix: str,
    *,
    extras: tuple[ColumnElement[bool], ...] = (),
) -> dict[str, tuple[int, ...]]:
    stmt = (
        select(table.c.origin, func.count(), *(func.sum(case((x, 1), else_=0)) for x in extras))
        .where(prefix_range(table.c.origin, prefix), moment >= bounds[0], moment < bounds[1])
        .group_by(table.c.origin)
    )
    return {str(r[0]): tuple(int(x or 0) for x in r[1:]) for r in conn.execute(stmt)}


def month_report(engine: Engine, svc: InspectionService, scope: Scope, month: str) -> MonthReport:
    """The report of ``month`` (``2026-11``) over every county of ``scope`` (zeros for those without data)."""
    first = parse_month(month, "month")
    lo, hi = month_bounds([first])
    label = month_label(first)
    out: dict[str, MonthFigures] = {}

    def of(code: str) -> MonthFigures:
        return out.setdefault(code, MonthFigures(label))

    with UnitOfWork(engine, readonly=True) as uow:
        conn = uow.conn
        for code, (n,) in _grouped(conn, cases, cases.c.accepted_at, (lo, hi), scope.prefix).items():
            of(code).accepted = n
        late = (_late(cases.c.case_no),)
        for code, (n, k) in _grouped(conn, cases, cases.c.decided_at, (lo, hi), scope.prefix, extras=late).items():
            of(code).decided, of(code).late = n, k
        for code, (n,) in _grouped(conn, cases, cases.c.concluded_at, (lo, hi), scope.prefix).items():
            of(code).concluded = n
        lights = (alerts.c.light == Light.YELLOW.value, alerts.c.light == Light.RED.value)
        for code, (n, y, r) in _grouped(
            conn, alerts, alerts.c.opened_at, (lo, hi), scope.prefix, extras=lights
        ).items():
            of(code).alerts_raised, of(code).alerts_yellow, of(code).alerts_red = n, y, r
        for code, (n,) in _grouped(conn, complaints, complaints.c.filed_at, (lo, hi), scope.prefix).items():
            of(code).complaints = n
    ranking = svc.rankings(scope, period=label, level="county", page_size=200)
    scored = {str(r["county"]): r for r in ranking.rows}
    codes = sorted(set(svc.counties_in(scope)) | set(out) | set(scored))
    rows = []
    for code in codes:
        s = scored.get(code)
        rows.append(
            ReportRow(
                code,
                svc.name_of(code),
                out.get(code) or MonthFigures(label),
                None if s is None else float(s["score"]),
                None if s is None or s["rank"] is None else int(s["rank"]),
                None if s is None else int(s["ranked_of"]),
            )
        )
    return MonthReport(label, rows, None if ranking.choice is None else ranking.choice.rules_version)


def report_csv(report: MonthReport) -> bytes:
    """The report as CSV, UTF-8 with a byte-order mark (Excel reads the Chinese headers right)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(HEADER)
    for r in report.rows:
        f = r.figures
        on_time = rate(f.on_time, f.decided)
        writer.writerow(
            (
                r.county,
                r.name or "",
                f.accepted,
                f.decided,
                f.on_time,
                f.late,
                "" if on_time is None else f"{on_time * 100:.1f}%",
                f.concluded,
                f.alerts_raised,
                f.alerts_yellow,
                f.alerts_red,
                f.complaints,
                "" if r.score is None else f"{r.score:.2f}",
                "" if r.rank is None else f"{r.rank}/{r.ranked_of}",
            )
        )
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")
