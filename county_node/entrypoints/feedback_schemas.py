"""Request bodies and JSON views of complaints (投诉) and ratings (好差评), shared by the HTTP routes
(:mod:`county_node.entrypoints.supervision_http`), the ``--json`` output of ``sunshine complaint|rating`` and the
inspectors' case drill-down. Views are ``TypedDict`` s of JSON values only, converted from the domain's
:class:`~county_node.supervision.domain.complaints.Complaint` and
:class:`~county_node.supervision.domain.ratings.Rating`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from typing_extensions import TypedDict  # pydantic needs this one on Python < 3.12

from county_node.entrypoints.schema_values import HistoryView, history, moment
from county_node.entrypoints.views import iso
from county_node.supervision.domain.complaints import Complaint
from county_node.supervision.domain.feedback import COMPLAINT_STATUS_LABELS, RATING_STATUS_LABELS
from county_node.supervision.domain.ratings import RATING_LABELS, Rating

__all__ = [
    "CHANNEL_LABELS",
    "COMPLAINT_TARGET_LABELS",
    "AnswerComplaintBody",
    "CloseComplaintBody",
    "ComplaintPageView",
    "ComplaintView",
    "FileComplaintBody",
    "FollowUpBody",
    "RateBody",
    "RatingPageView",
    "RatingView",
    "complaint_page_view",
    "complaint_view",
    "rating_page_view",
    "rating_view",
]

COMPLAINT_TARGET_LABELS: Mapping[str, str] = {"case": "办件", "window": "窗口", "staff": "工作人员"}
CHANNEL_LABELS: Mapping[str, str] = {
    "window": "窗口",
    "web": "网站",
    "app": "移动端",
    "phone": "电话",
    "sms": "短信",
    "12345": "12345 热线",
    "kiosk": "自助终端",
}
_FEEDBACK_ACTION_LABELS: Mapping[str, str] = {
    "file": "登记投诉",
    "answer": "答复",
    "close": "办结",
    "rate": "评价",
    "follow_up": "回访",
}


# -- request bodies -------------------------------------------------------------------------------------------


class FileComplaintBody(BaseModel):
    """登记一件投诉：对办件（须存在）、窗口或工作人员；答复时限默认取标准包参数。"""

    model_config = ConfigDict(extra="forbid")

    target: Literal["case", "window", "staff"] = Field(
        description="投诉对象类型：case 办件、window 窗口、staff 工作人员", examples=["window"]
    )
    target_id: str = Field(description="投诉对象：办件编号、窗口编号或工作人员", examples=["3 号窗口"])
    complainant: str = Field(description="投诉人", examples=["张三"])
    content: str = Field(description="投诉内容", examples=["办理太慢，多次往返"])
    channel: str = Field(
        default="window", description=f"投诉渠道：{'、'.join(f'{k} {v}' for k, v in CHANNEL_LABELS.items())}"
    )
    limit_days: int | None = Field(default=None, description="答复时限（工作日；不填取标准包参数，默认 5）")


class AnswerComplaintBody(BaseModel):
    """答复投诉：只有待答复的投诉可以答复。答复人为当前登录账号。"""

    model_config = ConfigDict(extra="forbid")

    answer: str = Field(description="答复内容", examples=["已督促承办科室当日办结，并向申请人致歉"])


class CloseComplaintBody(BaseModel):
    """办结投诉：只有已答复的投诉可以办结。"""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="", description="办结说明", examples=["申请人表示满意"])


class RateBody(BaseModel):
    """好差评：申请人对办件及经办工作人员的评价（每件每人一次）；差评须在时限内回访。"""

    model_config = ConfigDict(extra="forbid")

    case_no: str = Field(description="办件编号", examples=["371122-20260921-000001"])
    staff: str = Field(description="被评价的工作人员", examples=["窗口01 孙丽"])
    level: int = Field(
        strict=True,  # 5, not "5" or true: the range is the domain's to check, with its own Chinese message
        description="评价等级：" + "，".join(f"{k} {v}" for k, v in sorted(RATING_LABELS.items(), reverse=True)),
        examples=[5],
    )
    comment: str | None = Field(default=None, description="评价内容")
    channel: str = Field(default="window", description="评价渠道（同投诉渠道）")


class FollowUpBody(BaseModel):
    """差评回访：记录回访情况；只有待回访的差评可以回访。"""

    model_config = ConfigDict(extra="forbid")

    note: str = Field(description="回访情况", examples=["已电话回访，申请人表示理解"])


# -- views ----------------------------------------------------------------------------------------------------


class ComplaintView(TypedDict):
    complaint_id: str
    origin: str
    target: str
    target_label: str
    target_id: str
    case_no: str | None
    complainant: str
    content: str
    channel: str
    channel_label: str
    status: str
    status_label: str
    limit_days: int
    filed_at: str
    due_at: str | None
    answered_at: str | None
    answered_by: str | None
    answer: str | None
    closed_at: str | None
    standards_version: str | None
    history: list[HistoryView]
    updated_at: str


class ComplaintPageView(TypedDict):
    items: list[ComplaintView]
    total: int
    page: int
    page_size: int


class RatingView(TypedDict):
    rating_id: str
    origin: str
    case_no: str
    staff: str
    level: int
    level_label: str
    comment: str | None
    channel: str
    channel_label: str
    at: str
    negative: bool
    status: str
    status_label: str
    follow_up_limit_days: int
    due_at: str | None
    followed_up_at: str | None
    followed_up_by: str | None
    follow_up_note: str | None
    history: list[HistoryView]
    updated_at: str


class RatingPageView(TypedDict):
    items: list[RatingView]
    total: int
    page: int
    page_size: int


# -- converters -----------------------------------------------------------------------------------------------


def complaint_view(c: Complaint) -> ComplaintView:
    status = c.status.value
    return {
        "complaint_id": c.complaint_id,
        "origin": c.origin,
        "target": c.target.value,
        "target_label": COMPLAINT_TARGET_LABELS.get(c.target, c.target.value),
        "target_id": c.target_id,
        "case_no": c.case_no,
        "complainant": c.complainant,
        "content": c.content,
        "channel": c.channel,
        "channel_label": CHANNEL_LABELS.get(c.channel, c.channel),
        "status": status,
        "status_label": COMPLAINT_STATUS_LABELS.get(status, status),
        "limit_days": int(c.limit_days),
        "filed_at": iso(c.filed_at),
        "due_at": moment(c.due_at),
        "answered_at": moment(c.answered_at),
        "answered_by": c.answered_by,
        "answer": c.answer,
        "closed_at": moment(c.closed_at),
        "standards_version": c.standards_version,
        "history": history(c.history, _FEEDBACK_ACTION_LABELS),
        "updated_at": iso(c.updated_at),
    }


def rating_view(r: Rating) -> RatingView:
    status = r.status.value
    level = int(r.level)
    return {
        "rating_id": r.rating_id,
        "origin": r.origin,
        "case_no": r.case_no,
        "staff": r.staff,
        "level": level,
        "level_label": RATING_LABELS.get(level, str(level)),
        "comment": r.comment,
        "channel": r.channel,
        "channel_label": CHANNEL_LABELS.get(r.channel, r.channel),
        "at": iso(r.at),
        "negative": bool(r.negative),
        "status": status,
        "status_label": RATING_STATUS_LABELS.get(status, status),
        "follow_up_limit_days": int(r.follow_up_limit_days),
        "due_at": moment(r.due_at),
        "followed_up_at": moment(r.followed_up_at),
        "followed_up_by": r.followed_up_by,
        "follow_up_note": r.follow_up_note,
        "history": history(r.history, _FEEDBACK_ACTION_LABELS),
        "updated_at": iso(r.updated_at),
    }


def complaint_page_view(found: tuple[Sequence[Complaint], int], page: int, page_size: int) -> ComplaintPageView:
    items, total = found
    return {"items": [complaint_view(c) for c in items], "total": total, "page": page, "page_size": page_size}


def rating_page_view(found: tuple[Sequence[Rating], int], page: int, page_size: int) -> RatingPageView:
    items, total = found
    return {"items": [rating_view(r) for r in items], "total": total, "page": page, "page_size": page_size}
