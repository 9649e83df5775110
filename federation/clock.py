"""The case clock (办件时钟): a working-day budget plus a ledger of pauses; everything else is derived.

Pure: dates and numbers only. The counting convention (see ``docs/case-clock.md`` for the legal basis):

* Limits are counted in **working days** of the published calendar (行政许可法 Art. 82). The day of
  acceptance is **not** counted; counting starts the next day (民法典 Art. 201 ①: 开始的当日不计入).
* The limit expires at **24:00 of its last working day** (民法典 Art. 203) — ``due_at`` is that instant,
  i.e. 00:00 China Standard Time of the following calendar day.
* An instant item (即办件, budget 0) is due by 24:00 of the day of acceptance, or of the next working day when
  it was accepted on a non-working day.
* A pause (补正, 暂停, 特别程序) started on day A and ended on day B stops the clock for the working days in
  **[A, B)**: the day the pause starts does not count, the day the case resumes counts again. A pause started
  and ended on the same day therefore costs nothing; a pause that covers k working days moves the due date by
  exactly k working days. An open pause freezes the remaining budget until it ends.
* One extension (延期) adds its working days to the budget.
* A pause that starts after the due date cannot rescue a case that is already overdue.

``due``, ``remaining`` and the light are derived from budget + ledger + calendar + now; nothing here stores
"overdue". Every :class:`Deadline` names the calendar version that produced it and flags a deadline that
reaches into a year the province has not published (provisional weekday rule).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from operator import itemgetter
from typing import NamedTuple

from federation.calendar import WorkingCalendar
from federation.errors import ValidationError
from federation.timeutil import local_ordinal, start_of_local_day

__all__ = [
    "LIGHT_LABELS",
    "ClockReading",
    "ClockSpec",
    "Deadline",
    "Light",
    "LightPolicy",
    "Pause",
    "PauseKind",
    "StoppedClock",
    "compute_deadline",
    "missing_year_warning",
    "read_clock",
    "stopped_clock",
]


class PauseKind(enum.StrEnum):
    """Why the clock stopped."""

    CORRECTION = "correction"  # 补正
    SUSPENSION = "suspension"  # 暂停
    SPECIAL_PROCEDURE = "special_procedure"  # 特别程序（听证、检验检测、专家评审…）


class Light(enum.StrEnum):
    WHITE = "white"
    YELLOW = "yellow"
    RED = "red"


LIGHT_LABELS = {Light.WHITE: "白灯（正常）", Light.YELLOW: "黄灯（预警）", Light.RED: "红灯（超期）"}


@dataclass(frozen=True, slots=True)
class Pause:
    kind: PauseKind
    start: datetime
    end: datetime | None = None


@dataclass(frozen=True, slots=True)
class LightPolicy:
    """Thresholds of the light: yellow when ≤ ``yellow_days`` working days remain (today included) or when
    at least ``yellow_share`` of the budget is used; red when the due moment has passed."""

    yellow_days: int = 1
    yellow_share: float = 0.8

    def __post_init__(self) -> None:
        if self.yellow_days < 0:
            raise ValidationError("黄灯阈值天数不能为负数", yellow_days=self.yellow_days)
        if not 0 < self.yellow_share <= 1:
            raise ValidationError("黄灯阈值比例必须在 0 到 1 之间", yellow_share=self.yellow_share)


@dataclass(frozen=True, slots=True)
class ClockSpec:
    """What the clock is computed from: acceptance, budget, extension and the pause ledger."""

    accepted_at: datetime
    budget_days: int
    pauses: Sequence[Pause] = ()
    extension_days: int = 0

    @property
    def total_budget(self) -> int:
        return self.budget_days + self.extension_days


class Deadline(NamedTuple):
    """Where the budget runs out. ``due_date``/``due_at`` are None while an open pause holds the clock.

    A named tuple rather than a frozen dataclass: the province recomputes millions of these, and tuple
    construction is several times cheaper.
    """

    due_date: date | None
    due_at: datetime | None
    paused: bool
    remaining_at_pause: int | None  # working days still to run when the open pause ends
    total_budget: int
    calendar_version: str
    missing_years: tuple[int, ...]
    due_ordinal: int | None = None

    @property
    def provisional(self) -> bool:
        return bool(self.missing_years)

    @property
    def warnings(self) -> tuple[str, ...]:
        return tuple(missing_year_warning(y) for y in self.missing_years)


@dataclass(frozen=True, slots=True)
class ClockReading:
    """The clock read at a moment: remaining working days (today included), light, overdue days."""

    deadline: Deadline
    as_of: datetime
    remaining_days: int
    elapsed_days: int
    overdue_days: int
    light: Light
    yellow_at: datetime | None  # when the light turns (or turned) yellow; None while paused

    @property
    def overdue(self) -> bool:
        return self.light is Light.RED


def missing_year_warning(year: int) -> str:
    return f"{year} 年节假日安排尚未发布，涉及该年的期限按周一至周五临时推算，发布后将重新计算"


def _pause_ordinals(pauses: Sequence[Pause]) -> list[tuple[int, int | None]]:
    out = [(local_ordinal(p.start), None if p.end is None else local_ordinal(p.end)) for p in pauses]
    out.sort(key=lambda ab: ab[0])
    return out


@lru_cache(maxsize=65536)
def _day_start(ordinal: int) -> datetime:
    return start_of_local_day(ordinal)


def _exclusions(pauses: Sequence[Pause]) -> list[tuple[int, int | None]]:
    """The pause ledger as excluded ordinal spans: a pause excludes the working days in [start, end), i.e. the
    ordinals in (start - 1, end - 1]."""
    exclusions = [(local_ordinal(p.start) - 1, None if p.end is None else local_ordinal(p.end) - 1) for p in pauses]
    if len(exclusions) > 1:
        # by start only: two pauses can start the same day (a same-day 补正, then a still-open 暂停), and
        # comparing their ends would compare None with an int
        exclusions.sort(key=itemgetter(0))
    return exclusions


def compute_deadline(calendar: WorkingCalendar, spec: ClockSpec) -> Deadline:
    """Derive the due date of ``spec`` on ``calendar`` in O(pauses) array look-ups."""
    remaining = spec.budget_days + spec.extension_days
    if spec.budget_days < 0 or spec.extension_days < 0:
        raise ValidationError("时限天数不能为负数", budget_days=spec.budget_days)
    accept = local_ordinal(spec.accepted_at)
    cursor = accept
    if remaining == 0:  # instant: the day of acceptance itself counts
        remaining = 1
        cursor = accept - 1
    if spec.pauses:
        due, left = calendar.run_budget(cursor, remaining, _exclusions(spec.pauses))
    else:
        due, left = calendar.run_budget(cursor, remaining)
    year = date.fromordinal(accept).year  # the CST year, whatever the time zone of accepted_at
    if due is None:
        last = max(year, *(date.fromordinal(local_ordinal(p.start)).year for p in spec.pauses))
        return Deadline(None, None, True, left, spec.total_budget, calendar.version, calendar.missing_years(year, last))
    due_date = date.fromordinal(due)
    return Deadline(
        due_date,
        _day_start(due + 1),
        False,
        None,
        spec.total_budget,
        calendar.version,
        calendar.missing_years(min(year, due_date.year), due_date.year),
        due,
    )


def _yellow_threshold(total_budget: int, policy: LightPolicy) -> int:
    """Remaining working days (today included) at or below which the light is yellow — once the budget is in use
    (see :func:`read_clock`)."""
    by_share = total_budget - math.ceil(policy.yellow_share * total_budget - 1e-9)
    return max(policy.yellow_days, by_share)


def _first_counted_day(calendar: WorkingCalendar, spec: ClockSpec, start: int) -> int:
    """Ordinal of the first working day counted in the budget of ``spec`` (after ``start``, pauses skipped)."""
    if spec.pauses:
        day, _ = calendar.run_budget(start, 1, _exclusions(spec.pauses))
    else:
        day, _ = calendar.run_budget(start, 1)
    # not paused at its due moment, so not held before its first day either
    assert day is not None
    return day


def read_clock(
    calendar: WorkingCalendar,
    spec: ClockSpec,
    now: datetime,
    policy: LightPolicy = LightPolicy(),
    deadline: Deadline | None = None,
) -> ClockReading:
    """Read the clock at ``now``: remaining and elapsed working days, overdue days and the light.

    The light is red from the due moment. Before it, it is yellow once the budget is **in use** — its first
    counted working day has begun (for an instant item: its one day, the acceptance day) — **and** at most
    ``policy.yellow_days`` working days remain (today included) or at least ``policy.yellow_share`` of the budget
    is used. A case whose whole budget is within the thresholds (a 1-day case under ``yellow_days`` 1) is
    therefore white on its acceptance day and turns yellow at 00:00 of its first counted working day, never at
    acceptance. A paused case is yellow when it was in use before the pause and within the thresholds.
    """
    dl = deadline if deadline is not None else compute_deadline(calendar, spec)
    total = dl.total_budget
    threshold = _yellow_threshold(total, policy)
    if dl.paused:
        remaining = dl.remaining_at_pause if dl.remaining_at_pause is not None else 0
        elapsed = max(0, total - remaining)  # an instant item's one counted day is not "elapsed" budget
        # the budget is in use when a working day of it was counted before the pause (the pause gives back the
        # day it starts on); an instant item's one day counts as remaining
        in_use = remaining < max(total, 1)
        light = Light.YELLOW if in_use and remaining <= threshold else Light.WHITE
        return ClockReading(dl, now, remaining, elapsed, 0, light, None)
    assert dl.due_ordinal is not None
    due = dl.due_ordinal
    today = local_ordinal(now)
    accept = local_ordinal(spec.accepted_at)
    # counting starts after ``start`` (the acceptance day; the day before it for an instant item, whose
    # acceptance day itself counts), so on the acceptance day the whole budget remains
    start = accept if total > 0 else accept - 1
    cum_due = calendar.cum(due)
    cum_start = calendar.cum(start)
    if today <= due:
        remaining = cum_due - (calendar.cum(today - 1) if today - 1 > start else cum_start)
        overdue = 0
    else:
        remaining = 0
        overdue = calendar.count(due, today)
    elapsed = max(0, total - remaining)
    # first day on which remaining <= threshold: the day after the working day whose running count is
    # cum_due - threshold — unless that holds from the start (the whole budget is within the thresholds, e.g. a
    # 1-day case with yellow_days 1): then the day the budget comes into use, its first counted working day
    k = cum_due - threshold
    if k < 1 or cum_start >= k:
        yellow_day = _first_counted_day(calendar, spec, start)
    else:
        yellow_day = max(accept, calendar.nth_working(k) + 1)
    yellow_at = max(start_of_local_day(yellow_day), spec.accepted_at)
    if dl.due_at is not None and now >= dl.due_at:
        light = Light.RED
    elif now >= yellow_at:
        light = Light.YELLOW
    else:
        light = Light.WHITE
    return ClockReading(dl, now, remaining, elapsed, overdue, light, yellow_at)


@dataclass(frozen=True, slots=True)
class StoppedClock:
    """A clock stopped at ``at`` (the decision, the conclusion, a joint department's completion): the working days
    it used — counted like the budget: the acceptance day not counted, paused days not counted, the stopping day
    counted — and whether it kept its limit. Derived from the reading at the stopping moment, never stored."""

    at: datetime
    used_days: int
    budget_days: int
    late: bool  # stopped at or after the due moment
    overdue_days: int  # working days past the last day of the budget, up to the stopping day

    @property
    def in_time(self) -> bool:
        return not self.late


def stopped_clock(calendar: WorkingCalendar, spec: ClockSpec, reading: ClockReading) -> StoppedClock:
    """``reading`` — ``spec`` read at the moment its clock stopped — as a stopped clock (用时、按时 / 超时)."""
    total = reading.deadline.total_budget
    accept = local_ordinal(spec.accepted_at)
    start = accept if total > 0 else accept - 1
    stop = local_ordinal(reading.as_of)
    used = max(0, calendar.count(start, stop))
    for lo, hi in _exclusions(spec.pauses) if spec.pauses else ():
        after, upto = max(lo, start), min(stop if hi is None else hi, stop)
        if upto > after:
            used -= calendar.count(after, upto)
    return StoppedClock(reading.as_of, max(0, used), total, reading.light is Light.RED, reading.overdue_days)
