"""The county's side of the boundary, pure: online applications, case contacts, what the public stream carries,
and the applicant's SMS texts. No I/O.

* :class:`Submission` — an online application (网上申报) as the county holds it: ``pending`` until a clerk accepts
  it (it becomes a case) or refuses it (:func:`accept_submission`, :func:`refuse_submission`);
* :class:`CaseContact` — per case, the applicant's phone for the hall's SMS, the opt-out, the query code's hash and
  whether the public rating arrived; never replicated up;
* the payloads of the public stream (``federation.public_records``): :func:`public_case_payload`,
  :func:`disclosure_payload`, :func:`catalogue_payload`, :func:`submission_result_payload`;
* :func:`handling_staff` — whom a public rating (好差评) rates;
* the SMS texts to the applicant at 受理, 补正 and 办结.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from county_node.approval.domain import STATUS_LABELS, Action, Case, Event, Status
from federation.boundary import scrub
from federation.calendar import WorkingCalendar
from federation.clock import PauseKind, compute_deadline
from federation.errors import InvalidTransition, ValidationError
from federation.public_records import PublicSubmission
from federation.standards import StandardsBundle
from federation.timeutil import local_date

__all__ = [
    "SUBMISSION_STATUS_LABELS",
    "CaseContact",
    "Submission",
    "SubmissionStatus",
    "accept_submission",
    "acceptance_message",
    "catalogue_payload",
    "check_phone",
    "concluded_on_time",
    "conclusion_message",
    "correction_list",
    "correction_message",
    "disclosure_payload",
    "handling_staff",
    "promised_due_on",
    "public_case_payload",
    "refuse_submission",
    "require_pending",
    "result_label",
    "submission_from_public",
    "submission_result_payload",
    "textable",
]


# -- online applications ------------------------------------------------------------------------------------------


class SubmissionStatus(enum.StrEnum):
    PENDING = "pending"  # 待受理
    ACCEPTED = "accepted"  # 已受理（成为办件）
    REFUSED = "refused"  # 不予受理


SUBMISSION_STATUS_LABELS: Mapping[SubmissionStatus, str] = {
    SubmissionStatus.PENDING: "待受理",
    SubmissionStatus.ACCEPTED: "已受理",
    SubmissionStatus.REFUSED: "不予受理",
}


@dataclass(frozen=True, slots=True)
class Submission:
    """网上申报 as the county holds it (table ``public_submissions``)."""

    submission_id: str
    origin: str  # the extranet node that sent it
    item_code: str
    applicant: str
    applicant_id: str
    phone: str
    materials: tuple[str, ...]
    data: Mapping[str, str]
    note: str
    sms_opt_out: bool
    query_hash: str
    submitted_at: datetime
    received_at: datetime
    status: SubmissionStatus
    origin_seq: int
    case_no: str | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None
    reason: str | None = None


def submission_from_public(p: PublicSubmission, *, origin: str, received_at: datetime, origin_seq: int) -> Submission:
    """A submission as it arrived from the extranet node: pending."""
    return Submission(
        submission_id=p.submission_id,
        origin=origin,
        item_code=p.item_code,
        applicant=p.applicant.strip(),
        applicant_id=p.applicant_id.strip(),
        phone=p.phone.strip(),
        materials=p.materials,
        data=dict(p.data),
        note=p.note,
        sms_opt_out=p.sms_opt_out,
        query_hash=p.query_hash,
        submitted_at=p.submitted_at,
        received_at=received_at,
        status=SubmissionStatus.PENDING,
        origin_seq=origin_seq,
    )


def require_pending(sub: Submission, verb: str) -> None:
    """InvalidTransition (in Chinese) unless ``sub`` still waits for a clerk."""
    if sub.status is not SubmissionStatus.PENDING:
        done = SUBMISSION_STATUS_LABELS[sub.status]
        case = f"（办件 {sub.case_no}）" if sub.case_no else ""
        raise InvalidTransition(
            f"网上申报 {sub.submission_id} 已{done}{case}，不能再{verb}",
            submission_id=sub.submission_id,
            status=sub.status.value,
        )


def accept_submission(sub: Submission, *, case_no: str, actor: str, now: datetime) -> Submission:
    """受理: a pending application becomes case ``case_no``."""
    require_pending(sub, "受理")
    return replace(sub, status=SubmissionStatus.ACCEPTED, case_no=case_no, decided_by=actor, decided_at=now)


def refuse_submission(sub: Submission, *, reason: str, actor: str, now: datetime) -> Submission:
    """不予受理: a pending application is refused, with the reason the applicant reads on the portal."""
    require_pending(sub, "不予受理")
    text = (reason or "").strip()
    if not text:
        raise ValidationError("缺少不予受理的理由（申请人将在外网看到）", field="reason")
    if len(text) > 1000:
        raise ValidationError("不予受理的理由过长（最多 1000 字）", field="reason")
    return replace(sub, status=SubmissionStatus.REFUSED, decided_by=actor, decided_at=now, reason=text)


def submission_result_payload(sub: Submission) -> dict[str, Any]:
    """``submission_result`` (record id = submission id): what the hall made of it."""
    if sub.status is SubmissionStatus.PENDING or sub.decided_at is None:
        raise ValueError("a pending submission has no result")
    return {
        "submission_id": sub.submission_id,
        "outcome": sub.status.value,
        "case_no": sub.case_no or "",
        "reason": sub.reason or "",
        "decided_at": sub.decided_at,
    }


# -- contacts -----------------------------------------------------------------------------------------------------

_MOBILE_RE = re.compile(r"1[3-9]\d{9}", re.ASCII)


@dataclass(frozen=True, slots=True)
class CaseContact:
    """The applicant's contact for one case (table ``case_contacts``): intranet only, never replicated up."""

    case_no: str
    phone: str  # "" when none
    sms_opt_out: bool
    query_hash: str  # of the 查询码 that opens the case's public status ("" when none)
    submission_id: str | None
    rated: bool
    updated_at: datetime


