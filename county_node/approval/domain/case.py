"""The case (办件) record: statuses, actions, the case aggregate, its pause ledger, joint tasks and events."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from federation.clock import ClockSpec, Pause, PauseKind
from federation.standards import ItemKind

__all__ = [
    "ACTION_LABELS",
    "OPEN_STATUSES",
    "PAUSED_STATUSES",
    "RUNNING_STATUSES",
    "STATUS_LABELS",
    "Action",
    "Case",
    "CasePause",
    "CaseTask",
    "Event",
    "Status",
    "TransitionResult",
    "event_id",
]


class Status(enum.StrEnum):
    SUBMITTED = "submitted"  # 已申请
    ACCEPTED = "accepted"  # 已受理
    IN_REVIEW = "in_review"  # 审核中
    CORRECTION = "correction"  # 补正中
    SUSPENDED = "suspended"  # 已暂停
    SPECIAL_PROCEDURE = "special_procedure"  # 特别程序
    APPROVED = "approved"  # 准予许可
    DENIED = "denied"  # 不予许可
    CONCLUDED = "concluded"  # 已办结
    REFUSED = "refused"  # 不予受理
    RETURNED = "returned"  # 已退回


class Action(enum.StrEnum):
    SUBMIT = "submit"
    ACCEPT = "accept"
    REFUSE_ACCEPTANCE = "refuse_acceptance"
    REVIEW = "review"
    DECIDE = "decide"
    CONCLUDE = "conclude"
    REQUEST_CORRECTION = "request_correction"
    RECEIVE_CORRECTION = "receive_correction"
    SUSPEND = "suspend"
    RESUME = "resume"
    START_SPECIAL_PROCEDURE = "start_special_procedure"
    END_SPECIAL_PROCEDURE = "end_special_procedure"
    EXTEND = "extend"
    RETURN = "return"
    RESUBMIT = "resubmit"
    COMPLETE_TASK = "complete_task"
    RECORD_DATA = "record_data"


STATUS_LABELS: Mapping[Status, str] = {
    Status.SUBMITTED: "已申请",
    Status.ACCEPTED: "已受理",
    Status.IN_REVIEW: "审核中",
    Status.CORRECTION: "补正中",
    Status.SUSPENDED: "已暂停",
    Status.SPECIAL_PROCEDURE: "特别程序中",
    Status.APPROVED: "准予许可",
    Status.DENIED: "不予许可",
    Status.CONCLUDED: "已办结",
    Status.REFUSED: "不予受理",
    Status.RETURNED: "已退回",
}

ACTION_LABELS: Mapping[Action, str] = {
    Action.SUBMIT: "申请",
    Action.ACCEPT: "受理",
    Action.REFUSE_ACCEPTANCE: "不予受理",
    Action.REVIEW: "审核",
    Action.DECIDE: "审批决定",
    Action.CONCLUDE: "办结",
    Action.REQUEST_CORRECTION: "补正告知",
    Action.RECEIVE_CORRECTION: "补正接收",
    Action.SUSPEND: "暂停",
    Action.RESUME: "恢复",
    Action.START_SPECIAL_PROCEDURE: "特别程序开始",
    Action.END_SPECIAL_PROCEDURE: "特别程序结束",
    Action.EXTEND: "延期",
    Action.RETURN: "退回",
    Action.RESUBMIT: "重新申请",
    Action.COMPLETE_TASK: "联办部门办结",
    Action.RECORD_DATA: "补录关键数据",
}

RUNNING_STATUSES = frozenset({Status.ACCEPTED, Status.IN_REVIEW})
PAUSED_STATUSES = frozenset({Status.CORRECTION, Status.SUSPENDED, Status.SPECIAL_PROCEDURE})
OPEN_STATUSES = RUNNING_STATUSES | PAUSED_STATUSES | {Status.APPROVED, Status.DENIED}
"""Statuses in which the case clock matters (accepted, not yet concluded)."""


#: Which statuses each action may start from (SUBMIT creates the case and is not listed).
@dataclass(frozen=True, slots=True)
class CasePause:
    n: int
    kind: PauseKind
    started_at: datetime
    ended_at: datetime | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "kind": self.kind.value,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class CaseTask:
    """One department's sub-task of a joint case, with its own sub-clock (limit in working days)."""

    department: str
    limit_days: int
    status: str = "pending"  # pending | done
    started_at: datetime | None = None
    completed_at: datetime | None = None
    outcome: str | None = None  # agree | disagree
    opinion: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "department": self.department,
            "limit_days": self.limit_days,
            "status": self.status,
            "started_at": self.started_at,
            "completed_at": self.completed_at,
            "outcome": self.outcome,
            "opinion": self.opinion,
        }


