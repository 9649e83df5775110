"""Seed published calendar years from the maintained ``chinese-calendar`` package.

The package carries the State Council's holiday arrangements for past years (2004 up to the newest year it
knows). We copy only what it knows: a year it does not cover is left unpublished (the calendar then applies the
provisional weekday rule and flags it) — we never let the library raise or guess at the year boundary.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from importlib import metadata

from federation.calendar import FIRST_YEAR, LAST_YEAR, YearCalendar

__all__ = ["seed_years"]


_CHINESE_NAMES = {
    "New Year's Day": "元旦",
    "Spring Festival": "春节",
    "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节",
    "National Day": "国庆节",
    "Mid-autumn Festival": "中秋节",
    "Anti-Fascist 70th Day": "中国人民抗日战争暨世界反法西斯战争胜利70周年纪念日",
}


def _holiday_names() -> dict[date, str]:
    from chinese_calendar import constants

    out: dict[date, str] = {}
    for d, name in constants.holidays.items():
        label = str(getattr(name, "value", name))
        out[d] = _CHINESE_NAMES.get(label, label)
    return out


def seed_years(first: int = FIRST_YEAR, last: int = LAST_YEAR) -> list[YearCalendar]:
    """Every year in [first, last] that ``chinese-calendar`` covers, as published :class:`YearCalendar` s."""
    from chinese_calendar import constants

    version = metadata.version("chinese-calendar")
    names = _holiday_names()
    holidays: dict[int, set[date]] = defaultdict(set)
    makeup: dict[int, set[date]] = defaultdict(set)
    for d in constants.holidays:
        holidays[d.year].add(d)
    for d in constants.workdays:
        makeup[d.year].add(d)
    years = sorted(y for y in set(holidays) | set(makeup) if first <= y <= last)
    return [
        YearCalendar(
            year=y,
            holidays=frozenset(holidays[y]),
            makeup_workdays=frozenset(makeup[y]),
            revision=1,
            source=f"chinese-calendar {version}",
            names={d.isoformat(): names[d] for d in sorted(holidays[y]) if d in names},
        )
        for y in years
    ]
