"""月报 — the monthly report of a scope: per county, the month's cases accepted, decided (on time, late),
concluded, alerts raised (yellow, red), complaints filed, and the county's score of that month when one was
computed; as rows and as a CSV file (UTF-8 with a BOM, so that Excel opens it in Chinese).

Counted live, as the trend's months are counted by county (:func:`~city_aggregator.inspection.trend_store.
count_by_county`): one ``GROUP BY`` per measure over the whole scope, never a query per county.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from city_aggregator.inspection.figures import MonthFigures, month_label, parse_month, rate
from city_aggregator.inspection.scope import Scope
from city_aggregator.inspection.service import InspectionService
from city_aggregator.inspection.trend_store import count_by_county, stored_by_county
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
    counted_at: datetime | None = None  # the figures as the scoring run counted them then (None: counted now)


def month_report(engine: Engine, svc: InspectionService, scope: Scope, month: str) -> MonthReport:
    """The report of ``month`` (``2026-11``) over every county of ``scope`` (zeros for those without data)."""
    first = parse_month(month, "month")
    label = month_label(first)
    with UnitOfWork(engine, readonly=True) as uow:
        stored = stored_by_county(uow.conn, scope.prefix, label)
        if stored is not None:  # as the scoring run counted it
            out, counted_at = stored
        else:
            out = {county: fig for (county, _), fig in count_by_county(uow.conn, scope.prefix, [first]).items()}
            counted_at = None
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
    return MonthReport(label, rows, None if ranking.choice is None else ranking.choice.rules_version, counted_at)


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
