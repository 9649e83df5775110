"""Notifications: the delivery log (``notifications``), its dispatcher and the SMS gateway adapter.

The gateway is a real HTTP server on ``127.0.0.1`` (the standard library's ``ThreadingHTTPServer`` on its own
thread, port 0) that records every request and answers from a script: success with an id, 500 a few times,
always 500, 400, an answer slower than the client's timeout. "Down" is a socket bound to the gateway's port but
not listening (connections are refused) until the test brings the server up on that very port. The database is
real SQLite and PostgreSQL migrated to head (the ``engine`` fixture); the clock is the tests' settable clock.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import Engine, select
from structlog.testing import capture_logs

from county_node.supervision.adapters.sms import SmsGatewayNotifier, build_notifier
from county_node.supervision.notify import (
    Backoff,
    DeliveryReceipt,
    DispatchReport,
    LogNotifier,
    Notification,
    NotificationDispatcher,
    Notifier,
    enqueue,
    start_dispatcher,
)
from federation.config import NotifyConfig
from federation.errors import DeliveryFailed, ValidationError
from federation.storage.tables import notifications
from federation.storage.uow import UnitOfWork
from tests.conftest import FakeClock, ProxyTrap

PHONE_A = "13800138000"
PHONE_B = "13912345678"
MESSAGE = "【阳光政务】莒县 XK00001000 办件 371122-2026-000001 已亮红灯，请于今日内处理。"
BACKOFF = Backoff(base=timedelta(seconds=30), factor=2.0, cap=timedelta(minutes=30))
TOKEN = "t0ken"


# --- the gateway -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes | None = None  # None: {"id": "gw-<request number>"}
    delay: float = 0.0  # seconds before answering


@dataclass
class Gateway:
    """A real SMS gateway stand-in: answers each POST with the next scripted :class:`Reply`, else ``default``."""

    script: list[Reply] = field(default_factory=list)
    default: Reply = field(default_factory=Reply)
    requests: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler(), bind_and_activate=False)
        self.server.daemon_threads = True
        self.server.server_bind()  # bound, not listening yet: a connection is refused until up()
        self.port = int(self.server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}/sms/send"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with gateway._lock:
                    gateway.requests.append(
                        {
                            "path": self.path,
                            "authorization": self.headers.get("Authorization"),
                            "content_type": self.headers.get("Content-Type"),
                            "json": json.loads(body),
                        }
                    )
                    number = len(gateway.requests)
                    reply = gateway.script.pop(0) if gateway.script else gateway.default
                if reply.delay:
                    time.sleep(reply.delay)
                payload = reply.body if reply.body is not None else json.dumps({"id": f"gw-{number}"}).encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout): fine
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the test reads ``gateway.requests``."""

        return Handler

    def up(self) -> None:
        self.server.server_activate()
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, name="sms-gateway", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        if self._thread is not None:
            self.server.shutdown()
            self._thread.join(5)
        self.server.server_close()

    def refs(self) -> list[str]:
        with self._lock:
            return [r["json"]["ref"] for r in self.requests]


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    gw = Gateway()
    gw.up()
    yield gw
    gw.close()


@pytest.fixture
def down_gateway() -> Iterator[Gateway]:
    gw = Gateway()
    yield gw
    gw.close()


# --- helpers ---------------------------------------------------------------------------------------------------


def sms(url: str, *, retries: int = 0, timeout: float = 5.0) -> SmsGatewayNotifier:
    return SmsGatewayNotifier(url, token=TOKEN, timeout=timeout, retries=retries, retry_delay=0.01)


def put(engine: Engine, clock: FakeClock, *recipients: str, subject_id: str = "A0001") -> int:
    with UnitOfWork(engine) as uow:
        count = enqueue(
            uow.conn,
            recipients=recipients or (PHONE_A,),
            subject_kind="alert",
            subject_id=subject_id,
            message=MESSAGE,
            now=clock(),
        )
        uow.commit()
    return count


def rows(engine: Engine) -> list[dict[str, Any]]:
    with UnitOfWork(engine, readonly=True) as uow:
        return [dict(r._mapping) for r in uow.conn.execute(select(notifications).order_by(notifications.c.id))]


def the_row(engine: Engine) -> dict[str, Any]:
    (row,) = rows(engine)
    return row


