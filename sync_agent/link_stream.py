"""The transport under a link's session: one bidirectional gRPC stream seen as two queues.

The calling thread puts client messages on a request queue that gRPC drains on its own thread (:func:`drain`;
``None`` half-closes); one reader thread (:func:`read_responses`) turns each server message into a domain value
on an inbox queue (where the node's wakes, :class:`Wake`, arrive too), and ends it with :data:`END`, or with the
:class:`LinkError` the stream broke with (:func:`link_error`, the one translation of a gRPC failure).
"""

from __future__ import annotations

import queue
from collections.abc import Iterator
from typing import Protocol

import grpc

from federation.errors import SyncError
from federation.wire.v1 import replication_pb2 as pb
from sync_agent.convert import Welcome, server_message_from_proto
from sync_agent.errors import BatchRefused, LinkError
from sync_agent.ports import Receipt
from sync_agent.server import GRPC_MESSAGE_LIMIT

__all__ = [
    "CHANNEL_OPTIONS",
    "END",
    "WAKE_PENDING",
    "WAKE_SEALED",
    "End",
    "Inbound",
    "ResponseStream",
    "Wake",
    "drain",
    "link_error",
    "raise_failure",
    "read_responses",
]

CHANNEL_OPTIONS: list[tuple[str, int]] = [
    ("grpc.max_receive_message_length", GRPC_MESSAGE_LIMIT),
    ("grpc.max_send_message_length", GRPC_MESSAGE_LIMIT),
    ("grpc.keepalive_time_ms", 30_000),  # notice a dead peer on an idle stream within ~40 s
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.enable_retries", 0),  # the link resumes from marks itself; gRPC must not replay a stream
    ("grpc.enable_http_proxy", 0),  # http_proxy / https_proxy / grpc_proxy in the environment never reroute a link
]


def link_error(exc: grpc.RpcError, target: str) -> LinkError:
    """The one translation of a gRPC failure into the error the agent logs and retries on."""
    code = exc.code() if isinstance(exc, grpc.Call) else grpc.StatusCode.UNKNOWN
    details = (exc.details() if isinstance(exc, grpc.Call) else None) or "无详情"
    if code is grpc.StatusCode.UNAVAILABLE:
        text = f"无法连接接收端 {target} 或连接已中断：{details}"
    elif code is grpc.StatusCode.DEADLINE_EXCEEDED:
        text = f"接收端 {target} 应答超时：{details}"
    else:
        text = f"接收端 {target} 结束了复制流（{code.name}）：{details}"
    return LinkError(text, status=code.name, target=target)


class ResponseStream(Protocol):
    def __iter__(self) -> Iterator[pb.ServerMessage]: ...
    def cancel(self) -> bool: ...


class End:
    """The receiver completed the stream."""


class Wake:
    """Not from the receiver: the node committed new outbox or batch rows (:mod:`federation.storage.wake`);
    ``sealed``: batches among them (else only rows still to be sealed)."""

    __slots__ = ("sealed",)

    def __init__(self, *, sealed: bool) -> None:
        self.sealed = sealed


END = End()
WAKE_SEALED, WAKE_PENDING = Wake(sealed=True), Wake(sealed=False)
Inbound = Welcome | Receipt | BatchRefused | SyncError | End | Wake


def raise_failure(item: Inbound) -> Welcome | Receipt | BatchRefused | End | Wake:
    if isinstance(item, LinkError):
        raise item
    if isinstance(item, SyncError) and not isinstance(item, BatchRefused):
        raise LinkError(item.message, **item.details) from item
    return item


def drain(requests: queue.SimpleQueue[pb.ClientMessage | bytes | None]) -> Iterator[pb.ClientMessage | bytes]:
    """The request iterator gRPC consumes on its own thread; ``None`` half-closes the stream."""
    while (item := requests.get()) is not None:
        yield item


def read_responses(call: ResponseStream, inbox: queue.SimpleQueue[Inbound], target: str) -> None:
    try:
        for message in call:
            inbox.put(server_message_from_proto(message))
    except grpc.RpcError as exc:
        inbox.put(link_error(exc, target))
    except SyncError as exc:  # a message this version cannot read: end the stream
        inbox.put(exc)
        call.cancel()
    else:
        inbox.put(END)
