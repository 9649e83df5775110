"""The SMS gateway (短信网关) adapter of the notifier port: one JSON POST per message over httpx, with retries.

The wire contract, for whoever runs the gateway::

    POST <notify.sms_url>
    Authorization: Bearer <the keyring's notify.sms_token_key> (only when a token is configured)
    {"to": "13800138000", "message": "…", "ref": "alert:A2026…:17"}

    2xx              delivered; the answer's "id" (optional) is kept as the gateway's message id
    429, 5xx         busy or broken: tried again in this call, then DeliveryFailed(retryable=True)
    other 4xx, 3xx   refused: DeliveryFailed(retryable=False) with the gateway's answer — the dispatcher marks
                     the message failed, since sending it again cannot help

Timeouts and transport errors (refused connection, reset, DNS) count as "busy". ``ref`` is unique per delivery
log row, so a gateway can drop the duplicate of an at-least-once resend. httpx errors are translated to
:class:`federation.errors.DeliveryFailed` here and nowhere else.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

import httpx
import structlog

from county_node.supervision.notify import DeliveryReceipt, LogNotifier, Notification, Notifier
from federation.config import NotifyConfig
from federation.errors import DeliveryFailed
from federation.http_client import http_client

__all__ = ["SmsGatewayNotifier", "build_notifier"]

log = structlog.get_logger(__name__)

_ANSWER_MAX = 200  # characters of the gateway's answer kept in an error


def _answer(response: httpx.Response) -> str:
    text = " ".join(response.text.split())
    return text if len(text) <= _ANSWER_MAX else text[:_ANSWER_MAX] + "…"


def _gateway_id(response: httpx.Response) -> str | None:
    try:
        body: Any = response.json()
    except ValueError:  # not JSON (or not text): delivered all the same
        return None
    value = body.get("id") if isinstance(body, dict) else None
    if value is None or value == "":
        return None
    return str(value)


class SmsGatewayNotifier:
    """Sends each message with one POST to ``url``; ``retries`` more tries in the call on a timeout, a transport
    error, 429 or 5xx, after a short jittered pause (``retry_delay`` seconds, doubling, at most 2 s).

    ``client``: an :class:`httpx.Client` to use (a test's transport, shared pools); the notifier then leaves it
    open on :meth:`close`. ``sleep`` is the pause (tests may pass a no-op)."""

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        timeout: float = 5.0,
        retries: int = 3,
        client: httpx.Client | None = None,
        retry_delay: float = 0.2,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if retries < 0:
            raise ValueError("retries must not be negative")
        self.url = url
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._timeout = timeout
        self._retries = retries
        self._retry_delay = retry_delay
        self._sleep = sleep
        self._owns_client = client is None
        self._client = client if client is not None else http_client(timeout=timeout)

    def send(self, notification: Notification) -> DeliveryReceipt:
        payload = {"to": notification.to, "message": notification.message, "ref": notification.ref}
        reason = ""  # why the last try failed (retryable); empty before the first try
        status: int | None = None
        cause: Exception | None = None
        for attempt in range(self._retries + 1):
            if attempt:
                pause = self._pause(attempt)
                log.info("sms.retry", ref=notification.ref, attempt=attempt + 1, pause=round(pause, 3), error=reason)
                self._sleep(pause)
            try:
                response = self._client.post(self.url, json=payload, headers=self._headers, timeout=self._timeout)
            except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:  # configuration: no try can succeed
                raise DeliveryFailed(f"短信网关地址无效：{self.url}（{exc}）", retryable=False, url=self.url) from exc
            except httpx.TimeoutException as exc:
                reason, status, cause = f"短信网关超时：{self._timeout:g} 秒内未应答", None, exc
                continue
            except httpx.TransportError as exc:
                reason, status, cause = f"无法连接短信网关：{exc or type(exc).__name__}", None, exc
                continue
            status, cause = response.status_code, None
            if 200 <= status < 300:
                return DeliveryReceipt(_gateway_id(response))
            if status == 429 or status >= 500:
                reason = f"短信网关暂时不可用：HTTP {status} {_answer(response)}".rstrip()
                continue
            raise DeliveryFailed(
                f"短信网关拒绝：HTTP {status} {_answer(response)}".rstrip(),
                retryable=False,
                url=self.url,
                status=status,
            )
        if self._retries:
            reason += f"（已重试 {self._retries} 次）"
        raise DeliveryFailed(reason, retryable=True, url=self.url, status=status) from cause

    def _pause(self, attempt: int) -> float:
        return random.uniform(0.5, 1.0) * min(2.0, self._retry_delay * 2.0 ** (attempt - 1))

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> SmsGatewayNotifier:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def build_notifier(config: NotifyConfig, token: str | None = None) -> Notifier:
    """The notifier ``[notify]`` asks for: the SMS gateway at ``sms_url`` (``token``: its bearer token, from the
    keyring entry ``sms_token_key``), or the log when it is empty."""
    if not config.sms_url:
        return LogNotifier()
    return SmsGatewayNotifier(config.sms_url, token=token or None, timeout=config.timeout_s)
