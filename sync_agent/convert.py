"""Domain ⇄ wire: the one module that converts replication values to and from ``federation.wire.v1`` protobuf.

Nothing else in the sync agent builds or reads a ``replication_pb2`` message field by field; storage and the
domain never see protobuf types. Every ``x_to_proto`` has its ``x_from_proto``, and the pair round-trips
(``tests/unit/test_wire_convert.py``).

Input from the wire is checked only as far as the conversion needs: a batch whose origin is not a division
code or whose gzip-compressed payloads do not decompress is refused here with ``BatchRefused(reason=
"malformed")`` (the caller fills in its real mark); the chain itself is checked by :func:`sync_agent.domain
.check_batch` inside the receiver's transaction. A server message this version cannot read (an unknown refusal
reason, an empty ``oneof``) raises :class:`SyncError`.

Three small values exist only on the wire and have no domain type, so they are defined here: :class:`Hello`,
:class:`Welcome` and :class:`OriginStatus`. An ``Ack`` is a :class:`sync_agent.ports.Receipt` (its
``duplicate`` flag does not cross the wire) and a ``Refusal`` is a :class:`BatchRefused`.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

from federation.errors import InvalidDivisionCode, SyncError, ValidationError
from federation.identities import validate_node_id, validate_origin
from federation.replication import Record
from federation.wire.v1 import replication_pb2 as pb
from sync_agent.domain import ZERO_HASH, Batch, Mark, RefusalReason, excerpt
from sync_agent.errors import BatchRefused
from sync_agent.ports import Receipt

__all__ = [
    "MAX_PAYLOAD_BYTES",
    "Hello",
    "OriginStatus",
    "Welcome",
    "ack_from_proto",
    "ack_to_proto",
    "batch_from_proto",
    "batch_message_bytes",
    "batch_to_proto",
    "client_message_bytes",
    "client_message_kind",
    "client_message_to_proto",
    "hello_from_proto",
    "hello_to_proto",
    "mark_from_proto",
    "mark_to_proto",
    "reason_from_proto",
    "reason_to_proto",
    "received_batch_wire",
    "record_from_proto",
    "record_to_proto",
    "refusal_from_proto",
    "refusal_to_proto",
    "server_message_from_proto",
    "server_message_to_proto",
    "status_reply_from_proto",
    "status_reply_to_proto",
    "welcome_from_proto",
    "welcome_to_proto",
]

MAX_PAYLOAD_BYTES = 16 * 1024 * 1024
"""The largest payload a gzip-compressed record may expand to (a guard against decompression bombs)."""


@dataclass(frozen=True, slots=True)
class Hello:
    """The sender's first message: who it is and which origins it intends to send."""

    sender: str
    origins: tuple[str, ...]
    software: str = ""
    nonce: bytes = b""  # fresh random bytes the receiver signs in its Welcome (mTLS links)


@dataclass(frozen=True, slots=True)
class Welcome:
    """The receiver's answer to Hello: its mark for every origin the sender may send."""

    receiver: str
    marks: tuple[Mark, ...]
    receiver_chain: tuple[bytes, ...] = ()  # the receiver's certificate (DER), then its CA's
    proof: bytes = b""  # the receiver's signature over the Hello's nonce and both identities


@dataclass(frozen=True, slots=True)
class OriginStatus:
    """One line of the Status RPC: a mark and, where the receiver knows them, counts."""

    mark: Mark
    records: int = 0
    last_applied_at_us: int = 0
    quarantined: int = 0


# --- records and batches --------------------------------------------------------------------------------------


def record_to_proto(record: Record, *, compress: bool = False) -> pb.Record:
    payload = gzip.compress(record.payload, mtime=0) if compress else record.payload
    return pb.Record(
        record_type=record.record_type,
        record_id=record.record_id,
        op=record.op,
        origin_seq=record.origin_seq,
        payload=payload,
        created_at_us=record.created_at_us,
    )


