"""The supervision background work of a county node process: the periodic sweep and the SMS dispatcher.

Started by ``sunshine county serve`` (the composition root) after the node is built; :meth:`Background.stop` ends
both threads (the dispatcher finishes the message in flight).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy import Engine

from county_node.supervision.adapters.sms import build_notifier
from county_node.supervision.domain.alerts import ESCALATION_LABELS, Alert
from county_node.supervision.notify import (
    AddressResolver,
    DispatcherHandle,
    NotificationDispatcher,
    start_dispatcher,
)
from county_node.supervision.services import AlertHook, SupervisionService
from county_node.unit_of_work import CountyRepositories
from federation.config import Config
from federation.errors import SunshineError

__all__ = ["Background", "alert_message", "sms_hook", "start_background"]

log = structlog.get_logger(__name__)


def alert_message(alert: Alert, what: str) -> str:
    """The SMS text of an alert raised or escalated (Simplified Chinese, short)."""
    subject = f"办件 {alert.case_no}" if alert.case_no else alert.subject_id
    light = {"red": "红灯", "yellow": "黄灯"}.get(alert.light or "", "预警")
    if what == "escalated":
        return (
            f"【电子监察】{light}预警 {alert.alert_id}（{alert.rule_name}，{subject}）超时未签收，"
            f"已升级至{ESCALATION_LABELS[alert.level]}督办，请立即处理。"
        )
    return f"【电子监察】{light}预警 {alert.alert_id}：{alert.rule_name}，{subject}，请及时签收处理。"


def sms_hook(recipients: tuple[str, ...]) -> AlertHook | None:
    """The supervision service's notify hook: queue an SMS to ``recipients`` in the alert's transaction."""
    if not recipients:
        return None

    def hook(uow: CountyRepositories, alert: Alert, what: str, now: datetime) -> None:
        uow.notifications.enqueue(
            recipients=recipients,
            subject_kind="alert",
            subject_id=alert.alert_id,
            message=alert_message(alert, what),
            now=now,
        )

    return hook


@dataclass
class Background:
    stop_event: threading.Event
    sweeper: threading.Thread | None
    dispatcher: DispatcherHandle

    def stop(self) -> None:
        self.stop_event.set()
        if self.sweeper is not None:
            self.sweeper.join(timeout=30)
        self.dispatcher.stop()


def _sweep_loop(service: SupervisionService, interval: float, stop: threading.Event) -> None:
    while not stop.wait(interval):
        try:
            service.sweep()
        except SunshineError as exc:  # e.g. no standards yet: try again next time
            log.warning("supervision.sweep_skipped", code=exc.code, detail=exc.message)
        except Exception:
            log.exception("supervision.sweep_failed")


def start_background(
    config: Config,
    service: SupervisionService,
    engine: Engine,
    clock: Callable[[], datetime],
    *,
    sms_token: str | None = None,
    resolvers: Mapping[str, AddressResolver] | None = None,
) -> Background:
    """Start the sweep loop (unless ``supervision.sweep_interval_s`` is 0) and the notification dispatcher
    (``sms_token``: the gateway's bearer token, read from the keyring by the composition root; ``resolvers``: the
    numbers of channels the delivery log keeps masked, see ``NotificationDispatcher``)."""
    stop = threading.Event()
    sweeper = None
    interval = config.supervision.sweep_interval_s
    if interval > 0:
        sweeper = threading.Thread(
            target=_sweep_loop, args=(service, interval, stop), name="supervision-sweep", daemon=True
        )
        sweeper.start()
    dispatcher = start_dispatcher(
        NotificationDispatcher(
            engine,
            build_notifier(config.notify, sms_token),
            clock,
            max_attempts=config.notify.max_attempts,
            resolvers=resolvers,
        ),
        interval=config.notify.interval_s,
    )
    log.info("supervision.background_started", sweep_interval_s=interval, sms=bool(config.notify.sms_url))
    return Background(stop, sweeper, dispatcher)
