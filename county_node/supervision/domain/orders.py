"""Orders (督办 / 催办) and a county's handling of them (签收 / 办复), as pure functions over row values.

An order is issued by a city or the province (its *issuer*, who owns it) to one county, about an alert or a case
that county owns. Its lifecycle, at the issuer::

    issued (已下发) ──withdraw──▶ withdrawn (已撤回)
       └───────────close─────▶ closed (已办结)

The county owns its handling of the order, the *reply*::

    (none: 待签收, when the order arrives) ──receive──▶ received (已签收, by a person) ──answer──▶ answered (已办复)

Order ids are ``{issuer}-OD{n:08d}``, gap-free per issuer; a reply carries the id of its order. Every step is
appended to the record's ``history`` as {action, actor, at, reason}. :class:`Order` and :class:`OrderReply` are the
records as stored and replicated. No I/O here.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from county_node.supervision.domain.records import History, history_entry, required_text
from federation.errors import InvalidTransition, ValidationError

__all__ = [
    "ACTION_LABELS",
    "KIND_LABELS",
    "ORDER_ID",
    "ORDER_STATUS_LABELS",
    "REPLY_LABELS",
    "REPLY_STATUS_LABELS",
    "SUBJECT_LABELS",
    "Order",
    "OrderKind",
    "OrderReply",
    "OrderStatus",
    "OrderSubject",
    "ReplyStatus",
    "answer_reply",
    "close_order",
    "format_order_id",
    "new_order",
    "order_actor",
    "parse_kind",
    "parse_subject_kind",
    "receive_order",
    "reply_days",
    "withdraw_order",
]


class OrderKind(enum.StrEnum):
    URGE = "urge"  # 催办
    SUPERVISE = "supervise"  # 督办


class OrderStatus(enum.StrEnum):
    ISSUED = "issued"  # 已下发
    WITHDRAWN = "withdrawn"  # 已撤回
    CLOSED = "closed"  # 已办结


class OrderSubject(enum.StrEnum):
    ALERT = "alert"
    CASE = "case"


class ReplyStatus(enum.StrEnum):
    RECEIVED = "received"  # 已签收
    ANSWERED = "answered"  # 已办复


@dataclass(frozen=True, slots=True, kw_only=True)
class Order:
    """督办 / 催办: issued by ``issuer`` to ``county`` about an alert or a case of that county."""

    order_id: str
    issuer: str
    county: str
    kind: OrderKind
    subject_kind: OrderSubject
    subject_id: str
    case_no: str | None
    reason: str
    issued_by: str
    issued_at: datetime
    reply_due_at: datetime | None
    status: OrderStatus
    history: History
    updated_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderReply:
    """The county's handling of an order (签收, 办复); it carries the order's id."""

    order_id: str
    county: str
    status: ReplyStatus
    received_at: datetime
    answered_at: datetime | None
    answered_by: str | None
    answer: str | None
    history: History
    updated_at: datetime


KIND_LABELS: Mapping[str, str] = {OrderKind.URGE: "催办", OrderKind.SUPERVISE: "督办"}
ORDER_STATUS_LABELS: Mapping[str, str] = {
    OrderStatus.ISSUED: "已下发",
    OrderStatus.WITHDRAWN: "已撤回",
    OrderStatus.CLOSED: "已办结",
}
REPLY_STATUS_LABELS: Mapping[str, str] = {ReplyStatus.RECEIVED: "已签收", ReplyStatus.ANSWERED: "已办复"}
REPLY_LABELS: Mapping[str | None, str] = {
    None: "待签收",
    ReplyStatus.RECEIVED: "已签收",
    ReplyStatus.ANSWERED: "已办复",
}
"""What the issuer sees of the county's handling: no reply yet (待签收), received, answered."""
SUBJECT_LABELS: Mapping[str, str] = {OrderSubject.ALERT: "预警", OrderSubject.CASE: "办件"}
ACTION_LABELS: Mapping[str, str] = {
    "issue": "下发",
    "withdraw": "撤回",
    "close": "办结",
    "receive": "签收",
    "answer": "办复",
}

ORDER_ID = re.compile(r"(?P<issuer>\d{6})-OD(?P<n>\d{8,})", re.ASCII)
_MAX_REPLY_DAYS = 60


def format_order_id(issuer: str, n: int) -> str:
    return f"{issuer}-OD{n:08d}"


def parse_kind(value: Any) -> OrderKind:
    try:
        return OrderKind(value)
    except ValueError:
        raise ValidationError(
            f"未知的指令类型“{value}”（urge 催办、supervise 督办）", field="kind", value=str(value)
        ) from None


def parse_subject_kind(value: Any) -> OrderSubject:
    try:
        return OrderSubject(value)
    except ValueError:
        raise ValidationError(
            f"未知的督办对象类型“{value}”（alert 预警、case 办件）", field="subject_kind", value=str(value)
        ) from None


