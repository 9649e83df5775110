"""The working-day calendar: published years, make-up working days, provisional years, O(1) arithmetic.

Expectations are written out by hand from the State Council's 2026 arrangement (as carried by
``chinese-calendar``): Spring Festival 2026-02-15 … 02-23 off, make-up Saturdays 02-14 and 02-28; Mid-Autumn and
National Day 09-25 … 09-27 and 10-01 … 10-07 off, make-up Sunday 09-20 and Saturday 10-10.
"""

from __future__ import annotations

from datetime import date, timedelta

import chinese_calendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from federation.calendar import FIRST_YEAR, LAST_YEAR, WorkingCalendar, YearCalendar
from federation.calendar_seed import seed_years
from federation.errors import CalendarRangeError, StandardsError

D = date

SPRING_FESTIVAL_2026 = [D(2026, 2, 15) + timedelta(days=i) for i in range(9)]  # 02-15 … 02-23
NATIONAL_DAY_2026 = [D(2026, 9, 25), D(2026, 9, 26), D(2026, 9, 27)] + [D(2026, 10, d) for d in range(1, 8)]
MAKEUP_2026 = [D(2026, 2, 14), D(2026, 2, 28), D(2026, 9, 20), D(2026, 10, 10)]


# -- YearCalendar validation -----------------------------------------------------------------------


def test_year_calendar_rejects_a_date_of_another_year() -> None:
    with pytest.raises(StandardsError, match="其他年份"):
        YearCalendar(2026, frozenset({D(2027, 1, 1)}), frozenset())
    with pytest.raises(StandardsError, match="其他年份"):
        YearCalendar(2026, frozenset(), frozenset({D(2025, 12, 27)}))


def test_year_calendar_rejects_a_day_that_is_both_holiday_and_makeup() -> None:
    saturday = D(2026, 3, 7)
    with pytest.raises(StandardsError, match="既是节假日又是调休工作日") as info:
        YearCalendar(2026, frozenset({saturday}), frozenset({saturday}))
    assert info.value.details["date"] == "2026-03-07"


def test_year_calendar_rejects_a_makeup_day_on_a_weekday() -> None:
    wednesday = D(2026, 3, 4)
    with pytest.raises(StandardsError, match="不是周末"):
        YearCalendar(2026, frozenset(), frozenset({wednesday}))


@pytest.mark.parametrize("year", [FIRST_YEAR - 1, LAST_YEAR + 1])
def test_year_calendar_rejects_a_year_outside_the_span(year: int) -> None:
    with pytest.raises(StandardsError):
        YearCalendar(year, frozenset(), frozenset())


def test_year_calendar_rejects_revision_zero() -> None:
    with pytest.raises(StandardsError):
        YearCalendar(2026, frozenset(), frozenset(), revision=0)


def test_year_calendar_dict_round_trip(calendar: WorkingCalendar) -> None:
    year = calendar.year(2026)
    assert year is not None
    assert YearCalendar.from_dict(year.to_dict()) == year


def test_year_calendar_from_malformed_dict_is_a_standards_error() -> None:
    with pytest.raises(StandardsError):
        YearCalendar.from_dict({"holidays": []})
    with pytest.raises(StandardsError):
        YearCalendar.from_dict({"year": 2026, "holidays": ["2026-02-30"]})


def test_working_calendar_rejects_a_year_published_twice() -> None:
    y = YearCalendar(2026, frozenset(), frozenset())
    with pytest.raises(StandardsError, match="重复"):
        WorkingCalendar([y, y])


# -- the real 2026 arrangement ---------------------------------------------------------------------


def test_the_seed_carries_the_2026_arrangement(calendar: WorkingCalendar) -> None:
    year = calendar.year(2026)
    assert year is not None
    assert set(SPRING_FESTIVAL_2026) <= year.holidays
    assert set(NATIONAL_DAY_2026) <= year.holidays
    assert set(MAKEUP_2026) <= year.makeup_workdays
    assert year.names["2026-02-17"] == "春节"
    assert year.names["2026-10-01"] == "国庆节"