def dispatcher(engine: Engine, notifier: Notifier, clock: FakeClock, max_attempts: int = 5) -> NotificationDispatcher:
    return NotificationDispatcher(engine, notifier, clock, max_attempts=max_attempts, backoff=BACKOFF)


def later(clock: FakeClock, delta: timedelta) -> None:
    clock.now += delta


# --- enqueue ---------------------------------------------------------------------------------------------------


def test_enqueue_adds_one_pending_row_per_recipient_in_the_callers_transaction(
    engine: Engine, clock: FakeClock
) -> None:
    assert put(engine, clock, PHONE_A, PHONE_B, PHONE_A, " ") == 2  # duplicates and blanks once / never
    assert put(engine, clock, "", subject_id="A0002") == 0
    got = rows(engine)
    assert [(r["recipient"], r["status"], r["attempts"], r["channel"]) for r in got] == [
        (PHONE_A, "pending", 0, "sms"),
        (PHONE_B, "pending", 0, "sms"),
    ]
    assert all(r["created_at"] == clock() and r["sent_at"] is None and r["last_error"] is None for r in got)
    with UnitOfWork(engine) as uow:  # not committed: nothing is left behind
        enqueue(uow.conn, recipients=[PHONE_A], subject_kind="alert", subject_id="A9", message=MESSAGE, now=clock())
    assert len(rows(engine)) == 2
    with UnitOfWork(engine) as uow, pytest.raises(ValidationError, match="通知内容不能为空"):
        enqueue(uow.conn, recipients=[PHONE_A], subject_kind="alert", subject_id="A9", message=" ", now=clock())


# --- delivery --------------------------------------------------------------------------------------------------


def test_a_delivered_message_is_recorded_sent_with_the_gateway_id(
    engine: Engine, clock: FakeClock, gateway: Gateway
) -> None:
    put(engine, clock, PHONE_A, PHONE_B)
    later(clock, timedelta(seconds=5))
    with sms(gateway.url) as notifier:
        report = dispatcher(engine, notifier, clock).dispatch_once()
    assert report == DispatchReport(sent=2)
    got = rows(engine)
    assert [(r["status"], r["attempts"], r["gateway_id"], r["last_error"]) for r in got] == [
        ("sent", 1, "gw-1", None),
        ("sent", 1, "gw-2", None),
    ]
    assert all(r["sent_at"] == clock() for r in got)
    assert [r["json"] for r in gateway.requests] == [
        {"to": PHONE_A, "message": MESSAGE, "ref": f"alert:A0001:{got[0]['id']}"},
        {"to": PHONE_B, "message": MESSAGE, "ref": f"alert:A0001:{got[1]['id']}"},
    ]
    assert {(r["path"], r["authorization"], r["content_type"]) for r in gateway.requests} == {
        ("/sms/send", f"Bearer {TOKEN}", "application/json")
    }


@pytest.mark.parametrize(("body", "gateway_id"), [(b'{"ok": true}', None), (b"OK", None), (b'{"id": 42}', "42")])
def test_a_success_without_an_id_is_still_delivered(
    engine: Engine, clock: FakeClock, gateway: Gateway, body: bytes, gateway_id: str | None
) -> None:
    gateway.script = [Reply(200, body)]
    put(engine, clock)
    with sms(gateway.url) as notifier:
        assert dispatcher(engine, notifier, clock).dispatch_once() == DispatchReport(sent=1)
    assert (the_row(engine)["status"], the_row(engine)["gateway_id"]) == ("sent", gateway_id)


def test_transient_errors_are_retried_within_the_call(engine: Engine, clock: FakeClock, gateway: Gateway) -> None:
    gateway.script = [Reply(500), Reply(503), Reply(429)]
    put(engine, clock)
    with sms(gateway.url, retries=3) as notifier:
        assert dispatcher(engine, notifier, clock).dispatch_once() == DispatchReport(sent=1)
    row = the_row(engine)
    assert (row["status"], row["attempts"], row["gateway_id"]) == ("sent", 1, "gw-4")
    assert gateway.refs() == [f"alert:A0001:{row['id']}"] * 4


