"""Scoring periods (考核周期): a month ``2026-10``, a quarter ``2026-Q4`` or a year ``2026``, parsed and expanded.

Pure: no I/O. Re-exported by :mod:`federation.scoring_rules`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from federation.errors import ValidationError

__all__ = ["Period", "expand_year", "parse_period"]

_MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")
_QUARTER_RE = re.compile(r"^(\d{4})-Q([1-4])$")
_YEAR_RE = re.compile(r"^(\d{4})$")


@dataclass(frozen=True, slots=True)
class Period:
    """A scoring period: a month ``2026-10``, a quarter ``2026-Q4`` or a year ``2026`` (China Standard Time)."""

    label: str
    kind: str  # month | quarter | year
    months: tuple[str, ...]  # the months it sums, "YYYY-MM"

    @property
    def first_day(self) -> date:
        return date.fromisoformat(self.months[0] + "-01")

    @property
    def end_day(self) -> date:
        """The day after the period (exclusive end)."""
        year, month = (int(x) for x in self.months[-1].split("-"))
        return date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)


def parse_period(text: str) -> Period:
    """``2026-10`` | ``2026-Q4`` | ``2026``; anything else is refused with a :class:`ValidationError`."""
    s = text.strip()
    if m := _MONTH_RE.fullmatch(s):
        year, month = int(m.group(1)), int(m.group(2))
        if 1 <= month <= 12 and 2000 <= year <= 2099:
            return Period(s, "month", (s,))
    elif m := _QUARTER_RE.fullmatch(s):
        year, q = int(m.group(1)), int(m.group(2))
        if 2000 <= year <= 2099:
            return Period(s, "quarter", tuple(f"{year}-{mm:02d}" for mm in range(3 * q - 2, 3 * q + 1)))
    elif m := _YEAR_RE.fullmatch(s):
        year = int(m.group(1))
        if 2000 <= year <= 2099:
            return Period(s, "year", tuple(f"{year}-{mm:02d}" for mm in range(1, 13)))
    raise ValidationError(
        f"考核周期“{text}”格式错误（应为月 2026-10、季度 2026-Q4 或年度 2026，年份 2000–2099）", period=text
    )


def expand_year(year: int) -> tuple[str, ...]:
    """The 17 periods of a year: 12 months, 4 quarters, the year."""
    return (
        *(f"{year}-{m:02d}" for m in range(1, 13)),
        *(f"{year}-Q{q}" for q in range(1, 5)),
        str(year),
    )
