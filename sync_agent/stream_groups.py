"""A replication stream's batches in groups: what has arrived, read ahead on a thread of its own within a bound of
messages and bytes, so a receiver behind its sender applies several batches in one transaction (and one alone
when it keeps up). A relay also keeps each message's bytes as they arrived (:func:`received`).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from federation.errors import ValidationError
from federation.wire.v1 import replication_pb2 as pb
from sync_agent.convert import client_message_kind, received_batch_wire

__all__ = ["Group", "Received", "groups_of", "message_of", "received"]

_END = object()


Group = list[tuple[pb.Batch, bytes | None]]  # each batch, and its bytes as received (if known)


@dataclass(frozen=True, slots=True)
class Received:
    """A client message as it arrived: parsed, and its bytes (a relay keeps a batch's bytes whole)."""

    message: pb.ClientMessage
    raw: bytes


def received(raw: bytes) -> Received:
    return Received(pb.ClientMessage.FromString(raw), raw)


def message_of(item: Received | pb.ClientMessage) -> pb.ClientMessage:
    return item.message if isinstance(item, Received) else item


def _wire(item: Received | pb.ClientMessage) -> bytes | None:
    return received_batch_wire(item.raw) if isinstance(item, Received) else None


def groups_of(
    requests: Iterator[Received | pb.ClientMessage], most: int, budget: int
) -> Iterator[tuple[Group, BaseException | None]]:
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
            group: Group = []
            failure: BaseException | None = None
            ended = False
            for item in items:
                if item is _END:
                    ended = True
                    break
                if isinstance(item, BaseException):
                    failure = item
                    break
                message = message_of(item)
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

    def read(self, requests: Iterator[Received | pb.ClientMessage]) -> None:
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


def _size(message: Received | pb.ClientMessage) -> int:
    return len(message.raw) if isinstance(message, Received) else message.ByteSize()