@pytest.mark.parametrize("day", SPRING_FESTIVAL_2026 + NATIONAL_DAY_2026)
def test_holidays_are_not_working_days(calendar: WorkingCalendar, day: date) -> None:
    assert not calendar.is_working_day(day)


@pytest.mark.parametrize("day", MAKEUP_2026)
def test_makeup_weekend_days_are_working_days(calendar: WorkingCalendar, day: date) -> None:
    assert day.weekday() >= 5
    assert calendar.is_working_day(day)


def test_an_ordinary_weekend_is_not_working(calendar: WorkingCalendar) -> None:
    assert not calendar.is_working_day(D(2026, 3, 7))  # Saturday
    assert not calendar.is_working_day(D(2026, 3, 8))  # Sunday
    assert calendar.is_working_day(D(2026, 3, 9))  # Monday


@pytest.mark.parametrize(
    ("start", "n", "expected"),
    [
        # Spring Festival
        (D(2026, 2, 13), 1, D(2026, 2, 14)),  # Friday → make-up Saturday
        (D(2026, 2, 13), 2, D(2026, 2, 24)),  # … then straight over the nine days off
        (D(2026, 2, 14), 1, D(2026, 2, 24)),
        (D(2026, 2, 16), 1, D(2026, 2, 24)),  # from inside the holiday
        (D(2026, 2, 27), 1, D(2026, 2, 28)),  # Friday → make-up Saturday
        (D(2026, 2, 27), 2, D(2026, 3, 2)),
        # Mid-Autumn + National Day
        (D(2026, 9, 19), 1, D(2026, 9, 20)),  # Saturday → make-up Sunday
        (D(2026, 9, 24), 1, D(2026, 9, 28)),  # Thursday → over 09-25 … 09-27
        (D(2026, 9, 30), 1, D(2026, 10, 8)),
        (D(2026, 9, 30), 3, D(2026, 10, 10)),  # make-up Saturday
        (D(2026, 9, 30), 4, D(2026, 10, 12)),
        (D(2026, 9, 21), 20, D(2026, 10, 26)),
    ],
)
def test_add_working_days_over_the_2026_holidays(
    calendar: WorkingCalendar, start: date, n: int, expected: date
) -> None:
    assert calendar.add_working_days(start, n) == expected
    assert calendar.working_days_between(start, expected) == n
    assert date.fromordinal(calendar.nth_after(start.toordinal(), n)) == expected


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (D(2026, 9, 21), D(2026, 9, 21)),  # a working day is itself
        (D(2026, 9, 20), D(2026, 9, 20)),  # a make-up Sunday is itself
        (D(2026, 9, 26), D(2026, 9, 28)),  # holiday → next working day
        (D(2026, 10, 3), D(2026, 10, 8)),
        (D(2026, 2, 21), D(2026, 2, 24)),
    ],
)
def test_add_zero_working_days_is_the_day_or_the_next_working_day(
    calendar: WorkingCalendar, day: date, expected: date
) -> None:
    assert calendar.add_working_days(day, 0) == expected


def test_add_negative_working_days_is_refused(calendar: WorkingCalendar) -> None:
    with pytest.raises(ValueError, match="n must be"):
        calendar.add_working_days(D(2026, 9, 21), -1)


@pytest.mark.parametrize(
    ("after", "upto", "expected"),
    [
        (D(2026, 1, 31), D(2026, 2, 28), 16),  # February 2026: 20 weekdays − 6 holidays + 2 make-up Saturdays
        (D(2026, 2, 13), D(2026, 2, 24), 2),  # 02-14 and 02-24
        (D(2026, 2, 14), D(2026, 2, 23), 0),
        (D(2026, 9, 18), D(2026, 10, 11), 11),  # 09-20…24, 09-28…30, 10-08…10
        (D(2026, 9, 24), D(2026, 10, 7), 3),  # 09-28, 29, 30
        (D(2026, 9, 21), D(2026, 9, 21), 0),  # (d, d] is empty
        (D(2026, 9, 22), D(2026, 9, 21), -1),  # negative when upto < after
    ],
)
def test_working_days_between(calendar: WorkingCalendar, after: date, upto: date, expected: int) -> None:
    assert calendar.working_days_between(after, upto) == expected
    assert calendar.count(after.toordinal(), upto.toordinal()) == expected


