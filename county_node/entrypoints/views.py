"""JSON views of cases, clocks and the catalogue: the one shape shared by the HTTP API and ``sunshine case --json``.

Every view is a ``TypedDict`` of JSON values only (strings, numbers, booleans, lists, objects), so it can be
returned by FastAPI (which documents it in OpenAPI) and printed by the CLI with :func:`json.dumps` alike.
Moments are ISO 8601 strings in China Standard Time (``+08:00``); money is a decimal string (``"80.00"``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal, NotRequired, cast

from typing_extensions import TypedDict  # pydantic needs this one on Python < 3.12

from county_node.approval.domain import (
    ACTION_LABELS,
    PAUSED_STATUSES,
    RUNNING_STATUSES,
    STATUS_LABELS,
    Action,
    Case,
    CaseClocks,
    Status,
)
from county_node.approval.services import CaseDetail, CasePage
from federation.clock import LIGHT_LABELS as CLOCK_LIGHT_LABELS
from federation.clock import ClockReading, Light, PauseKind, StoppedClock
from federation.standards import Item
from federation.timeutil import CST

__all__ = [
    "LIGHT_LABELS",
    "PAUSE_LABELS",
    "CaseDetailView",
    "CasePageView",
    "CaseSummaryView",
    "CaseView",
    "ClockView",
    "EventView",
    "ItemView",
    "ReadingView",
    "StoppedView",
    "SummaryView",
    "case_detail_view",
    "case_page_view",
    "case_summary_view",
    "case_view",
    "clock_view",
    "iso",
    "item_view",
    "reading_view",
    "stopped_view",
    "summary_view",
]

LightName = Literal["white", "yellow", "red"]
ReadingLight = Literal["white", "yellow", "red", "none"]  # "none": a stopped clock shows no light

LIGHT_LABELS: Mapping[str, str] = {light.value: label for light, label in CLOCK_LIGHT_LABELS.items()}
PAUSE_LABELS: Mapping[str, str] = {
    PauseKind.CORRECTION.value: "补正",
    PauseKind.SUSPENSION.value: "暂停",
    PauseKind.SPECIAL_PROCEDURE.value: "特别程序",
}


class JointDepartmentView(TypedDict):
    department: str
    limit_days: int


class ItemView(TypedDict):
    """事项 of the catalogue (``federation.standards.Item.to_dict``)."""

    code: str
    name: str
    department: str
    kind: Literal["instant", "promised", "joint"]
    legal_limit_days: int
    promised_limit_days: int
    fee_yuan: str
    key_fields: list[str]
    joint_departments: NotRequired[list[JointDepartmentView]]


class StoppedView(TypedDict):
    """A stopped clock (decided, concluded, a joint department done): what it used and whether it kept its limit."""

    at: str  # the moment it stopped
    used_days: int  # working days used: acceptance day and paused days not counted, the stopping day counted
    in_time: bool
    overdue_days: int


class ReadingView(TypedDict):
    """One clock read at ``as_of``: where its budget runs out, what is left, and the light — or, once it stopped,
    ``stopped`` (what it used, in time or not), with ``light`` "none" and nothing remaining."""

    due_date: str | None  # last working day of the budget (None while an open pause holds the clock)
    due_at: str | None  # 24:00 of due_date, i.e. 00:00 of the next day
    paused: bool
    remaining_days: int
    elapsed_days: int
    overdue_days: int
    light: ReadingLight
    yellow_at: str | None
    budget_days: int  # total budget in working days, extension included
    calendar_version: str
    provisional: bool
    warnings: list[str]
    stopped: StoppedView | None


class ClockView(TypedDict):
    """The clocks of an accepted case. ``state``: ``running``, ``paused`` or ``stopped`` (decided or concluded:
    ``stopped_by`` names the status, and every reading shows what it used instead of a light)."""

    state: Literal["running", "paused", "stopped"]
    stopped_by: str | None
    stopped_label: str | None
    promised: ReadingView
    legal: ReadingView
    tasks: dict[str, ReadingView]


class PauseView(TypedDict):
    n: int
    kind: str
    kind_label: str
    started_at: str
    ended_at: str | None
    reason: str


class TaskView(TypedDict):
    department: str
    limit_days: int
    status: str
    started_at: str | None
    completed_at: str | None
    outcome: str | None
    opinion: str | None


class CaseView(TypedDict):
    case_no: str
    origin: str
    item_code: str
    item_name: str
    department: str
    kind: str
    standards_version: str
    status: str
    status_label: str
    resume_status: str | None
    applicant: str
    window: str | None
    data: dict[str, str]
    key_fields: list[str]
    submitted_at: str
    accepted_at: str | None
    decided_at: str | None
    concluded_at: str | None
    decision: str | None
    fee_standard: str
    fee_charged: str | None
    legal_budget: int
    promised_budget: int
    extension_days: int
    extension_reason: str | None
    extension_approver: str | None
    extended_at: str | None
    event_count: int
    updated_at: str | None
    pauses: list[PauseView]
    tasks: list[TaskView]


class EventView(TypedDict):
    event_id: str
    n: int
    action: str
    action_label: str
    actor: str
    at: str
    from_status: str | None
    to_status: str
    to_status_label: str
    payload: dict[str, Any]


class CaseDetailView(TypedDict):
    case: CaseView
    clock: ClockView | None
    timeline: list[EventView]
    as_of: str


class CaseSummaryView(TypedDict):
    case_no: str
    item_code: str
    item_name: str
    department: str
    status: str
    status_label: str
    applicant: str
    submitted_at: str
    light: LightName | None  # the promised clock's light while the case is under the clock, else None
    due_at: str | None  # the promised clock's due moment; None before acceptance or while paused


class CasePageView(TypedDict):
    items: list[CaseSummaryView]
    total: int
    page: int
    page_size: int
    as_of: str


class SummaryView(TypedDict):
    as_of: str
    by_status: dict[str, int]
    by_light: dict[str, int]
    status_labels: dict[str, str]
    light_labels: dict[str, str]


def iso(moment: datetime) -> str:
    """An aware moment as ISO 8601 in China Standard Time (``2026-09-21T09:00:00+08:00``)."""
    return moment.astimezone(CST).isoformat()


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else iso(moment)


def _money(amount: Any) -> str | None:
    return None if amount is None else f"{amount:.2f}"


def item_view(item: Item) -> ItemView:
    return cast(ItemView, item.to_dict())


def stopped_view(stopped: StoppedClock) -> StoppedView:
    return {
        "at": iso(stopped.at),
        "used_days": stopped.used_days,
        "in_time": stopped.in_time,
        "overdue_days": stopped.overdue_days,
    }


def reading_view(reading: ClockReading, stopped: StoppedClock | None = None) -> ReadingView:
    dl = reading.deadline
    return {
        "due_date": None if dl.due_date is None else dl.due_date.isoformat(),
        "due_at": _iso(dl.due_at),
        "paused": dl.paused,
        "remaining_days": 0 if stopped is not None else reading.remaining_days,
        "elapsed_days": reading.elapsed_days,
        "overdue_days": reading.overdue_days,
        "light": "none" if stopped is not None else reading.light.value,
        "yellow_at": None if stopped is not None else _iso(reading.yellow_at),
        "budget_days": dl.total_budget,
        "calendar_version": dl.calendar_version,
        "provisional": dl.provisional,
        "warnings": list(dl.warnings),
        "stopped": None if stopped is None else stopped_view(stopped),
    }


def clock_view(clocks: CaseClocks | None) -> ClockView | None:
    if clocks is None:
        return None
    state: Literal["running", "paused", "stopped"] = "running"
    if clocks.stopped_by is not None:
        state = "stopped"
    elif clocks.promised.deadline.paused:
        state = "paused"
    stops = clocks.stopped
    return {
        "state": state,
        "stopped_by": None if clocks.stopped_by is None else clocks.stopped_by.value,
        "stopped_label": None if clocks.stopped_by is None else STATUS_LABELS[clocks.stopped_by],
        "promised": reading_view(clocks.promised, stops.get("promised")),
        "legal": reading_view(clocks.legal, stops.get("legal")),
        "tasks": {dept: reading_view(r, stops.get(f"task:{dept}")) for dept, r in clocks.tasks.items()},
    }


def case_view(case: Case) -> CaseView:
    return {
        "case_no": case.case_no,
        "origin": case.origin,
        "item_code": case.item_code,
        "item_name": case.item_name,
        "department": case.department,
        "kind": case.kind.value,
        "standards_version": case.standards_version,
        "status": case.status.value,
        "status_label": STATUS_LABELS[case.status],
        "resume_status": None if case.resume_status is None else case.resume_status.value,
        "applicant": case.applicant,
        "window": case.window,
        "data": dict(case.data),
        "key_fields": list(case.key_fields),
        "submitted_at": iso(case.submitted_at),
        "accepted_at": _iso(case.accepted_at),
        "decided_at": _iso(case.decided_at),
        "concluded_at": _iso(case.concluded_at),
        "decision": case.decision,
        "fee_standard": f"{case.fee_standard:.2f}",
        "fee_charged": _money(case.fee_charged),
        "legal_budget": case.legal_budget,
        "promised_budget": case.promised_budget,
        "extension_days": case.extension_days,
        "extension_reason": case.extension_reason,
        "extension_approver": case.extension_approver,
        "extended_at": _iso(case.extended_at),
        "event_count": case.event_count,
        "updated_at": _iso(case.updated_at),
        "pauses": [
            {
                "n": p.n,
                "kind": p.kind.value,
                "kind_label": PAUSE_LABELS[p.kind.value],
                "started_at": iso(p.started_at),
                "ended_at": _iso(p.ended_at),
                "reason": p.reason,
            }
            for p in case.pauses
        ],
        "tasks": [
            {
                "department": t.department,
                "limit_days": t.limit_days,
                "status": t.status,
                "started_at": _iso(t.started_at),
                "completed_at": _iso(t.completed_at),
                "outcome": t.outcome,
                "opinion": t.opinion,
            }
            for t in case.tasks
        ],
    }


def event_view(row: Mapping[str, Any]) -> EventView:
    """One timeline row (as read by the repository) with its Chinese labels."""
    to_status = Status(row["to_status"])
    n = int(row["n"])
    return {
        "event_id": f"{row['case_no']}#{n:04d}",
        "n": n,
        "action": str(row["action"]),
        "action_label": ACTION_LABELS[Action(row["action"])],
        "actor": str(row["actor"]),
        "at": iso(row["at"]),
        "from_status": row["from_status"],
        "to_status": to_status.value,
        "to_status_label": STATUS_LABELS[to_status],
        "payload": dict(row["payload"] or {}),
    }


def case_detail_view(detail: CaseDetail) -> CaseDetailView:
    return {
        "case": case_view(detail.case),
        "clock": clock_view(detail.clocks),
        "timeline": [event_view(e) for e in detail.events],
        "as_of": iso(detail.as_of),
    }


def case_summary_view(case: Case, clocks: CaseClocks | None) -> CaseSummaryView:
    """A list row. The light is that of a case still under the clock (accepted, in review or paused), the same
    set the ``light`` filter and the summary count; a decided or concluded case shows none (its detail keeps
    the clock as read at the decision)."""
    promised = None if clocks is None else clocks.promised
    lit = promised is not None and case.status in RUNNING_STATUSES | PAUSED_STATUSES
    return {
        "case_no": case.case_no,
        "item_code": case.item_code,
        "item_name": case.item_name,
        "department": case.department,
        "status": case.status.value,
        "status_label": STATUS_LABELS[case.status],
        "applicant": case.applicant,
        "submitted_at": iso(case.submitted_at),
        "light": promised.light.value if lit and promised is not None else None,
        "due_at": None if promised is None else _iso(promised.deadline.due_at),
    }


def case_page_view(page: CasePage) -> CasePageView:
    return {
        "items": [case_summary_view(c, clocks) for c, clocks in page.items],
        "total": page.total,
        "page": page.page,
        "page_size": page.page_size,
        "as_of": iso(page.as_of),
    }


def summary_view(summary: Mapping[str, Any]) -> SummaryView:
    """Counts by status (every status, zeros included) and by light of the open cases."""
    by_status = {s.value: 0 for s in Status}
    by_status.update({str(k): int(v) for k, v in summary["by_status"].items()})
    by_light = {lt.value: 0 for lt in Light}
    by_light.update({str(k): int(v) for k, v in summary["by_light"].items()})
    return {
        "as_of": iso(summary["as_of"]),
        "by_status": by_status,
        "by_light": by_light,
        "status_labels": {s.value: label for s, label in STATUS_LABELS.items()},
        "light_labels": dict(LIGHT_LABELS),
    }