def record_from_proto(message: pb.Record, *, compressed: bool = False, limit: int = MAX_PAYLOAD_BYTES) -> Record:
    """Raise ``ValueError`` when a compressed payload does not decompress, or would inflate past ``limit`` bytes
    (it is never inflated further than that: batch_from_proto refuses the batch)."""
    payload = _gunzip(message.payload, limit) if compressed else message.payload
    return Record(
        record_type=message.record_type,
        record_id=message.record_id,
        op=message.op,
        origin_seq=message.origin_seq,
        payload=payload,
        created_at_us=message.created_at_us,
    )


def _gunzip(data: bytes, limit: int = MAX_PAYLOAD_BYTES) -> bytes:
    d = zlib.decompressobj(wbits=31)  # gzip container
    try:
        out = d.decompress(data, limit + 1)  # at most one byte past the limit is ever produced
    except zlib.error as exc:
        raise ValueError(f"payload is not gzip data: {excerpt(exc)}") from None
    if len(out) > limit or d.unconsumed_tail:
        raise ValueError(f"解压后超过 {limit} 字节的上限（压缩炸弹？）")
    if not d.eof or d.unused_data:
        raise ValueError("payload is a truncated or padded gzip stream")
    return out


def batch_to_proto(batch: Batch, *, compress: bool = False) -> pb.Batch:
    """``compress``: gzip each payload (for transports without their own compression, e.g. spool files). A batch
    held whole (``batch.wire``, relayed) is its wire message, its payloads compressed if asked and not yet."""
    if batch.wire:
        message = pb.Batch.FromString(batch.wire)
        if compress and not message.gzip:
            for r in message.records:
                r.payload = gzip.compress(r.payload, mtime=0)
            message.gzip = True
        return message
    return pb.Batch(
        origin=batch.origin,
        first_seq=batch.first_seq,
        last_seq=batch.last_seq,
        prev_hash=batch.prev_hash,
        batch_hash=batch.batch_hash,
        records=[record_to_proto(r, compress=compress) for r in batch.records],
        signature=batch.signature,
        gzip=compress,
        signer_chain=list(batch.signer_chain),
    )


def batch_from_proto(
    message: pb.Batch, *, max_record_bytes: int = MAX_PAYLOAD_BYTES, max_batch_bytes: int = MAX_PAYLOAD_BYTES
) -> Batch:
    """Raise ``BatchRefused(reason="malformed")`` with a zero mark when the message cannot be a batch. Compressed
    payloads are inflated at most to ``max_record_bytes`` each and ``max_batch_bytes`` in all (a gzip bomb is
    refused once it passes either bound, without being inflated further)."""
    origin = message.origin
    try:
        validate_origin(origin)
    except InvalidDivisionCode:
        raise _malformed(message, f"批次来源“{excerpt(origin)}”不是有效的来源标识") from None
    if not message.gzip:  # the payloads as they are (gRPC compresses the whole message): bounded in all
        records = [
            Record(r.record_type, r.record_id, r.op, r.origin_seq, r.payload, r.created_at_us) for r in message.records
        ]
        if sum(len(r.payload) for r in records) > max_batch_bytes:
            raise _malformed(message, f"批次的记录共超过整批上限 {max_batch_bytes} 字节")
        return _batch_of(message, origin, records)
    records = []
    left = max_batch_bytes
    for r in message.records:
        try:
            record = record_from_proto(r, compressed=message.gzip, limit=min(max_record_bytes, left))
        except ValueError as exc:
            bound = "单条记录上限" if left >= max_record_bytes else f"整批上限 {max_batch_bytes} 字节"
            raise _malformed(
                message, f"批次记录 {r.origin_seq} 的压缩数据无法解压或超过{bound}：{excerpt(exc, 200)}"
            ) from None
        left -= len(record.payload)
        if left < 0:
            raise _malformed(message, f"批次的记录共超过整批上限 {max_batch_bytes} 字节")
        records.append(record)
    return _batch_of(message, origin, records)


def _batch_of(message: pb.Batch, origin: str, records: list[Record]) -> Batch:
    return Batch(
        origin=origin,
        first_seq=message.first_seq,
        last_seq=message.last_seq,
        prev_hash=message.prev_hash,
        batch_hash=message.batch_hash,
        records=tuple(records),
        signature=message.signature,
        signer_chain=tuple(message.signer_chain),
    )


