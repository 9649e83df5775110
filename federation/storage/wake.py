"""Wake on commit: a transaction that wrote outbox or ``batch_log`` rows wakes the node's sync agent once it has
committed, so the agent sends at once instead of polling the database.

A wake is a hint — it carries the origin written and whether batches were sealed (or received to relay) or only
rows written that are still to be sealed, and losing one only delays a batch until the
agent's slow fallback look (``sync_agent.client.Link``):

* **PostgreSQL** — ``pg_notify('sunshine_wake', origin)`` in the writing transaction (the server delivers it at
  commit, drops it on rollback): a unit of work's goes with its ``COMMIT`` in one round trip (:func:`defer`,
  :func:`commit`), any other writer's is run by :func:`written` at once; the agent ``LISTEN``\\ s on a dedicated
  connection.
* **SQLite** — :func:`written` notes the origin on the connection; :func:`committed` (called by the unit of work
  once the commit succeeded) sends it as one datagram to a Linux abstract Unix socket named from the database
  file's real path (:func:`sqlite_address`), non-blocking, every error ignored; :func:`discard` (rollback) drops
  the note. The agent binds that socket; if another process holds it, the agent warns and polls instead.

:class:`WakeListener` is the agent's end: ``start()``, then ``subscribe(callback)`` per link; the callback is called
with the origin and that flag on the listener's thread.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import re
import socket
import threading
from collections.abc import Callable
from typing import Any

import structlog
from sqlalchemy import Engine, text
from sqlalchemy.engine import Connection

from federation.storage.bulk import driver_error

__all__ = ["CHANNEL", "WakeListener", "commit", "committed", "defer", "discard", "sqlite_address", "written"]

log = structlog.get_logger(__name__)

CHANNEL = "sunshine_wake"  # the PostgreSQL notification channel
_NOTED = "sunshine_wake_origins"  # on a connection: the origins its open transaction wrote (SQLite) or notified
_PLAIN = re.compile(r"[0-9A-Za-z_-]+(?::sealed)?")  # a wake's payload written into the COMMIT's query as it is
_DEFERRED = "sunshine_wake_deferred"  # on a connection: its transaction's notifications go with its COMMIT
_NOTIFY = text(f"SELECT pg_notify('{CHANNEL}', :payload)")
_SEALED = ":sealed"  # a wake's payload: the origin, and this when batches were sealed (or received to relay)
_POLL_S = 0.5  # how often the listener's thread looks whether it should stop
_RECONNECT_S = 5.0  # PostgreSQL: the listening connection broke, try again after this long

_addresses: dict[str, bytes] = {}


def sqlite_address(database: str) -> bytes:
    """The abstract socket address of the agent of the SQLite database at ``database`` (its real path)."""
    found = _addresses.get(database)
    if found is None:
        digest = hashlib.sha256(os.path.realpath(database).encode("utf-8")).hexdigest()[:24]
        found = _addresses[database] = f"\0sunshine-wake-{digest}".encode()
    return found


def written(conn: Connection, origin: str, *, sealed: bool) -> None:
    """Note that this transaction wrote ``origin``'s outbox rows (``sealed``: and batches of them, or batches
    received to relay): the node's agent is woken at commit."""
    noted: dict[str, bool] | None = conn.info.get(_NOTED)
    if noted is None:
        noted = conn.info[_NOTED] = {}
    before = noted.get(origin)
    if before is True or before == sealed:
        return
    noted[origin] = sealed
    if conn.dialect.name == "postgresql" and not conn.info.get(_DEFERRED):
        conn.execute(_NOTIFY, {"payload": _payload(origin, sealed=sealed)})


def defer(conn: Connection) -> None:
    """PostgreSQL: the open transaction is committed by :func:`commit` — its notifications are sent then, in the
    same round trip as the ``COMMIT`` (a unit of work's, which commits through :func:`commit`)."""
    if conn.dialect.name == "postgresql":
        conn.info[_DEFERRED] = True


def commit(conn: Connection) -> None:
    """PostgreSQL, in a transaction :func:`defer` was called for: send its notifications and ``COMMIT`` as one
    simple query (one round trip instead of one per notification and one for the commit). The caller's
    transaction object then commits nothing more: the driver sees the connection idle. Nothing elsewhere.
    A failed commit raises SQLAlchemy's exception, as the transaction's own commit would."""
    if not conn.info.pop(_DEFERRED, False):
        return
    noted: dict[str, bool] = conn.info.get(_NOTED) or {}
    if not noted:
        return
    payloads = [_payload(origin, sealed=sealed) for origin, sealed in noted.items()]
    if not all(map(_PLAIN.fullmatch, payloads)):  # never in practice: then with parameters, COMMIT left to the caller
        for payload in payloads:
            conn.execute(_NOTIFY, {"payload": payload})
        return
    sql = "".join(f"SELECT pg_notify('{CHANNEL}', '{p}'); " for p in payloads) + "COMMIT"
    raw: Any = conn.connection.driver_connection
    try:
        raw.execute(sql)  # no parameters: the simple query protocol, which runs several statements
    except conn.dialect.loaded_dbapi.Error as exc:
        raise driver_error(conn, sql, None, exc) from exc


