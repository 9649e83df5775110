"""The JSON views of online applications (网上申报) and of a case accepted at the desk, shared by the HTTP API and
the CLI (``--json``). The applicant's phone is shown masked (the hall texts it; nobody needs to read it)."""

from __future__ import annotations

from typing_extensions import TypedDict  # pydantic needs this one on Python < 3.12

from county_node.entrypoints.views import CaseDetailView, iso
from county_node.public.domain import SUBMISSION_STATUS_LABELS, Submission
from county_node.public.services import SubmissionPage
from county_node.supervision.notifier import mask_recipient

__all__ = [
    "AcceptedCaseView",
    "AcceptedView",
    "SubmissionPageView",
    "SubmissionView",
    "accepted_view",
    "submission_page_view",
    "submission_view",
]


class SubmissionView(TypedDict):
    submission_id: str
    status: str
    status_label: str
    item_code: str
    applicant: str
    applicant_id: str
    phone: str  # masked
    sms_opt_out: bool
    materials: list[str]
    data: dict[str, str]
    note: str
    submitted_at: str
    received_at: str
    case_no: str | None
    decided_by: str | None
    decided_at: str | None
    reason: str | None


class SubmissionPageView(TypedDict):
    items: list[SubmissionView]
    total: int
    page: int
    page_size: int


class AcceptedView(TypedDict):
    case: CaseDetailView
    query_code: str | None  # shown once: for the 受理通知书 (None: the applicant keeps the code they hold)
    submission_id: str | None


class AcceptedCaseView(CaseDetailView):
    """The case detail after 受理 at the counter, with the query code issued (shown once; None when none was)."""

    query_code: str | None


def submission_view(s: Submission) -> SubmissionView:
    return {
        "submission_id": s.submission_id,
        "status": s.status.value,
        "status_label": SUBMISSION_STATUS_LABELS[s.status],
        "item_code": s.item_code,
        "applicant": s.applicant,
        "applicant_id": s.applicant_id,
        "phone": mask_recipient(s.phone) if s.phone else "",
        "sms_opt_out": s.sms_opt_out,
        "materials": list(s.materials),
        "data": dict(s.data),
        "note": s.note,
        "submitted_at": iso(s.submitted_at),
        "received_at": iso(s.received_at),
        "case_no": s.case_no,
        "decided_by": s.decided_by,
        "decided_at": iso(s.decided_at) if s.decided_at else None,
        "reason": s.reason,
    }


def submission_page_view(p: SubmissionPage) -> SubmissionPageView:
    return {
        "items": [submission_view(s) for s in p.items],
        "total": p.total,
        "page": p.page,
        "page_size": p.page_size,
    }


def accepted_view(case: CaseDetailView, query_code: str | None, submission_id: str | None) -> AcceptedView:
    return {"case": case, "query_code": query_code, "submission_id": submission_id}