def _malformed(message: pb.Batch, text: str) -> BatchRefused:
    return BatchRefused(
        text,
        reason=RefusalReason.MALFORMED.value,
        origin=excerpt(message.origin),
        high_water=0,
        last_hash=ZERO_HASH,
        first_seq=message.first_seq,
        last_seq=message.last_seq,
    )


# --- marks, acks, refusals -----------------------------------------------------------------------------------


def mark_to_proto(mark: Mark) -> pb.OriginMark:
    return pb.OriginMark(origin=mark.origin, high_water=mark.high_water, last_hash=mark.last_hash)


def mark_from_proto(message: pb.OriginMark) -> Mark:
    return Mark(message.origin, message.high_water, message.last_hash or ZERO_HASH)


def ack_to_proto(receipt: Receipt) -> pb.Ack:
    m = receipt.mark
    return pb.Ack(origin=m.origin, high_water=m.high_water, last_hash=m.last_hash, quarantined=receipt.quarantined)


def ack_from_proto(message: pb.Ack) -> Receipt:
    """The receipt of an acknowledged batch (``duplicate`` is not on the wire and reads as False)."""
    return Receipt(Mark(message.origin, message.high_water, message.last_hash or ZERO_HASH), message.quarantined)


_REASON_TO_PROTO: dict[RefusalReason, pb.Refusal.Reason] = {
    RefusalReason.GAP: pb.Refusal.GAP,
    RefusalReason.REORDER: pb.Refusal.REORDER,
    RefusalReason.BROKEN_CHAIN: pb.Refusal.BROKEN_CHAIN,
    RefusalReason.BAD_HASH: pb.Refusal.BAD_HASH,
    RefusalReason.BAD_SIGNATURE: pb.Refusal.BAD_SIGNATURE,
    RefusalReason.NOT_ALLOWED: pb.Refusal.NOT_ALLOWED,
    RefusalReason.MALFORMED: pb.Refusal.MALFORMED,
    RefusalReason.DIVERGENT: pb.Refusal.DIVERGENT,
}
_REASON_FROM_PROTO: dict[int, RefusalReason] = {int(v): k for k, v in _REASON_TO_PROTO.items()}


def reason_to_proto(reason: RefusalReason | str) -> pb.Refusal.Reason:
    """A refusal reason on the wire; a reason the domain does not know is a programming error (ValueError)."""
    return _REASON_TO_PROTO[RefusalReason(reason)]


def reason_from_proto(value: int) -> RefusalReason:
    try:
        return _REASON_FROM_PROTO[value]
    except KeyError:
        raise SyncError(f"对端发来的拒收原因（{value}）无法识别，请确认两端软件版本一致", reason=value) from None


def refusal_to_proto(refused: BatchRefused) -> pb.Refusal:
    return pb.Refusal(
        origin=refused.origin,
        reason=reason_to_proto(refused.reason),
        message=refused.message,
        high_water=refused.high_water,
        last_hash=refused.last_hash,
    )


def refusal_from_proto(message: pb.Refusal) -> BatchRefused:
    """The refusal as the error the receiver raised (returned, not raised: the stream goes on)."""
    return BatchRefused(
        message.message,
        reason=reason_from_proto(message.reason).value,
        origin=message.origin,
        high_water=message.high_water,
        last_hash=message.last_hash or ZERO_HASH,
    )


# --- handshake and status ------------------------------------------------------------------------------------


def hello_to_proto(hello: Hello) -> pb.Hello:
    return pb.Hello(sender=hello.sender, origins=list(hello.origins), software=hello.software, nonce=hello.nonce)


def hello_from_proto(message: pb.Hello) -> Hello:
    """Raise ``InvalidDivisionCode`` when the sender is not a node's identity (origins are the policy's business)."""
    sender = validate_node_id(message.sender)
    return Hello(sender, tuple(message.origins), message.software, message.nonce)


def welcome_to_proto(welcome: Welcome) -> pb.Welcome:
    return pb.Welcome(
        receiver=welcome.receiver,
        marks=[mark_to_proto(m) for m in welcome.marks],
        receiver_chain=list(welcome.receiver_chain),
        proof=welcome.proof,
    )