def check_phone(value: str | None) -> str:
    """A phone number given at the counter: a mainland mobile number (11 digits), or "" when none is given."""
    phone = "".join((value or "").split()).replace("-", "")
    if not phone:
        return ""
    if not _MOBILE_RE.fullmatch(phone):
        raise ValidationError("申请人手机号码格式错误：应为 11 位手机号码（如 13812345678）", field="phone")
    return phone


def textable(contact: CaseContact | None) -> bool:
    """Whether the applicant of a case gets SMS: a mobile number, and no opt-out."""
    return contact is not None and not contact.sms_opt_out and bool(_MOBILE_RE.fullmatch(contact.phone))


# -- the case as the public sees it -------------------------------------------------------------------------------

_ITEM_SPLIT = re.compile(r"[\n；;、，,]+")


def correction_list(case: Case) -> tuple[str, ...]:
    """While 补正: what is missing, from the reason given when it was requested (one entry per line, or per item
    separated by 、，；); empty otherwise."""
    pause = case.open_pause
    if case.status is not Status.CORRECTION or pause is None or pause.kind is not PauseKind.CORRECTION:
        return ()
    parts = [p.strip() for p in _ITEM_SPLIT.split(pause.reason)]
    return tuple(p[:200] for p in parts if p)[:50]


def promised_due_on(case: Case, calendar: WorkingCalendar) -> date | None:
    """承诺办结日 (China time): the promised clock's last day; None before acceptance or while a pause holds it."""
    if case.accepted_at is None or case.status in (Status.SUBMITTED, Status.REFUSED, Status.RETURNED):
        return None
    return compute_deadline(calendar, case.clock_spec(case.promised_budget)).due_date


def concluded_on_time(case: Case, calendar: WorkingCalendar) -> bool | None:
    """Whether a concluded case concluded within its promised limit (None until concluded)."""
    if case.status is not Status.CONCLUDED or case.concluded_at is None or case.accepted_at is None:
        return None
    due = compute_deadline(calendar, case.clock_spec(case.promised_budget)).due_at
    return due is None or case.concluded_at < due


def result_label(case: Case) -> str:
    return {"approved": "准予许可", "denied": "不予许可"}.get(case.decision or "", "办结")


