"""SQL for the supervision's notifications: the :class:`~county_node.ports.Notifications` port over the delivery
log of :mod:`county_node.supervision.notify` (rows the dispatcher sends after commit)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy.engine import Connection

from county_node.supervision.notify import enqueue
from county_node.supervision.ports import Notifications

__all__ = ["NotificationStore"]


class NotificationStore(Notifications):
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def enqueue(
        self, *, recipients: Iterable[str], subject_kind: str, subject_id: str, message: str, now: datetime
    ) -> int:
        return enqueue(
            self._conn,
            recipients=recipients,
            subject_kind=subject_kind,
            subject_id=subject_id,
            message=message,
            now=now,
        )
