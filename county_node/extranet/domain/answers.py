"""What the portal answers the public: receipts, a case's or a submission's status, a page of 办件公示.

Pure: built from the public records' own forms (:mod:`federation.public_records`), which are all the extranet node
holds. A status answer is only ever given to whoever showed the number *and* its query code; anything else gets
:data:`NOT_FOUND_MESSAGE`, the same for an unknown number as for a wrong code (no way to learn which numbers exist).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from federation.public_records import RATING_LABELS, Disclosure, PublicCase

__all__ = [
    "NOT_FOUND_MESSAGE",
    "CaseStatus",
    "ComplaintReceipt",
    "DisclosurePage",
    "RatingReceipt",
    "SubmissionReceipt",
    "SubmissionState",
    "SubmissionStatus",
    "case_status",
    "on_time_label",
    "rating_receipt",
    "submission_status",
]

NOT_FOUND_MESSAGE = "未找到该办件或查询码不正确，请核对编号与查询码（区分编号，不区分查询码大小写）"

_DECISIONS = {"approved": "准予许可", "denied": "不予许可"}


def on_time_label(on_time: bool | None) -> str:
    """按时 / 超时 (办结时), "" while the case is open."""
    if on_time is None:
        return ""
    return "按时" if on_time else "超时"


@dataclass(frozen=True, slots=True)
class SubmissionReceipt:
    """What an applicant sees once, right after applying: the 申报编号 and the 查询码 (never shown again)."""

    submission_id: str
    query_code: str
    item_code: str
    item_name: str
    submitted_at: datetime


@dataclass(frozen=True, slots=True)
class ComplaintReceipt:
    complaint_ref: str
    filed_at: datetime


@dataclass(frozen=True, slots=True)
class RatingReceipt:
    case_no: str
    level: int
    label: str
    rated_at: datetime


@dataclass(frozen=True, slots=True)
class CaseStatus:
    """A case as its applicant may see it (with its number and query code)."""

    case_no: str
    item_code: str
    item_name: str
    department: str
    status: str
    status_label: str
    submitted_at: datetime
    accepted_at: datetime | None
    concluded_at: datetime | None
    due_on: date | None
    decision: str
    decision_label: str
    on_time: bool | None
    on_time_label: str
    correction: tuple[str, ...]  # while 补正: what is missing
    can_rate: bool  # concluded, open for rating, and not rated yet
    rated: bool


def case_status(case: PublicCase, *, rated: bool) -> CaseStatus:
    return CaseStatus(
        case_no=case.case_no,
        item_code=case.item_code,
        item_name=case.item_name,
        department=case.department,
        status=case.status,
        status_label=case.status_label,
        submitted_at=case.submitted_at,
        accepted_at=case.accepted_at,
        concluded_at=case.concluded_at,
        due_on=case.due_on,
        decision=case.decision,
        decision_label=_DECISIONS.get(case.decision, ""),
        on_time=case.on_time,
        on_time_label=on_time_label(case.on_time),
        correction=case.correction,
        can_rate=case.rating_open and not rated,
        rated=rated,
    )


class SubmissionState:
    PENDING = "pending"  # 待受理
    ACCEPTED = "accepted"  # 已受理 (a case now)
    REFUSED = "refused"  # 不予受理


_STATE_LABELS = {
    SubmissionState.PENDING: "待受理",
    SubmissionState.ACCEPTED: "已受理",
    SubmissionState.REFUSED: "不予受理",
}


@dataclass(frozen=True, slots=True)
class SubmissionStatus:
    """An online application as its applicant may see it: waiting for the hall, refused (why), or accepted — then
    with its case number and the case's status (once the county has published it)."""

    submission_id: str
    item_code: str
    item_name: str
    submitted_at: datetime
    state: str
    state_label: str
    reason: str
    decided_at: datetime | None
    case_no: str
    case: CaseStatus | None


def submission_status(
    *,
    submission_id: str,
    item_code: str,
    item_name: str,
    submitted_at: datetime,
    outcome: str | None,
    reason: str | None,
    decided_at: datetime | None,
    case_no: str | None,
    case: CaseStatus | None,
) -> SubmissionStatus:
    state = outcome if outcome in {SubmissionState.ACCEPTED, SubmissionState.REFUSED} else SubmissionState.PENDING
    return SubmissionStatus(
        submission_id=submission_id,
        item_code=item_code,
        item_name=item_name,
        submitted_at=submitted_at,
        state=state,
        state_label=_STATE_LABELS[state],
        reason=(reason or "") if state != SubmissionState.PENDING else "",
        decided_at=decided_at if state != SubmissionState.PENDING else None,
        case_no=(case_no or "") if state == SubmissionState.ACCEPTED else "",
        case=case if state == SubmissionState.ACCEPTED else None,
    )


def rating_receipt(case_no: str, level: int, at: datetime) -> RatingReceipt:
    return RatingReceipt(case_no, level, RATING_LABELS[level], at)


@dataclass(frozen=True, slots=True)
class DisclosurePage:
    """One page of 办件公示, newest concluded first."""

    items: tuple[Disclosure, ...]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))