def _payload(origin: str, *, sealed: bool) -> str:
    return f"{origin}{_SEALED if sealed else ''}"


def _parse(payload: str) -> tuple[str, bool]:
    return (payload[: -len(_SEALED)], True) if payload.endswith(_SEALED) else (payload, False)


def discard(conn: Connection) -> None:
    """Forget what the (rolled back or new) transaction noted."""
    conn.info.pop(_NOTED, None)
    conn.info.pop(_DEFERRED, None)


def committed(conn: Connection) -> None:
    """After a successful commit: wake the agent of a SQLite database (PostgreSQL delivered its notification
    at the commit itself). Never raises."""
    noted: dict[str, bool] | None = conn.info.pop(_NOTED, None)
    if not noted or conn.dialect.name != "sqlite":
        return
    database = conn.engine.url.database
    if not database or database == ":memory:":
        return
    try:
        address = sqlite_address(database)
        sender = _sender()
        for origin, sealed in noted.items():
            sender.sendto(_payload(origin, sealed=sealed).encode("utf-8"), address)
    except OSError:  # no agent listening, its queue full, …: a wake is a hint
        pass


_senders: dict[int, socket.socket] = {}  # per process: one unbound, non-blocking datagram socket sends every wake


def _sender() -> socket.socket:
    """The process's wake sender (made on first use; a forked child makes its own). Sending a datagram from an
    unconnected socket is safe from several threads at once."""
    pid = os.getpid()
    found = _senders.get(pid)
    if found is None:
        made = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        made.setblocking(False)
        found = _senders.setdefault(pid, made)
        if found is made:
            atexit.register(made.close)
        else:  # another thread made one first
            made.close()
    return found


class WakeListener:
    """The agent's end of the wakes of ``engine``'s database: one thread, callbacks per subscriber."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._callbacks: dict[int, Callable[[str, bool], object]] = {}
        self._next_id = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self._listening = threading.Event()

    @property
    def listening(self) -> bool:
        """Whether wakes arrive now (else a link polls as it did without a listener)."""
        return self._listening.is_set()

    def subscribe(self, callback: Callable[[str, bool], object]) -> Callable[[], None]:
        """Call ``callback(origin, sealed)`` on every wake; return the function that ends the subscription."""
        with self._lock:
            key = self._next_id
            self._next_id += 1
            self._callbacks[key] = callback

        def unsubscribe() -> None:
            with self._lock:
                self._callbacks.pop(key, None)

        return unsubscribe

    def start(self) -> bool:
        """Start listening; return whether wakes will arrive (False: the link polls; a warning says why)."""
        backend = self._engine.dialect.name
        if backend == "sqlite":
            database = self._engine.url.database
            if not database or database == ":memory:":
                return False
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            try:
                sock.bind(sqlite_address(database))
            except OSError as exc:
                sock.close()
                log.warning(
                    "replication.wake_unavailable",
                    database=database,
                    error=str(exc),
                    message="无法接收提交唤醒（可能已有另一个同步代理在运行），改为定时轮询发件箱",
                )
                return False
            sock.settimeout(_POLL_S)
            self._socket = sock
            self._listening.set()
            target: Callable[[], None] = self._receive_datagrams
        elif backend == "postgresql":
            target = self._receive_notifications
        else:  # pragma: no cover - only SQLite and PostgreSQL are supported
            return False
        self._thread = threading.Thread(target=target, name="wake-listener", daemon=True)
        self._thread.start()
        if backend == "postgresql":
            self._listening.wait(2.0)  # the first LISTEN, so a test's first commit is heard
        return True

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        self._listening.clear()

    def _deliver(self, payload: str) -> None:
        origin, sealed = _parse(payload)
        with self._lock:
            callbacks = list(self._callbacks.values())
        for callback in callbacks:
            try:
                callback(origin, sealed)
            except Exception:  # a subscriber's failure must not stop the others' wakes
                log.exception("replication.wake_callback_failed", origin=origin)

    def _receive_datagrams(self) -> None:
        sock = self._socket
        assert sock is not None
        while not self._stop.is_set():
            try:
                data = sock.recv(256)
            except TimeoutError:
                continue
            except OSError:
                if self._stop.is_set():
                    return
                continue
            self._deliver(data.decode("utf-8", "replace"))

    def _receive_notifications(self) -> None:
        while not self._stop.is_set():
            raw: Any = None
            try:
                pool_conn = self._engine.raw_connection()
                raw = pool_conn.driver_connection
                pool_conn.detach()  # a connection of its own, never returned to the pool
                raw.rollback()
                raw.autocommit = True
                raw.execute(f"LISTEN {CHANNEL}")
                self._listening.set()
                while not self._stop.is_set():
                    for notice in raw.notifies(timeout=_POLL_S):
                        self._deliver(notice.payload)
            except Exception as exc:
                self._listening.clear()
                if self._stop.is_set():
                    break
                log.warning(
                    "replication.wake_listen_failed",
                    error=str(exc),
                    retry_in=_RECONNECT_S,
                    message="提交唤醒的监听连接中断，期间改为定时轮询发件箱",
                )
                self._stop.wait(_RECONNECT_S)
            finally:
                if raw is not None:
                    with contextlib.suppress(Exception):
                        raw.close()
        self._listening.clear()
