"""A decided or concluded case shows that its clock stopped — what it used, in time or late — never remaining time
or a light (issue 17: a concluded case showed "剩余 1 个工作日 … 黄灯（预警）").

Pure: cases built with the approval domain on the seeded 2026 calendar, rendered by the views and the CLI text.
Working days around National Day: Wed 09-30 | 10-01 … 10-07 off | Thu 10-08, Fri 10-09, Sat 10-10 (make-up) …
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from county_node.approval.domain import Action, Case, Status, apply_action, case_clocks, new_case
from county_node.entrypoints.case_output import print_case_detail
from county_node.entrypoints.views import CaseDetailView, case_view, clock_view, iso
from federation.calendar import WorkingCalendar
from federation.clock import ClockSpec, LightPolicy, Pause, PauseKind, read_clock, stopped_clock
from federation.standards import StandardsBundle
from federation.timeutil import CST

BUILD = "XK00005000"  # 建筑工程施工许可证核发: promised 3, legal 7
DATA = {"项目代码": "2026-371122-47-01-000001", "施工单位": "莒县建工"}
POLICY = LightPolicy()


def at(m: int, d: int, hh: int = 9) -> datetime:
    return datetime(2026, m, d, hh, tzinfo=CST)


def build_case(bundle: StandardsBundle, *steps: tuple[Action, datetime, dict[str, Any]]) -> Case:
    case = new_case(
        case_no="371122-20260930-000001",
        origin="371122",
        item=bundle.item(BUILD),
        standards_version="2026.09.1",
        applicant="张三",
        data=DATA,
        actor="窗口 1",
        now=at(9, 30, 8),
    ).case
    for action, when, params in steps:
        case = apply_action(case, action, actor="审批员 王五", now=when, params=params).case
    return case


def decided(bundle: StandardsBundle, decide_at: datetime, *, conclude_at: datetime | None = None) -> Case:
    steps: list[tuple[Action, datetime, dict[str, Any]]] = [
        (Action.ACCEPT, at(9, 30), {}),
        (Action.REVIEW, at(10, 8), {}),
        (Action.DECIDE, decide_at, {"outcome": "approve"}),
    ]
    if conclude_at is not None:
        steps.append((Action.CONCLUDE, conclude_at, {}))
    return build_case(bundle, *steps)


def text(case: Case, calendar: WorkingCalendar, now: datetime) -> list[str]:
    view: CaseDetailView = {
        "case": case_view(case),
        "clock": clock_view(case_clocks(case, calendar, now, POLICY)),
        "timeline": [],
        "as_of": iso(now),
    }
    lines: list[str] = []
    print_case_detail(view, lines.append)
    return lines


# -- the domain ----------------------------------------------------------------------------------------------------


def test_stopped_clock_counts_the_working_days_used_like_the_budget(calendar: WorkingCalendar) -> None:
    spec = ClockSpec(at(9, 30), 3)  # due Sat 10-10 24:00
    for stop, used, late, overdue in [
        (at(9, 30, 17), 0, False, 0),  # the acceptance day is not counted
        (at(10, 4), 0, False, 0),  # in the holiday: nothing used yet
        (at(10, 9, 17), 2, False, 0),  # 10-08, 10-09
        (at(10, 10, 23), 3, False, 0),  # the due day itself, before 24:00: in time
        (at(10, 12, 10), 4, True, 1),  # Monday after the due day: one working day late
    ]:
        s = stopped_clock(calendar, spec, read_clock(calendar, spec, stop, POLICY))
        assert (s.used_days, s.late, s.in_time, s.overdue_days, s.at) == (used, late, not late, overdue, stop), stop
    # a correction [10-08, 10-12) gives back 10-08, 10-09, 10-10: stopped Tuesday 10-13 → 10-12, 10-13 used
    paused = ClockSpec(at(9, 30), 3, (Pause(PauseKind.CORRECTION, at(10, 8), at(10, 12)),))
    s = stopped_clock(calendar, paused, read_clock(calendar, paused, at(10, 13, 16), POLICY))
    assert (s.used_days, s.in_time) == (2, True)


@pytest.mark.parametrize("concluded", [False, True])
def test_a_decided_or_concluded_case_has_stopped_clocks(
    bundle: StandardsBundle, calendar: WorkingCalendar, concluded: bool
) -> None:
    case = decided(bundle, at(10, 10, 10), conclude_at=at(10, 10, 16) if concluded else None)
    clocks = case_clocks(case, calendar, at(11, 20), POLICY)
    assert clocks is not None
    assert not clocks.running
    assert clocks.stopped_by is (Status.CONCLUDED if concluded else Status.APPROVED)
    assert clocks.stopped["promised"].used_days == 3
    assert clocks.stopped["promised"].in_time
    assert clocks.stopped["legal"].in_time
    running = case_clocks(build_case(bundle, (Action.ACCEPT, at(9, 30), {})), calendar, at(10, 9), POLICY)
    assert running is not None
    assert running.running
    assert running.stopped == {}


# -- the HTTP view and the CLI -------------------------------------------------------------------------------------


def test_a_concluded_case_shows_its_clock_stopped_not_remaining_time_or_a_light(
    bundle: StandardsBundle, calendar: WorkingCalendar
) -> None:
    # concluded on its due day: read at the conclusion the light was yellow, one day "remaining" — the bug
    case = decided(bundle, at(10, 10, 10), conclude_at=at(10, 10, 16))
    view = clock_view(case_clocks(case, calendar, at(11, 20), POLICY))
    assert view is not None
    assert (view["state"], view["stopped_by"], view["stopped_label"]) == ("stopped", "concluded", "已办结")
    promised = view["promised"]
    assert promised["light"] == "none"
    assert promised["remaining_days"] == 0
    assert promised["yellow_at"] is None
    assert promised["stopped"] == {
        "at": "2026-10-10T16:00:00+08:00",
        "used_days": 3,
        "in_time": True,
        "overdue_days": 0,
    }
    lines = text(case, calendar, at(11, 20))
    clock_lines = "\n".join(lines)
    assert "承诺时限 3 个工作日，截止 2026-10-10 24:00，已办结：用时 3 个工作日，按时" in clock_lines
    assert "法定时限 7 个工作日" in clock_lines
    assert "计时已停止（已办结，2026-10-10 16:00）" in clock_lines
    assert "剩余" not in clock_lines
    assert "灯" not in clock_lines


def test_a_late_decision_shows_how_late(bundle: StandardsBundle, calendar: WorkingCalendar) -> None:
    case = decided(bundle, at(10, 13, 10))  # due 10-10 24:00; Monday 10-12 and Tuesday 10-13 past it
    view = clock_view(case_clocks(case, calendar, at(11, 20), POLICY))
    assert view is not None
    assert (view["state"], view["stopped_label"], view["promised"]["light"]) == ("stopped", "准予许可", "none")
    assert view["promised"]["stopped"] is not None
    assert not view["promised"]["stopped"]["in_time"]
    assert "准予许可：用时 5 个工作日，超时 2 个工作日" in "\n".join(text(case, calendar, at(11, 20)))


def test_a_running_case_still_shows_remaining_time_and_its_light(
    bundle: StandardsBundle, calendar: WorkingCalendar
) -> None:
    case = build_case(bundle, (Action.ACCEPT, at(9, 30), {}))
    view = clock_view(case_clocks(case, calendar, at(10, 10, 10), POLICY))
    assert view is not None
    assert (view["state"], view["stopped_by"], view["promised"]["stopped"]) == ("running", None, None)
    assert view["promised"]["light"] == "yellow"
    assert "剩余 1 个工作日（含当日），黄灯（预警）" in "\n".join(text(case, calendar, at(10, 10, 10)))


@pytest.mark.parametrize(
    ("action", "params", "shown"),
    [
        (Action.REFUSE_ACCEPTANCE, {"reason": "不属于本机关职权范围"}, "不予受理，未计时"),
        (Action.RETURN, {"reason": "材料不齐"}, "已退回，计时终止"),
    ],
)
def test_a_refused_or_returned_case_says_so_instead_of_not_yet_accepted(
    bundle: StandardsBundle, calendar: WorkingCalendar, action: Action, params: dict[str, Any], shown: str
) -> None:
    case = build_case(bundle, (action, at(9, 30), params))
    lines = "\n".join(text(case, calendar, at(10, 20)))
    assert shown in lines
    assert "尚未受理" not in lines
