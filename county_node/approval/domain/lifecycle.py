"""The case lifecycle: which action is allowed when, what it changes, and the event it records. Pure.

A case moves through the statuses below by named actions (the glossary's verbs). :func:`apply_action` checks
that the action is allowed in the current status and that its parameters are valid, and returns the new case
and the event that records the change — or raises a typed error and changes nothing::

    submit ─▶ SUBMITTED ─accept─▶ ACCEPTED ─review─▶ IN_REVIEW ─decide─▶ APPROVED / DENIED ─conclude─▶ CONCLUDED
                 │  ▲                 │                  │
   refuse_acceptance  resubmit        ├── request_correction ─▶ CORRECTION ─receive_correction─┐
                 ▼  │                 ├── suspend ─▶ SUSPENDED ─resume─────────────────────────┤ back to where
              REFUSED RETURNED ◀─return┴── start_special_procedure ─▶ SPECIAL_PROCEDURE ─end──┘ it paused

``extend`` (once, with reason and approver) and ``record_data`` leave the status as it is; ``complete_task``
finishes one department's sub-task of a joint (并联) case, which can be decided only when all are done.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from county_node.approval.domain.case import (
    ACTION_LABELS,
    PAUSED_STATUSES,
    RUNNING_STATUSES,
    STATUS_LABELS,
    Action,
    Case,
    CasePause,
    CaseTask,
    Event,
    Status,
    TransitionResult,
    event_id,
)
from federation.clock import PauseKind
from federation.errors import (
    ExtensionAlreadyUsed,
    InvalidTransition,
    JointTasksPending,
    KeyDataMissing,
    ValidationError,
)
from federation.standards import Item

__all__ = ["ALLOWED", "apply_action", "new_case"]

_RUNNING = RUNNING_STATUSES
_PAUSED = PAUSED_STATUSES

ALLOWED: Mapping[Action, frozenset[Status]] = {
    Action.ACCEPT: frozenset({Status.SUBMITTED}),
    Action.REFUSE_ACCEPTANCE: frozenset({Status.SUBMITTED}),
    Action.REVIEW: frozenset({Status.ACCEPTED}),
    Action.DECIDE: frozenset({Status.IN_REVIEW}),
    Action.CONCLUDE: frozenset({Status.APPROVED, Status.DENIED}),
    Action.REQUEST_CORRECTION: _RUNNING,
    Action.RECEIVE_CORRECTION: frozenset({Status.CORRECTION}),
    Action.SUSPEND: _RUNNING,
    Action.RESUME: frozenset({Status.SUSPENDED}),
    Action.START_SPECIAL_PROCEDURE: _RUNNING,
    Action.END_SPECIAL_PROCEDURE: frozenset({Status.SPECIAL_PROCEDURE}),
    Action.EXTEND: _RUNNING | _PAUSED,
    Action.RETURN: frozenset({Status.SUBMITTED}) | _RUNNING,
    Action.RESUBMIT: frozenset({Status.RETURNED}),
    Action.COMPLETE_TASK: frozenset({Status.IN_REVIEW}),
    Action.RECORD_DATA: frozenset({Status.SUBMITTED, Status.RETURNED}) | _RUNNING | _PAUSED,
}

_PAUSE_START: Mapping[Action, tuple[PauseKind, Status]] = {
    Action.REQUEST_CORRECTION: (PauseKind.CORRECTION, Status.CORRECTION),
    Action.SUSPEND: (PauseKind.SUSPENSION, Status.SUSPENDED),
    Action.START_SPECIAL_PROCEDURE: (PauseKind.SPECIAL_PROCEDURE, Status.SPECIAL_PROCEDURE),
}
_PAUSE_END = frozenset({Action.RECEIVE_CORRECTION, Action.RESUME, Action.END_SPECIAL_PROCEDURE})


# -- parameter checks -------------------------------------------------------------------------------------------


def _text(params: Mapping[str, Any], name: str, label: str, *, required: bool = True) -> str | None:
    value = params.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ValidationError(f"缺少{label}", field=name)
        return None
    if not isinstance(value, str):
        raise ValidationError(f"{label}应为文字", field=name)
    if len(value) > 2000:
        raise ValidationError(f"{label}过长（最多 2000 字）", field=name)
    return value.strip()


_WINDOW_RE = re.compile(r"[A-Za-z0-9_-]{1,16}")


def _required_text(value: Any, name: str, label: str) -> str:
    text = _text({name: value}, name, label)
    if text is None:  # pragma: no cover - required=True raises first
        raise ValidationError(f"缺少{label}", field=name)
    return text


def _money(params: Mapping[str, Any], name: str, label: str) -> Decimal | None:
    value = params.get(name)
    if value is None:
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ValidationError(f"{label}“{value}”不是有效金额", field=name) from None
    if not amount.is_finite() or amount < 0 or amount > Decimal("9999999999.99"):
        raise ValidationError(f"{label}必须是 0 到 9999999999.99 之间的金额", field=name)
    cents = amount.quantize(Decimal("0.01"))
    if cents != amount:  # 0.001 is not 0.00: refuse rather than round a sum of money away
        raise ValidationError(f"{label}“{value}”最多保留两位小数（精确到分）", field=name)
    return cents


def _data(params: Mapping[str, Any]) -> dict[str, str]:
    raw = params.get("data") or {}
    if not isinstance(raw, Mapping):
        raise ValidationError("关键数据应为“字段名: 值”的形式", field="data")
    out: dict[str, str] = {}
    for k, v in raw.items():
        if not isinstance(k, str) or not k.strip() or len(k) > 100:
            raise ValidationError("关键数据的字段名无效", field="data")
        if v is None:
            continue
        if not isinstance(v, str | int | float | Decimal) or isinstance(v, bool):
            raise ValidationError(f"关键数据“{k}”的值应为文字或数字", field=k)
        text = str(v).strip()
        if len(text) > 500:
            raise ValidationError(f"关键数据“{k}”过长（最多 500 字）", field=k)
        out[k.strip()] = text
    return out


def _check_known(action: Action, params: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = set(params) - allowed
    if unknown:
        raise ValidationError(f"“{ACTION_LABELS[action]}”不接受参数：{', '.join(sorted(unknown))}", action=action.value)


_PARAMS: Mapping[Action, set[str]] = {
    Action.ACCEPT: {"note"},
    Action.REFUSE_ACCEPTANCE: {"reason"},
    Action.REVIEW: {"opinion", "data"},
    Action.DECIDE: {"outcome", "reason", "fee_charged"},
    Action.CONCLUDE: {"fee_charged", "note"},
    Action.REQUEST_CORRECTION: {"reason"},
    Action.RECEIVE_CORRECTION: {"note", "data"},
    Action.SUSPEND: {"reason"},
    Action.RESUME: {"note"},
    Action.START_SPECIAL_PROCEDURE: {"reason", "procedure"},
    Action.END_SPECIAL_PROCEDURE: {"note"},
    Action.EXTEND: {"days", "reason", "approver"},
    Action.RETURN: {"reason"},
    Action.RESUBMIT: {"data", "note"},
    Action.COMPLETE_TASK: {"department", "outcome", "opinion"},
    Action.RECORD_DATA: {"data"},
}


# -- the lifecycle ----------------------------------------------------------------------------------------------


def new_case(
    *,
    case_no: str,
    origin: str,
    item: Item,
    standards_version: str,
    applicant: str,
    data: Mapping[str, Any],
    actor: str,
    now: datetime,
    window: str | None = None,
) -> TransitionResult:
    """申请: create a case for ``item`` in status SUBMITTED, with its first event (``window``: the hall window
    that takes it in, e.g. ``W03``, when known — scores per window need it)."""
    applicant_name = _required_text(applicant, "applicant", "申请人")
    actor_name = _required_text(actor, "actor", "经办人")
    if window is not None and not _WINDOW_RE.fullmatch(window):
        raise ValidationError(
            f"窗口编号“{window}”格式错误：应为 1–16 位字母、数字、短横线或下划线（如 W03）", field="window"
        )
    case = Case(
        case_no=case_no,
        origin=origin,
        item_code=item.code,
        item_name=item.name,
        department=item.department,
        kind=item.kind,
        standards_version=standards_version,
        status=Status.SUBMITTED,
        applicant=applicant_name,
        data=_data({"data": data}),
        submitted_at=now,
        fee_standard=item.fee_yuan,
        legal_budget=item.legal_limit_days,
        promised_budget=item.promised_limit_days,
        key_fields=item.key_fields,
        tasks=tuple(CaseTask(d.department, d.limit_days) for d in item.joint_departments),
        event_count=1,
        updated_at=now,
        window=window,
    )
    ev = Event(
        event_id(case_no, 1),
        case_no,
        1,
        Action.SUBMIT,
        actor_name,
        now,
        None,
        Status.SUBMITTED,
        {"item_code": item.code, "applicant": applicant_name, "data": dict(case.data)}
        | ({"window": window} if window is not None else {}),
    )
    return TransitionResult(case, ev)


@dataclass(slots=True)
class _Change:
    """What one action does to a case: its field changes and the payload of its event."""

    case: Case
    params: Mapping[str, Any]
    now: datetime
    max_extension_days: int
    action: Action
    to_status: Status
    changes: dict[str, Any] = field(default_factory=dict)
    payload: dict[str, Any] = field(default_factory=dict)

    def merge_data(self) -> None:
        data = _data(self.params)
        if data:
            self.changes["data"] = {**self.case.data, **data}
            self.payload["data"] = data


def _accept(c: _Change) -> None:
    c.to_status = Status.ACCEPTED
    c.changes["accepted_at"] = c.now
    if c.case.tasks:  # a (re-)acceptance starts every sub-clock afresh
        c.changes["tasks"] = tuple(
            replace(t, status="pending", started_at=c.now, completed_at=None, outcome=None, opinion=None)
            for t in c.case.tasks
        )
    c.payload["note"] = _text(c.params, "note", "备注", required=False)


def _refuse_acceptance(c: _Change) -> None:
    c.to_status = Status.REFUSED
    c.payload["reason"] = _text(c.params, "reason", "不予受理的理由")
    c.changes.update(concluded_at=c.now, decision="refused")


def _review(c: _Change) -> None:
    c.to_status = Status.IN_REVIEW
    c.payload["opinion"] = _text(c.params, "opinion", "审核意见", required=False)
    c.merge_data()


def _decide(c: _Change) -> None:
    case = c.case
    outcome = c.params.get("outcome")
    if outcome not in ("approve", "deny"):
        raise ValidationError("审批决定应为 approve（准予许可）或 deny（不予许可）", field="outcome")
    missing = [k for k in case.key_fields if not str(case.data.get(k, "")).strip()]
    if missing:
        raise KeyDataMissing(f"作出决定前须录入关键数据：{'、'.join(missing)}", case_no=case.case_no, missing=missing)
    pending = [t.department for t in case.tasks if t.status != "done"]
    if pending:
        raise JointTasksPending(f"联办部门尚未办结：{'、'.join(pending)}", case_no=case.case_no, pending=pending)
    reason = _text(c.params, "reason", "不予许可的理由", required=outcome == "deny")
    fee = _money(c.params, "fee_charged", "实收费用")
    c.to_status = Status.APPROVED if outcome == "approve" else Status.DENIED
    c.changes.update(decided_at=c.now, decision="approved" if outcome == "approve" else "denied")
    if fee is not None:
        c.changes["fee_charged"] = fee
    c.payload.update(outcome=outcome, reason=reason, fee_charged=fee, fee_standard=case.fee_standard)


def _conclude(c: _Change) -> None:
    case = c.case
    fee = _money(c.params, "fee_charged", "实收费用")
    if fee is None:
        fee = case.fee_charged
    if fee is None:
        fee = case.fee_standard if case.decision == "approved" else Decimal("0.00")
    c.to_status = Status.CONCLUDED
    c.changes.update(concluded_at=c.now, fee_charged=fee)
    c.payload.update(
        fee_charged=fee, fee_standard=case.fee_standard, note=_text(c.params, "note", "备注", required=False)
    )


_PAUSE_REASON_LABELS = {
    PauseKind.CORRECTION: "需补正的材料",
    PauseKind.SUSPENSION: "暂停原因",
    PauseKind.SPECIAL_PROCEDURE: "特别程序事由",
}


def _start_pause(c: _Change) -> None:
    kind, c.to_status = _PAUSE_START[c.action]
    reason = _text(c.params, "reason", _PAUSE_REASON_LABELS[kind])
    if reason is None:  # pragma: no cover - required=True raises first
        raise ValidationError("缺少暂停原因", field="reason")
    if c.action is Action.START_SPECIAL_PROCEDURE:
        c.payload["procedure"] = _text(c.params, "procedure", "特别程序类型", required=False)
    pause = CasePause(len(c.case.pauses) + 1, kind, c.now, None, reason)
    c.changes.update(pauses=(*c.case.pauses, pause), resume_status=c.case.status)
    c.payload.update(reason=reason, pause_n=pause.n)


def _end_pause(c: _Change) -> None:
    case = c.case
    open_pause = case.open_pause
    if open_pause is None or case.resume_status is None:  # pragma: no cover - guarded by the status
        raise InvalidTransition("办件没有进行中的暂停", case_no=case.case_no, action=c.action.value)
    closed = replace(open_pause, ended_at=c.now)
    c.to_status = case.resume_status
    c.changes.update(pauses=(*case.pauses[:-1], closed), resume_status=None)
    c.payload.update(pause_n=closed.n, note=_text(c.params, "note", "备注", required=False))
    c.merge_data()


def _extend(c: _Change) -> None:
    if c.case.extension_days:
        raise ExtensionAlreadyUsed("办件只能延期一次，已延期过", case_no=c.case.case_no)
    days = c.params.get("days")
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= c.max_extension_days:
        raise ValidationError(f"延期天数应为 1 到 {c.max_extension_days} 个工作日", field="days")
    reason = _text(c.params, "reason", "延期理由")
    approver = _text(c.params, "approver", "批准人")
    c.changes.update(extension_days=days, extension_reason=reason, extension_approver=approver, extended_at=c.now)
    c.payload.update(days=days, reason=reason, approver=approver)


def _return(c: _Change) -> None:
    c.payload["reason"] = _text(c.params, "reason", "退回理由")
    c.to_status = Status.RETURNED
    c.changes["resume_status"] = None


def _resubmit(c: _Change) -> None:
    c.to_status = Status.SUBMITTED
    c.merge_data()
    c.changes.update(
        accepted_at=None, extension_days=0, extension_reason=None, extension_approver=None, extended_at=None
    )
    c.payload["note"] = _text(c.params, "note", "备注", required=False)


def _complete_task(c: _Change) -> None:
    case = c.case
    if not case.tasks:
        raise InvalidTransition("该办件不是联办件，没有联办部门", case_no=case.case_no, action=c.action.value)
    dept = _text(c.params, "department", "联办部门")
    outcome = c.params.get("outcome", "agree")
    if outcome not in ("agree", "disagree"):
        raise ValidationError("联办意见应为 agree（同意）或 disagree（不同意）", field="outcome")
    task = next((t for t in case.tasks if t.department == dept), None)
    if task is None:
        raise ValidationError(f"“{dept}”不是本办件的联办部门", field="department")
    if task.status == "done":
        raise InvalidTransition(f"联办部门“{dept}”已办结", case_no=case.case_no, action=c.action.value)
    opinion = _text(c.params, "opinion", "联办意见说明", required=False)
    done = replace(task, status="done", completed_at=c.now, outcome=outcome, opinion=opinion)
    c.changes["tasks"] = tuple(done if t.department == dept else t for t in case.tasks)
    c.payload.update(department=dept, outcome=outcome, opinion=opinion)


def _record_data(c: _Change) -> None:
    c.merge_data()
    if "data" not in c.changes:
        raise ValidationError("没有要补录的关键数据", field="data")


_HANDLERS: Mapping[Action, Callable[[_Change], None]] = {
    Action.ACCEPT: _accept,
    Action.REFUSE_ACCEPTANCE: _refuse_acceptance,
    Action.REVIEW: _review,
    Action.DECIDE: _decide,
    Action.CONCLUDE: _conclude,
    Action.REQUEST_CORRECTION: _start_pause,
    Action.SUSPEND: _start_pause,
    Action.START_SPECIAL_PROCEDURE: _start_pause,
    Action.RECEIVE_CORRECTION: _end_pause,
    Action.RESUME: _end_pause,
    Action.END_SPECIAL_PROCEDURE: _end_pause,
    Action.EXTEND: _extend,
    Action.RETURN: _return,
    Action.RESUBMIT: _resubmit,
    Action.COMPLETE_TASK: _complete_task,
    Action.RECORD_DATA: _record_data,
}


def apply_action(
    case: Case,
    action: Action,
    *,
    actor: str,
    now: datetime,
    params: Mapping[str, Any] | None = None,
    max_extension_days: int = 10,
) -> TransitionResult:
    """Apply ``action`` to ``case`` at ``now``; raise a typed error (and change nothing) when not allowed."""
    params = dict(params or {})
    if action is Action.SUBMIT:
        raise InvalidTransition("办件已存在，不能重复申请", case_no=case.case_no, action=action.value)
    if case.status not in ALLOWED[action]:
        raise InvalidTransition(
            f"办件当前状态为“{STATUS_LABELS[case.status]}”，不能执行“{ACTION_LABELS[action]}”",
            case_no=case.case_no,
            action=action.value,
            status=case.status.value,
        )
    _check_known(action, params, _PARAMS[action])
    actor_name = _required_text(actor, "actor", "经办人")
    if case.updated_at is not None and now < case.updated_at:
        raise ValidationError("操作时间早于办件的上一次变更，时钟可能有误", case_no=case.case_no)
    change = _Change(case, params, now, max_extension_days, action, case.status)
    _HANDLERS[action](change)
    n = case.event_count + 1
    new = replace(case, status=change.to_status, event_count=n, updated_at=now, **change.changes)
    ev = Event(
        event_id(case.case_no, n),
        case.case_no,
        n,
        action,
        actor_name,
        now,
        case.status,
        change.to_status,
        {k: v for k, v in change.payload.items() if v is not None},
    )
    return TransitionResult(new, ev)