def reply_days(value: Any) -> int | None:
    """The optional reply limit in working days: none, or 0 (the same working day) … 60."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_REPLY_DAYS:
        raise ValidationError(f"办复时限应为 0 到 {_MAX_REPLY_DAYS} 个工作日", field="reply_days")
    return value


def order_actor(order: Order) -> str:
    """Who acts on the county's alert for an order: the person who issued it, and the issuing node."""
    return f"{order.issued_by}（{order.issuer}）"


# -- the issuer's order ---------------------------------------------------------------------------------------------


def new_order(
    *,
    order_id: str,
    issuer: str,
    county: str,
    kind: Any,
    subject_kind: Any,
    subject_id: str,
    case_no: str | None,
    reason: Any,
    issued_by: Any,
    reply_due_at: datetime | None,
    now: datetime,
) -> Order:
    """A new order (status ``issued``); a ValidationError for a missing reason or issuer or an unknown kind."""
    k = parse_kind(kind)
    subject = parse_subject_kind(subject_kind)
    why = required_text(reason, "reason", f"{KIND_LABELS[k]}原因")
    by = required_text(issued_by, "issued_by", "下发人", limit=100)
    return Order(
        order_id=order_id,
        issuer=issuer,
        county=county,
        kind=k,
        subject_kind=subject,
        subject_id=subject_id,
        case_no=case_no,
        reason=why,
        issued_by=by,
        issued_at=now,
        reply_due_at=reply_due_at,
        status=OrderStatus.ISSUED,
        history=(history_entry("issue", by, now, why),),
        updated_at=now,
    )


def _end_order(order: Order, *, target: OrderStatus, action: str, actor: Any, reason: str, now: datetime) -> Order:
    who = required_text(actor, "actor", "操作人", limit=100)
    label = {OrderStatus.WITHDRAWN: "撤回", OrderStatus.CLOSED: "办结"}[target]
    if order.status != OrderStatus.ISSUED:
        raise InvalidTransition(
            f"指令 {order.order_id} 当前状态为“{ORDER_STATUS_LABELS[order.status]}”，不能{label}",
            order_id=order.order_id,
            status=order.status.value,
        )
    at = max(now, order.updated_at)
    return replace(
        order, status=target, history=(*order.history, history_entry(action, who, at, reason)), updated_at=at
    )


def withdraw_order(order: Order, *, actor: Any, reason: Any, now: datetime) -> Order:
    """撤回: the issuer takes an order back (a reason is required)."""
    why = required_text(reason, "reason", "撤回原因")
    return _end_order(order, target=OrderStatus.WITHDRAWN, action="withdraw", actor=actor, reason=why, now=now)


def close_order(order: Order, *, actor: Any, reason: Any = "", now: datetime) -> Order:
    """办结: the issuer is satisfied with the county's handling and closes the order."""
    note = reason.strip() if isinstance(reason, str) else ""
    return _end_order(order, target=OrderStatus.CLOSED, action="close", actor=actor, reason=note, now=now)


# -- the county's reply ---------------------------------------------------------------------------------------------


def receive_order(order: Order, *, by: Any, now: datetime, note: str = "") -> OrderReply:
    """签收: a person of the county signs for an order that arrived (and still stands); ``note`` says what became
    of the order's alert when it was left alone."""
    who = required_text(by, "by", "签收人", limit=100)
    if order.status != OrderStatus.ISSUED:
        raise InvalidTransition(
            f"指令 {order.order_id} 已{ORDER_STATUS_LABELS[order.status][1:]}，不能签收",
            order_id=order.order_id,
            status=order.status.value,
        )
    at = now
    return OrderReply(
        order_id=order.order_id,
        county=order.county,
        status=ReplyStatus.RECEIVED,
        received_at=at,
        answered_at=None,
        answered_by=None,
        answer=None,
        history=(history_entry("receive", who, at, note),),
        updated_at=at,
    )


def answer_reply(reply: OrderReply, order: Order, *, by: Any, answer: Any, now: datetime) -> OrderReply:
    """办复: the county answers an order it received; once, and only while the issuer has not withdrawn or
    closed it."""
    who = required_text(by, "by", "办复人", limit=100)
    text = required_text(answer, "answer", "办复内容")
    if order.status != OrderStatus.ISSUED:
        raise InvalidTransition(
            f"指令 {order.order_id} 已{ORDER_STATUS_LABELS[order.status][1:]}，不能办复",
            order_id=order.order_id,
            status=order.status.value,
        )
    if reply.status != ReplyStatus.RECEIVED:
        answered = reply.answered_at.isoformat() if reply.answered_at is not None else ""
        raise InvalidTransition(f"指令 {order.order_id} 已于 {answered} 办复，不能重复办复", order_id=order.order_id)
    at = max(now, reply.updated_at)
    return replace(
        reply,
        status=ReplyStatus.ANSWERED,
        answered_at=at,
        answered_by=who,
        answer=text,
        history=(*reply.history, history_entry("answer", who, at, text)),
        updated_at=at,
    )