def test_count_and_cum_agree(calendar: WorkingCalendar) -> None:
    a, b = D(2026, 9, 18).toordinal(), D(2026, 10, 11).toordinal()
    assert calendar.count(a, b) == calendar.cum(b) - calendar.cum(a)
    assert calendar.nth_working(calendar.cum(b)) == D(2026, 10, 10).toordinal()  # last working day ≤ 10-11


# -- unpublished years -----------------------------------------------------------------------------


def test_an_unpublished_year_follows_monday_to_friday(calendar: WorkingCalendar) -> None:
    assert not calendar.is_published(2027)
    assert calendar.year(2027) is None
    # 2027-01-01 is a Friday: provisionally a working day (the province has not said it is New Year's Day off)
    assert calendar.is_working_day(D(2027, 1, 1))
    assert not calendar.is_working_day(D(2027, 1, 2))
    assert not calendar.is_working_day(D(2027, 1, 3))
    first_week = [D(2027, 1, 4) + timedelta(days=i) for i in range(7)]
    assert [calendar.is_working_day(d) for d in first_week] == [True] * 5 + [False] * 2
    assert calendar.working_days_between(D(2026, 12, 31), D(2027, 12, 31)) == 261  # 2027: 261 weekdays
    assert calendar.add_working_days(D(2026, 12, 31), 1) == D(2027, 1, 1)


def test_missing_years_reports_the_unpublished_ones(calendar: WorkingCalendar) -> None:
    assert calendar.missing_years(2026, 2026) == ()
    assert calendar.missing_years(2026, 2027) == (2027,)
    assert calendar.missing_years(2025, 2029) == (2027, 2028, 2029)
    assert calendar.missing_years(2000, 2004) == (2000, 2001, 2002, 2003)  # the seed starts in 2004
    assert calendar.published_years == tuple(range(2004, 2027))


def test_an_empty_calendar_is_weekdays_only_and_misses_everything() -> None:
    empty = WorkingCalendar()
    assert empty.published_years == ()
    assert empty.is_working_day(D(2026, 10, 1))  # National Day is a Thursday: provisional rule says work
    assert empty.missing_years(2026, 2027) == (2026, 2027)


# -- the supported span ----------------------------------------------------------------------------


@pytest.mark.parametrize("day", [D(1999, 12, 31), D(2100, 1, 1), D(1970, 1, 1)])
def test_dates_outside_the_span_raise_calendar_range_error(calendar: WorkingCalendar, day: date) -> None:
    with pytest.raises(CalendarRangeError):
        calendar.is_working_day(day)
    with pytest.raises(CalendarRangeError):
        calendar.working_days_between(D(2026, 1, 1), day)
    with pytest.raises(CalendarRangeError):
        calendar.add_working_days(day, 1)


def test_arithmetic_running_off_the_end_of_the_span_raises(calendar: WorkingCalendar) -> None:
    assert calendar.add_working_days(D(2099, 12, 30), 1) == D(2099, 12, 31)  # a Thursday
    with pytest.raises(CalendarRangeError):
        calendar.add_working_days(D(2099, 12, 31), 1)
    with pytest.raises(CalendarRangeError):
        calendar.nth_working(0)


def test_the_first_and_last_day_of_the_span_answer(calendar: WorkingCalendar) -> None:
    assert not calendar.is_working_day(D(FIRST_YEAR, 1, 1))  # a Saturday
    assert calendar.add_working_days(D(FIRST_YEAR, 1, 1), 0) == D(2000, 1, 3)
    assert calendar.add_working_days(D(FIRST_YEAR, 1, 3), 0) == D(2000, 1, 3)
    assert calendar.is_working_day(D(LAST_YEAR, 12, 31))
    assert calendar.add_working_days(D(LAST_YEAR, 12, 31), 0) == D(LAST_YEAR, 12, 31)


