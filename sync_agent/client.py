"""The sending end of replication over gRPC: a :class:`Link` streams a node's batches to one receiver.

A session: open a channel, say Hello, read the receiver's Welcome marks, then for every origin stream the
source's batches after the mark, up to ``window`` batches in flight. Each Ack advances that origin (written
with ``source.record_ack`` at most once per ``linger`` and origin); a Refusal sends the origin back to the
refusal's high-water mark and the batches are sent again from there (a refusal never loses data). Responses
arrive in the order the batches were sent, so answers to batches sent before a refusal — usually GAP
refusals — are recognised as stale and ignored. An origin refused again and again (``max_refusals`` in a row,
or at once for NOT_ALLOWED) is parked for a backoff delay instead of looping.

With a ``waker`` (the node's wakes on commit) an idle link sleeps on its inbox instead of polling the outbox
every linger: a wake saying a transaction sealed new batches (its writer sealed them when due, see
:mod:`federation.storage.seal`; or the node received batches to relay) makes it fetch and send them at once; a wake
saying rows were written but not sealed starts a clock (a read-only look, ``source.unsealed``): rows no writer
sealed within two lingers (the tail after the writes stop) are sealed by the link itself. A slow look every
second covers a lost wake. Without a waker, or while it cannot listen, and in ``run_once``, the link seals and
looks every linger.

When the stream breaks or the peer is down the link logs a :class:`LinkError` and reconnects with
exponential backoff and full jitter; the new Welcome says where to resume. With the peer down the node keeps
working and its outbox keeps filling: the link catches up when the peer is back (store and forward).

Threads: the calling thread does all the work with the source; gRPC consumes the request iterator (fed from
a queue) on its own thread, and one reader thread turns responses into domain values on a second queue.
"""

from __future__ import annotations

import copy
import math
import queue
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import grpc
import structlog

from federation.errors import SunshineError
from federation.replication.trust import SenderTrust
from federation.timeutil import utcnow
from federation.wire.v1 import replication_pb2 as pb
from sync_agent.backoff import Backoff
from sync_agent.convert import Hello, Welcome, client_message_bytes, client_message_to_proto
from sync_agent.domain import Batch, Mark, RefusalReason
from sync_agent.errors import BatchRefused, LinkError
from sync_agent.link_stats import LinkStats, OriginStats
from sync_agent.link_stream import (
    CHANNEL_OPTIONS,
    WAKE_PENDING,
    WAKE_SEALED,
    End,
    Inbound,
    ResponseStream,
    Wake,
    drain,
    link_error,
    raise_failure,
    read_responses,
)
from sync_agent.ports import BatchSource, Receipt

__all__ = ["SOFTWARE", "Backoff", "Link", "LinkStats", "OriginStats", "Waker", "link_error"]

log = structlog.get_logger(__name__)

SOFTWARE = "sunshine-sync-agent/1"


_STREAM = "/federation.wire.v1.Replication/Stream"


def _serialise(message: pb.ClientMessage | bytes) -> bytes:
    """A message as bytes; bytes (a relayed batch's ``ClientMessage``, framed around the batch as received) as they
    are."""
    return message if isinstance(message, bytes) else message.SerializeToString()


def _stream(channel: grpc.Channel) -> grpc.StreamStreamMultiCallable[pb.ClientMessage | bytes, pb.ServerMessage]:
    """``Replication.Stream`` on ``channel`` (as the generated stub's), sending bytes unchanged."""
    return channel.stream_stream(
        _STREAM, request_serializer=_serialise, response_deserializer=pb.ServerMessage.FromString
    )


_ORIGINS_EVERY_S = 1.0  # how often a link looks for origins it does not carry yet (busy or idle)
_STOP_CHECK_S = 0.25  # a woken link asleep on its inbox notices the agent stopping within this
_IDLE_POLL_S = 1.0  # a woken link's look when no wake came (a lost wake), and its writes of what was acknowledged


class Waker(Protocol):
    """The node's wakes on commit (:class:`federation.storage.wake.WakeListener`)."""

    @property
    def listening(self) -> bool: ...

    def subscribe(self, callback: Callable[[str, bool], object]) -> Callable[[], None]: ...


@dataclass(frozen=True, slots=True)
class _InFlight:
    origin: str
    first_seq: int
    last_seq: int
    generation: int


