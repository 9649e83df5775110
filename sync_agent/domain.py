"""Replication, pure: records, hash-chained batches, receiver marks, and the check of an incoming batch.

A batch of an origin's consecutive outbox records is chained to the previous batch of that origin::

    batch_hash = SHA-256( prev_hash ‖ for each record: seq ‖ created_at_us ‖ len+type ‖ len+id ‖ len+op ‖ len+payload )

so a receiver that knows its high-water mark and the hash of the last batch it applied detects a gap, a
reorder or any change in transit. No I/O here; the receiver's store calls :func:`check_batch` inside the
transaction that applies the batch. The hash itself is the kernel's (:mod:`federation.replication.chain`: a
node's writer seals too), re-exported here.
"""

from __future__ import annotations

import enum
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

from federation.identities import validate_origin
from federation.replication import Record
from federation.replication.chain import ZERO_HASH, compute_batch_hash
from sync_agent.errors import BatchRefused

__all__ = [
    "ZERO_HASH",
    "Batch",
    "Mark",
    "RefusalReason",
    "Verdict",
    "check_batch",
    "compute_batch_hash",
    "excerpt",
    "refusal",
    "seal_batch",
]

EXCERPT_CHARS = 40  # characters of a peer-supplied identifier (sender, origin, record id or type) echoed back


def excerpt(value: object, limit: int = EXCERPT_CHARS) -> str:
    """A bounded excerpt of a value a peer supplied, for an error message or a log line (never the whole)."""
    text = str(value)
    return text if len(text) <= limit else text[:limit] + f"…（共 {len(text)} 字符）"


@dataclass(frozen=True, slots=True)
class Batch:
    origin: str
    first_seq: int
    last_seq: int
    prev_hash: bytes
    batch_hash: bytes
    records: tuple[Record, ...]
    signature: bytes = b""  # the origin's signature over batch_hash
    signer_chain: tuple[bytes, ...] = ()  # the origin's certificate (DER), then its CA's: whose key signed
    # the batch's wire message as it arrived (``federation.wire.v1.Batch``), kept by a relay and forwarded byte for
    # byte; a batch read back for relaying carries it and no ``records`` (they are inside it)
    wire: bytes = field(default=b"", compare=False, repr=False)

    @property
    def record_count(self) -> int:
        return self.last_seq - self.first_seq + 1


@dataclass(frozen=True, slots=True)
class Mark:
    """What a receiver holds of an origin: the highest seq applied and the hash of the batch that ended there."""

    origin: str
    high_water: int = 0
    last_hash: bytes = ZERO_HASH


class RefusalReason(enum.StrEnum):
    GAP = "gap"
    REORDER = "reorder"
    BROKEN_CHAIN = "broken_chain"
    BAD_HASH = "bad_hash"
    BAD_SIGNATURE = "bad_signature"
    NOT_ALLOWED = "not_allowed"
    MALFORMED = "malformed"
    DIVERGENT = "divergent"  # seqs already held with other content (an origin restored from an old backup)


class Verdict(enum.StrEnum):
    APPLY = "apply"  # the next batch of the chain
    DUPLICATE = "duplicate"  # already applied (a resend): acknowledge, change nothing


def seal_batch(origin: str, prev_hash: bytes, records: Sequence[Record]) -> Batch:
    """Chain ``records`` (consecutive seqs of ``origin``) to ``prev_hash``."""
    if not records:
        raise ValueError("a batch needs at least one record")
    recs = tuple(records)
    return Batch(origin, recs[0].origin_seq, recs[-1].origin_seq, prev_hash, compute_batch_hash(prev_hash, recs), recs)


def refusal(reason: RefusalReason, message: str, batch: Batch, mark: Mark) -> BatchRefused:
    """The refusal of ``batch``: why, and the receiver's ``mark`` the sender resends from."""
    return BatchRefused(
        message,
        reason=reason.value,
        origin=batch.origin,
        high_water=mark.high_water,
        last_hash=mark.last_hash,
        first_seq=batch.first_seq,
        last_seq=batch.last_seq,
    )


def check_batch(mark: Mark, batch: Batch) -> Verdict:
    """Decide what to do with ``batch`` given the receiver's ``mark`` for its origin; raise BatchRefused."""
    try:
        validate_origin(batch.origin)
    except Exception:
        raise refusal(RefusalReason.MALFORMED, f"批次来源“{batch.origin}”不是有效的来源标识", batch, mark) from None
    recs = batch.records
    if (
        not recs
        or batch.first_seq < 1
        or recs[0].origin_seq != batch.first_seq
        or recs[-1].origin_seq != batch.last_seq
        or batch.last_seq - batch.first_seq + 1 != len(recs)
        or any(b.origin_seq != a.origin_seq + 1 for a, b in itertools.pairwise(recs))
        or len(batch.prev_hash) != 32
    ):
        raise refusal(RefusalReason.MALFORMED, "批次结构错误：序号不连续、为空或哈希长度不对", batch, mark)
    if compute_batch_hash(batch.prev_hash, recs) != batch.batch_hash:
        raise refusal(RefusalReason.BAD_HASH, "批次哈希与内容不符，数据可能在传输中被篡改", batch, mark)
    if batch.last_seq <= mark.high_water:
        return Verdict.DUPLICATE
    if batch.first_seq > mark.high_water + 1:
        raise refusal(
            RefusalReason.GAP,
            f"批次不连续：已接收到 {mark.high_water}，收到的批次从 {batch.first_seq} 开始",
            batch,
            mark,
        )
    if batch.first_seq <= mark.high_water:
        raise refusal(
            RefusalReason.REORDER,
            f"批次与已接收的记录重叠（已接收到 {mark.high_water}，批次 {batch.first_seq}–{batch.last_seq}）",
            batch,
            mark,
        )
    if batch.prev_hash != mark.last_hash:
        raise refusal(RefusalReason.BROKEN_CHAIN, "批次的前序哈希与已接收的最后一批不符（哈希链断裂）", batch, mark)
    return Verdict.APPLY
