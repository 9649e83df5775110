"""JSON views of orders (督办 / 催办) with their reply, shared by the county's and the issuer's CLI and HTTP API.

``--json`` on the command line prints exactly what the HTTP API returns. Moments are ISO 8601 in Beijing time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from typing_extensions import TypedDict  # pydantic needs this one on Python < 3.12

from county_node.supervision.domain.orders import (
    ACTION_LABELS,
    KIND_LABELS,
    ORDER_STATUS_LABELS,
    REPLY_LABELS,
    SUBJECT_LABELS,
    Order,
    OrderReply,
    OrderStatus,
    ReplyStatus,
)
from federation.timeutil import CST

__all__ = ["HistoryView", "OrderPageView", "OrderView", "ReplyView", "order_page_view", "order_view"]


class HistoryView(TypedDict):
    action: str
    action_label: str
    actor: str
    at: str
    reason: str


class ReplyView(TypedDict):
    county: str
    status: str
    status_label: str
    received_at: str
    answered_at: str | None
    answered_by: str | None
    answer: str | None
    history: list[HistoryView]


class OrderView(TypedDict):
    order_id: str
    issuer: str
    county: str
    kind: str
    kind_label: str
    subject_kind: str
    subject_label: str
    subject_id: str
    case_no: str | None
    reason: str
    issued_by: str
    issued_at: str
    reply_due_at: str | None
    status: str
    status_label: str
    reply_status: str  # pending | received | answered
    reply_label: str  # 待签收 | 已签收 | 已办复
    reply_overdue: bool  # an issued order not answered by its reply limit
    reply: ReplyView | None
    history: list[HistoryView]
    updated_at: str


class OrderPageView(TypedDict):
    items: list[OrderView]
    total: int
    page: int
    page_size: int


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(CST).isoformat()


def _history(entries: Sequence[Mapping[str, Any]]) -> list[HistoryView]:
    out: list[HistoryView] = []
    for h in entries:
        at = h.get("at")
        moment = datetime.fromisoformat(at) if isinstance(at, str) else None
        action = str(h.get("action", ""))
        out.append(
            {
                "action": action,
                "action_label": ACTION_LABELS.get(action, action),
                "actor": str(h.get("actor", "")),
                "at": _iso(moment) or "",
                "reason": str(h.get("reason") or ""),
            }
        )
    return out


def _reply_view(reply: OrderReply) -> ReplyView:
    return {
        "county": reply.county,
        "status": reply.status.value,
        "status_label": REPLY_LABELS[reply.status],
        "received_at": _iso(reply.received_at) or "",
        "answered_at": _iso(reply.answered_at),
        "answered_by": reply.answered_by,
        "answer": reply.answer,
        "history": _history(reply.history),
    }


def order_view(order: Order, reply: OrderReply | None, now: datetime) -> OrderView:
    """An order with its county's reply; ``now`` decides whether the reply is overdue."""
    reply_status = "pending" if reply is None else reply.status.value
    due = order.reply_due_at
    overdue = (
        order.status == OrderStatus.ISSUED and due is not None and reply_status != ReplyStatus.ANSWERED and now >= due
    )
    return {
        "order_id": order.order_id,
        "issuer": order.issuer,
        "county": order.county,
        "kind": order.kind.value,
        "kind_label": KIND_LABELS[order.kind],
        "subject_kind": order.subject_kind.value,
        "subject_label": SUBJECT_LABELS[order.subject_kind],
        "subject_id": order.subject_id,
        "case_no": order.case_no,
        "reason": order.reason,
        "issued_by": order.issued_by,
        "issued_at": _iso(order.issued_at) or "",
        "reply_due_at": _iso(due),
        "status": order.status.value,
        "status_label": ORDER_STATUS_LABELS[order.status],
        "reply_status": reply_status,
        "reply_label": REPLY_LABELS[None if reply is None else reply.status],
        "reply_overdue": bool(overdue),
        "reply": None if reply is None else _reply_view(reply),
        "history": _history(order.history),
        "updated_at": _iso(order.updated_at) or "",
    }


def order_page_view(
    items: Sequence[tuple[Order, OrderReply | None]],
    total: int,
    page: int,
    page_size: int,
    now: datetime,
) -> OrderPageView:
    return {
        "items": [order_view(o, r, now) for o, r in items],
        "total": total,
        "page": page,
        "page_size": page_size,
    }
