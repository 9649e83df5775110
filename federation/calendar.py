"""The working-day calendar (工作日历): published holiday years, make-up working days, provisional years.

Pure: no I/O. The province publishes one :class:`YearCalendar` per year (statutory holidays and the make-up
working days, 调休). A year that has not been published is an explicit state: dates in it follow the
provisional weekday rule (Monday–Friday work) and every answer that touched such a year says so, so that a
caller can flag the deadline and warn that the year is missing.

Working-day arithmetic is O(1) per query: on construction the calendar precomputes, for every day of its span,
the running count of working days (``cum``) and the ordinal of the k-th working day (``nth``). Nothing ever
walks day by day at query time.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from federation.errors import CalendarRangeError, StandardsError

__all__ = ["FIRST_YEAR", "LAST_YEAR", "WorkingCalendar", "YearCalendar"]

FIRST_YEAR = 2000
LAST_YEAR = 2099

_SATURDAY = 5


@dataclass(frozen=True)
class YearCalendar:
    """One published year: statutory days off and make-up working days (调休)."""

    year: int
    holidays: frozenset[date]
    makeup_workdays: frozenset[date]
    revision: int = 1
    source: str = "province"
    names: Mapping[str, str] = field(default_factory=dict)  # ISO date -> holiday name, informative only

    def __post_init__(self) -> None:
        if not FIRST_YEAR <= self.year <= LAST_YEAR:
            raise StandardsError(f"日历年份 {self.year} 超出支持范围（{FIRST_YEAR}–{LAST_YEAR}）", year=self.year)
        for d in self.holidays | self.makeup_workdays:
            if d.year != self.year:
                raise StandardsError(f"{self.year} 年日历中含有其他年份的日期 {d.isoformat()}", year=self.year)
        both = self.holidays & self.makeup_workdays
        if both:
            first = min(both).isoformat()
            raise StandardsError(f"{first} 不能既是节假日又是调休工作日", year=self.year, date=first)
        for d in self.makeup_workdays:
            if d.weekday() < _SATURDAY:
                raise StandardsError(
                    f"调休工作日 {d.isoformat()} 不是周末，无需调休", year=self.year, date=d.isoformat()
                )
        if self.revision < 1:
            raise StandardsError("日历修订号必须从 1 开始", year=self.year)

    @property
    def version(self) -> str:
        return f"{self.year}r{self.revision}"

    def is_working_day(self, d: date) -> bool:
        if d in self.makeup_workdays:
            return True
        if d in self.holidays:
            return False
        return d.weekday() < _SATURDAY

    def to_dict(self) -> dict[str, Any]:
        return {
            "year": self.year,
            "revision": self.revision,
            "source": self.source,
            "holidays": sorted(d.isoformat() for d in self.holidays),
            "makeup_workdays": sorted(d.isoformat() for d in self.makeup_workdays),
            "names": dict(sorted(self.names.items())),
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> YearCalendar:
        try:
            year = int(raw["year"])
            holidays = frozenset(date.fromisoformat(s) for s in raw.get("holidays", ()))
            makeup = frozenset(date.fromisoformat(s) for s in raw.get("makeup_workdays", ()))
            revision = int(raw.get("revision", 1))
            source = str(raw.get("source", "province"))
            names = {str(k): str(v) for k, v in dict(raw.get("names", {})).items()}
        except (KeyError, TypeError, ValueError) as exc:
            raise StandardsError(f"日历年度数据格式错误：{exc}") from exc
        return cls(year, holidays, makeup, revision=revision, source=source, names=names)


class WorkingCalendar:
    """Working days over the span FIRST_YEAR..LAST_YEAR, from published years plus the provisional rule.

    ``count(a, b)`` counts working days in the half-open ordinal interval (a, b]; ``nth_after(a, n)`` is the
    n-th working day after a. Both are O(1).
    """

    __slots__ = (
        "_base",
        "_cum",
        "_end",
        "_missing_cache",
        "_nth",
        "_published",
        "_version",
        "_working",
    )

    def __init__(self, years: Iterable[YearCalendar] = ()) -> None:
        published: dict[int, YearCalendar] = {}
        for y in years:
            if y.year in published:
                raise StandardsError(f"日历中 {y.year} 年重复出现", year=y.year)
            published[y.year] = y
        self._published = published
        self._base = date(FIRST_YEAR, 1, 1).toordinal()
        self._end = date(LAST_YEAR, 12, 31).toordinal()
        n_days = self._end - self._base + 1
        working = bytearray(n_days)
        off = self._base
        for i in range(n_days):
            # weekday of ordinal: (ordinal + 6) % 7 gives Monday=0
            working[i] = 1 if (off + i + 6) % 7 < _SATURDAY else 0
        for yc in published.values():
            for d in yc.holidays:
                working[d.toordinal() - off] = 0
            for d in yc.makeup_workdays:
                working[d.toordinal() - off] = 1
        cum = [0] * n_days
        nth: list[int] = []
        running = 0
        for i in range(n_days):
            if working[i]:
                running += 1
                nth.append(off + i)
            cum[i] = running
        self._working = bytes(working)
        self._cum = cum
        self._nth = nth
        digest = hashlib.sha256(
            json.dumps([published[y].to_dict() for y in sorted(published)], sort_keys=True).encode()
        ).hexdigest()[:10]
        self._version = f"cal-{digest}"
        self._missing_cache: dict[tuple[int, int], tuple[int, ...]] = {}

    # -- identity -------------------------------------------------------------------------------------------
    @property
    def version(self) -> str:
        """A content hash of every published year: two calendars with the same data share the version."""
        return self._version

    @property
    def published_years(self) -> tuple[int, ...]:
        return tuple(sorted(self._published))

    def year(self, year: int) -> YearCalendar | None:
        return self._published.get(year)

    def is_published(self, year: int) -> bool:
        return year in self._published

    def missing_years(self, first: int, last: int) -> tuple[int, ...]:
        """Years in [first, last] that are not published (their days follow the provisional rule)."""
        key = (first, last)
        hit = self._missing_cache.get(key)
        if hit is None:
            pub = self._published
            hit = tuple(y for y in range(first, last + 1) if y not in pub)
            if len(self._missing_cache) < 100_000:
                self._missing_cache[key] = hit
        return hit

    def with_year(self, year_calendar: YearCalendar) -> WorkingCalendar:
        """A new calendar with ``year_calendar`` added or replacing the same year."""
        years = dict(self._published)
        years[year_calendar.year] = year_calendar
        return WorkingCalendar(years.values())

    # -- O(1) arithmetic on proleptic ordinals --------------------------------------------------------------
    def _index(self, ordinal: int) -> int:
        i = ordinal - self._base
        if i < 0 or ordinal > self._end:
            raise CalendarRangeError(
                f"日期 {date.fromordinal(ordinal).isoformat()} 超出工作日历范围（{FIRST_YEAR}–{LAST_YEAR}）",
                date=date.fromordinal(ordinal).isoformat(),
            )
        return i

    def is_working_ordinal(self, ordinal: int) -> bool:
        return bool(self._working[self._index(ordinal)])

    def cum(self, ordinal: int) -> int:
        """Number of working days from the start of the span up to and including ``ordinal``."""
        return self._cum[self._index(ordinal)]

    def nth_working(self, k: int) -> int:
        """Ordinal of the k-th working day of the span (k ≥ 1)."""
        if k < 1 or k > len(self._nth):
            raise CalendarRangeError(f"工作日序号 {k} 超出工作日历范围（{FIRST_YEAR}–{LAST_YEAR}）", index=k)
        return self._nth[k - 1]

    def count(self, after: int, upto: int) -> int:
        """Working days in the ordinal interval (after, upto]; negative when upto < after."""
        return self.cum(upto) - self.cum(after)

    def nth_after(self, after: int, n: int) -> int:
        """Ordinal of the n-th working day strictly after ``after`` (n ≥ 1)."""
        return self.nth_working(self.cum(after) + n)

    def run_budget(
        self, cursor: int, remaining: int, exclusions: Iterable[tuple[int, int | None]] = ()
    ) -> tuple[int | None, int]:
        """Run a budget of ``remaining`` working days counted after ordinal ``cursor``, skipping excluded spans.

        ``exclusions`` are (lo, hi) ordinal pairs sorted by ``lo``: the working days in (lo, hi] do not count
        (hi None: open, nothing after lo counts). Returns ``(due_ordinal, 0)`` when the budget runs out, or
        ``(None, remaining)`` when an open exclusion holds it. O(len(exclusions)).
        """
        base = self._base
        cum = self._cum
        try:
            if cursor < base:
                raise IndexError(cursor)
            for start, hi in exclusions:
                if hi is not None and hi <= cursor:
                    continue
                lo = max(start, cursor)
                at = cum[cursor - base]
                avail = cum[lo - base] - at
                if avail >= remaining:
                    return self._nth[at + remaining - 1], 0
                remaining -= avail
                if hi is None:
                    return None, remaining
                cursor = hi
            return self._nth[cum[cursor - base] + remaining - 1], 0
        except IndexError:
            raise CalendarRangeError(
                f"期限超出工作日历范围（{FIRST_YEAR}–{LAST_YEAR}）",
                cursor=date.fromordinal(cursor).isoformat(),
            ) from None

    # -- date conveniences ----------------------------------------------------------------------------------
    def is_working_day(self, d: date) -> bool:
        return self.is_working_ordinal(d.toordinal())

    def working_days_between(self, after: date, upto: date) -> int:
        """Working days in (after, upto]."""
        return self.count(after.toordinal(), upto.toordinal())

    def add_working_days(self, d: date, n: int) -> date:
        """The n-th working day after ``d`` (n ≥ 1); for n == 0, ``d`` itself if working, else the next one."""
        if n < 0:
            raise ValueError("n must be ≥ 0")
        if n == 0:
            ordinal = d.toordinal()
            return d if self.is_working_ordinal(ordinal) else date.fromordinal(self.nth_after(ordinal, 1))
        return date.fromordinal(self.nth_after(d.toordinal(), n))
