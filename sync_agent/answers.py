"""The receiver's answers to batches, whatever carried them (a gRPC stream, a ferry file): each batch checked on
its own — the policy before anything is decoded, the wire, the record size, the origin's signature — then the
sink's check and apply, the batches that arrived together in one transaction (``SqlBatchSink.receive_many``). A
refusal is an answer, never an exception; a failure of the sink ends the group after the answers before it
(:class:`PartlyAnswered`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace

import structlog

from federation.errors import SunshineError
from federation.replication.trust import ReceiverTrust
from federation.wire.v1 import replication_pb2 as pb
from sync_agent.convert import batch_from_proto
from sync_agent.domain import Batch, Mark, RefusalReason, excerpt
from sync_agent.errors import BatchRefused
from sync_agent.ports import BatchSink, Receipt
from sync_agent.stages import StageClock
from sync_agent.stream_guard import StreamLimits

__all__ = ["AllowPolicy", "PartlyAnswered", "answer_batch", "answer_batches"]

log = structlog.get_logger(__name__)

AllowPolicy = Callable[[str, str], bool]
"""``allowed(sender, origin)``: may ``sender`` send records of ``origin``?"""


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


def _refusal(reason: RefusalReason, message: str, mark: Mark) -> BatchRefused:
    return BatchRefused(
        message, reason=reason.value, origin=mark.origin, high_water=mark.high_water, last_hash=mark.last_hash
    )
