"""The lifecycle of complaints (投诉) and ratings (好差评) as stored records — pure functions over row values.

Complaint: ``open`` (待答复) ──answer──▶ ``answered`` (已答复) ──close──▶ ``closed`` (已办结). The response limit
(working days, ``complaint_response_days`` unless given) runs from filing to the answer; SUP-101 watches it.

Rating: a level 5 … 1; a negative one (≤ ``negative_rating_max_level``) is ``follow_up_pending`` (待回访)
──follow_up──▶ ``followed_up`` (已回访) within ``rating_follow_up_days``; SUP-201 watches it. Others are
``recorded``. One rating per case and staff member.

Every step appends {action, actor, at, reason} to the record's ``history``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from county_node.supervision.domain.complaints import Complaint, ComplaintTarget
from county_node.supervision.domain.ratings import RATING_LABELS, Rating
from federation.errors import InvalidTransition, ValidationError

__all__ = [
    "COMPLAINT_STATUS_LABELS",
    "answer_complaint",
    "close_complaint",
    "complaint_subject",
    "follow_up_rating",
    "new_complaint",
    "new_rating",
    "rating_subject",
]

COMPLAINT_STATUS_LABELS: Mapping[str, str] = {"open": "待答复", "answered": "已答复", "closed": "已办结"}
RATING_STATUS_LABELS: Mapping[str, str] = {"recorded": "已记录", "follow_up_pending": "待回访", "followed_up": "已回访"}
CHANNELS = frozenset({"window", "web", "app", "phone", "sms", "12345", "kiosk"})


def _text(value: Any, field: str, label: str, *, limit: int = 2000) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"缺少{label}", field=field)
    if len(value) > limit:
        raise ValidationError(f"{label}过长（最多 {limit} 字）", field=field)
    return value.strip()


def _channel(value: Any) -> str:
    if value not in CHANNELS:
        raise ValidationError(f"未知的渠道“{value}”（{'、'.join(sorted(CHANNELS))}）", field="channel")
    return str(value)


def _entry(action: str, actor: str, at: datetime, reason: str = "") -> dict[str, Any]:
    return {"action": action, "actor": actor, "at": at.isoformat(), "reason": reason}


def _later(row: Mapping[str, Any], at: datetime, what: str) -> None:
    if at < row["updated_at"]:
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
) -> dict[str, Any]:
    """The row of a newly filed complaint (its subject validated by :class:`Complaint`)."""
    try:
        kind = ComplaintTarget(target)
    except ValueError:
        raise ValidationError(f"未知的投诉对象类型“{target}”（case 办件、window 窗口、staff 工作人员）") from None
    Complaint(complaint_id, kind, _text(target_id, "target_id", "投诉对象"), now, limit_days)
    return {
        "complaint_id": complaint_id,
        "origin": origin,
        "target": kind.value,
        "target_id": target_id.strip(),
        "case_no": case_no,
        "complainant": _text(complainant, "complainant", "投诉人", limit=200),
        "content": _text(content, "content", "投诉内容"),
        "channel": _channel(channel),
        "status": "open",
        "limit_days": limit_days,
        "filed_at": now,
        "idx_due_at": due_at,
        "answered_at": None,
        "answered_by": None,
        "answer": None,
        "closed_at": None,
        "standards_version": standards_version,
        "history": [_entry("file", _text(actor, "actor", "操作人", limit=100), now)],
        "updated_at": now,
    }


def _require(row: Mapping[str, Any], status: str, verb: str) -> None:
    if row["status"] != status:
        label = COMPLAINT_STATUS_LABELS.get(row["status"], row["status"])
        raise InvalidTransition(
            f"投诉 {row['complaint_id']} 当前状态为“{label}”，不能{verb}",
            complaint_id=row["complaint_id"],
            status=row["status"],
        )


def answer_complaint(row: Mapping[str, Any], *, answer: str, actor: str, now: datetime) -> dict[str, Any]:
    """答复: only an open complaint; the answer is required."""
    _require(row, "open", "答复")
    _later(row, now, "投诉")
    text = _text(answer, "answer", "答复内容")
    out = dict(row)
    out.update(
        status="answered",
        answered_at=now,
        answered_by=_text(actor, "actor", "操作人", limit=100),
        answer=text,
        history=[*row["history"], _entry("answer", actor, now, text)],
        updated_at=now,
    )
    return out


def close_complaint(row: Mapping[str, Any], *, actor: str, reason: str, now: datetime) -> dict[str, Any]:
    """办结: only an answered complaint."""
    _require(row, "answered", "办结（请先答复）" if row["status"] == "open" else "办结")
    _later(row, now, "投诉")
    out = dict(row)
    out.update(
        status="closed",
        closed_at=now,
        history=[*row["history"], _entry("close", _text(actor, "actor", "操作人", limit=100), now, reason.strip())],
        updated_at=now,
    )
    return out


def complaint_subject(row: Mapping[str, Any]) -> Complaint:
    """The complaint as the rules read it."""
    return Complaint(
        row["complaint_id"],
        ComplaintTarget(row["target"]),
        row["target_id"],
        row["filed_at"],
        row["limit_days"],
        row["answered_at"],
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
) -> dict[str, Any]:
    """The row of a new rating; ``due_at`` is the follow-up limit's end (used only when the rating is negative)."""
    subject = Rating(rating_id, case_no, _text(staff, "staff", "被评价的工作人员", limit=100), level, now, limit_days)
    negative = subject.is_negative(negative_max_level)
    if comment is not None and len(comment) > 2000:
        raise ValidationError("评价内容过长（最多 2000 字）", field="comment")
    return {
        "rating_id": rating_id,
        "origin": origin,
        "case_no": case_no,
        "staff": staff.strip(),
        "level": level,
        "comment": comment.strip() if comment else None,
        "channel": _channel(channel),
        "at": now,
        "negative": negative,
        "status": "follow_up_pending" if negative else "recorded",
        "follow_up_limit_days": limit_days,
        "idx_due_at": due_at if negative else None,
        "followed_up_at": None,
        "followed_up_by": None,
        "follow_up_note": None,
        "history": [_entry("rate", "applicant", now, RATING_LABELS[level])],
        "updated_at": now,
    }


def follow_up_rating(row: Mapping[str, Any], *, note: str, actor: str, now: datetime) -> dict[str, Any]:
    """回访: only a negative rating still waiting for its follow-up."""
    if row["status"] != "follow_up_pending":
        label = RATING_STATUS_LABELS.get(row["status"], row["status"])
        raise InvalidTransition(
            f"评价 {row['rating_id']} 当前状态为“{label}”，不需要回访",
            rating_id=row["rating_id"],
            status=row["status"],
        )
    _later(row, now, "评价")
    text = _text(note, "note", "回访情况")
    out = dict(row)
    out.update(
        status="followed_up",
        followed_up_at=now,
        followed_up_by=_text(actor, "actor", "操作人", limit=100),
        follow_up_note=text,
        history=[*row["history"], _entry("follow_up", actor, now, text)],
        updated_at=now,
    )
    return out


def rating_subject(row: Mapping[str, Any]) -> Rating:
    """The rating as the rules read it."""
    return Rating(
        row["rating_id"],
        row["case_no"],
        row["staff"],
        row["level"],
        row["at"],
        row["follow_up_limit_days"],
        row["followed_up_at"],
    )
