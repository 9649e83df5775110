"""Notifications (短信通知) of supervision: the dispatcher that empties the delivery log through the notifier port.

A transactional outbox for messages. The supervision service calls :func:`enqueue` inside the transaction that
raises or escalates an alert, so a message exists exactly when its alert does; nothing is sent inside a database
transaction. A :class:`NotificationDispatcher` (one background thread per node, :func:`start_dispatcher`) then
delivers the ``pending`` rows of the ``notifications`` table through a :class:`Notifier`:

1. a short transaction claims one due row by raising ``attempts`` by one (compare-and-set on ``attempts``);
2. the notifier sends it, outside any transaction;
3. a second short transaction records the outcome: ``sent`` (with ``sent_at`` and the gateway's id), still
   ``pending`` with ``last_error`` (tried again after a backoff), or ``failed`` when the gateway refused the
   message or ``max_attempts`` tries are used up.

Delivery is **at least once** and no row is ever lost: a row leaves ``pending`` only as ``sent`` or ``failed``.
A crash (or a database failure) between 2 and 3 leaves the row ``pending`` with its attempt counted, so it is
sent again once its backoff has passed — the recipient may then get the message twice. A row recorded ``sent``
is never claimed again. Run one dispatcher per database: two are safe (a claim is a compare-and-set) but may
send a slow message twice.

When a row is due. The table has no column for the next try, so the schedule is derived from ``created_at`` and
``attempts``: try *n + 1* is due ``backoff.elapsed(n)`` after ``created_at`` (0, then base, base·(1+f), …).
Within one process the dispatcher also remembers each failure's moment and waits ``backoff.delay(n)`` from it,
so rows that waited long (a node that was down) still back off between tries; a restart forgets that and falls
back to the ``created_at`` schedule. A row still ``pending`` with every attempt used (its last try's outcome
was never recorded) is marked ``failed`` once that last try's backoff has passed.

The notifier port, the messages and :func:`enqueue` are :mod:`county_node.supervision.notifier`, re-exported
here. Pure apart from the dispatcher's SQL; no HTTP here (the SMS gateway adapter lives in ``adapters.sms``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import structlog
from sqlalchemy import Engine, and_, or_, select, update

from county_node.supervision.notifier import (
    AddressResolver,
    DeliveryReceipt,
    LogNotifier,
    Notification,
    NotificationStatus,
    Notifier,
    enqueue,
    mask_recipient,
)
from federation.errors import DeliveryFailed, SunshineError
from federation.query_codes import mask_query_codes
from federation.storage.tables import notifications
from federation.storage.uow import UnitOfWork

__all__ = [
    "AddressResolver",
    "Backoff",
    "DeliveryReceipt",
    "DispatchReport",
    "DispatcherHandle",
    "LogNotifier",
    "Notification",
    "NotificationDispatcher",
    "NotificationStatus",
    "Notifier",
    "enqueue",
    "mask_recipient",
    "start_dispatcher",
]

log = structlog.get_logger(__name__)

_GATEWAY_ID_MAX = 100  # notifications.gateway_id is String(100)
_ERROR_MAX = 1000  # keep the delivery log readable: the gateway's answer is cut to this


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential pause between a message's tries: ``base``, ``base·factor``, … never more than ``cap``."""

    base: timedelta = timedelta(seconds=30)
    factor: float = 2.0
    cap: timedelta = timedelta(minutes=30)

    def delay(self, attempts: int) -> timedelta:
        """The pause after the ``attempts``-th failed try (``attempts`` ≥ 1)."""
        wait = self.base
        for _ in range(1, attempts):
            if wait >= self.cap:
                break
            wait *= self.factor
        return min(wait, self.cap)

    def elapsed(self, attempts: int) -> timedelta:
        """Time from ``created_at`` until the try after ``attempts`` failed ones is due (0 for the first try)."""
        return sum((self.delay(n) for n in range(1, attempts + 1)), timedelta())


@dataclass(frozen=True, slots=True)
class DispatchReport:
    """What one pass did: rows recorded ``sent``, recorded ``failed``, and left ``pending`` for a later try."""

    sent: int = 0
    failed: int = 0
    retried: int = 0

    @property
    def handled(self) -> int:
        return self.sent + self.failed + self.retried


