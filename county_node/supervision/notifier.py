"""The notifier port and its messages (短信通知): what one message is, how a notifier delivers it, and
:func:`enqueue`, which writes it to the delivery log (the ``notifications`` table, a transactional outbox).

The dispatcher that empties the delivery log through a :class:`Notifier` is
:mod:`county_node.supervision.notify` (which re-exports this module's names). No HTTP here (the SMS gateway
adapter lives in ``adapters.sms``).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import structlog
from sqlalchemy import insert
from sqlalchemy.engine import Connection

from federation.errors import ValidationError
from federation.query_codes import mask_query_codes
from federation.storage.tables import notifications

__all__ = [
    "AddressResolver",
    "DeliveryReceipt",
    "LogNotifier",
    "Notification",
    "NotificationStatus",
    "Notifier",
    "enqueue",
    "mask_recipient",
]

log = structlog.get_logger(__name__)


class NotificationStatus(enum.StrEnum):
    PENDING = "pending"  # waiting for its (next) try
    SENT = "sent"  # the gateway accepted it
    FAILED = "failed"  # refused, or every attempt used: needs a person


@dataclass(frozen=True, slots=True)
class Notification:
    """One message to one recipient, as read from the delivery log."""

    id: int
    channel: str
    recipient: str
    subject_kind: str  # what it is about: "alert", "complaint", …
    subject_id: str
    message: str
    address: str | None = None  # the number resolved at send time when ``recipient`` only names it (masked)

    @property
    def to(self) -> str:
        """The number the gateway sends to: the resolved address, else the recipient as stored."""
        return self.address or self.recipient

    @property
    def ref(self) -> str:
        """The reference a gateway echoes back: ``subject_kind:subject_id:id`` (unique per row)."""
        return f"{self.subject_kind}:{self.subject_id}:{self.id}"


@dataclass(frozen=True, slots=True)
class DeliveryReceipt:
    """A notifier accepted a message; ``gateway_id`` is the gateway's message id when it gave one."""

    gateway_id: str | None = None


class Notifier(Protocol):
    """The port: deliver one message or raise :class:`federation.errors.DeliveryFailed`.

    ``DeliveryFailed.retryable`` tells the dispatcher whether a later try may succeed. ``close`` releases the
    notifier's connections; the dispatcher owning the notifier calls it when it stops."""

    def send(self, notification: Notification) -> DeliveryReceipt: ...

    def close(self) -> None: ...


AddressResolver = Callable[[Connection, Notification], "str | None"]
"""Resolves, when a message is sent, the number of a delivery-log row whose channel keeps only a masked recipient
(an applicant's SMS: the number stays in ``case_contacts``); None when it cannot be had (the message fails)."""


def mask_recipient(recipient: str) -> str:
    """A phone number for the log: ``138****8000`` (idempotent: a masked number masks to itself). The delivery log
    keeps staff numbers in full; an applicant's only masked (see ``AddressResolver``)."""
    if len(recipient) < 8:
        return "*" * len(recipient)
    return f"{recipient[:3]}{'*' * (len(recipient) - 7)}{recipient[-4:]}"


class LogNotifier:
    """The notifier when no SMS gateway is configured: writes the message to the log and reports it delivered
    with gateway id ``"log"``."""

    def send(self, notification: Notification) -> DeliveryReceipt:
        log.info(
            "notification.logged",
            notification_id=notification.id,
            channel=notification.channel,
            recipient=mask_recipient(notification.recipient),
            ref=notification.ref,
            message=mask_query_codes(notification.message),  # a log line never carries a query code
        )
        return DeliveryReceipt("log")

    def close(self) -> None:
        """Nothing to release."""


def enqueue(
    conn: Connection,
    *,
    recipients: Iterable[str],
    subject_kind: str,
    subject_id: str,
    message: str,
    now: datetime,
    channel: str = "sms",
) -> int:
    """Add one ``pending`` row per recipient (duplicates once) in the caller's transaction; return how many.

    Call it in the transaction that makes the event worth telling, so the message commits (or not) with it."""
    unique = list(dict.fromkeys(r.strip() for r in recipients if r.strip()))
    if not unique:
        return 0
    if not message.strip():
        raise ValidationError("通知内容不能为空", subject_kind=subject_kind, subject_id=subject_id)
    conn.execute(
        insert(notifications),
        [
            {
                "channel": channel,
                "recipient": recipient,
                "subject_kind": subject_kind,
                "subject_id": subject_id,
                "message": message,
                "status": NotificationStatus.PENDING.value,
                "attempts": 0,
                "created_at": now,
            }
            for recipient in unique
        ],
    )
    return len(unique)
