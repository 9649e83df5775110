"""Complaints (投诉) against a case, a window or a staff member, and the rule that watches their response limit.

A complaint's response limit is counted in working days like the case clock (``docs/case-clock.md``): the day
it is filed is not counted, the limit ends at 24:00 of its last working day. New complaints take their limit from
the ``complaint_response_days`` parameter unless the province sets one for the complaint. A :class:`Complaint` is
the record as stored (and replicated); its lifecycle is in :mod:`county_node.supervision.domain.feedback`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from county_node.supervision.domain.model import Verdict
from county_node.supervision.domain.parameters import SupervisionParameters
from county_node.supervision.domain.records import History
from federation.calendar import WorkingCalendar
from federation.clock import ClockSpec, Light, read_clock
from federation.errors import ValidationError

__all__ = [
    "MAX_LIMIT_DAYS",
    "Complaint",
    "ComplaintFacts",
    "ComplaintStatus",
    "ComplaintTarget",
    "complaint_unanswered",
]

MAX_LIMIT_DAYS = 250
"""The longest answer limit of a complaint, in working days (about a year; a longer one would leave the calendar)."""


class ComplaintTarget(enum.StrEnum):
    """What a complaint is against."""

    CASE = "case"  # 办件
    WINDOW = "window"  # 窗口
    STAFF = "staff"  # 工作人员


class ComplaintStatus(enum.StrEnum):
    OPEN = "open"  # 待答复
    ANSWERED = "answered"  # 已答复
    CLOSED = "closed"  # 已办结


def _aware(moment: datetime, name: str) -> None:
    if moment.tzinfo is None:
        raise ValidationError(f"{name} 必须带时区", field=name)


@dataclass(frozen=True, slots=True, kw_only=True)
class Complaint:
    """投诉: against ``target`` (a case number, a window id or a staff id), answered within ``limit_days``
    working days of ``filed_at`` (``due_at``, the end of that limit, is kept for the sweep's index)."""

    complaint_id: str
    origin: str
    target: ComplaintTarget
    target_id: str
    case_no: str | None
    complainant: str
    content: str
    channel: str
    status: ComplaintStatus
    limit_days: int
    filed_at: datetime
    due_at: datetime | None
    answered_at: datetime | None
    answered_by: str | None
    answer: str | None
    closed_at: datetime | None
    standards_version: str | None
    history: History
    updated_at: datetime

    def __post_init__(self) -> None:
        if not self.complaint_id.strip():
            raise ValidationError("缺少投诉编号", field="complaint_id")
        if not self.target_id.strip():
            raise ValidationError("缺少投诉对象", field="target_id")
        if (
            isinstance(self.limit_days, bool)
            or not isinstance(self.limit_days, int)
            or not 0 <= self.limit_days <= MAX_LIMIT_DAYS
        ):
            raise ValidationError(f"投诉答复时限应为 0 到 {MAX_LIMIT_DAYS} 个工作日", field="limit_days")
        _aware(self.filed_at, "filed_at")
        if self.answered_at is not None:
            _aware(self.answered_at, "answered_at")
            if self.answered_at < self.filed_at:
                raise ValidationError("答复时间早于投诉时间", field="answered_at")

    def clock_spec(self) -> ClockSpec:
        return ClockSpec(self.filed_at, self.limit_days)


@dataclass(frozen=True, slots=True)
class ComplaintFacts:
    complaint: Complaint
    now: datetime
    calendar: WorkingCalendar
    params: SupervisionParameters


def complaint_unanswered(f: ComplaintFacts) -> Verdict:
    """SUP-101 投诉超时未答复: no answer by the end of the response limit, or an answer that came after it.

    The complaint is read as of ``now``: an answer recorded after ``now`` is not yet known.
    """
    c = f.complaint
    answered = c.answered_at if c.answered_at is not None and c.answered_at <= f.now else None
    reading = read_clock(f.calendar, c.clock_spec(), answered or f.now, f.params.light_policy)
    fired = reading.light is Light.RED
    wake = reading.deadline.due_at if answered is None and not fired else None
    return Verdict(
        fired,
        (c.complaint_id,),
        reading,
        Light.RED,
        wake,
        {"target": c.target.value, "target_id": c.target_id, "answered": answered is not None},
    )
