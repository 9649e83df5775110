"""What an inspector reads about a county, a month and a ranking: plain values (pure, no I/O).

The SQL of :mod:`city_aggregator.inspection.queries` fills these; the views of
:mod:`city_aggregator.inspection.views` render them. Definitions (the same at a city and at the province):

* **on time** — a case decided (准予/不予许可) without an overdue alert (SUP-002 红灯超期) on it. The overdue rule
  records a late decision as red and never clears it, so the alert is the durable fact "decided late"; an open
  case past its due moment shows in the red light count instead. The on-time rate is on time / decided.
* **light** — white / yellow / red of the open cases under the clock, derived at "now" from the indexed due
  and yellow moments exactly as the county's ``/summary`` derives them.
* **complaints** — open (待答复), overdue (open past its answer deadline), answered, answered on time (at or
  before the deadline).
* **satisfaction** — the share of ratings that are not negative (差评 is at or below the standards' negative
  level, recorded on each rating when it was given).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime

from federation.errors import ValidationError
from federation.timeutil import CST, check_moment, local_date

__all__ = [
    "MAX_MONTHS",
    "AlertFigures",
    "CaseFigures",
    "ComplaintFigures",
    "CountyFigures",
    "MonthFigures",
    "RatingFigures",
    "month_bounds",
    "month_label",
    "month_range",
    "month_start",
    "parse_month",
    "rate",
]

MAX_MONTHS = 36
"""The longest trend one request may ask for (three years of months)."""

_MONTH_RE = re.compile(r"(\d{4})-(\d{2})", re.ASCII)


def rate(part: int, whole: int) -> float | None:
    """``part / whole`` rounded to 4 decimals; None when there is nothing to divide (no sample, no rate)."""
    return None if whole == 0 else round(part / whole, 4)


@dataclass
class CaseFigures:
    total: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    by_light: dict[str, int] = field(default_factory=dict)
    decided: int = 0
    late: int = 0

    @property
    def on_time(self) -> int:
        return self.decided - self.late

    def add(self, other: CaseFigures) -> None:
        self.total += other.total
        self.decided += other.decided
        self.late += other.late
        for mine, theirs in ((self.by_status, other.by_status), (self.by_light, other.by_light)):
            for k, v in theirs.items():
                mine[k] = mine.get(k, 0) + v


@dataclass
class AlertFigures:
    """Active (not closed) alerts."""

    active: int = 0
    by_light: dict[str, int] = field(default_factory=dict)
    by_rule: dict[str, int] = field(default_factory=dict)

    def add(self, other: AlertFigures) -> None:
        self.active += other.active
        for mine, theirs in ((self.by_light, other.by_light), (self.by_rule, other.by_rule)):
            for k, v in theirs.items():
                mine[k] = mine.get(k, 0) + v


@dataclass
class ComplaintFigures:
    total: int = 0
    open: int = 0
    overdue: int = 0
    answered: int = 0
    answered_on_time: int = 0

    def add(self, other: ComplaintFigures) -> None:
        self.total += other.total
        self.open += other.open
        self.overdue += other.overdue
        self.answered += other.answered
        self.answered_on_time += other.answered_on_time


@dataclass
class RatingFigures:
    total: int = 0
    negative: int = 0
    by_level: dict[int, int] = field(default_factory=dict)

    def add(self, other: RatingFigures) -> None:
        self.total += other.total
        self.negative += other.negative
        for k, v in other.by_level.items():
            self.by_level[k] = self.by_level.get(k, 0) + v


@dataclass
class CountyFigures:
    """Everything the per-county summary shows about one county (or, summed, about a whole scope)."""

    county: str
    cases: CaseFigures = field(default_factory=CaseFigures)
    alerts: AlertFigures = field(default_factory=AlertFigures)
    complaints: ComplaintFigures = field(default_factory=ComplaintFigures)
    ratings: RatingFigures = field(default_factory=RatingFigures)

    def add(self, other: CountyFigures) -> None:
        self.cases.add(other.cases)
        self.alerts.add(other.alerts)
        self.complaints.add(other.complaints)
        self.ratings.add(other.ratings)


@dataclass
class MonthFigures:
    """One month of a trend (local months, China Standard Time)."""

    month: str  # 2026-09
    accepted: int = 0
    decided: int = 0
    late: int = 0
    concluded: int = 0
    alerts_raised: int = 0
    alerts_yellow: int = 0
    alerts_red: int = 0
    complaints: int = 0

    @property
    def on_time(self) -> int:
        return self.decided - self.late


# -- months -------------------------------------------------------------------------------------------------------


def parse_month(text: str, field_name: str) -> date:
    """``YYYY-MM`` as the first day of that month; a ValidationError naming ``field_name`` otherwise."""
    m = _MONTH_RE.fullmatch(text.strip())
    if m is None or not 1 <= int(m[2]) <= 12 or int(m[1]) < 1:
        raise ValidationError(f"月份“{text}”格式错误，应为 年-月，例如 2026-09", field=field_name)
    first = date(int(m[1]), int(m[2]), 1)
    check_moment(month_start(first), field_name)  # 2000-01 … 2099-12: beyond, month arithmetic overflows
    return first


def month_label(first: date) -> str:
    return f"{first.year:04d}-{first.month:02d}"


def _next(first: date) -> date:
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)


def month_start(first: date) -> datetime:
    """00:00 China Standard Time of the month's first day (the bucket boundary)."""
    return datetime(first.year, first.month, 1, tzinfo=CST)


def month_range(start: str | None, end: str | None, now: datetime) -> list[date]:
    """The first days of the months ``start`` … ``end`` (inclusive). Defaults: ``end`` is the current month at
    ``now``, ``start`` the eleventh month before it (a year of months); at most :data:`MAX_MONTHS`."""
    today = local_date(now)
    last = parse_month(end, "to") if end else date(today.year, today.month, 1)
    if start:
        first = parse_month(start, "from")
    else:
        index = last.year * 12 + last.month - 1 - 11
        first = date(index // 12, index % 12 + 1, 1)
    if first > last:
        raise ValidationError(f"起始月份 {month_label(first)} 晚于截止月份 {month_label(last)}", field="from")
    months = [first]
    while months[-1] < last:
        months.append(_next(months[-1]))
        if len(months) > MAX_MONTHS:
            raise ValidationError(f"一次最多查询 {MAX_MONTHS} 个月的趋势，请缩小起止月份", field="from")
    return months


def month_bounds(months: list[date]) -> list[datetime]:
    """The ``len(months) + 1`` boundaries of the months' buckets."""
    return [month_start(m) for m in months] + [month_start(_next(months[-1]))]
