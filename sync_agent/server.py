"""The receiving end of replication over gRPC: ``federation.wire.v1.Replication`` in front of a BatchSink.

One bidirectional ``Stream`` per sender. With machine trust (``trust``, the node's :class:`ReceiverTrust`; the
production default) the sender is the division of its TLS certificate — ``Hello.sender`` must agree — and every
batch must carry its origin's signature; the Welcome proves this receiver's identity to the sender. A sender
holds at most ``limits.streams_per_peer`` streams, says Hello within ``limits.hello_timeout_s`` (both kept by
:mod:`sync_agent.stream_guard`, whose :class:`StreamLimits` is re-exported here), and sends no record over
``limits.max_record_bytes`` (gRPC refuses a message over the server's limit before decoding it).

The first message must be Hello (else the stream is aborted with INVALID_ARGUMENT); the receiver answers Welcome
with its mark for every origin the sender may send, then one Ack or Refusal per Batch, in order. A refused batch
does not end the stream: the sender resends from the refusal's high-water mark. Any other failure ends the stream
with a status chosen in one place, :func:`grpc_status` (the sender reconnects with backoff and resumes from the
new Welcome).

:func:`serve` runs the servicer on a thread-pool gRPC server beside the standard health service
(``grpc.health.v1``, SERVING for "" and for the replication service) and server reflection.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent import futures
from dataclasses import dataclass, replace
from types import TracebackType
from typing import Any

import grpc
import structlog
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from federation.errors import (
    ConfigError,
    Conflict,
    Forbidden,
    InvalidDivisionCode,
    LimitExceeded,
    NotFound,
    SignatureInvalid,
    StorageError,
    SunshineError,
    Unauthenticated,
    ValidationError,
)
from federation.identities import is_boundary_origin, origin_signer, scope_prefix, validate_division_code
from federation.replication.trust import ReceiverTrust
from federation.wire.v1 import replication_pb2 as pb
from federation.wire.v1 import replication_pb2_grpc as pb_grpc
from sync_agent.convert import (
    OriginStatus,
    Welcome,
    batch_from_proto,
    client_message_kind,
    hello_from_proto,
    received_batch_wire,
    server_message_to_proto,
    status_reply_to_proto,
)
from sync_agent.domain import Batch, Mark, RefusalReason, excerpt
from sync_agent.errors import BatchRefused
from sync_agent.ports import BatchSink, Receipt
from sync_agent.stages import StageClock
from sync_agent.stream_guard import StreamGuard, StreamLimits

__all__ = [
    "GRPC_MESSAGE_LIMIT",
    "SERVICE_NAME",
    "AllowPolicy",
    "ExtraService",
    "PartlyAnswered",
    "ReplicationServicer",
    "RunningServer",
    "StreamLimits",
    "add_replication_servicer",
    "answer_batch",
    "answer_batches",
    "default_allowed",
    "groups_of",
    "grpc_status",
    "serve",
]

log = structlog.get_logger(__name__)

SERVICE_NAME: str = pb.DESCRIPTOR.services_by_name["Replication"].full_name
GRPC_MESSAGE_LIMIT = 64 * 1024 * 1024  # a batch is bounded by the sealer; gRPC's default 4 MiB is too tight

ExtraService = Callable[[grpc.Server], None]
"""Adds another servicer to the replication server (the parent's Enrolment service)."""

AllowPolicy = Callable[[str, str], bool]
"""``allowed(sender, origin)``: may ``sender`` send records of ``origin``?"""

INTERNAL_MESSAGE = "接收端内部错误，请稍后重试；如持续出现请联系接收端管理员（详情已记录日志）"

_STATUS_BY_CLASS: tuple[tuple[type[SunshineError], grpc.StatusCode], ...] = (
    (ValidationError, grpc.StatusCode.INVALID_ARGUMENT),
    (Unauthenticated, grpc.StatusCode.UNAUTHENTICATED),
    (Forbidden, grpc.StatusCode.PERMISSION_DENIED),
    (SignatureInvalid, grpc.StatusCode.PERMISSION_DENIED),
    (LimitExceeded, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (NotFound, grpc.StatusCode.NOT_FOUND),
    (Conflict, grpc.StatusCode.FAILED_PRECONDITION),
    (StorageError, grpc.StatusCode.UNAVAILABLE),
)

_SERVER_OPTIONS: list[tuple[str, int]] = [
    ("grpc.max_send_message_length", GRPC_MESSAGE_LIMIT),
    # senders ping every 30 s on an idle stream (client.py): accept that without ping strikes
    ("grpc.http2.min_ping_interval_without_data_ms", 20_000),
    ("grpc.keepalive_permit_without_calls", 1),
]


def grpc_status(error: BaseException) -> tuple[grpc.StatusCode, str]:
    """The one translation of an error to the gRPC status and message a sender sees (first match wins)::

    ValidationError → INVALID_ARGUMENT, Unauthenticated → UNAUTHENTICATED, Forbidden and SignatureInvalid →
    PERMISSION_DENIED, LimitExceeded → RESOURCE_EXHAUSTED, NotFound → NOT_FOUND, Conflict → FAILED_PRECONDITION,
    StorageError → UNAVAILABLE (retry later), any other SunshineError → INTERNAL with its message,
    anything else → INTERNAL with a generic message (never a traceback).
    """
    if not isinstance(error, SunshineError):
        return grpc.StatusCode.INTERNAL, INTERNAL_MESSAGE
    for cls, code in _STATUS_BY_CLASS:
        if isinstance(error, cls):
            return code, error.message
    return grpc.StatusCode.INTERNAL, error.message


_NONCE_BYTES = 32


def default_allowed(sender: str, origin: str) -> bool:
    """A node sends the records it owns and relays those of its subtree (a city relays its counties)."""
    try:
        if is_boundary_origin(origin) or is_boundary_origin(sender):  # only a county and its extranet node
            return origin_signer(origin) == sender
        validate_division_code(origin)
        return origin == sender or origin.startswith(scope_prefix(sender))
    except InvalidDivisionCode:
        return False


class ReplicationServicer(pb_grpc.ReplicationServicer):
    """``Stream`` and ``Status`` over a :class:`BatchSink`.

    ``Status`` answers from ``status(origin_prefix)`` (marks with counts) or, without it, from the marks of the
    origins ``origins_held`` lists; with neither it answers UNIMPLEMENTED. With machine trust the caller is its
    verified certificate's division, and hears only of its own link (the origins it may send here).
    """

    def __init__(
        self,
        sink: BatchSink,
        *,
        allowed: AllowPolicy | None = None,
        origins_held: Callable[[], Sequence[str]] | None = None,
        status: Callable[[str], Sequence[OriginStatus]] | None = None,
        trust: ReceiverTrust | None = None,
        limits: StreamLimits | None = None,
    ) -> None:
        self._sink = sink
        self._allowed = allowed or default_allowed
        self._origins_held = origins_held
        self._status = status
        self._trust = trust
        self._limits = limits or StreamLimits()
        self._guard = StreamGuard(trust, self._limits)

    def Stream(  # noqa: N802 — the RPC's name in the wire contract
        self, request_iterator: Iterator[_Received | pb.ClientMessage], context: grpc.ServicerContext
    ) -> Iterator[pb.ServerMessage]:
        peer = context.peer()
        sender = ""
        who: str | None = None
        timer = self._guard.hello_timer(context)
        try:
            identity = self._guard.who(context)
            self._guard.open(identity)
            who = identity
            timer.start()
            received = next(request_iterator, None)
            timer.cancel()
            if received is None:
                return
            first = _message(received)
            if client_message_kind(first) != "hello":
                raise ValidationError("复制流的第一条消息必须是 Hello（握手），请先发送 Hello 再发送批次")
            hello = hello_from_proto(first.hello)
            sender = hello.sender
            if self._trust is not None and sender != identity:
                raise Unauthenticated(
                    f"Hello 中的发送方 {excerpt(sender)} 与其证书身份 {identity} 不符：以证书为准，拒绝此复制流",
                    sender=excerpt(sender),
                )
            origins = [o for o in dict.fromkeys(hello.origins) if self._allowed(sender, o)]
            welcome = Welcome(self._sink.node, tuple(self._sink.marks(origins)))
            if self._trust is not None:
                if len(hello.nonce) != _NONCE_BYTES:
                    raise ValidationError("Hello 须带 32 字节的随机数，接收端以签名证明自己的身份")
                chain, proof = self._trust.welcome_proof(hello.nonce, sender)
                welcome = Welcome(welcome.receiver, welcome.marks, chain, proof)
            log.info(
                "replication.stream_opened",
                sender=sender,
                peer=peer,
                software=excerpt(hello.software),
                origins=len(origins),
                not_allowed=[excerpt(o) for o in sorted(set(hello.origins) - set(origins))[:20]],
            )
            yield server_message_to_proto(welcome)
            yield from self._answer_groups(sender, request_iterator)
        except grpc.RpcError:  # the sender cancelled or went away: nothing to answer
            log.info("replication.stream_closed_by_sender", sender=excerpt(sender), peer=peer)
            return
        except Exception as exc:  # every failure leaves through the one translation
            code, text = grpc_status(exc)
            if isinstance(exc, SunshineError):
                log.warning(
                    "replication.stream_aborted", sender=excerpt(sender), peer=peer, status=code.name, error=str(exc)
                )
            else:
                log.exception("replication.stream_failed", sender=excerpt(sender), peer=peer)
            context.abort(code, text)
        finally:
            timer.cancel()
            if who is not None:
                self._guard.close(who)
        log.info("replication.stream_closed", sender=excerpt(sender), peer=peer)

    def _answer_groups(
        self, sender: str, request_iterator: Iterator[_Received | pb.ClientMessage]
    ) -> Iterator[pb.ServerMessage]:
        """The answers to the stream's batches, group by group; a failure ends them (after the answers before it)."""
        budget = 2 * self._limits.max_batch_bytes
        for group, failure in groups_of(request_iterator, self._limits.group_batches, budget):
            try:
                answers = self._answer(sender, [m for m, _ in group], [w for _, w in group])
            except PartlyAnswered as partly:
                for answer in partly.answers:
                    yield server_message_to_proto(answer)
                raise partly.cause from None
            for answer in answers:
                yield server_message_to_proto(answer)
            if failure is not None:
                raise failure

    def _answer(
        self, sender: str, messages: Sequence[pb.Batch], wires: Sequence[bytes | None]
    ) -> list[Receipt | BatchRefused]:
        return answer_batches(
            self._sink, sender, messages, allowed=self._allowed, trust=self._trust, limits=self._limits, wires=wires
        )

    def Status(  # noqa: N802 — the RPC's name in the wire contract
        self, request: pb.StatusRequest, context: grpc.ServicerContext
    ) -> pb.StatusReply:
        if self._origins_held is None and self._status is None:
            context.abort(grpc.StatusCode.UNIMPLEMENTED, "本接收端未开放状态查询")
        try:
            if self._status is not None:
                lines = list(self._status(request.origin_prefix))
            else:
                assert self._origins_held is not None
                origins = [o for o in self._origins_held() if o.startswith(request.origin_prefix)]
                lines = [OriginStatus(m) for m in self._sink.marks(origins)]
            if self._trust is not None:  # a peer hears only of its own link: the origins it may send here
                caller = self._guard.who(context)
                lines = [line for line in lines if self._allowed(caller, line.mark.origin)]
        except Exception as exc:  # the one translation, as for Stream
            code, text = grpc_status(exc)
            log.warning("replication.status_failed", status=code.name, error=str(exc))
            context.abort(code, text)
        return status_reply_to_proto(self._sink.node, lines)


def answer_batch(
    sink: BatchSink,
    sender: str,
    message: pb.Batch,
    *,
    allowed: AllowPolicy,
    trust: ReceiverTrust | None,
    limits: StreamLimits,
) -> Receipt | BatchRefused:
    """The receiver's answer to one batch ``sender`` sent, whatever carried it (a gRPC stream, a ferry file):
    :func:`answer_batches` of one."""
    try:
        (answer,) = answer_batches(sink, sender, [message], allowed=allowed, trust=trust, limits=limits)
    except PartlyAnswered as partly:
        raise partly.cause from None
    return answer


def answer_batches(
    sink: BatchSink,
    sender: str,
    messages: Sequence[pb.Batch],
    *,
    allowed: AllowPolicy,
    trust: ReceiverTrust | None,
    limits: StreamLimits,
    wires: Sequence[bytes | None] | None = None,
) -> list[Receipt | BatchRefused]:
    """The receiver's answers to batches ``sender`` sent, in order. Each is checked on its own — the policy
    (before anything is decoded), the wire conversion, the record size, the origin's signature — and those that
    pass are checked against the marks and applied by the sink, the group in one transaction (one commit for
    all: :meth:`SqlBatchSink.receive_many`). A refusal is returned, never raised: that batch wrote nothing.
    A relaying sink keeps each batch whole: ``wires`` are the batches' bytes as they arrived (else a batch is
    serialised once from its parsed message)."""
    relay = bool(getattr(sink, "relay", False))
    answers: list[Receipt | BatchRefused | None] = [None] * len(messages)
    batches: list[tuple[int, Batch]] = []
    early: list[int] = []  # refused before the sink: their mark is read once the group is applied
    started = time.perf_counter()
    for i, message in enumerate(messages):
        checked = _check_message(sender, message, allowed=allowed, trust=trust, limits=limits)
        if isinstance(checked, BatchRefused):
            answers[i] = checked
            early.append(i)
        else:
            if relay:  # kept whole: the bytes as they arrived, when they are exactly the batch that was checked
                wire = wires[i] if wires is not None else None
                message.DiscardUnknownFields()  # nothing travels on that no tier checked
                if wire is None or len(wire) != message.ByteSize():
                    wire = message.SerializeToString()
                checked = replace(checked, wire=wire)
            batches.append((i, checked))
    stages: StageClock | None = getattr(sink, "stages", None)
    if stages is not None:
        stages.add("wire: decode, signature", time.perf_counter() - started)
    if batches:
        received, failure = _receive(sink, sender, [b for _, b in batches])
        for (i, batch), answer in zip(batches, received, strict=False):
            answers[i] = answer
            _log_answer(sender, batch, answer)
        if failure is not None:  # the answers up to the batch that failed, then the failure
            cut = batches[len(received)][0]
            raise PartlyAnswered([a for a in answers[:cut] if a is not None], failure)
    if early:  # where to resume: the mark as it stands after this group
        refused_at = set(early)
        origins = [m.origin for i, m in enumerate(messages) if i in refused_at and allowed(sender, m.origin)]
        held = {m.origin: m for m in sink.marks(list(dict.fromkeys(origins)))} if origins else {}
        for i in early:
            refused = answers[i]
            assert isinstance(refused, BatchRefused)
            mark = held.get(refused.origin)
            if mark is not None:
                answers[i] = _refusal(RefusalReason(refused.reason), refused.message, mark)
    return [a for a in answers if a is not None]


def _receive(
    sink: BatchSink, sender: str, batches: Sequence[Batch]
) -> tuple[list[Receipt | BatchRefused], Exception | None]:
    """The sink's answers: one transaction for the group where the sink can (``receive_many``), else one each. A
    group that fails is received again one batch at a time, so the good batches before the failing one are kept;
    then the answers up to it and its failure."""
    many = getattr(sink, "receive_many", None)
    if many is not None:
        try:
            return list(many(sender, batches)), None
        except Exception as exc:
            if len(batches) == 1:
                return [], exc
            log.warning("replication.group_failed", sender=sender, batches=len(batches), error=str(exc))
    out: list[Receipt | BatchRefused] = []
    for batch in batches:
        try:
            out.append(sink.receive(sender, batch))
        except BatchRefused as refused:
            out.append(refused)
        except Exception as exc:
            return out, exc
    return out, None


class PartlyAnswered(Exception):
    """A group failed at one batch: the answers before it (sent first), and the failure (which ends the stream)."""

    def __init__(self, answers: list[Receipt | BatchRefused], cause: Exception) -> None:
        super().__init__(str(cause))
        self.answers = answers
        self.cause = cause


def _log_answer(sender: str, batch: Batch, answer: Receipt | BatchRefused) -> None:
    if isinstance(answer, BatchRefused):
        # a GAP usually answers a batch sent behind one just refused: the sender ignores it, so do we
        level = log.info if answer.reason == RefusalReason.GAP else log.warning
        level(
            "replication.batch_refused",
            sender=sender,
            origin=batch.origin,
            first_seq=batch.first_seq,
            last_seq=batch.last_seq,
            reason=answer.reason,
            high_water=answer.high_water,
        )
        return
    log.debug(
        "replication.batch_acked",
        sender=sender,
        origin=batch.origin,
        high_water=answer.mark.high_water,
        quarantined=answer.quarantined,
        duplicate=answer.duplicate,
    )


def _check_message(
    sender: str, message: pb.Batch, *, allowed: AllowPolicy, trust: ReceiverTrust | None, limits: StreamLimits
) -> Batch | BatchRefused:
    """The batch of ``message``, or its refusal (with an empty mark, filled in by the caller): not allowed,
    malformed on the wire, a record over the size limit, a bad signature."""
    origin = message.origin
    if not allowed(sender, origin):  # before a payload is decoded or inflated
        log.warning("replication.batch_not_allowed", sender=sender, origin=excerpt(origin))
        return _refusal(
            RefusalReason.NOT_ALLOWED,
            f"节点 {sender} 无权发送来源 {excerpt(origin)} 的记录：只能发送本节点及其下级节点的记录",
            Mark(excerpt(origin)),
        )
    try:
        batch = batch_from_proto(
            message, max_record_bytes=limits.max_record_bytes, max_batch_bytes=limits.max_batch_bytes
        )
    except BatchRefused as refused:  # malformed on the wire: say where to resume (the origin is allowed)
        log.warning("replication.batch_malformed", sender=sender, origin=origin, error=refused.message)
        return _refusal(RefusalReason.MALFORMED, refused.message, Mark(origin))
    oversize = next((r for r in batch.records if len(r.payload) > limits.max_record_bytes), None)
    if oversize is not None:
        log.warning(
            "replication.record_too_large",
            sender=sender,
            origin=batch.origin,
            seq=oversize.origin_seq,
            bytes=len(oversize.payload),
        )
        return _refusal(
            RefusalReason.MALFORMED,
            f"来源 {batch.origin} 的记录 {oversize.origin_seq} 有 {len(oversize.payload)} 字节，"
            f"超过单条记录上限 {limits.max_record_bytes} 字节",
            Mark(batch.origin),
        )
    if trust is not None:
        try:
            trust.verify_batch(batch.origin, batch.batch_hash, batch.signature, batch.signer_chain)
        except SunshineError as exc:
            via = f"，经 {sender} 转发" if sender != batch.origin else ""
            log.warning(
                "replication.bad_signature",
                sender=sender,
                origin=batch.origin,
                first_seq=batch.first_seq,
                error=exc.message,
            )
            return _refusal(
                RefusalReason.BAD_SIGNATURE,
                f"来源 {batch.origin} 的批次 {batch.first_seq}–{batch.last_seq}{via}：签名验证失败：{exc.message}",
                Mark(batch.origin),
            )
    return batch


_END = object()


_Group = list[tuple[pb.Batch, bytes | None]]  # each batch, and its bytes as received (if known)


@dataclass(frozen=True, slots=True)
class _Received:
    """A client message as it arrived: parsed, and its bytes (a relay keeps a batch's bytes whole)."""

    message: pb.ClientMessage
    raw: bytes


def _received(raw: bytes) -> _Received:
    return _Received(pb.ClientMessage.FromString(raw), raw)


def _message(item: _Received | pb.ClientMessage) -> pb.ClientMessage:
    return item.message if isinstance(item, _Received) else item


def _wire(item: _Received | pb.ClientMessage) -> bytes | None:
    return received_batch_wire(item.raw) if isinstance(item, _Received) else None


def add_replication_servicer(servicer: ReplicationServicer, server: grpc.Server, *, keep_bytes: bool) -> None:
    """``federation.wire.v1.Replication`` on ``server``, as the generated ``add_ReplicationServicer_to_server`` adds
    it; with ``keep_bytes`` (a relay) ``Stream`` also hands the servicer each message's bytes as they arrived."""
    handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {
        "Stream": grpc.stream_stream_rpc_method_handler(
            servicer.Stream,
            request_deserializer=_received if keep_bytes else pb.ClientMessage.FromString,
            response_serializer=pb.ServerMessage.SerializeToString,
        ),
        "Status": grpc.unary_unary_rpc_method_handler(
            servicer.Status,
            request_deserializer=pb.StatusRequest.FromString,
            response_serializer=pb.StatusReply.SerializeToString,
        ),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE_NAME, handlers),))
    server.add_registered_method_handlers(SERVICE_NAME, handlers)