def test_calendar_range_error_is_a_calendar_error_with_details(calendar: WorkingCalendar) -> None:
    with pytest.raises(CalendarRangeError) as info:
        calendar.is_working_day(D(2100, 1, 1))
    assert info.value.code == "calendar_out_of_range"
    assert info.value.details["date"] == "2100-01-01"


# -- version and revisions -------------------------------------------------------------------------


def test_version_is_a_content_hash(seeded_years: list[YearCalendar], calendar: WorkingCalendar) -> None:
    again = WorkingCalendar(reversed(seed_years()))
    assert again.version == calendar.version
    assert calendar.version.startswith("cal-")
    assert WorkingCalendar().version == WorkingCalendar().version
    assert WorkingCalendar().version != calendar.version
    without_2026 = WorkingCalendar(y for y in seeded_years if y.year != 2026)
    assert without_2026.version != calendar.version


def test_a_changed_year_changes_the_version(calendar: WorkingCalendar) -> None:
    old = calendar.year(2026)
    assert old is not None
    revised = YearCalendar(
        2026, old.holidays | {D(2026, 12, 31)}, old.makeup_workdays, revision=2, source="province", names=old.names
    )
    changed = calendar.with_year(revised)
    assert changed.version != calendar.version
    # the same revision published again gives the same version
    assert calendar.with_year(revised).version == changed.version


def test_with_year_replaces_a_year_and_leaves_the_original_alone(calendar: WorkingCalendar) -> None:
    old = calendar.year(2026)
    assert old is not None
    revised = YearCalendar(2026, old.holidays | {D(2026, 12, 31)}, old.makeup_workdays, revision=2)
    changed = calendar.with_year(revised)
    assert changed.year(2026) == revised
    assert changed.year(2026).version == "2026r2"  # type: ignore[union-attr]
    assert not changed.is_working_day(D(2026, 12, 31))
    assert calendar.is_working_day(D(2026, 12, 31))  # the original calendar is unchanged
    assert changed.published_years == calendar.published_years
    assert changed.working_days_between(D(2026, 12, 1), D(2027, 1, 31)) == (
        calendar.working_days_between(D(2026, 12, 1), D(2027, 1, 31)) - 1
    )


def test_with_year_adds_an_unpublished_year(calendar: WorkingCalendar) -> None:
    new_year_2027 = YearCalendar(2027, frozenset({D(2027, 1, 1)}), frozenset())
    published = calendar.with_year(new_year_2027)
    assert published.is_published(2027)
    assert published.missing_years(2026, 2027) == ()
    assert not published.is_working_day(D(2027, 1, 1))
    assert published.version != calendar.version


# -- properties ------------------------------------------------------------------------------------

_DAYS = st.dates(min_value=D(2000, 1, 1), max_value=D(2097, 12, 31))  # + 400 working days stays in range


@settings(max_examples=300, deadline=None)
@given(day=_DAYS, n=st.integers(min_value=0, max_value=400))
def test_add_working_days_lands_on_a_working_day_n_working_days_later(
    calendar: WorkingCalendar, day: date, n: int
) -> None:
    due = calendar.add_working_days(day, n)
    assert calendar.is_working_day(due)
    assert due >= day
    if n == 0:  # the day itself when working, else the first working day after it
        assert (due == day) == calendar.is_working_day(day)
        assert calendar.working_days_between(day, due) == (0 if due == day else 1)
    else:
        assert calendar.working_days_between(day, due) == n
        assert calendar.working_days_between(day, due - timedelta(days=1)) == n - 1


def test_the_seed_agrees_with_chinese_calendar_day_by_day(calendar: WorkingCalendar) -> None:
    day, last = D(2004, 1, 1), D(2026, 12, 31)
    disagreements = []
    while day <= last:
        if calendar.is_working_day(day) != chinese_calendar.is_workday(day):
            disagreements.append(day)
        day += timedelta(days=1)
    assert disagreements == []