def welcome_from_proto(message: pb.Welcome) -> Welcome:
    return Welcome(
        message.receiver,
        tuple(mark_from_proto(m) for m in message.marks),
        tuple(message.receiver_chain),
        message.proof,
    )


def status_reply_to_proto(receiver: str, statuses: Iterable[OriginStatus]) -> pb.StatusReply:
    return pb.StatusReply(
        receiver=receiver,
        origins=[
            pb.OriginStatus(
                origin=s.mark.origin,
                high_water=s.mark.high_water,
                last_hash=s.mark.last_hash,
                records=s.records,
                last_applied_at_us=s.last_applied_at_us,
                quarantined=s.quarantined,
            )
            for s in statuses
        ],
    )


def status_reply_from_proto(message: pb.StatusReply) -> tuple[str, tuple[OriginStatus, ...]]:
    return message.receiver, tuple(
        OriginStatus(
            Mark(s.origin, s.high_water, s.last_hash or ZERO_HASH), s.records, s.last_applied_at_us, s.quarantined
        )
        for s in message.origins
    )


# --- the stream's envelopes ----------------------------------------------------------------------------------


_BATCH_FIELD = b"\x12"  # ClientMessage.batch: field 2, length-delimited


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        if n:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def batch_message_bytes(wire: bytes) -> bytes:
    """The ``ClientMessage`` carrying the Batch whose wire message is ``wire``, as bytes: how a relay sends a batch
    it holds whole, byte for byte (:func:`client_message_bytes` frames it; the link's channel sends bytes as they
    are)."""
    return _BATCH_FIELD + _varint(len(wire)) + wire


def received_batch_wire(raw: bytes) -> bytes | None:
    """The Batch's own bytes inside the ``ClientMessage`` ``raw`` as it arrived, when the message is exactly one
    batch field (as senders frame it); else None (the caller re-serialises the parsed batch)."""
    if not raw.startswith(_BATCH_FIELD):
        return None
    length = shift = 0
    i = 1
    while i < len(raw) and i <= 10:
        byte = raw[i]
        length |= (byte & 0x7F) << shift
        shift += 7
        i += 1
        if not byte & 0x80:
            return raw[i:] if i + length == len(raw) else None
    return None


def client_message_bytes(item: Hello | Batch) -> pb.ClientMessage | bytes:
    """What a link puts on its stream: a batch held whole as its bytes (forwarded unchanged), else the message."""
    if isinstance(item, Batch) and item.wire:
        return batch_message_bytes(item.wire)
    return client_message_to_proto(item)


def client_message_to_proto(item: Hello | Batch, *, compress: bool = False) -> pb.ClientMessage:
    if isinstance(item, Hello):
        return pb.ClientMessage(hello=hello_to_proto(item))
    return pb.ClientMessage(batch=batch_to_proto(item, compress=compress))


def server_message_to_proto(item: Welcome | Receipt | BatchRefused) -> pb.ServerMessage:
    if isinstance(item, Welcome):
        return pb.ServerMessage(welcome=welcome_to_proto(item))
    if isinstance(item, Receipt):
        return pb.ServerMessage(ack=ack_to_proto(item))
    return pb.ServerMessage(refusal=refusal_to_proto(item))


def server_message_from_proto(message: pb.ServerMessage) -> Welcome | Receipt | BatchRefused:
    """Raise :class:`SyncError` for a message this version cannot read."""
    kind = message.WhichOneof("kind")
    if kind == "welcome":
        return welcome_from_proto(message.welcome)
    if kind == "ack":
        return ack_from_proto(message.ack)
    if kind == "refusal":
        return refusal_from_proto(message.refusal)
    raise SyncError("接收端发来的消息为空或类型未知，请确认两端软件版本一致", kind=str(kind))


def client_message_kind(message: pb.ClientMessage) -> str:
    """``"hello"``, ``"batch"``; raise ValidationError for an empty or unknown message."""
    kind = str(message.WhichOneof("kind"))
    if kind not in {"hello", "batch"}:
        raise ValidationError("发送端发来的消息为空或类型未知，请确认两端软件版本一致", kind=kind)
    return kind