@dataclass(frozen=True)
class Case:
    case_no: str
    origin: str
    item_code: str
    item_name: str
    department: str
    kind: ItemKind
    standards_version: str
    status: Status
    applicant: str
    data: Mapping[str, str]
    submitted_at: datetime
    fee_standard: Decimal
    legal_budget: int
    promised_budget: int
    key_fields: tuple[str, ...] = ()
    resume_status: Status | None = None
    accepted_at: datetime | None = None
    decided_at: datetime | None = None
    concluded_at: datetime | None = None
    decision: str | None = None
    fee_charged: Decimal | None = None
    extension_days: int = 0
    extension_reason: str | None = None
    extension_approver: str | None = None
    extended_at: datetime | None = None
    event_count: int = 0
    updated_at: datetime | None = None
    pauses: tuple[CasePause, ...] = ()
    tasks: tuple[CaseTask, ...] = ()
    window: str | None = None  # the hall window (窗口) that took the case in, when known

    @property
    def open_pause(self) -> CasePause | None:
        if self.pauses and self.pauses[-1].ended_at is None:
            return self.pauses[-1]
        return None

    def clock_spec(self, budget: int, *, since: datetime | None = None) -> ClockSpec:
        """The clock of this case's current acceptance round with ``budget`` working days."""
        if self.accepted_at is None:
            raise ValueError("case not accepted: no clock")
        accepted = self.accepted_at if since is None else since
        pauses = tuple(Pause(p.kind, p.started_at, p.ended_at) for p in self.pauses if p.started_at >= self.accepted_at)
        return ClockSpec(accepted, budget, pauses, self.extension_days)

    def to_snapshot(self) -> dict[str, Any]:
        """The replicated form of the case (the outbox payload)."""
        return {
            "case_no": self.case_no,
            "origin": self.origin,
            "item_code": self.item_code,
            "item_name": self.item_name,
            "department": self.department,
            "kind": self.kind.value,
            "standards_version": self.standards_version,
            "status": self.status.value,
            "resume_status": self.resume_status.value if self.resume_status else None,
            "applicant": self.applicant,
            "window": self.window,
            "data": dict(self.data),
            "submitted_at": self.submitted_at,
            "accepted_at": self.accepted_at,
            "decided_at": self.decided_at,
            "concluded_at": self.concluded_at,
            "decision": self.decision,
            "fee_standard": self.fee_standard,
            "fee_charged": self.fee_charged,
            "legal_budget": self.legal_budget,
            "promised_budget": self.promised_budget,
            "extension_days": self.extension_days,
            "extension_reason": self.extension_reason,
            "extension_approver": self.extension_approver,
            "extended_at": self.extended_at,
            "event_count": self.event_count,
            "updated_at": self.updated_at,
            "pauses": [p.to_dict() for p in self.pauses],
            "tasks": [t.to_dict() for t in self.tasks],
        }


@dataclass(frozen=True, slots=True)
class Event:
    """One entry of the append-only case timeline."""

    event_id: str
    case_no: str
    n: int
    action: Action
    actor: str
    at: datetime
    from_status: Status | None
    to_status: Status
    payload: Mapping[str, Any] = field(default_factory=dict)

    def to_record(self) -> dict[str, Any]:
        return {
            "case_no": self.case_no,
            "n": self.n,
            "action": self.action.value,
            "actor": self.actor,
            "at": self.at,
            "from_status": self.from_status.value if self.from_status else None,
            "to_status": self.to_status.value,
            "payload": dict(self.payload),
        }


@dataclass(frozen=True, slots=True)
class TransitionResult:
    case: Case
    event: Event


def event_id(case_no: str, n: int) -> str:
    return f"{case_no}#{n:04d}"