def test_transient_errors_are_retried_by_later_passes_with_the_attempts_counted(
    engine: Engine, clock: FakeClock, gateway: Gateway
) -> None:
    gateway.script = [Reply(500, b'{"error": "db down"}'), Reply(429, b"slow down")]
    put(engine, clock)
    with sms(gateway.url) as notifier:
        dispatch = dispatcher(engine, notifier, clock)
        assert dispatch.dispatch_once() == DispatchReport(retried=1)
        row = the_row(engine)
        assert (row["status"], row["attempts"]) == ("pending", 1)
        assert row["last_error"] == '短信网关暂时不可用：HTTP 500 {"error": "db down"}'

        assert dispatch.dispatch_once() == DispatchReport()  # not due before its backoff
        later(clock, BACKOFF.delay(1) - timedelta(seconds=1))
        assert dispatch.dispatch_once() == DispatchReport()
        assert len(gateway.requests) == 1

        later(clock, timedelta(seconds=1))
        assert dispatch.dispatch_once() == DispatchReport(retried=1)
        row = the_row(engine)
        assert (row["status"], row["attempts"], row["last_error"]) == (
            "pending",
            2,
            "短信网关暂时不可用：HTTP 429 slow down",
        )

        later(clock, BACKOFF.delay(2))
        assert dispatch.dispatch_once() == DispatchReport(sent=1)
    row = the_row(engine)
    assert (row["status"], row["attempts"], row["gateway_id"], row["sent_at"]) == ("sent", 3, "gw-3", clock())
    assert len(gateway.requests) == 3


def test_a_refused_message_fails_at_once_with_the_gateways_answer(
    engine: Engine, clock: FakeClock, gateway: Gateway
) -> None:
    gateway.script = [Reply(400, '{"error": "号码无效"}'.encode())]
    put(engine, clock)
    with sms(gateway.url, retries=3) as notifier:
        dispatch = dispatcher(engine, notifier, clock)
        assert dispatch.dispatch_once() == DispatchReport(failed=1)
        later(clock, timedelta(days=1))
        assert dispatch.dispatch_once() == DispatchReport()
    row = the_row(engine)
    assert (row["status"], row["attempts"], row["sent_at"]) == ("failed", 1, None)
    assert row["last_error"] == '短信网关拒绝：HTTP 400 {"error": "号码无效"}'
    assert len(gateway.requests) == 1  # a refusal is not retried, neither in the call nor later


def test_a_message_fails_once_every_attempt_is_used(engine: Engine, clock: FakeClock, gateway: Gateway) -> None:
    gateway.default = Reply(500, b"")
    put(engine, clock)
    reports = []
    with sms(gateway.url, retries=1) as notifier:
        dispatch = dispatcher(engine, notifier, clock, max_attempts=3)
        for attempt in range(1, 4):
            reports.append(dispatch.dispatch_once())
            later(clock, BACKOFF.delay(attempt))
        later(clock, timedelta(days=1))
        assert dispatch.dispatch_once() == DispatchReport()
    assert reports == [DispatchReport(retried=1), DispatchReport(retried=1), DispatchReport(failed=1)]
    row = the_row(engine)
    assert (row["status"], row["attempts"]) == ("failed", 3)
    assert row["last_error"] == "短信网关暂时不可用：HTTP 500（已重试 1 次）（已尝试 3 次，不再重试）"
    assert len(gateway.requests) == 6  # 3 attempts of 2 requests each


def test_a_gateway_slower_than_the_timeout_is_tried_again_later(
    engine: Engine, clock: FakeClock, gateway: Gateway
) -> None:
    gateway.script = [Reply(delay=1.0)]
    put(engine, clock)
    with sms(gateway.url, timeout=0.2) as notifier:
        dispatch = dispatcher(engine, notifier, clock)
        started = time.monotonic()
        assert dispatch.dispatch_once() == DispatchReport(retried=1)
        assert time.monotonic() - started < 1.0
        assert the_row(engine)["last_error"] == "短信网关超时：0.2 秒内未应答"
        later(clock, BACKOFF.delay(1))
        assert dispatch.dispatch_once() == DispatchReport(sent=1)
    assert (the_row(engine)["status"], the_row(engine)["attempts"]) == ("sent", 2)


