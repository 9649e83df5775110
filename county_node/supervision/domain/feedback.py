"""The lifecycle of complaints (投诉) and ratings (好差评) — pure functions from one record to the next.

Complaint: ``open`` (待答复) ──answer──▶ ``answered`` (已答复) ──close──▶ ``closed`` (已办结). The response limit
(working days, ``complaint_response_days`` unless given) runs from filing to the answer; SUP-101 watches it.

Rating: a level 5 … 1; a negative one (≤ ``negative_rating_max_level``) is ``follow_up_pending`` (待回访)
──follow_up──▶ ``followed_up`` (已回访) within ``rating_follow_up_days``; SUP-201 watches it. Others are
``recorded``. One rating per case and staff member.

Every step appends {action, actor, at, reason} to the record's ``history``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from county_node.supervision.domain.complaints import Complaint, ComplaintStatus, ComplaintTarget
from county_node.supervision.domain.ratings import RATING_LABELS, Rating, RatingStatus, check_level
from county_node.supervision.domain.records import history_entry, required_text
from federation.errors import InvalidTransition, ValidationError

__all__ = [
    "COMPLAINT_STATUS_LABELS",
    "RATING_STATUS_LABELS",
    "answer_complaint",
    "close_complaint",
    "follow_up_rating",
    "new_complaint",
    "new_rating",
]

COMPLAINT_STATUS_LABELS: Mapping[str, str] = {
    ComplaintStatus.OPEN.value: "待答复",
    ComplaintStatus.ANSWERED.value: "已答复",
    ComplaintStatus.CLOSED.value: "已办结",
}
RATING_STATUS_LABELS: Mapping[str, str] = {
    RatingStatus.RECORDED.value: "已记录",
    RatingStatus.FOLLOW_UP_PENDING.value: "待回访",
    RatingStatus.FOLLOWED_UP.value: "已回访",
}
CHANNELS = frozenset({"window", "web", "app", "phone", "sms", "12345", "kiosk"})


def _channel(value: Any) -> str:
    if value not in CHANNELS:
        raise ValidationError(f"未知的渠道“{value}”（{'、'.join(sorted(CHANNELS))}）", field="channel")
    return str(value)


def _actor(value: Any) -> str:
    return required_text(value, "actor", "操作人", limit=100)


def _later(updated_at: datetime, at: datetime, what: str) -> None:
    if at < updated_at:
        raise ValidationError(f"操作时间早于{what}的最后变更时间", at=at.isoformat())


# -- complaints -----------------------------------------------------------------------------------------------


def new_complaint(
    *,
    complaint_id: str,
    origin: str,
    target: str,
    target_id: str,
    case_no: str | None,
    complainant: str,
    content: str,
    channel: str,
    limit_days: int,
    due_at: datetime,
    standards_version: str | None,
    actor: str,
    now: datetime,
) -> Complaint:
    """A newly filed complaint (``open``)."""
    try:
        kind = ComplaintTarget(target)
    except ValueError:
        raise ValidationError(f"未知的投诉对象类型“{target}”（case 办件、window 窗口、staff 工作人员）") from None
    subject = required_text(target_id, "target_id", "投诉对象")
    return Complaint(
        complaint_id=complaint_id,
        origin=origin,
        target=kind,
        target_id=subject,
        case_no=case_no,
        complainant=required_text(complainant, "complainant", "投诉人", limit=200),
        content=required_text(content, "content", "投诉内容"),
        channel=_channel(channel),
        status=ComplaintStatus.OPEN,
        limit_days=limit_days,
        filed_at=now,
        due_at=due_at,
        answered_at=None,
        answered_by=None,
        answer=None,
        closed_at=None,
        standards_version=standards_version,
        history=(history_entry("file", _actor(actor), now),),
        updated_at=now,
    )


def _require(c: Complaint, status: ComplaintStatus, verb: str) -> None:
    if c.status != status:
        label = COMPLAINT_STATUS_LABELS.get(c.status, c.status)
        raise InvalidTransition(
            f"投诉 {c.complaint_id} 当前状态为“{label}”，不能{verb}",
            complaint_id=c.complaint_id,
            status=c.status.value,
        )


def answer_complaint(c: Complaint, *, answer: str, actor: str, now: datetime) -> Complaint:
    """答复: only an open complaint; the answer is required."""
    _require(c, ComplaintStatus.OPEN, "答复")
    _later(c.updated_at, now, "投诉")
    text = required_text(answer, "answer", "答复内容")
    return replace(
        c,
        status=ComplaintStatus.ANSWERED,
        answered_at=now,
        answered_by=_actor(actor),
        answer=text,
        history=(*c.history, history_entry("answer", actor, now, text)),
        updated_at=now,
    )


def close_complaint(c: Complaint, *, actor: str, reason: str, now: datetime) -> Complaint:
    """办结: only an answered complaint."""
    _require(c, ComplaintStatus.ANSWERED, "办结（请先答复）" if c.status == ComplaintStatus.OPEN else "办结")
    _later(c.updated_at, now, "投诉")
    return replace(
        c,
        status=ComplaintStatus.CLOSED,
        closed_at=now,
        history=(*c.history, history_entry("close", _actor(actor), now, reason.strip())),
        updated_at=now,
    )


# -- ratings --------------------------------------------------------------------------------------------------


def new_rating(
    *,
    rating_id: str,
    origin: str,
    case_no: str,
    staff: str,
    level: Any,
    comment: str | None,
    channel: str,
    negative_max_level: int,
    limit_days: int,
    due_at: datetime | None,
    now: datetime,
) -> Rating:
    """A new rating; ``due_at`` is the follow-up limit's end (kept only when the rating is negative)."""
    who = required_text(staff, "staff", "被评价的工作人员", limit=100)
    value = check_level(level)
    negative = value <= negative_max_level
    if comment is not None and len(comment) > 2000:
        raise ValidationError("评价内容过长（最多 2000 字）", field="comment")
    return Rating(
        rating_id=rating_id,
        origin=origin,
        case_no=case_no,
        staff=who,
        level=value,
        comment=comment.strip() if comment else None,
        channel=_channel(channel),
        at=now,
        negative=negative,
        status=RatingStatus.FOLLOW_UP_PENDING if negative else RatingStatus.RECORDED,
        follow_up_limit_days=limit_days,
        due_at=due_at if negative else None,
        followed_up_at=None,
        followed_up_by=None,
        follow_up_note=None,
        history=(history_entry("rate", "applicant", now, RATING_LABELS[value]),),
        updated_at=now,
    )


def follow_up_rating(r: Rating, *, note: str, actor: str, now: datetime) -> Rating:
    """回访: only a negative rating still waiting for its follow-up."""
    if r.status != RatingStatus.FOLLOW_UP_PENDING:
        label = RATING_STATUS_LABELS.get(r.status, r.status)
        raise InvalidTransition(
            f"评价 {r.rating_id} 当前状态为“{label}”，不需要回访", rating_id=r.rating_id, status=r.status.value
        )
    _later(r.updated_at, now, "评价")
    text = required_text(note, "note", "回访情况")
    return replace(
        r,
        status=RatingStatus.FOLLOWED_UP,
        followed_up_at=now,
        followed_up_by=_actor(actor),
        follow_up_note=text,
        history=(*r.history, history_entry("follow_up", actor, now, text)),
        updated_at=now,
    )