def groups_of(
    requests: Iterator[_Received | pb.ClientMessage], most: int, budget: int
) -> Iterator[tuple[_Group, BaseException | None]]:
    """The stream's batches in groups: whatever has arrived (up to ``most``), so a receiver behind its sender
    applies several batches in one transaction, and one alone when it keeps up (no waiting for a group to fill).
    A reader thread reads ahead, holding at most ``most`` messages and ``budget`` bytes (queued and being
    answered; one message alone whatever its size) — beyond that it waits, and gRPC's flow control holds the
    sender back. A message that is not a batch, or the stream's end or failure, ends the groups (the batches before
    it are answered first, then the failure is raised)."""
    ahead = _ReadAhead(most, budget)
    threading.Thread(target=ahead.read, args=(requests,), name="replication-reader", daemon=True).start()
    try:
        while True:
            items, sizes = ahead.take()
            group: _Group = []
            failure: BaseException | None = None
            ended = False
            for item in items:
                if item is _END:
                    ended = True
                    break
                if isinstance(item, BaseException):
                    failure = item
                    break
                message = _message(item)
                if client_message_kind(message) != "batch":
                    failure = ValidationError("Hello 只能在复制流开头发送一次")
                    break
                group.append((message.batch, _wire(item)))
            if group or failure is not None:
                yield group, failure
            ahead.release(len(items), sizes)
            if ended or failure is not None:
                return
    finally:
        ahead.stop()  # the stream is over: a reader waiting for room gives up