@dataclass
class _OriginState:
    origin: str
    next_after: int  # the last seq sent (the next batch starts right after it)
    acked: int
    recorded: int  # the acknowledged mark last written with source.record_ack
    backoff: Backoff
    generation: int = 0  # bumped by every refusal: answers to older batches are stale
    buffer: deque[Batch] = field(default_factory=deque)
    exhausted: bool = False  # the source had nothing more at the last look
    refusals_in_row: int = 0
    parked_until: float = -math.inf


class Link:
    """Replication from this node (``node``) to one receiver at ``target`` (a ``host:port`` or a provider).

    ``name`` identifies the link in logs, stats and ``source.record_ack``. ``origins`` (default: the source's)
    are the origins to send, its own first. ``window`` batches are kept in flight; the source is asked for
    ``batch_limit`` batches at a time and sealed every ``linger`` seconds — with a ``waker``, looked at when
    woken (or every ``idle_poll`` seconds) and sealed only what no writer sealed within two lingers. ``clock``
    (monotonic seconds), ``wall_clock`` (when an error happened, when the link recovered), ``sleep`` (the backoff
    wait; default: the stop event's wait) and ``rng`` are injectable for tests.

    The last error stands until the link is connected again; then it is kept as history (``LinkStats.recover``).
    """

    def __init__(
        self,
        name: str,
        target: str | Callable[[], str],
        source: BatchSource,
        *,
        node: str,
        origins: Callable[[], Sequence[str]] | Sequence[str] | None = None,
        window: int = 8,
        batch_limit: int = 32,
        gzip: bool = True,
        backoff_initial: float = 0.2,
        backoff_max: float = 10.0,
        linger: float = 0.05,
        handshake_timeout: float = 10.0,
        ack_timeout: float = 30.0,
        max_refusals: int = 3,
        credentials: grpc.ChannelCredentials | Callable[[], grpc.ChannelCredentials] | None = None,
        trust: SenderTrust | None = None,
        up: bool = True,
        tls_name: str = "",
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = utcnow,
        sleep: Callable[[float], object] | None = None,
        rng: random.Random | None = None,
        waker: Waker | None = None,
        idle_poll: float = _IDLE_POLL_S,
    ) -> None:
        if window < 1 or batch_limit < 1:
            raise ValueError("window and batch_limit must be at least 1")
        self.name = name
        self.node = node
        self._target = target if callable(target) else (lambda: target)
        self._source = source
        if origins is None:
            self._origins: Callable[[], Sequence[str]] = source.origins
        elif callable(origins):
            self._origins = origins
        else:
            fixed = tuple(origins)
            self._origins = lambda: fixed
        self._window = window
        self._batch_limit = batch_limit
        self._compression = grpc.Compression.Gzip if gzip else None
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._linger = linger
        self._handshake_timeout = handshake_timeout
        self._ack_timeout = ack_timeout
        self._max_refusals = max_refusals
        self._credentials = credentials
        self._trust = trust
        self._up = up
        self._channel_options = [*CHANNEL_OPTIONS, *([("grpc.ssl_target_name_override", tls_name)] if tls_name else [])]
        self._clock = clock
        self._wall_clock = wall_clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._backoff = Backoff(backoff_initial, backoff_max, self._rng)
        self._lock = threading.Lock()
        self._stats = LinkStats(name)
        self._waker = waker
        self._idle_poll = idle_poll

    # --- public ----------------------------------------------------------------------------------------------

    def carried_origins(self) -> list[str]:
        """The origins this link carries (as its next session would say them in its Hello)."""
        return list(dict.fromkeys(self._origins()))

    def stats(self) -> LinkStats:
        """A consistent copy of the link's counters (safe to call from any thread)."""
        with self._lock:
            return copy.deepcopy(self._stats)

    def run_once(self, *, until_idle: bool = True) -> LinkStats:
        """One session: connect, send what the source has, return the stats; raise LinkError on failure.

        ``until_idle``: keep sealing and sending until the source has nothing more (tests and benchmarks);
        otherwise send one window's worth and wait for its answers.
        """
        self._session(stop=None, until_idle=until_idle)
        return self.stats()

    def run_forever(self, stop: threading.Event) -> None:
        """Keep the link up until ``stop`` is set, reconnecting with jittered exponential backoff."""
        log.info("replication.link_started", link=self.name, node=self.node)
        while not stop.is_set():
            try:
                self._session(stop=stop, until_idle=False)
                continue  # ended on purpose (stop, or the origins changed): reconnect at once
            except LinkError as exc:
                log.warning("replication.link_down", link=self.name, error=exc.message, status=exc.status)
            except SunshineError as exc:  # the local store failed: same remedy, wait and retry
                self._record_failure(exc)
                log.error("replication.link_source_failed", link=self.name, error=str(exc), code=exc.code)
            except Exception as exc:  # a bug must not kill the agent: log it, back off, retry
                self._record_failure(exc)
                log.exception("replication.link_failed", link=self.name)
            delay = self._backoff.next_delay()
            log.info("replication.link_retry", link=self.name, retry_in=round(delay, 3), attempt=self._backoff.attempts)
            if self._sleep is not None:
                self._sleep(delay)
            else:
                stop.wait(delay)
        log.info("replication.link_stopped", link=self.name)

    # --- one session -----------------------------------------------------------------------------------------

    def _session(self, *, stop: threading.Event | None, until_idle: bool) -> None:
        target = self._target()
        origins = tuple(dict.fromkeys(self._origins()))
        with self._lock:
            self._stats.target = target
        credentials = self._credentials() if callable(self._credentials) else self._credentials
        channel = (
            grpc.secure_channel(target, credentials, self._channel_options, self._compression)
            if credentials is not None
            else grpc.insecure_channel(target, self._channel_options, self._compression)
        )
        requests: queue.SimpleQueue[pb.ClientMessage | bytes | None] = queue.SimpleQueue()
        inbox: queue.SimpleQueue[Inbound] = queue.SimpleQueue()
        reader: threading.Thread | None = None
        call: ResponseStream | None = None
        states: dict[str, _OriginState] = {}
        try:
            call = _stream(channel)(drain(requests))
            reader = threading.Thread(
                target=read_responses, args=(call, inbox, target), name=f"link-{self.name}-reader", daemon=True
            )
            reader.start()
            nonce = self._trust.nonce() if self._trust is not None else b""
            requests.put(client_message_to_proto(Hello(self.node, origins, SOFTWARE, nonce)))
            welcome = self._expect(inbox, self._handshake_timeout, "握手应答（Welcome）")
            if not isinstance(welcome, Welcome):
                raise LinkError(f"接收端 {target} 没有以 Welcome 应答握手", target=target)
            if self._trust is not None:  # the receiver proves who it is, or nothing is sent to it
                try:
                    self._trust.verify_receiver(welcome.receiver_chain, welcome.proof, nonce, up=self._up)
                except SunshineError as exc:
                    raise LinkError(f"接收端 {target} 未能证明其身份：{exc.message}", target=target) from exc
            states = self._states(origins, welcome.marks)
            with self._lock:
                self._stats.connected = True
                self._stats.sessions += 1
                self._stats.recover(self._wall_clock())
            log.info("replication.link_connected", link=self.name, target=target, receiver=welcome.receiver)
            self._pump(states, requests, inbox, stop, until_idle=until_idle, origins=origins)
            requests.put(None)  # half-close; the receiver completes the stream
            end = self._expect(inbox, self._ack_timeout, "复制流结束")
            if not isinstance(end, End):
                raise LinkError(f"接收端 {target} 在复制流结束时发来了多余的应答", target=target)
        except LinkError as exc:
            self._record_failure(exc)
            raise
        finally:
            requests.put(None)
            if call is not None:
                call.cancel()
            channel.close()
            if reader is not None:
                reader.join(timeout=5)
            with self._lock:
                self._stats.connected = False
            self._record_acks_quietly(states)

    def _record_acks_quietly(self, states: dict[str, _OriginState]) -> None:
        """At the end of a session, also a failed one: a failure to write must not hide the link's own."""
        try:
            self._record_acks(states)
        except SunshineError as exc:
            log.warning("replication.record_ack_failed", link=self.name, error=str(exc))

    def _states(self, origins: Sequence[str], marks: Sequence[Mark]) -> dict[str, _OriginState]:
        by_origin = {m.origin: m for m in marks}
        states: dict[str, _OriginState] = {}
        with self._lock:
            for origin in origins:
                hw = by_origin.get(origin, Mark(origin)).high_water
                backoff = Backoff(self._backoff_initial, self._backoff_max, self._rng)
                states[origin] = _OriginState(origin, hw, hw, -1, backoff)  # -1: the Welcome mark is recorded too
                stats = self._stats.origins.setdefault(origin, OriginStats())
                stats.acked_high_water = hw
                stats.source_high_water = max(stats.source_high_water, hw)
                stats.parked = False
        return states

    def _pump(
        self,
        states: dict[str, _OriginState],
        requests: queue.SimpleQueue[pb.ClientMessage | bytes | None],
        inbox: queue.SimpleQueue[Inbound],
        stop: threading.Event | None,
        *,
        until_idle: bool,
        origins: tuple[str, ...],
    ) -> None:
        if self._waker is not None and stop is not None and not until_idle:
            self._pump_woken(states, requests, inbox, stop, origins=origins)
            return
        pending: deque[_InFlight] = deque()
        last_seal = -math.inf
        origins_checked = self._clock()
        refill = True
        changed = False  # a new origin to carry: what is in flight is answered, then the link reconnects
        while True:
            now = self._clock()
            if now - last_seal >= self._linger:
                self._record_acks(states)
                self._source.seal()
                last_seal = now
                for st in states.values():  # look again: new rows, or batches relayed from children
                    st.exhausted = False
            stopping = stop is not None and stop.is_set()
            if not until_idle:  # looked for even while busy: a steady stream must not hide a new origin
                changed, origins_checked = self._new_origins(origins, changed, origins_checked, now)
            if refill and not stopping and not changed:
                self._fill(states, pending, requests, now)
                refill = until_idle or stop is not None
            if pending:
                self._handle(self._expect(inbox, self._ack_timeout, "批次确认"), pending, states)
                continue
            if stopping or not refill or changed:
                return
            if until_idle:  # every origin is exhausted or parked: done, unless a last seal finds new rows
                if self._source.seal() == 0:
                    return
                last_seal = now
                for st in states.values():
                    st.exhausted = False
                continue
            try:  # idle: wait one linger, but notice at once if the receiver goes away
                item = inbox.get(timeout=self._linger)
            except queue.Empty:
                continue
            self._handle(item, pending, states)

    def _pump_woken(
        self,
        states: dict[str, _OriginState],
        requests: queue.SimpleQueue[pb.ClientMessage | bytes | None],
        inbox: queue.SimpleQueue[Inbound],
        stop: threading.Event,
        *,
        origins: tuple[str, ...],
    ) -> None:
        """:meth:`_pump` of a link with a waker: look when woken (or every ``idle_poll``), never seal under the
        writers' lock what a writer will seal within a linger."""
        assert self._waker is not None
        unsubscribe = self._waker.subscribe(lambda _origin, sealed: inbox.put(WAKE_SEALED if sealed else WAKE_PENDING))
        acks = ThreadPoolExecutor(1, thread_name_prefix=f"link-{self.name}-acks")
        try:
            self._pump_on_wakes(states, requests, inbox, stop, origins=origins, acks=acks)
        finally:
            unsubscribe()  # a wake still queued is skipped by whoever reads the inbox next
            acks.shutdown(wait=True)

    def _pump_on_wakes(
        self,
        states: dict[str, _OriginState],
        requests: queue.SimpleQueue[pb.ClientMessage | bytes | None],
        inbox: queue.SimpleQueue[Inbound],
        stop: threading.Event,
        *,
        origins: tuple[str, ...],
        acks: ThreadPoolExecutor,
    ) -> None:
        assert self._waker is not None
        pending: deque[_InFlight] = deque()
        writing: Future[None] | None = None  # the acknowledgements being written, off this thread
        look = probe = True  # at once after connecting: what is sealed, and what is pending
        last_look = last_acks = -math.inf
        origins_checked = self._clock()
        changed = False  # a new origin to carry: what is in flight is answered, then the link reconnects
        tail: tuple[int, float] | None = None  # rows left unsealed: the highest seq then, and when first seen
        hold = 2 * self._linger  # how long rows may wait for a writer's seal before the link seals them

        def woken(item: Wake) -> None:  # wakes coalesce: one look for all that arrived meanwhile
            nonlocal look, probe
            if item.sealed:
                look = True  # new batches: fetch them
            elif tail is None:
                probe = True  # new rows a writer did not seal (yet): start the tail's clock

        while True:
            now = self._clock()
            poll = self._idle_poll if self._waker.listening else self._linger
            polled = now - last_look >= poll
            if polled or probe or (tail is not None and now - tail[1] >= hold):
                probe = False
                tail, sealed = self._seal_tail(tail, now, hold)
                look = look or sealed
            if look or polled:
                look = False
                last_look = now
                if now - last_acks >= self._idle_poll and (writing is None or writing.done()):
                    # a write to the node's database waits for its writers' lock: never on the sending thread
                    writing = acks.submit(self._record_acks_quietly, self._acks_to_record(states))
                    last_acks = now
                for st in states.values():  # look again: new batches, sealed here or relayed from children
                    st.exhausted = False
            stopping = stop.is_set()
            # looked for even while busy: a steady stream must not hide a new origin
            changed, origins_checked = self._new_origins(origins, changed, origins_checked, now)
            if not stopping and not changed:
                self._fill(states, pending, requests, now)
            if pending:
                self._handle(self._expect(inbox, self._ack_timeout, "批次确认", on_wake=woken), pending, states)
                continue
            if stopping or changed:  # a new origin: reconnect, the new Hello gets its mark
                return
            wait = poll - (now - last_look)
            if tail is not None:
                wait = min(wait, tail[1] + hold - now)
            try:  # idle: sleep until a wake, the next look, or the receiver going away
                item = inbox.get(timeout=max(0.0, min(wait, _STOP_CHECK_S)))
                while isinstance(item, Wake):
                    woken(item)
                    item = inbox.get_nowait()
            except queue.Empty:
                continue
            self._handle(item, pending, states)

    def _new_origins(self, origins: tuple[str, ...], changed: bool, checked: float, now: float) -> tuple[bool, float]:
        """Whether the origins to carry changed, looked at once every ``_ORIGINS_EVERY_S``; and when last looked."""
        if changed or now - checked < _ORIGINS_EVERY_S:
            return changed, checked
        return self._origins_changed(origins), now

    def _origins_changed(self, origins: tuple[str, ...]) -> bool:
        """Whether the origins to carry changed (reconnect: the new Hello gets their marks)."""
        if tuple(dict.fromkeys(self._origins())) == origins:
            return False
        log.info("replication.link_origins_changed", link=self.name)
        return True

    def _seal_tail(
        self, tail: tuple[int, float] | None, now: float, hold: float
    ) -> tuple[tuple[int, float] | None, bool]:
        """Rows of this node pending (unsealed): seal them if they were pending already ``hold`` seconds ago
        (no writer came to seal them: the tail after the writes stopped); else remember them. Return the tail
        and whether anything was sealed."""
        sealed, top = self._source.unsealed()
        if top <= sealed:
            return None, False
        if tail is None or sealed >= tail[0]:  # new rows (what was seen before has been sealed by a writer)
            return (top, now), False
        if now - tail[1] >= hold:
            return None, self._source.seal() > 0
        return tail, False

    def _acks_to_record(self, states: dict[str, _OriginState]) -> dict[str, _OriginState]:
        """Copies of the states whose acknowledged mark is not written yet, marked as written (for another
        thread to write: :meth:`_record_acks_quietly`)."""
        due = {}
        for origin, st in states.items():
            if st.acked > st.recorded:
                due[origin] = _OriginState(origin, st.next_after, st.acked, st.recorded, st.backoff)
                st.recorded = st.acked
        return due

    def _record_acks(self, states: dict[str, _OriginState]) -> None:
        """Write what the receiver acknowledged since the last call (one write per origin, not per batch)."""
        for st in states.values():
            if st.acked > st.recorded:
                self._source.record_ack(self.name, st.origin, st.acked)
                st.recorded = st.acked

    def _fill(
        self,
        states: dict[str, _OriginState],
        pending: deque[_InFlight],
        requests: queue.SimpleQueue[pb.ClientMessage | bytes | None],
        now: float,
    ) -> None:
        """Top the window up, one batch per origin per round so no origin starves the others."""
        active = [st for st in states.values() if st.parked_until <= now]
        progress = True
        while progress and len(pending) < self._window:
            progress = False
            for st in active:
                if len(pending) >= self._window:
                    break
                batch = self._next_batch(st)
                if batch is None:
                    continue
                pending.append(_InFlight(st.origin, batch.first_seq, batch.last_seq, st.generation))
                requests.put(client_message_bytes(batch))  # a relayed batch held whole: its bytes, unchanged
                st.next_after = batch.last_seq
                progress = True
                with self._lock:
                    stats = self._stats.origins[st.origin]
                    stats.sent_batches += 1
                    stats.sent_records += batch.record_count

    def _next_batch(self, st: _OriginState) -> Batch | None:
        if not st.buffer and not st.exhausted:
            fetched = self._source.batches_after(st.origin, st.next_after, self._batch_limit)
            if not fetched:
                st.exhausted = True
                return None
            st.buffer.extend(fetched)
            with self._lock:
                stats = self._stats.origins[st.origin]
                stats.source_high_water = max(stats.source_high_water, fetched[-1].last_seq)
        return st.buffer.popleft() if st.buffer else None

    # --- answers ---------------------------------------------------------------------------------------------

    def _expect(
        self,
        inbox: queue.SimpleQueue[Inbound],
        timeout: float,
        what: str,
        on_wake: Callable[[Wake], object] | None = None,
    ) -> Welcome | Receipt | BatchRefused | End:
        """The next answer; raise LinkError when the stream broke or nothing came within ``timeout``. A wake on the
        way is passed to ``on_wake`` (the deadline stands)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                item = raise_failure(inbox.get(timeout=max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                raise LinkError(f"等待接收端的{what}超时（{timeout:g} 秒）", status="DEADLINE_EXCEEDED") from None
            if not isinstance(item, Wake):
                return item
            if on_wake is not None:
                on_wake(item)

    def _handle(self, item: Inbound, pending: deque[_InFlight], states: dict[str, _OriginState]) -> None:
        item = raise_failure(item)
        if isinstance(item, Wake):  # a link without a waker never gets one; a late one after a session: nothing
            return
        if isinstance(item, End):
            raise LinkError("接收端提前结束了复制流", status="OK")
        if not isinstance(item, Receipt | BatchRefused) or not pending:
            raise LinkError("接收端发来了与已发送批次不对应的应答（协议错误）")
        head = pending.popleft()
        origin = item.mark.origin if isinstance(item, Receipt) else item.origin
        if origin != head.origin:
            raise LinkError(f"接收端的应答来源 {origin} 与已发送批次的来源 {head.origin} 不符（协议错误）")
        st = states[head.origin]
        if isinstance(item, Receipt):
            self._on_ack(st, head, item)
        else:
            self._on_refusal(st, head, item)

    def _on_ack(self, st: _OriginState, head: _InFlight, receipt: Receipt) -> None:
        hw = receipt.mark.high_water
        if head.generation == st.generation:
            st.refusals_in_row = 0
            st.backoff.reset()
        self._backoff.reset()  # the link makes progress: a later failure starts from a short delay again
        with self._lock:
            stats = self._stats.origins[st.origin]
            stats.acked_batches += 1
            stats.acked_records += head.last_seq - head.first_seq + 1
            stats.quarantined += receipt.quarantined
            stats.acked_high_water = max(stats.acked_high_water, hw)
        st.acked = max(st.acked, hw)

    def _on_refusal(self, st: _OriginState, head: _InFlight, refused: BatchRefused) -> None:
        if head.generation != st.generation:  # sent before an earlier refusal of this origin: already resent
            log.debug("replication.stale_refusal", link=self.name, origin=st.origin, reason=refused.reason)
            return
        st.generation += 1
        st.next_after = refused.high_water
        st.buffer.clear()
        st.exhausted = False
        st.refusals_in_row += 1
        parked = refused.reason == RefusalReason.NOT_ALLOWED or st.refusals_in_row >= self._max_refusals
        delay = 0.0
        if parked:
            delay = self._backoff_max if refused.reason == RefusalReason.NOT_ALLOWED else st.backoff.next_delay()
            st.parked_until = self._clock() + delay
        with self._lock:
            stats = self._stats.origins[st.origin]
            stats.refusals += 1
            stats.acked_high_water = refused.high_water
            stats.parked = parked
        log.warning(
            "replication.batch_refused",
            link=self.name,
            origin=st.origin,
            first_seq=head.first_seq,
            last_seq=head.last_seq,
            reason=refused.reason,
            message=refused.message,
            resend_after=refused.high_water,
            parked_for=round(delay, 3) if parked else None,
        )
        st.acked = max(st.acked, refused.high_water)

    def _record_failure(self, exc: BaseException) -> None:
        message = exc.message if isinstance(exc, SunshineError) else repr(exc)
        status = exc.status if isinstance(exc, LinkError) else ""
        at = self._wall_clock()
        with self._lock:
            self._stats.fail(message, at, status=status)
