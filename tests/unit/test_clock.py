"""The case clock, against the convention in ``federation/clock.py`` (and ``docs/case-clock.md``).

Every expected date below is worked out by hand on the real 2026 calendar: Mid-Autumn + National Day 2026 gives
09-25 … 09-27 and 10-01 … 10-07 off, with make-up working days Sunday 09-20 and Saturday 10-10.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from federation.calendar import WorkingCalendar
from federation.clock import (
    ClockSpec,
    Light,
    LightPolicy,
    Pause,
    PauseKind,
    compute_deadline,
    missing_year_warning,
    read_clock,
)
from federation.errors import ValidationError
from federation.timeutil import CST

D = date
CORR = PauseKind.CORRECTION
SECOND = timedelta(seconds=1)


def at(y: int, m: int, d: int, hh: int = 9, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=CST)


def midnight(y: int, m: int, d: int) -> datetime:
    return datetime(y, m, d, tzinfo=CST)


def due(calendar: WorkingCalendar, spec: ClockSpec) -> date | None:
    return compute_deadline(calendar, spec).due_date


# Monday 2026-09-21, 5 working days: 09-22 (1), 09-23 (2), 09-24 (3), [09-25 … 09-27 off], 09-28 (4), 09-29 (5).
ACCEPT = at(2026, 9, 21)
FIVE_DAYS = ClockSpec(ACCEPT, 5)


# -- counting --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accepted_at", "budget", "expected"),
    [
        (at(2026, 3, 2), 1, D(2026, 3, 3)),  # Monday → Tuesday: the acceptance day is not counted
        (at(2026, 3, 2, 0, 0), 1, D(2026, 3, 3)),  # the hour of acceptance does not matter
        (at(2026, 3, 2, 23, 59), 1, D(2026, 3, 3)),
        (at(2026, 3, 2), 5, D(2026, 3, 9)),  # Tue, Wed, Thu, Fri, Mon
        (at(2026, 3, 7), 1, D(2026, 3, 9)),  # accepted on a Saturday: Monday is the first counted day
        (at(2026, 3, 2), 20, D(2026, 3, 30)),
        (ACCEPT, 5, D(2026, 9, 29)),  # across Mid-Autumn
        (at(2026, 9, 19), 1, D(2026, 9, 20)),  # Saturday → the make-up Sunday counts
        (at(2026, 9, 30), 1, D(2026, 10, 8)),  # across National Day
        (at(2026, 9, 30), 3, D(2026, 10, 10)),  # … onto the make-up Saturday
        (at(2026, 2, 13), 2, D(2026, 2, 24)),  # Spring Festival: make-up Saturday 02-14, then 02-24
    ],
)
def test_acceptance_day_is_not_counted(
    calendar: WorkingCalendar, accepted_at: datetime, budget: int, expected: date
) -> None:
    assert due(calendar, ClockSpec(accepted_at, budget)) == expected


def test_due_at_is_midnight_cst_after_the_due_date(calendar: WorkingCalendar) -> None:
    dl = compute_deadline(calendar, FIVE_DAYS)
    assert dl.due_date == D(2026, 9, 29)
    assert dl.due_at == midnight(2026, 9, 30)
    assert dl.due_at == datetime(2026, 9, 29, 16, 0, tzinfo=UTC)
    assert not dl.paused
    assert dl.remaining_at_pause is None
    assert dl.total_budget == 5
    # due on a Friday: due_at is Saturday 00:00, the next *calendar* day, not the next working day
    friday = compute_deadline(calendar, ClockSpec(at(2026, 3, 2), 4))
    assert friday.due_date == D(2026, 3, 6)
    assert friday.due_at == midnight(2026, 3, 7)


def test_the_local_day_of_acceptance_is_the_cst_day(calendar: WorkingCalendar) -> None:
    # 2026-03-01 17:00 UTC is Monday 2026-03-02 01:00 CST: counting starts on Tuesday
    assert due(calendar, ClockSpec(datetime(2026, 3, 1, 17, 0, tzinfo=UTC), 1)) == D(2026, 3, 3)
    # 2026-03-02 15:59 UTC is still Monday 23:59 CST
    assert due(calendar, ClockSpec(datetime(2026, 3, 2, 15, 59, tzinfo=UTC), 1)) == D(2026, 3, 3)


def test_a_naive_acceptance_moment_is_refused(calendar: WorkingCalendar) -> None:
    with pytest.raises(ValueError, match="naive"):
        compute_deadline(calendar, ClockSpec(datetime(2026, 3, 2, 9), 1))  # deliberately naive


def test_a_negative_budget_is_refused(calendar: WorkingCalendar) -> None:
    with pytest.raises(ValidationError):
        compute_deadline(calendar, ClockSpec(ACCEPT, -1))
    with pytest.raises(ValidationError):
        compute_deadline(calendar, ClockSpec(ACCEPT, 5, extension_days=-1))


# -- instant items (即办件) ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accepted_at", "expected"),
    [
        (at(2026, 9, 21, 10), D(2026, 9, 21)),  # a working day: due by its 24:00
        (at(2026, 9, 21, 23, 30), D(2026, 9, 21)),
        (at(2026, 9, 20, 10), D(2026, 9, 20)),  # the make-up Sunday is a working day
        (at(2026, 9, 26, 10), D(2026, 9, 28)),  # Mid-Autumn holiday → next working day
        (at(2026, 10, 1, 10), D(2026, 10, 8)),  # National Day → next working day
        (at(2026, 3, 7, 10), D(2026, 3, 9)),  # an ordinary Saturday → Monday
    ],
)
def test_instant_items_are_due_the_same_working_day(
    calendar: WorkingCalendar, accepted_at: datetime, expected: date
) -> None:
    dl = compute_deadline(calendar, ClockSpec(accepted_at, 0))
    assert dl.due_date == expected
    assert dl.due_at == midnight(expected.year, expected.month, expected.day) + timedelta(days=1)


def test_an_instant_case_turns_red_at_midnight(calendar: WorkingCalendar) -> None:
    spec = ClockSpec(at(2026, 9, 21, 10), 0)
    assert read_clock(calendar, spec, at(2026, 9, 21, 23, 59)).light is not Light.RED
    assert read_clock(calendar, spec, midnight(2026, 9, 22)).light is Light.RED


# -- the pause ledger ------------------------------------------------------------------------------


def test_a_pause_excludes_the_working_days_from_its_start_to_its_end_exclusive(calendar: WorkingCalendar) -> None:
    # [09-23, 09-24): only Wednesday 09-23 is excluded → due moves one working day, 09-29 → 09-30
    one = ClockSpec(ACCEPT, 5, (Pause(CORR, at(2026, 9, 23, 10), at(2026, 9, 24, 15)),))
    assert due(calendar, one) == D(2026, 9, 30)
    # [09-23, 09-28): 09-23 and 09-24 (the holiday 09-25 … 27 was never counted) → two working days
    two = ClockSpec(ACCEPT, 5, (Pause(CORR, at(2026, 9, 23, 10), at(2026, 9, 28, 9)),))
    assert due(calendar, two) == D(2026, 10, 8)


def test_a_same_day_pause_costs_nothing(calendar: WorkingCalendar) -> None:
    spec = ClockSpec(ACCEPT, 5, (Pause(CORR, at(2026, 9, 23, 9), at(2026, 9, 23, 17)),))
    assert due(calendar, spec) == D(2026, 9, 29)


def test_a_pause_on_non_working_days_only_costs_nothing(calendar: WorkingCalendar) -> None:
    spec = ClockSpec(ACCEPT, 5, (Pause(PauseKind.SUSPENSION, at(2026, 9, 25, 9), at(2026, 9, 28, 9)),))
    assert due(calendar, spec) == D(2026, 9, 29)


def test_a_pause_spanning_national_day(calendar: WorkingCalendar) -> None:
    # counted before the pause: 09-22, 09-23 (2 of 5). Excluded [09-24, 10-09): 09-24, 09-28, 09-29, 09-30, 10-08
    # (5 working days). Then 10-09 (3), the make-up Saturday 10-10 (4), Monday 10-12 (5).
    spec = ClockSpec(ACCEPT, 5, (Pause(PauseKind.SPECIAL_PROCEDURE, at(2026, 9, 24, 11), at(2026, 10, 9, 8)),))
    dl = compute_deadline(calendar, spec)
    assert dl.due_date == D(2026, 10, 12)
    assert calendar.add_working_days(D(2026, 9, 29), 5) == D(2026, 10, 12)  # moved by exactly 5 working days
    assert not dl.provisional


def test_several_pauses_add_up(calendar: WorkingCalendar) -> None:
    spec = ClockSpec(
        ACCEPT,
        5,
        (
            Pause(CORR, at(2026, 9, 22, 9), at(2026, 9, 23, 9)),  # excludes 09-22
            Pause(PauseKind.SUSPENSION, at(2026, 9, 28, 9), at(2026, 9, 30, 9)),  # excludes 09-28, 09-29
        ),
    )
    assert due(calendar, spec) == calendar.add_working_days(D(2026, 9, 29), 3) == D(2026, 10, 9)
    reversed_ledger = ClockSpec(ACCEPT, 5, tuple(reversed(spec.pauses)))
    assert due(calendar, reversed_ledger) == D(2026, 10, 9)


def test_a_pause_started_on_the_due_day_still_moves_it(calendar: WorkingCalendar) -> None:
    # 09-29 is the due day and not yet over: pausing [09-29, 09-30) gives that day back
    spec = ClockSpec(ACCEPT, 5, (Pause(CORR, at(2026, 9, 29, 16), at(2026, 9, 30, 9)),))
    assert due(calendar, spec) == D(2026, 9, 30)


def test_an_open_pause_freezes_the_remaining_budget(calendar: WorkingCalendar) -> None:
    # counted before the pause: 09-22, 09-23 → 3 working days remain when the pause ends
    spec = ClockSpec(ACCEPT, 5, (Pause(CORR, at(2026, 9, 24, 10)),))
    dl = compute_deadline(calendar, spec)
    assert dl.paused
    assert dl.due_date is None
    assert dl.due_at is None
    assert dl.remaining_at_pause == 3
    assert dl.total_budget == 5
    assert dl.calendar_version == calendar.version
    for now in (at(2026, 9, 24, 12), at(2026, 9, 30), at(2026, 12, 1), at(2027, 6, 1)):
        reading = read_clock(calendar, spec, now)
        assert reading.remaining_days == 3
        assert reading.elapsed_days == 2
        assert reading.overdue_days == 0
        assert reading.light is Light.WHITE
        assert reading.yellow_at is None
        assert not reading.overdue


def test_a_paused_case_never_goes_red_even_with_one_day_left(calendar: WorkingCalendar) -> None:
    # paused on the due day: 09-22, 09-23, 09-24, 09-28 counted → 1 left, yellow, and it stays yellow
    spec = ClockSpec(ACCEPT, 5, (Pause(PauseKind.SUSPENSION, at(2026, 9, 29, 10)),))
    assert read_clock(calendar, FIVE_DAYS, at(2026, 9, 29, 9)).light is Light.YELLOW  # before pausing
    for now in (at(2026, 9, 29, 11), midnight(2026, 9, 30), at(2026, 10, 30), at(2027, 3, 1)):
        reading = read_clock(calendar, spec, now)
        assert reading.remaining_days == 1
        assert reading.light is Light.YELLOW


def test_closing_the_pause_restarts_the_clock_where_it_stopped(calendar: WorkingCalendar) -> None:
    open_spec = ClockSpec(ACCEPT, 5, (Pause(CORR, at(2026, 9, 24, 10)),))
    remaining = compute_deadline(calendar, open_spec).remaining_at_pause
    assert remaining == 3
    closed = ClockSpec(ACCEPT, 5, (Pause(CORR, at(2026, 9, 24, 10), at(2026, 10, 12, 9)),))
    # the resume day counts: 10-12 (1), 10-13 (2), 10-14 (3)
    assert due(calendar, closed) == calendar.add_working_days(D(2026, 10, 11), remaining) == D(2026, 10, 14)


def test_a_pause_after_the_due_date_does_not_rescue_an_overdue_case(calendar: WorkingCalendar) -> None:
    late_closed = ClockSpec(ACCEPT, 5, (Pause(CORR, at(2026, 9, 30, 10), at(2026, 10, 9, 10)),))
    late_open = ClockSpec(ACCEPT, 5, (Pause(CORR, at(2026, 9, 30, 10)),))
    for spec in (late_closed, late_open):
        dl = compute_deadline(calendar, spec)
        assert not dl.paused
        assert dl.due_date == D(2026, 9, 29)
        reading = read_clock(calendar, spec, at(2026, 10, 8, 10))
        assert reading.light is Light.RED
        assert reading.overdue
        assert reading.overdue_days == 2  # 09-30 and 10-08
        assert reading.remaining_days == 0


def test_an_extension_adds_its_working_days(calendar: WorkingCalendar) -> None:
    spec = ClockSpec(ACCEPT, 5, extension_days=3)
    dl = compute_deadline(calendar, spec)
    assert spec.total_budget == 8
    assert dl.total_budget == 8
    assert dl.due_date == calendar.add_working_days(D(2026, 9, 29), 3) == D(2026, 10, 9)


def test_an_extension_and_a_pause_combine(calendar: WorkingCalendar) -> None:
    spec = ClockSpec(ACCEPT, 5, (Pause(CORR, at(2026, 9, 23, 10), at(2026, 9, 24, 15)),), extension_days=2)
    assert due(calendar, spec) == calendar.add_working_days(D(2026, 9, 29), 3) == D(2026, 10, 9)


# -- unpublished years -----------------------------------------------------------------------------


def test_a_deadline_crossing_into_an_unpublished_year_is_provisional(calendar: WorkingCalendar) -> None:
    # accepted Tuesday 2026-12-15, 20 days: 12-16…18 (3), 12-21…25 (8), 12-28…31 (12); 2027 is not published, so
    # the provisional weekday rule counts Friday 2027-01-01 (13), 01-04…08 (18), 01-11 (19), 01-12 (20).
    spec = ClockSpec(at(2026, 12, 15), 20)
    dl = compute_deadline(calendar, spec)
    assert dl.due_date == D(2027, 1, 12)
    assert dl.due_at == midnight(2027, 1, 13)
    assert dl.provisional
    assert dl.missing_years == (2027,)
    assert dl.calendar_version == calendar.version
    assert len(dl.warnings) == 1
    assert "2027" in dl.warnings[0]
    assert "尚未发布" in dl.warnings[0]
    assert dl.warnings[0] == missing_year_warning(2027)
    reading = read_clock(calendar, spec, at(2027, 1, 12, 10))
    assert reading.light is Light.YELLOW
    assert reading.deadline.provisional


def test_a_deadline_inside_a_published_year_is_not_provisional(calendar: WorkingCalendar) -> None:
    dl = compute_deadline(calendar, FIVE_DAYS)
    assert not dl.provisional
    assert dl.missing_years == ()
    assert dl.warnings == ()
    assert dl.calendar_version == calendar.version


def test_an_open_pause_in_an_unpublished_year_is_flagged(calendar: WorkingCalendar) -> None:
    spec = ClockSpec(at(2026, 12, 28), 20, (Pause(CORR, at(2027, 1, 5, 10)),))
    dl = compute_deadline(calendar, spec)
    assert dl.paused
    assert dl.missing_years == (2027,)


def test_publishing_the_year_moves_the_provisional_deadline(calendar: WorkingCalendar) -> None:
    from federation.calendar import YearCalendar

    spec = ClockSpec(at(2026, 12, 15), 20)
    published = calendar.with_year(YearCalendar(2027, frozenset({D(2027, 1, 1)}), frozenset()))
    dl = compute_deadline(published, spec)
    assert dl.due_date == D(2027, 1, 13)
    assert not dl.provisional
    assert dl.calendar_version == published.version != calendar.version


# -- the light -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("yellow_days", "yellow_share", "yellow_at"),
    [
        (1, 0.8, midnight(2026, 9, 29)),  # default: the due day itself
        (2, 0.8, midnight(2026, 9, 25)),  # two left (09-28, 09-29) already on the first holiday
        (1, 0.5, midnight(2026, 9, 25)),  # ⌈2.5⌉ = 3 of 5 used → at most 2 left, today included
        (1, 0.2, midnight(2026, 9, 23)),  # ⌈1⌉ = 1 used → 4 left: from Wednesday
        (4, 0.8, midnight(2026, 9, 23)),  # 4 left (09-23, 09-24, 09-28, 09-29): from Wednesday
        # the whole budget is within yellow_days: yellow once it is in use, at 00:00 of its first counted working
        # day — not at acceptance, as this line said before issue 17 (nothing of the budget is used on the
        # acceptance day, which is not counted; a warning then cost every short case a SUP-001 alert)
        (5, 0.8, midnight(2026, 9, 22)),
        (9, 0.8, midnight(2026, 9, 22)),
        (0, 1.0, midnight(2026, 9, 30)),  # no yellow phase: white until red
    ],
)
def test_the_light_turns_at_exactly_the_right_moments(
    calendar: WorkingCalendar, yellow_days: int, yellow_share: float, yellow_at: datetime
) -> None:
    policy = LightPolicy(yellow_days=yellow_days, yellow_share=yellow_share)
    due_at = midnight(2026, 9, 30)
    reading = read_clock(calendar, FIVE_DAYS, ACCEPT, policy)
    assert reading.yellow_at == yellow_at
    assert reading.deadline.due_at == due_at
    if yellow_at > ACCEPT:
        assert read_clock(calendar, FIVE_DAYS, ACCEPT, policy).light is Light.WHITE
        assert read_clock(calendar, FIVE_DAYS, yellow_at - SECOND, policy).light is Light.WHITE
    if yellow_at < due_at:
        assert read_clock(calendar, FIVE_DAYS, yellow_at, policy).light is Light.YELLOW
        assert read_clock(calendar, FIVE_DAYS, due_at - SECOND, policy).light is Light.YELLOW
    assert read_clock(calendar, FIVE_DAYS, due_at, policy).light is Light.RED
    assert read_clock(calendar, FIVE_DAYS, due_at + timedelta(days=30), policy).light is Light.RED


@pytest.mark.parametrize(
    ("accepted_at", "yellow_at", "due_at"),
    [
        (at(2026, 9, 21), midnight(2026, 9, 22), midnight(2026, 9, 23)),  # Monday → its day is Tuesday
        (at(2026, 9, 21, 23, 59), midnight(2026, 9, 22), midnight(2026, 9, 23)),
        (at(2026, 9, 24, 16), midnight(2026, 9, 28), midnight(2026, 9, 29)),  # Thursday before Mid-Autumn
        (at(2026, 9, 26, 10), midnight(2026, 9, 28), midnight(2026, 9, 29)),  # accepted on a holiday
    ],
)
def test_a_one_day_case_is_white_at_acceptance_and_yellow_on_its_day(
    calendar: WorkingCalendar, accepted_at: datetime, yellow_at: datetime, due_at: datetime
) -> None:
    # issue 17: with yellow_days 1 a 1-day case was yellow the moment it was accepted (its one day "remained")
    spec = ClockSpec(accepted_at, 1)
    reading = read_clock(calendar, spec, accepted_at)
    assert reading.light is Light.WHITE
    assert reading.yellow_at == yellow_at
    assert reading.deadline.due_at == due_at
    assert read_clock(calendar, spec, yellow_at - SECOND).light is Light.WHITE
    assert read_clock(calendar, spec, yellow_at).light is Light.YELLOW
    assert read_clock(calendar, spec, due_at - SECOND).light is Light.YELLOW
    assert read_clock(calendar, spec, due_at).light is Light.RED


def test_a_short_case_paused_before_its_first_day_stays_white(calendar: WorkingCalendar) -> None:
    # a correction requested on the acceptance day: nothing of the 1-day budget is used, so white while paused
    spec = ClockSpec(ACCEPT, 1, (Pause(CORR, at(2026, 9, 21, 11)),))
    assert read_clock(calendar, spec, at(2026, 9, 23)).light is Light.WHITE
    # resumed Wednesday 09-23: that day is its day → yellow from its start (the resumption), due 09-23 24:00
    resumed = ClockSpec(ACCEPT, 1, (Pause(CORR, at(2026, 9, 21, 11), at(2026, 9, 23, 10)),))
    reading = read_clock(calendar, resumed, at(2026, 9, 23, 11))
    assert (reading.light, reading.deadline.due_at) == (Light.YELLOW, midnight(2026, 9, 24))
    # a 3-day case paused after two counted days (one left) is yellow while paused, as before
    late = ClockSpec(ACCEPT, 3, (Pause(CORR, at(2026, 9, 24, 10)),))
    assert read_clock(calendar, late, at(2026, 9, 30)).light is Light.YELLOW


def test_an_instant_case_is_yellow_from_acceptance_on_a_working_day(calendar: WorkingCalendar) -> None:
    # its one day is the acceptance day itself: in use as soon as it is accepted (due 24:00 the same day)
    spec = ClockSpec(ACCEPT, 0)
    reading = read_clock(calendar, spec, ACCEPT)
    assert (reading.light, reading.yellow_at) == (Light.YELLOW, ACCEPT)
    holiday = ClockSpec(at(2026, 9, 26, 10), 0)  # accepted on a holiday: its day is Monday 09-28
    assert read_clock(calendar, holiday, at(2026, 9, 26, 10)).yellow_at == midnight(2026, 9, 28)


def test_readings_through_the_holiday(calendar: WorkingCalendar) -> None:
    expected = {  # day → (remaining today included, elapsed, overdue days, light)
        D(2026, 9, 22): (5, 0, 0, Light.WHITE),
        D(2026, 9, 24): (3, 2, 0, Light.WHITE),
        D(2026, 9, 26): (2, 3, 0, Light.WHITE),  # holiday: nothing moves
        D(2026, 9, 28): (2, 3, 0, Light.WHITE),
        D(2026, 9, 29): (1, 4, 0, Light.YELLOW),
        D(2026, 9, 30): (0, 5, 1, Light.RED),
        D(2026, 10, 3): (0, 5, 1, Light.RED),  # National Day: the overdue count does not grow
        D(2026, 10, 8): (0, 5, 2, Light.RED),
    }
    for day, (remaining, elapsed, overdue, light) in expected.items():
        reading = read_clock(calendar, FIVE_DAYS, at(day.year, day.month, day.day, 10))
        assert (reading.remaining_days, reading.elapsed_days, reading.overdue_days, reading.light) == (
            remaining,
            elapsed,
            overdue,
            light,
        ), day


@pytest.mark.parametrize(("yellow_days", "yellow_share"), [(-1, 0.8), (1, 0.0), (1, 1.01), (1, -0.5)])
def test_light_policy_rejects_bad_thresholds(yellow_days: int, yellow_share: float) -> None:
    with pytest.raises(ValidationError):
        LightPolicy(yellow_days=yellow_days, yellow_share=yellow_share)


# -- properties (required) -------------------------------------------------------------------------

_ACCEPT_DAYS = st.dates(min_value=D(2004, 1, 1), max_value=D(2026, 12, 31))
_MINUTES = st.integers(min_value=0, max_value=24 * 60 - 1)


def _moment(day: date, minute: int) -> datetime:
    return datetime(day.year, day.month, day.day, minute // 60, minute % 60, tzinfo=CST)


@st.composite
def _specs(draw: st.DrawFn) -> ClockSpec:
    accept_day = draw(_ACCEPT_DAYS)
    accepted_at = _moment(accept_day, draw(_MINUTES))
    budget = draw(st.integers(min_value=0, max_value=60))
    pauses = []
    cursor = accepted_at
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        start = cursor + timedelta(days=draw(st.integers(0, 40)), minutes=draw(st.integers(0, 600)))
        end = start + timedelta(days=draw(st.integers(0, 30)), minutes=draw(st.integers(0, 600)))
        pauses.append(Pause(draw(st.sampled_from(PauseKind)), start, end))
        cursor = end
    extension = draw(st.sampled_from([0, 0, 0, 5, 10]))
    return ClockSpec(accepted_at, budget, tuple(pauses), extension)


@settings(max_examples=300, deadline=None)
@given(spec=_specs())
def test_property_a_due_date_is_never_a_non_working_day(calendar: WorkingCalendar, spec: ClockSpec) -> None:
    dl = compute_deadline(calendar, spec)
    assert dl.due_date is not None
    assert calendar.is_working_day(dl.due_date)
    assert dl.due_date >= spec.accepted_at.astimezone(CST).date()
    assert dl.due_at == midnight(dl.due_date.year, dl.due_date.month, dl.due_date.day) + timedelta(days=1)


@settings(max_examples=300, deadline=None)
@given(
    accept_day=_ACCEPT_DAYS,
    accept_minute=_MINUTES,
    budget=st.integers(min_value=1, max_value=60),
    start_pick=st.integers(min_value=0, max_value=10_000),
    length=st.integers(min_value=0, max_value=60),
    start_minute=_MINUTES,
    end_minute=_MINUTES,
)
def test_property_pausing_k_working_days_moves_the_due_date_by_k(
    calendar: WorkingCalendar,
    *,
    accept_day: date,
    accept_minute: int,
    budget: int,
    start_pick: int,
    length: int,
    start_minute: int,
    end_minute: int,
) -> None:
    accepted_at = _moment(accept_day, accept_minute)
    base_due = due(calendar, ClockSpec(accepted_at, budget))
    assert base_due is not None
    # a pause starting after the acceptance day and no later than the due date (the due day is not yet over)
    pause_start = accept_day + timedelta(days=1 + start_pick % (base_due - accept_day).days)
    pause_end = pause_start + timedelta(days=length)
    if length == 0:
        end_minute = max(end_minute, start_minute)
    k = calendar.working_days_between(pause_start - timedelta(days=1), pause_end - timedelta(days=1))  # [A, B)
    paused = ClockSpec(
        accepted_at, budget, (Pause(CORR, _moment(pause_start, start_minute), _moment(pause_end, end_minute)),)
    )
    moved = due(calendar, paused)
    assert moved is not None
    assert calendar.working_days_between(base_due, moved) == k
    assert moved == (base_due if k == 0 else calendar.add_working_days(base_due, k))


@settings(max_examples=200, deadline=None)
@given(spec=_specs(), day_offset=st.integers(min_value=0, max_value=200), minute=_MINUTES)
def test_property_elapsed_plus_remaining_is_the_budget_before_the_due_moment(
    calendar: WorkingCalendar, spec: ClockSpec, day_offset: int, minute: int
) -> None:
    dl = compute_deadline(calendar, spec)
    assert dl.due_at is not None
    accept_day = spec.accepted_at.astimezone(CST).date()
    first = accept_day  # from the acceptance day on: there the whole budget remains
    # the ledger as seen at ``now`` holds only pauses that have already ended
    ended = [p.end for p in spec.pauses if p.end is not None]
    now = max(_moment(first + timedelta(days=day_offset), minute), spec.accepted_at, *ended)
    reading = read_clock(calendar, spec, now, deadline=dl)
    if now < dl.due_at:
        assert reading.elapsed_days + reading.remaining_days == max(spec.total_budget, 1)
        assert reading.remaining_days >= 1
        assert reading.light is not Light.RED
        assert reading.overdue_days == 0
    else:
        assert reading.remaining_days == 0
        assert reading.light is Light.RED
        assert reading.overdue_days == calendar.working_days_between(dl.due_date, now.astimezone(CST).date())


@settings(max_examples=200, deadline=None)
@given(spec=_specs(), policy=st.builds(LightPolicy, st.integers(0, 10), st.floats(0.05, 1.0)))
def test_property_the_light_sequence_is_white_yellow_red(
    calendar: WorkingCalendar, spec: ClockSpec, policy: LightPolicy
) -> None:
    dl = compute_deadline(calendar, spec)
    reading = read_clock(calendar, spec, spec.accepted_at, policy, dl)
    assert dl.due_at is not None
    assert reading.yellow_at is not None
    assert spec.accepted_at <= reading.yellow_at <= dl.due_at
    if reading.yellow_at > spec.accepted_at:
        assert read_clock(calendar, spec, reading.yellow_at - SECOND, policy, dl).light is Light.WHITE
    if reading.yellow_at < dl.due_at:
        assert read_clock(calendar, spec, reading.yellow_at, policy, dl).light is Light.YELLOW
        assert read_clock(calendar, spec, dl.due_at - SECOND, policy, dl).light is Light.YELLOW
    assert read_clock(calendar, spec, dl.due_at, policy, dl).light is Light.RED


# -- regressions -----------------------------------------------------------------------------------------------------


def test_two_pauses_starting_the_same_day(calendar: WorkingCalendar) -> None:
    # a same-day 补正 (costs nothing), then a 暂停 the same day that is still open
    spec = ClockSpec(
        ACCEPT,
        5,
        (
            Pause(CORR, at(2026, 9, 23, 9), at(2026, 9, 23, 11)),
            Pause(PauseKind.SUSPENSION, at(2026, 9, 23, 15)),
        ),
    )
    dl = compute_deadline(calendar, spec)
    assert dl.paused
    assert dl.remaining_at_pause == 4  # only 09-22 counted
    closed = ClockSpec(ACCEPT, 5, (spec.pauses[0], Pause(PauseKind.SUSPENSION, at(2026, 9, 23, 15), at(2026, 9, 24))))
    assert due(calendar, closed) == D(2026, 9, 30)


def test_the_years_of_a_deadline_are_cst_years_whatever_the_time_zone(calendar: WorkingCalendar) -> None:
    from federation.calendar import YearCalendar

    # 2026-12-31 17:00 UTC is 2027-01-01 01:00 CST: a case accepted in 2027, as read back from the database
    accepted_utc = datetime(2026, 12, 31, 17, 0, tzinfo=UTC)
    only_2027 = WorkingCalendar([YearCalendar(2027, frozenset({D(2027, 1, 1)}), frozenset())])
    dl = compute_deadline(only_2027, ClockSpec(accepted_utc, 5))
    assert dl.due_date == D(2027, 1, 8)
    assert dl.missing_years == ()  # 2026 was never touched
    # an open pause that started on 2027-01-01 (CST) reaches into the unpublished 2027
    paused = ClockSpec(at(2026, 12, 21), 20, (Pause(CORR, datetime(2026, 12, 31, 17, 0, tzinfo=UTC)),))
    assert compute_deadline(calendar, paused).missing_years == (2027,)