def public_case_payload(
    case: Case, contact: CaseContact | None, calendar: WorkingCalendar, now: datetime
) -> dict[str, Any]:
    """``public_case`` (record id = case number): status, moments, promised day, decision, what 补正 asks for."""
    concluded = case.status is Status.CONCLUDED
    return {
        "case_no": case.case_no,
        "item_code": case.item_code,
        "item_name": case.item_name,
        "department": case.department,
        "status": case.status.value,
        "status_label": STATUS_LABELS[case.status],
        "submitted_at": case.submitted_at,
        "accepted_at": case.accepted_at,
        "concluded_at": case.concluded_at,
        "due_on": _iso_day(promised_due_on(case, calendar)),
        "decision": case.decision or "",
        "on_time": concluded_on_time(case, calendar),
        "correction": list(correction_list(case)),
        "rating_open": concluded and contact is not None and not contact.rated,
        "query_hash": contact.query_hash if contact is not None else "",
        "submission_id": (contact.submission_id or "") if contact is not None else "",
        "updated_at": case.updated_at or now,
    }


def disclosure_payload(case: Case, calendar: WorkingCalendar) -> dict[str, Any] | None:
    """``disclosure`` (办件公示, record id = case number) of a concluded case; None for any other."""
    on_time = concluded_on_time(case, calendar)
    if on_time is None or case.concluded_at is None:
        return None
    return {
        "case_no": case.case_no,
        "item_code": case.item_code,
        "item_name": case.item_name,
        "department": case.department,
        "accepted_on": _iso_day(local_date(case.accepted_at) if case.accepted_at else None),
        "concluded_on": local_date(case.concluded_at).isoformat(),
        "result": result_label(case),
        "on_time": on_time,
    }


def catalogue_payload(bundle: StandardsBundle, now: datetime) -> dict[str, Any]:
    """``public_catalogue`` (record id ``catalogue``): every item of the standards in force, as the public sees it."""
    return {
        "standards_version": bundle.version,
        "published_at": now,
        "items": [
            {
                "code": i.code,
                "name": i.name,
                "department": i.department,
                "kind": i.kind.value,
                "legal_days": i.legal_limit_days,
                "promised_days": i.promised_limit_days,
                "fee": f"{i.fee_yuan:.2f}" if i.fee_yuan else "0",
                "key_fields": list(i.key_fields),
            }
            for i in bundle.items
        ],
    }


def _iso_day(day: date | None) -> str | None:
    return None if day is None else day.isoformat()


def handling_staff(events: Sequence[Event]) -> str:
    """Whom the applicant's rating (好差评) of a case rates: the staff member who accepted it (受理人, the last
    acceptance when it was accepted again), else who took it in."""
    for ev in reversed(events):
        if ev.action is Action.ACCEPT:
            return ev.actor
    for ev in events:
        if ev.action is Action.SUBMIT:
            return ev.actor
    raise ValidationError("办件没有受理记录，无法确定被评价的工作人员")


# -- SMS to the applicant -----------------------------------------------------------------------------------------

_SIGN = "【政务服务】"


def _portal(portal_url: str) -> str:
    return f"，可登录 {portal_url} 查询" if portal_url else ""


def acceptance_message(case: Case, code: str | None, portal_url: str, *, online: bool = False) -> str:
    """受理 SMS: the case number and query code (or which code it is, when none was issued now), and the portal."""
    which = f"查询码 {code}" if code else ("查询码为您网上申报时获得的查询码" if online else "查询码不变")
    return (
        f"{_SIGN}您申请的“{case.item_name}”已受理，办件编号 {case.case_no}，{which}{_portal(portal_url)}。"
        "请妥善保管查询码。"
    )


def correction_message(case: Case, missing: Sequence[str], portal_url: str) -> str:
    """补正 SMS: what is missing (ID and phone numbers in it masked: the text passes the SMS gateway)."""
    what = "、".join(scrub(m) for m in missing) if missing else "材料"
    return f"{_SIGN}您的办件 {case.case_no}（{case.item_name}）需补正：{what}。请尽快补齐{_portal(portal_url)}。"


def conclusion_message(case: Case, portal_url: str) -> str:
    """办结 SMS: the result, and the invitation to rate (好差评)."""
    invite = f"，欢迎登录 {portal_url} 对本次服务作出评价" if portal_url else "，欢迎对本次服务作出评价"
    return f"{_SIGN}您的办件 {case.case_no}（{case.item_name}）已办结，结果：{result_label(case)}{invite}。"