class _ReadAhead:
    """What the reader thread has read and the servicer not yet answered: at most ``most`` messages and ``budget``
    bytes (a message bigger than the budget is read only when nothing else is held)."""

    def __init__(self, most: int, budget: int) -> None:
        self._most = most
        self._budget = budget
        self._cond = threading.Condition()
        self._queue: deque[Any] = deque()
        self._count = 0  # messages held: queued or being answered
        self._bytes = 0
        self._stopped = False

    def read(self, requests: Iterator[_Received | pb.ClientMessage]) -> None:
        try:
            for message in requests:
                if not self._put(message, _size(message)):
                    return
            self._put(_END, 0)
        except BaseException as exc:  # handed to the servicer's thread, which raises it
            self._put(exc, 0)

    def _put(self, item: Any, size: int) -> bool:
        with self._cond:
            while not self._stopped and (
                self._count >= self._most or (self._count and self._bytes + size > self._budget)
            ):
                self._cond.wait(0.5)
            if self._stopped:
                return False
            self._queue.append((item, size))
            self._count += 1
            self._bytes += size
            self._cond.notify_all()
            return True

    def take(self) -> tuple[list[Any], int]:
        """Every message read so far (at least one: waits for it), and their bytes."""
        with self._cond:
            while not self._queue:
                self._cond.wait()
            items = [item for item, _ in self._queue]
            size = sum(n for _, n in self._queue)
            self._queue.clear()
            return items, size

    def release(self, count: int, size: int) -> None:
        """``count`` messages of ``size`` bytes answered: room for the reader."""
        with self._cond:
            self._count -= count
            self._bytes -= size
            self._cond.notify_all()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()