def test_a_gateway_that_is_down_leaves_the_message_pending_until_it_is_up(
    engine: Engine, clock: FakeClock, down_gateway: Gateway
) -> None:
    put(engine, clock)
    with sms(down_gateway.url, retries=2) as notifier:
        dispatch = dispatcher(engine, notifier, clock)
        assert dispatch.dispatch_once() == DispatchReport(retried=1)
        row = the_row(engine)
        assert (row["status"], row["attempts"]) == ("pending", 1)
        assert row["last_error"].startswith("无法连接短信网关：")
        assert row["last_error"].endswith("（已重试 2 次）")

        down_gateway.up()
        assert dispatch.dispatch_once() == DispatchReport()  # still backing off
        later(clock, BACKOFF.delay(1))
        assert dispatch.dispatch_once() == DispatchReport(sent=1)
    row = the_row(engine)
    assert (row["status"], row["attempts"], row["gateway_id"]) == ("sent", 2, "gw-1")


# --- at least once, never twice once sent ----------------------------------------------------------------------


def test_a_sent_message_is_never_sent_again(engine: Engine, clock: FakeClock, gateway: Gateway) -> None:
    put(engine, clock)
    with sms(gateway.url) as notifier:
        assert dispatcher(engine, notifier, clock).dispatch_once() == DispatchReport(sent=1)
        later(clock, timedelta(days=2))
        fresh = dispatcher(engine, notifier, clock)  # a restarted process: no memory of its own
        assert fresh.dispatch_once() == DispatchReport()
    assert len(gateway.requests) == 1


def test_two_dispatchers_at_once_send_each_message_once(engine: Engine, clock: FakeClock, gateway: Gateway) -> None:
    for n in range(12):
        put(engine, clock, PHONE_A, PHONE_B, subject_id=f"A{n:04d}")
    barrier = threading.Barrier(2)
    reports: list[DispatchReport] = []

    def run() -> None:
        with sms(gateway.url) as notifier:
            dispatch = dispatcher(engine, notifier, clock)
            barrier.wait(5)
            reports.append(dispatch.dispatch_once())

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sum(r.sent for r in reports) == 24
    refs = gateway.refs()
    assert len(refs) == len(set(refs)) == 24
    assert {(r["status"], r["attempts"]) for r in rows(engine)} == {("sent", 1)}


class Crash(BaseException):
    """The process dies (the power goes) after the gateway took the message, before the outcome is recorded."""


class CrashAfterSending:
    def __init__(self, inner: Notifier) -> None:
        self.inner = inner

    def send(self, notification: Notification) -> DeliveryReceipt:
        self.inner.send(notification)
        raise Crash

    def close(self) -> None:
        self.inner.close()


def test_a_crash_between_sending_and_recording_sends_again_at_least_once(
    engine: Engine, clock: FakeClock, gateway: Gateway
) -> None:
    put(engine, clock)
    with sms(gateway.url) as notifier:
        with pytest.raises(Crash):
            dispatcher(engine, CrashAfterSending(notifier), clock).dispatch_once()
        row = the_row(engine)
        assert (row["status"], row["attempts"]) == ("pending", 1)  # the claim committed, the outcome did not

        restarted = dispatcher(engine, notifier, clock)
        assert restarted.dispatch_once() == DispatchReport()  # the claim holds the row for its backoff
        later(clock, BACKOFF.delay(1))
        assert restarted.dispatch_once() == DispatchReport(sent=1)
    row = the_row(engine)
    assert (row["status"], row["attempts"], row["gateway_id"]) == ("sent", 2, "gw-2")
    assert gateway.refs() == [f"alert:A0001:{row['id']}"] * 2  # the documented duplicate, same ref


def test_a_last_attempt_whose_outcome_was_lost_is_marked_failed(
    engine: Engine, clock: FakeClock, gateway: Gateway
) -> None:
    put(engine, clock)
    with sms(gateway.url) as notifier:
        with pytest.raises(Crash):
            dispatcher(engine, CrashAfterSending(notifier), clock, max_attempts=1).dispatch_once()
        restarted = dispatcher(engine, notifier, clock, max_attempts=1)
        assert restarted.dispatch_once() == DispatchReport()
        later(clock, BACKOFF.delay(1))
        assert restarted.dispatch_once() == DispatchReport(failed=1)
    row = the_row(engine)
    assert (row["status"], row["attempts"]) == ("failed", 1)
    assert "未能记录" in row["last_error"]
    assert len(gateway.requests) == 1


