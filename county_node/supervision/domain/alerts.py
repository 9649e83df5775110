"""Alerts (预警 / 红黄牌) and their lifecycle, as pure values.

An alert is raised when a rule fires on a subject that has no *standing* alert for that rule, so the same
condition is never alerted twice. Lifecycle::

    open ──acknowledge──▶ acknowledged ──urge──▶ urged ──supervise──▶ supervised
      │                        │                   │                      │
      └──────────── close (who, when, why) ────────┴──────────────────────┴──▶ closed

``urge`` (催办) may be repeated and may come before acknowledgement; ``supervise`` (督办) is the stronger order
and may follow any open state; nothing leaves ``closed``. An order does not acknowledge the alert: an urged or
supervised alert nobody signed for can still be acknowledged (it keeps its status) and still escalates. Every
step is appended to the alert's ``history`` with who, when and why. An alert not acknowledged by ``ack_due_at``
is *escalated* (``level`` 0 county → 1 city → 2 province), each level with a fresh acknowledgement limit. An alert
closes itself when its condition clears
(``clear``), recording the reason; an alert closed by a person while its condition still holds keeps *standing*
until the condition clears, so the rule does not raise it again meanwhile.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from federation.errors import InvalidTransition, ValidationError

__all__ = [
    "ACTIVE_STATUSES",
    "ACTOR_LABELS",
    "ESCALATION_LABELS",
    "MAX_LEVEL",
    "UNACKNOWLEDGED",
    "Alert",
    "AlertAction",
    "AlertStatus",
    "HistoryEntry",
]


class AlertStatus(enum.StrEnum):
    OPEN = "open"  # 待签收
    ACKNOWLEDGED = "acknowledged"  # 已签收
    URGED = "urged"  # 已催办
    SUPERVISED = "supervised"  # 已督办
    CLOSED = "closed"  # 已办结


STATUS_LABELS: Mapping[AlertStatus, str] = {
    AlertStatus.OPEN: "待签收",
    AlertStatus.ACKNOWLEDGED: "已签收",
    AlertStatus.URGED: "已催办",
    AlertStatus.SUPERVISED: "已督办",
    AlertStatus.CLOSED: "已关闭",
}

ACTIVE_STATUSES = frozenset(s for s in AlertStatus if s is not AlertStatus.CLOSED)
UNACKNOWLEDGED = frozenset({AlertStatus.OPEN, AlertStatus.URGED, AlertStatus.SUPERVISED})
"""Statuses in which an alert may still be waiting for its acknowledgement (an order does not acknowledge it)."""


class AlertAction(enum.StrEnum):
    """What people do to an alert (the first four) and what the system does (the rest)."""

    ACKNOWLEDGE = "acknowledge"  # 签收
    URGE = "urge"  # 催办
    SUPERVISE = "supervise"  # 督办
    CLOSE = "close"  # 关闭（办结）
    RAISE = "raise"  # 触发
    ESCALATE = "escalate"  # 超时未签收，升级
    CLEAR = "clear"  # 条件消除，自动关闭


ACTION_LABELS: Mapping[AlertAction, str] = {
    AlertAction.ACKNOWLEDGE: "签收",
    AlertAction.URGE: "催办",
    AlertAction.SUPERVISE: "督办",
    AlertAction.CLOSE: "关闭",
    AlertAction.RAISE: "触发",
    AlertAction.ESCALATE: "升级",
    AlertAction.CLEAR: "条件消除",
}

PERSON_ACTIONS = frozenset({AlertAction.ACKNOWLEDGE, AlertAction.URGE, AlertAction.SUPERVISE, AlertAction.CLOSE})

_ALLOWED: Mapping[AlertAction, tuple[frozenset[AlertStatus], AlertStatus]] = {
    AlertAction.ACKNOWLEDGE: (UNACKNOWLEDGED, AlertStatus.ACKNOWLEDGED),
    AlertAction.URGE: (
        frozenset({AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED, AlertStatus.URGED}),
        AlertStatus.URGED,
    ),
    AlertAction.SUPERVISE: (ACTIVE_STATUSES, AlertStatus.SUPERVISED),
    AlertAction.CLOSE: (ACTIVE_STATUSES, AlertStatus.CLOSED),
}

_REASON_REQUIRED = frozenset({AlertAction.URGE, AlertAction.SUPERVISE, AlertAction.CLOSE})

MAX_LEVEL = 2
ESCALATION_LABELS: Mapping[int, str] = {0: "县级", 1: "市级", 2: "省级"}
ACTOR_LABELS: Mapping[str, str] = {"system": "系统"}
"""How a person reads the actor of the steps the system takes itself (触发, 升级, 条件消除: actor ``system``)."""


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    action: AlertAction
    actor: str
    at: datetime
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action.value, "actor": self.actor, "at": self.at.isoformat(), "reason": self.reason}


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert as stored: what fired (rule, version, evidence, clock), its state and its history."""

    alert_id: str
    origin: str
    subject_kind: str
    subject_id: str
    case_no: str | None
    rule_id: str
    rule_version: int
    rule_name: str
    light: str | None
    status: AlertStatus
    standing: bool
    level: int
    department: str | None
    standards_version: str | None
    opened_at: datetime
    ack_due_at: datetime | None
    acknowledged_at: datetime | None
    escalated_at: datetime | None
    closed_at: datetime | None
    close_reason: str | None
    evidence: tuple[str, ...]
    clock: Mapping[str, Any] | None
    details: Mapping[str, Any]
    parameters: Mapping[str, Any]
    history: tuple[Mapping[str, Any], ...]
    updated_at: datetime

    @property
    def active(self) -> bool:
        return self.status is not AlertStatus.CLOSED

    def _step(self, action: AlertAction, actor: str, at: datetime, reason: str, **changes: Any) -> Alert:
        if at < self.updated_at:
            raise ValidationError(
                f"操作时间 {at.isoformat()} 早于预警 {self.alert_id} 的最后变更时间 {self.updated_at.isoformat()}",
                alert_id=self.alert_id,
            )
        entry = HistoryEntry(action, actor, at, reason).to_dict()
        return replace(self, history=(*self.history, entry), updated_at=at, **changes)

    @property
    def supervision_level(self) -> int:
        """督办层级: the highest of the county's own escalation (``level``) and the tiers whose orders (催办 / 督办)
        acted on this alert — recorded by the county in its own history (``order_level``), never on the order."""
        ordered = (h.get("order_level") for h in self.history)
        return max([self.level, *(lv for lv in ordered if isinstance(lv, int) and not isinstance(lv, bool))])

    @property
    def supervising_order(self) -> str | None:
        """The id of the order that set :attr:`supervision_level` above the escalation level (the first of its
        tier), None when the county's own escalation is as high."""
        level = self.supervision_level
        if level <= self.level:
            return None
        return next((str(h["order_id"]) for h in self.history if h.get("order_level") == level), None)

    def person_actions(self) -> tuple[AlertAction, ...]:
        """The steps a person may take on this alert now (签收 / 催办 / 督办 / 关闭), in lifecycle order."""
        out = []
        for act in (AlertAction.ACKNOWLEDGE, AlertAction.URGE, AlertAction.SUPERVISE, AlertAction.CLOSE):
            allowed, _ = _ALLOWED[act]
            if act is AlertAction.ACKNOWLEDGE and self.acknowledged_at is not None:
                continue
            if self.status in allowed:
                out.append(act)
        return tuple(out)

    def act(
        self,
        action: AlertAction | str,
        *,
        actor: str,
        at: datetime,
        reason: str = "",
        order: tuple[str, int] | None = None,
    ) -> Alert:
        """A person's step (签收 / 催办 / 督办 / 关闭); a typed error when the status does not allow it.

        ``order`` — (order id, level of the issuing tier: 1 city, 2 province) — when the step performs an order
        from above: the history entry records it, so the alert shows the tier that supervised it."""
        try:
            act = AlertAction(action)
        except ValueError:
            raise ValidationError(f"未知的预警操作“{action}”（acknowledge、urge、supervise、close）") from None
        if act not in PERSON_ACTIONS:
            raise ValidationError(f"“{ACTION_LABELS[act]}”由系统执行，不能手工操作", action=act.value)
        if not actor.strip():
            raise ValidationError("缺少操作人", field="actor")
        reason = reason.strip()
        if act in _REASON_REQUIRED and not reason:
            raise ValidationError(f"{ACTION_LABELS[act]}预警必须填写原因或意见", field="reason")
        allowed, target = _ALLOWED[act]
        if act is AlertAction.ACKNOWLEDGE and self.acknowledged_at is not None:
            allowed = frozenset()
        if self.status not in allowed:
            raise InvalidTransition(
                f"预警 {self.alert_id} 当前状态为“{STATUS_LABELS[self.status]}”，不能{ACTION_LABELS[act]}",
                alert_id=self.alert_id,
                status=self.status.value,
                action=act.value,
            )
        changes: dict[str, Any] = {"status": target}
        if act is AlertAction.ACKNOWLEDGE:
            if self.status is not AlertStatus.OPEN:  # urged / supervised before anyone signed: the order stands
                changes["status"] = self.status
            changes["acknowledged_at"] = at
            changes["ack_due_at"] = None
        elif act is AlertAction.CLOSE:
            changes.update(closed_at=at, close_reason=reason, ack_due_at=None)
        elif self.status is AlertStatus.OPEN:
            changes["ack_due_at"] = self.ack_due_at  # an order does not acknowledge the alert
        after = self._step(act, actor, at, reason, **changes)
        if order is not None:
            order_id, level = order
            if not 0 < level <= MAX_LEVEL:
                raise ValidationError(f"督办指令层级无效：{level}", order_id=order_id)
            entry = {**after.history[-1], "order_id": order_id, "order_level": level}
            after = replace(after, history=(*after.history[:-1], entry))
        return after

    def escalate(self, *, at: datetime, next_due: datetime | None, ack_days: int) -> Alert:
        """No acknowledgement within the limit: one level up (county → city → province)."""
        if self.status not in UNACKNOWLEDGED or self.acknowledged_at is not None or self.level >= MAX_LEVEL:
            raise InvalidTransition(f"预警 {self.alert_id} 不需要升级", alert_id=self.alert_id)
        level = self.level + 1
        reason = f"超过 {ack_days} 个工作日未签收，升级至{ESCALATION_LABELS[level]}督办"
        return self._step(
            AlertAction.ESCALATE,
            "system",
            at,
            reason,
            level=level,
            escalated_at=at,
            ack_due_at=next_due if level < MAX_LEVEL else None,
        )

    def clear(self, *, at: datetime, reason: str) -> Alert:
        """The condition no longer holds: an active alert closes itself; a closed one stops standing."""
        if not self.standing:
            raise InvalidTransition(f"预警 {self.alert_id} 已不再有效", alert_id=self.alert_id)
        at = max(at, self.updated_at)
        if self.active:
            return self._step(
                AlertAction.CLEAR,
                "system",
                at,
                reason,
                status=AlertStatus.CLOSED,
                standing=False,
                closed_at=at,
                close_reason=reason,
                ack_due_at=None,
            )
        return self._step(AlertAction.CLEAR, "system", at, reason, standing=False)

    def to_row(self) -> dict[str, Any]:
        return {
            "alert_id": self.alert_id,
            "origin": self.origin,
            "subject_kind": self.subject_kind,
            "subject_id": self.subject_id,
            "case_no": self.case_no,
            "rule_id": self.rule_id,
            "rule_version": self.rule_version,
            "rule_name": self.rule_name,
            "light": self.light,
            "status": self.status.value,
            "standing": self.standing,
            "level": self.level,
            "department": self.department,
            "standards_version": self.standards_version,
            "opened_at": self.opened_at,
            "ack_due_at": self.ack_due_at,
            "acknowledged_at": self.acknowledged_at,
            "escalated_at": self.escalated_at,
            "closed_at": self.closed_at,
            "close_reason": self.close_reason,
            "evidence": list(self.evidence),
            "clock": dict(self.clock) if self.clock is not None else None,
            "details": dict(self.details),
            "parameters": dict(self.parameters),
            "history": [dict(h) for h in self.history],
            "updated_at": self.updated_at,
        }

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> Alert:
        return cls(
            alert_id=row["alert_id"],
            origin=row["origin"],
            subject_kind=row["subject_kind"],
            subject_id=row["subject_id"],
            case_no=row["case_no"],
            rule_id=row["rule_id"],
            rule_version=row["rule_version"],
            rule_name=row["rule_name"],
            light=row["light"],
            status=AlertStatus(row["status"]),
            standing=bool(row["standing"]),
            level=row["level"],
            department=row["department"],
            standards_version=row["standards_version"],
            opened_at=row["opened_at"],
            ack_due_at=row["ack_due_at"],
            acknowledged_at=row["acknowledged_at"],
            escalated_at=row["escalated_at"],
            closed_at=row["closed_at"],
            close_reason=row["close_reason"],
            evidence=tuple(row["evidence"] or ()),
            clock=row["clock"],
            details=row["details"] or {},
            parameters=row["parameters"] or {},
            history=tuple(row["history"] or ()),
            updated_at=row["updated_at"],
        )