def _size(message: _Received | pb.ClientMessage) -> int:
    return len(message.raw) if isinstance(message, _Received) else message.ByteSize()


def _refusal(reason: RefusalReason, message: str, mark: Mark) -> BatchRefused:
    return BatchRefused(
        message, reason=reason.value, origin=mark.origin, high_water=mark.high_water, last_hash=mark.last_hash
    )


@dataclass
class RunningServer:
    """A started replication server; ``port`` is the port actually bound (ask for 0 in tests)."""

    server: grpc.Server
    health: health.HealthServicer
    host: str
    port: int
    _pool: futures.ThreadPoolExecutor
    extra_ports: tuple[int, ...] = ()  # the ports bound for ``extra_ports``, in order
    enrolment: RunningServer | None = None  # the separate server of the enrolment port

    @property
    def target(self) -> str:
        return f"{self.host}:{self.port}"

    def stop(self, grace: float | None = 1.0) -> None:
        """Report NOT_SERVING, let open streams finish for ``grace`` seconds, then cancel them."""
        if self.enrolment is not None:
            self.enrolment.stop(grace)
        self.health.enter_graceful_shutdown()
        self.server.stop(grace).wait()
        self._pool.shutdown(wait=False, cancel_futures=True)
        log.info("replication.server_stopped", target=self.target)

    def wait_for_termination(self, timeout: float | None = None) -> bool:
        return self.server.wait_for_termination(timeout)

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def serve(
    sink: BatchSink,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    allowed: AllowPolicy | None = None,
    origins_held: Callable[[], Sequence[str]] | None = None,
    status: Callable[[str], Sequence[OriginStatus]] | None = None,
    max_workers: int = 64,
    gzip: bool = False,
    credentials: grpc.ServerCredentials | None = None,
    trust: ReceiverTrust | None = None,
    limits: StreamLimits | None = None,
    max_message_bytes: int = GRPC_MESSAGE_LIMIT,
    extra: Sequence[ExtraService] = (),
    extra_ports: Sequence[tuple[str, grpc.ServerCredentials]] = (),
    enrolment_workers: int = 4,
) -> RunningServer:
    """Start a replication server on ``host:port`` and return it with the port bound.

    Every open stream holds one worker thread, so ``max_workers`` bounds the concurrent senders; calls beyond
    it are refused with RESOURCE_EXHAUSTED (the sender retries with backoff) rather than queued silently.
    Requests may always be gzip-compressed; ``gzip`` also compresses the (small) responses. ``credentials``:
    mutual TLS (with ``trust``, the node's machine trust); ``extra`` services share the server (enrolment's
    ``Renew``, authenticated by the node certificate). ``extra_ports`` (the enrolment port: TLS without client
    certificates) are bound by a *separate* server with its own ``enrolment_workers`` threads, serving only the
    ``extra`` services and health: a flood of unauthenticated enrolment calls cannot take the replication
    server's workers, nor reach replication or its Status. A message over ``max_message_bytes`` is refused by gRPC
    before it is decoded.
    """
    pool = futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="replication")
    server = grpc.server(
        pool,
        options=[*_SERVER_OPTIONS, ("grpc.max_receive_message_length", max_message_bytes)],
        maximum_concurrent_rpcs=max_workers,
        compression=grpc.Compression.Gzip if gzip else None,
    )
    add_replication_servicer(
        ReplicationServicer(
            sink, allowed=allowed, origins_held=origins_held, status=status, trust=trust, limits=limits
        ),
        server,
        keep_bytes=bool(getattr(sink, "relay", False)),
    )
    for add in extra:
        add(server)
    health_servicer = health.HealthServicer()
    for service in ("", SERVICE_NAME):
        health_servicer.set(service, health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection((SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
    address = f"{host}:{port}"
    try:
        bound = server.add_secure_port(address, credentials) if credentials else server.add_insecure_port(address)
    except RuntimeError as exc:  # grpc reports a port it cannot bind this way
        pool.shutdown(wait=False)
        raise ConfigError(f"复制服务无法监听 {address}：端口可能已被占用或地址无效", address=address) from exc
    enrolment: RunningServer | None = None
    if extra_ports:
        try:
            enrolment = _serve_enrolment(host, extra, extra_ports, enrolment_workers, max_message_bytes)
        except ConfigError:
            pool.shutdown(wait=False)
            raise
    server.start()
    running = RunningServer(
        server,
        health_servicer,
        host,
        bound,
        pool,
        enrolment.extra_ports if enrolment is not None else (),
        enrolment,
    )
    log.info("replication.server_started", target=running.target, receiver=sink.node)
    return running


def _serve_enrolment(
    host: str,
    services: Sequence[ExtraService],
    addresses: Sequence[tuple[str, grpc.ServerCredentials]],
    workers: int,
    max_message_bytes: int,
) -> RunningServer:
    """The enrolment port's own server: its own small pool, ``services`` (Enrolment) and health, nothing else."""
    pool = futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="enrolment")
    server = grpc.server(
        pool,
        options=[("grpc.max_receive_message_length", min(max_message_bytes, 1024 * 1024))],
        maximum_concurrent_rpcs=workers,
    )
    for add in services:
        add(server)
    health_servicer = health.HealthServicer()
    health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    bound = []
    for address, credentials in addresses:
        try:
            bound.append(server.add_secure_port(address, credentials))
        except RuntimeError as exc:
            pool.shutdown(wait=False)
            raise ConfigError(f"服务无法监听 {address}：端口可能已被占用或地址无效", address=address) from exc
    server.start()
    log.info("enrolment.server_started", ports=bound)
    return RunningServer(server, health_servicer, host, bound[0], pool, tuple(bound))