class Broken:
    def send(self, notification: Notification) -> DeliveryReceipt:
        raise RuntimeError("bug")

    def close(self) -> None:
        pass


def test_a_notifier_bug_keeps_the_message_pending(engine: Engine, clock: FakeClock) -> None:
    put(engine, clock)
    with capture_logs() as logs:
        assert dispatcher(engine, Broken(), clock).dispatch_once() == DispatchReport(retried=1)
    row = the_row(engine)
    assert (row["status"], row["attempts"]) == ("pending", 1)
    assert row["last_error"] == "通知发送程序出错：RuntimeError: bug"
    assert "notification.notifier_error" in [e["event"] for e in logs]


# --- the log notifier, the factory, the background thread ------------------------------------------------------


def test_without_a_gateway_messages_go_to_the_log(engine: Engine, clock: FakeClock) -> None:
    notifier = build_notifier(NotifyConfig(recipients=(PHONE_A,)))
    assert isinstance(notifier, LogNotifier)
    put(engine, clock)
    with capture_logs() as logs:
        assert dispatcher(engine, notifier, clock).dispatch_once() == DispatchReport(sent=1)
    row = the_row(engine)
    assert (row["status"], row["gateway_id"], row["sent_at"]) == ("sent", "log", clock())
    (logged,) = [e for e in logs if e["event"] == "notification.logged"]
    assert logged["message"] == MESSAGE
    assert logged["recipient"] == "138****8000"
    assert logged["ref"] == f"alert:A0001:{row['id']}"


def test_build_notifier_with_a_url_gives_the_sms_gateway(gateway: Gateway) -> None:
    notifier = build_notifier(NotifyConfig(sms_url=gateway.url, sms_token_key="sms-token", timeout_s=1.0), TOKEN)
    assert isinstance(notifier, SmsGatewayNotifier)
    note = Notification(7, "sms", PHONE_A, "alert", "A0001", MESSAGE)
    try:
        assert notifier.send(note) == DeliveryReceipt("gw-1")
    finally:
        notifier.close()
    assert gateway.requests[0]["authorization"] == f"Bearer {TOKEN}"


def test_an_invalid_url_is_refused_for_good() -> None:
    with sms("gopher://127.0.0.1:1/sms", retries=3) as notifier, pytest.raises(DeliveryFailed) as caught:
        notifier.send(Notification(1, "sms", PHONE_A, "alert", "A0001", MESSAGE))
    assert caught.value.retryable is False
    assert caught.value.message.startswith("短信网关地址无效")


def test_the_background_dispatcher_delivers_and_stops(engine: Engine, clock: FakeClock, gateway: Gateway) -> None:
    handle = start_dispatcher(dispatcher(engine, sms(gateway.url), clock), interval=0.05)
    try:
        put(engine, clock, PHONE_A, PHONE_B)
        handle.wake()
        deadline = time.monotonic() + 10
        while {r["status"] for r in rows(engine)} != {"sent"}:
            assert time.monotonic() < deadline, rows(engine)
            time.sleep(0.02)
    finally:
        assert handle.stop(timeout=10)
    assert not handle.running
    assert len(gateway.requests) == 2


def test_the_sms_gateway_is_reached_directly_whatever_proxy_the_environment_names(
    gateway: Gateway, proxy_trap: ProxyTrap
) -> None:
    """``HTTP_PROXY`` / ``HTTPS_PROXY`` / ``ALL_PROXY`` point at a listener that would take the bearer token and
    answer "delivered": the notifier never connects to it (one client factory, ``trust_env=False``)."""
    import httpx

    with httpx.Client(timeout=2.0, verify=False) as naive:  # the control: a client trusting the environment goes there
        assert naive.post(gateway.url, json={}).json()["id"] == "proxy-fake"
    assert proxy_trap.connections == 1
    notifier = build_notifier(NotifyConfig(sms_url=gateway.url, sms_token_key="sms-token", timeout_s=1.0), TOKEN)
    try:
        assert notifier.send(Notification(8, "sms", PHONE_A, "alert", "A0002", MESSAGE)) == DeliveryReceipt("gw-1")
    finally:
        notifier.close()
    assert proxy_trap.connections == 1
    assert gateway.requests[0]["authorization"] == f"Bearer {TOKEN}"
