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

from collections.abc import Callable, Iterator, Sequence
from concurrent import futures
from dataclasses import dataclass
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
from sync_agent.answers import AllowPolicy, PartlyAnswered, answer_batches
from sync_agent.convert import (
    OriginStatus,
    Welcome,
    batch_to_proto,
    client_message_kind,
    hello_from_proto,
    server_message_to_proto,
    status_reply_to_proto,
)
from sync_agent.domain import Batch, excerpt
from sync_agent.errors import BatchRefused
from sync_agent.fetch import BatchesAfter, Fetching
from sync_agent.ports import BatchSink, Receipt
from sync_agent.stream_groups import Received, groups_of, message_of, received
from sync_agent.stream_guard import StreamGuard, StreamLimits

__all__ = [
    "GRPC_MESSAGE_LIMIT",
    "SERVICE_NAME",
    "AllowPolicy",
    "ExtraService",
    "ReplicationServicer",
    "RunningServer",
    "StreamLimits",
    "add_replication_servicer",
    "default_allowed",
    "grpc_status",
    "serve",
]

log = structlog.get_logger(__name__)

SERVICE_NAME: str = pb.DESCRIPTOR.services_by_name["Replication"].full_name
GRPC_MESSAGE_LIMIT = 64 * 1024 * 1024  # a batch is bounded by the sealer; gRPC's default 4 MiB is too tight

ExtraService = Callable[[grpc.Server], None]
"""Adds another servicer to the replication server (the parent's Enrolment service)."""


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
    # a port another process listens on is refused, not shared (gRPC sets SO_REUSEPORT by default): a node started
    # twice, or on a port it kept that something else has taken since, fails instead of splitting the traffic
    ("grpc.so_reuseport", 0),
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

    ``Fetch`` streams back, from ``batches_after``, the batches of an origin ``fetch_allowed(caller, origin)``
    admits (a county's own, for its recovery: :mod:`sync_agent.fetch`); it needs machine trust (the caller is its
    certificate) and answers UNIMPLEMENTED without ``batches_after``.
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
        batches_after: BatchesAfter | None = None,
        fetch_allowed: AllowPolicy | None = None,
    ) -> None:
        self._sink = sink

        self._allowed = allowed or default_allowed
        self._origins_held = origins_held
        self._status = status
        self._trust = trust
        self._limits = limits or StreamLimits()
        self._guard = StreamGuard(trust, self._limits)
        self._fetching = (
            Fetching(batches_after, fetch_allowed, self._guard)
            if batches_after is not None and fetch_allowed is not None
            else None
        )

    def Stream(  # noqa: N802 — the RPC's name in the wire contract
        self, request_iterator: Iterator[Received | pb.ClientMessage], context: grpc.ServicerContext
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
            opening = next(request_iterator, None)
            timer.cancel()
            if opening is None:
                return
            first = message_of(opening)
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
        self, sender: str, request_iterator: Iterator[Received | pb.ClientMessage]
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

    def Fetch(  # noqa: N802 — the RPC's name in the wire contract
        self, request: pb.FetchRequest, context: grpc.ServicerContext
    ) -> Iterator[Batch]:
        if self._fetching is None:
            context.abort(grpc.StatusCode.UNIMPLEMENTED, "本接收端不提供记录取回（恢复）")
        caller = ""
        try:
            if self._trust is None:
                raise Unauthenticated("取回记录须使用双向 TLS 与节点证书（开发模式下不提供）")
            caller = self._guard.who(context)
            assert self._fetching is not None
            yield from self._fetching.batches(caller, request.origin, request.after_seq, context.is_active)
        except Exception as exc:  # the one translation, as for Stream
            code, text = grpc_status(exc)
            log.warning("replication.fetch_failed", caller=excerpt(caller), status=code.name, error=str(exc))
            context.abort(code, text)


def _batch_bytes(batch: Batch) -> bytes:
    """A batch as ``federation.wire.v1.Batch`` bytes: one held whole is sent as it arrived."""
    return batch.wire or batch_to_proto(batch).SerializeToString()


def add_replication_servicer(servicer: ReplicationServicer, server: grpc.Server, *, keep_bytes: bool) -> None:
    """``federation.wire.v1.Replication`` on ``server``, as the generated ``add_ReplicationServicer_to_server`` adds
    it; with ``keep_bytes`` (a relay) ``Stream`` also hands the servicer each message's bytes as they arrived."""
    handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {
        "Stream": grpc.stream_stream_rpc_method_handler(
            servicer.Stream,
            request_deserializer=received if keep_bytes else pb.ClientMessage.FromString,
            response_serializer=pb.ServerMessage.SerializeToString,
        ),
        "Status": grpc.unary_unary_rpc_method_handler(
            servicer.Status,
            request_deserializer=pb.StatusRequest.FromString,
            response_serializer=pb.StatusReply.SerializeToString,
        ),
        "Fetch": grpc.unary_stream_rpc_method_handler(
            servicer.Fetch,
            request_deserializer=pb.FetchRequest.FromString,
            response_serializer=_batch_bytes,
        ),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE_NAME, handlers),))
    server.add_registered_method_handlers(SERVICE_NAME, handlers)


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
    batches_after: BatchesAfter | None = None,
    fetch_allowed: AllowPolicy | None = None,
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
            sink,
            allowed=allowed,
            origins_held=origins_held,
            status=status,
            trust=trust,
            limits=limits,
            batches_after=batches_after,
            fetch_allowed=fetch_allowed,
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
        options=[("grpc.max_receive_message_length", min(max_message_bytes, 1024 * 1024)), ("grpc.so_reuseport", 0)],
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