class NotificationDispatcher:
    """Delivers the due ``pending`` rows of the delivery log through ``notifier`` (see the module docstring).

    ``clock`` is the node's clock (a zero-argument callable returning an aware moment); ``batch`` bounds the
    rows one pass handles. The dispatcher owns ``notifier`` and closes it in :meth:`close`.

    ``resolvers`` (by channel): rows of those channels keep only a masked recipient; the number is resolved in the
    claiming transaction and handed to the notifier alone (logs and the table keep the masked form). A row whose
    number cannot be resolved (the applicant opted out since, the contact is gone) is marked ``failed``."""

    def __init__(
        self,
        engine: Engine,
        notifier: Notifier,
        clock: Callable[[], datetime],
        *,
        max_attempts: int = 5,
        backoff: Backoff | None = None,
        batch: int = 100,
        resolvers: Mapping[str, AddressResolver] | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if batch < 1:
            raise ValueError("batch must be at least 1")
        self._engine = engine
        self.notifier = notifier
        self._clock = clock
        self.max_attempts = max_attempts
        self.backoff = backoff or Backoff()
        self._batch = batch
        self._resolvers = dict(resolvers or {})
        self._not_before: dict[int, datetime] = {}  # row id → earliest next try (this process's failures)

    # --- one pass ----------------------------------------------------------------------------------------------

    def dispatch_once(self, *, stop: threading.Event | None = None) -> DispatchReport:
        """Claim, send and record every due row (at most ``batch``); stop early when ``stop`` is set."""
        now = self._clock()
        self._not_before = {k: v for k, v in self._not_before.items() if v > now}
        failed = self._give_up_unrecorded(now)
        sent = retried = 0
        for row_id, attempts in self._due(now):
            if stop is not None and stop.is_set():
                break
            notification = self._claim(row_id, attempts)
            if notification is None:  # another dispatcher got there first
                continue
            attempt = attempts + 1
            if notification.channel in self._resolvers and not notification.address:
                reason = "收件人号码无法取得（申请人已退订短信或联系方式已删除），不再发送"
                self._record_failed(notification, attempt, reason)
                failed += 1
                continue
            outcome = self._send(notification)
            if isinstance(outcome, DeliveryReceipt):
                self._record_sent(notification, outcome)
                sent += 1
            elif not outcome.retryable or attempt >= self.max_attempts:
                reason = outcome.reason
                if outcome.retryable:
                    reason += f"（已尝试 {attempt} 次，不再重试）"
                self._record_failed(notification, attempt, reason)
                failed += 1
            else:
                self._record_retry(notification, attempt, outcome.reason)
                retried += 1
        return DispatchReport(sent=sent, failed=failed, retried=retried)

    def _due(self, now: datetime) -> list[tuple[int, int]]:
        """``(id, attempts)`` of the due rows, oldest first: by the ``created_at`` schedule, then by this process's
        own failure times."""
        schedule = or_(
            *(
                and_(notifications.c.attempts == n, notifications.c.created_at <= now - self.backoff.elapsed(n))
                for n in range(self.max_attempts)
            )
        )
        due: list[tuple[int, int]] = []
        after = 0
        with UnitOfWork(self._engine, readonly=True) as uow:
            while len(due) < self._batch:
                page = uow.conn.execute(
                    select(notifications.c.id, notifications.c.attempts)
                    .where(notifications.c.status == NotificationStatus.PENDING.value, schedule)
                    .where(notifications.c.id > after)
                    .order_by(notifications.c.id)
                    .limit(self._batch)
                ).all()
                for row in page:
                    after = row.id
                    if row.id not in self._not_before and len(due) < self._batch:
                        due.append((row.id, row.attempts))
                if len(page) < self._batch:
                    break
        return due

    def _claim(self, row_id: int, attempts: int) -> Notification | None:
        n = notifications.c
        with UnitOfWork(self._engine) as uow:
            claimed = uow.conn.execute(
                update(notifications)
                .where(n.id == row_id, n.status == NotificationStatus.PENDING.value, n.attempts == attempts)
                .values(attempts=n.attempts + 1)
            )
            if claimed.rowcount != 1:
                return None
            full = uow.conn.execute(
                select(n.id, n.channel, n.recipient, n.subject_kind, n.subject_id, n.message).where(n.id == row_id)
            ).one()
            notification = Notification(
                id=full.id,
                channel=full.channel,
                recipient=full.recipient,
                subject_kind=full.subject_kind,
                subject_id=full.subject_id,
                message=full.message,
            )
            resolve = self._resolvers.get(full.channel)
            if resolve is not None:
                notification = replace(notification, address=resolve(uow.conn, notification) or "")
            uow.commit()
        return notification

    def _send(self, notification: Notification) -> DeliveryReceipt | DeliveryFailed:
        try:
            return self.notifier.send(notification)
        except DeliveryFailed as exc:
            return exc
        except Exception as exc:  # a bug in a notifier must neither lose the row nor stop the dispatcher
            log.exception("notification.notifier_error", notification_id=notification.id)
            return DeliveryFailed(f"通知发送程序出错：{type(exc).__name__}: {exc}", retryable=True)

    # --- recording the outcome ---------------------------------------------------------------------------------

    def _record_sent(self, notification: Notification, receipt: DeliveryReceipt) -> None:
        n = notifications.c
        now = self._clock()
        gateway_id = receipt.gateway_id[:_GATEWAY_ID_MAX] if receipt.gateway_id is not None else None
        with UnitOfWork(self._engine) as uow:
            # sent wins over anything but sent: the message did go out
            uow.conn.execute(
                update(notifications)
                .where(n.id == notification.id, n.status != NotificationStatus.SENT.value)
                # the delivery log keeps no query code once the message is out (the applicant has it)
                .values(
                    status=NotificationStatus.SENT.value,
                    sent_at=now,
                    gateway_id=gateway_id,
                    message=mask_query_codes(notification.message),
                )
            )
            uow.commit()
        self._not_before.pop(notification.id, None)
        log.info(
            "notification.sent",
            notification_id=notification.id,
            recipient=mask_recipient(notification.recipient),
            ref=notification.ref,
            gateway_id=gateway_id,
        )

    def _record_retry(self, notification: Notification, attempt: int, reason: str) -> None:
        n = notifications.c
        now = self._clock()
        with UnitOfWork(self._engine) as uow:
            uow.conn.execute(
                update(notifications)
                .where(n.id == notification.id, n.status == NotificationStatus.PENDING.value, n.attempts == attempt)
                .values(last_error=reason[:_ERROR_MAX])
            )
            uow.commit()
        retry_at = now + self.backoff.delay(attempt)
        self._not_before[notification.id] = retry_at
        log.warning(
            "notification.retry",
            notification_id=notification.id,
            ref=notification.ref,
            attempt=attempt,
            retry_at=retry_at.isoformat(),
            error=reason,
        )

    def _record_failed(self, notification: Notification, attempt: int, reason: str) -> None:
        n = notifications.c
        with UnitOfWork(self._engine) as uow:
            uow.conn.execute(
                update(notifications)
                .where(n.id == notification.id, n.status == NotificationStatus.PENDING.value, n.attempts == attempt)
                .values(
                    status=NotificationStatus.FAILED.value,
                    last_error=reason[:_ERROR_MAX],
                    message=mask_query_codes(notification.message),
                )
            )
            uow.commit()
        self._not_before.pop(notification.id, None)
        log.error(
            "notification.failed",
            notification_id=notification.id,
            recipient=mask_recipient(notification.recipient),
            ref=notification.ref,
            attempts=attempt,
            error=reason,
        )

    def _give_up_unrecorded(self, now: datetime) -> int:
        """Rows whose every attempt was claimed but whose last outcome was never recorded (a crash, or a lower
        ``max_attempts`` than when they were tried): ``failed`` once the last try's backoff has passed."""
        n = notifications.c
        stale = and_(
            n.status == NotificationStatus.PENDING.value,
            n.attempts >= self.max_attempts,
            n.created_at <= now - self.backoff.elapsed(self.max_attempts),
        )
        with UnitOfWork(self._engine, readonly=True) as uow:  # the common case: nothing, and no write lock taken
            if uow.conn.execute(select(n.id).where(stale).limit(1)).first() is None:
                return 0
        reason = f"已尝试 {self.max_attempts} 次（最后一次的发送结果未能记录，可能已送达），不再重试"
        with UnitOfWork(self._engine) as uow:
            gave_up = uow.conn.execute(
                update(notifications).where(stale).values(status=NotificationStatus.FAILED.value, last_error=reason)
            )
            uow.commit()
        count = gave_up.rowcount
        if count:
            log.error("notification.gave_up", rows=count, error=reason)
        return count

    # --- the background loop -----------------------------------------------------------------------------------

    def run(self, stop_event: threading.Event, interval: float, *, wake: threading.Event | None = None) -> None:
        """Dispatch until ``stop_event`` is set: a pass, then a pause of ``interval`` seconds (none after a full
        batch; ``wake`` cuts the pause short). A failing pass (database down, a bug) is logged and retried."""
        log.info("notification.dispatcher_started", interval=interval, max_attempts=self.max_attempts)
        while not stop_event.is_set():
            report = DispatchReport()
            try:
                report = self.dispatch_once(stop=stop_event)
            except SunshineError as exc:
                log.error("notification.dispatch_failed", error=str(exc), code=exc.code)
            except Exception:  # a bug must not end notifications for good: log it, wait, try again
                log.exception("notification.dispatch_failed")
            if report.handled >= self._batch:
                continue
            signal = wake if wake is not None else stop_event
            signal.wait(interval)
            if wake is not None:
                wake.clear()
        log.info("notification.dispatcher_stopped")

    def close(self) -> None:
        self.notifier.close()


class DispatcherHandle:
    """A dispatcher running on its own thread: :meth:`wake` it after enqueueing, :meth:`stop` it at shutdown."""

    def __init__(self, dispatcher: NotificationDispatcher, interval: float, name: str) -> None:
        self.dispatcher = dispatcher
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(
            target=dispatcher.run, args=(self._stop, interval), kwargs={"wake": self._wake}, name=name, daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        """Look for due rows now rather than after the pause (e.g. right after a commit that enqueued some)."""
        self._wake.set()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop after the message in flight (if any) and close the notifier; False if the thread did not end
        within ``timeout`` seconds (the notifier is then left open for it)."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("notification.dispatcher_stop_timeout", timeout=timeout)
            return False
        self.dispatcher.close()
        return True


def start_dispatcher(
    dispatcher: NotificationDispatcher, *, interval: float = 2.0, name: str = "notify-dispatcher"
) -> DispatcherHandle:
    """Run ``dispatcher`` on a daemon thread (one per node process); call ``.stop()`` on the handle at shutdown."""
    handle = DispatcherHandle(dispatcher, interval, name)
    handle.start()
    return handle
