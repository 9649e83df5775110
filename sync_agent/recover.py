"""Recovery (恢复) of a node from its parent: what the parent holds for it, fetched back and verified.

A county whose database is lost, or older than what its city holds (a restored backup), takes back over the
``Fetch`` RPC of its parent's replication port (mutual TLS: the parent answers only for the caller's certificate):

1. **its own origin** — every batch after the last one sealed here, up to the parent's mark for it (``Status``).
   Each must continue the local chain (its ``prev_hash`` is the hash of the last batch held here), hash to its
   records, and carry this node's own signature (verified against the federation PKI and the pinned key); a
   record the local outbox already holds (written, not sealed yet) must be the same record. Then the batches are
   written as if sealed here (:class:`~sync_agent.store.SqlRestore`): the outbox and batch log, the tables rebuilt
   through the node's appliers, the counters moved past every number the records used. The next seal continues
   the chain: no seq is reused. This comes first, before anything here writes a record of its own (receiving
   standards makes a county report them): a fresh database must hold no record of the node's own yet.
2. **what comes down** — the batches of its ancestors the parent relays (the province's standards and calendar,
   the city's and the province's orders, scores, revocations), received by the node's own receiver
   (:class:`~sync_agent.store.SqlBatchSink`) exactly as the link down would deliver them: policy, chain, hash and
   signature checked, records applied, marks advanced, so the link down later resumes where this left off. A
   calendar arriving here computes the due moments of the cases rebuilt in step 1 (left empty until then).

Whatever fails verification stops the recovery with :class:`~sync_agent.errors.RecoveryRefused`, naming the batch
and why; what was written before it was verified and stays, and running the recovery again continues from there.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import grpc
import structlog

from federation.errors import SunshineError
from federation.identities import parent_of
from federation.replication.trust import LinkSecurity
from federation.wire.v1 import replication_pb2 as pb
from federation.wire.v1 import replication_pb2_grpc as pb_grpc
from sync_agent.answers import AllowPolicy, answer_batches
from sync_agent.convert import batch_from_proto
from sync_agent.domain import Batch, Mark, Verdict, check_batch
from sync_agent.errors import BatchRefused, RecoveryRefused
from sync_agent.link_stream import CHANNEL_OPTIONS, link_error
from sync_agent.ports import BatchSink
from sync_agent.store import Restored, SqlRestore
from sync_agent.stream_guard import StreamLimits

__all__ = ["DownReceived", "Recovery", "RecoveryReport", "ancestors"]

log = structlog.get_logger(__name__)

_FORKED = (
    "本地数据库与已上报的记录分叉，不能自动恢复；请保留本地数据库并联系市级管理员核对"
    "（若本地数据库是丢失后用 county init 新建的，请删除它，先执行恢复，再执行 county init）"
)
_GROUP = 100  # batches written per transaction (a recovery interrupted continues from the last one committed)


def ancestors(node: str) -> list[str]:
    """``node``'s ancestors, nearest first (``371122`` → ``371100``, ``370000``)."""
    out: list[str] = []
    code = parent_of(node)
    while code is not None:
        out.append(code)
        code = parent_of(code)
    return out


@dataclass
class DownReceived:
    """What came down again of one ancestor origin: batches and records, up to which seq."""

    origin: str
    batches: int = 0
    records: int = 0
    high_water: int = 0


@dataclass
class RecoveryReport:
    node: str
    parent: str
    down: list[DownReceived] = field(default_factory=list)
    own: Restored = field(default_factory=Restored)
    held_before: int = 0  # the highest seq of the node's own outbox before the recovery (0: nothing held)
    sealed_before: int = 0


class Recovery:
    """One recovery of ``node`` from the parent at ``target``, through the node's ``sink`` (what comes down) and
    ``restore`` (its own origin), verified with the node's ``security``."""

    def __init__(
        self,
        *,
        node: str,
        target: str,
        security: LinkSecurity,
        sink: BatchSink,
        allowed: AllowPolicy,
        restore: SqlRestore,
        limits: StreamLimits | None = None,
        timeout: float = 600.0,
    ) -> None:
        parent = parent_of(node)
        if parent is None:
            raise ValueError(f"{node} has no parent to recover from")
        self.node = node
        self.parent = parent
        self._target = target
        self._security = security
        self._sink = sink
        self._allowed = allowed
        self._restore = restore
        self._limits = limits or StreamLimits()
        self._timeout = timeout

    def run(self) -> RecoveryReport:
        report = RecoveryReport(self.node, self.parent)
        options = [*CHANNEL_OPTIONS, ("grpc.ssl_target_name_override", self._security.tls_name)]
        with grpc.secure_channel(self._target, self._security.channel_credentials(), options) as channel:
            stub = pb_grpc.ReplicationStub(channel)
            local = self._restore.local()
            report.held_before, report.sealed_before = local.top, local.sealed
            self._restore_own(stub, local.mark, local.top, report.own)
            for origin in ancestors(self.node):
                report.down.append(self._receive_down(stub, origin))
        log.info(
            "recovery.done",
            node=self.node,
            parent=self.parent,
            own_batches=report.own.batches,
            own_records=report.own.records,
            last_seq=report.own.last_seq,
        )
        return report

    def _fetch(self, stub: pb_grpc.ReplicationStub, origin: str, after: int) -> Iterator[pb.Batch]:
        try:
            yield from stub.Fetch(pb.FetchRequest(origin=origin, after_seq=after), timeout=self._timeout)
        except grpc.RpcError as exc:
            raise link_error(exc, self._target) from None

    def _receive_down(self, stub: pb_grpc.ReplicationStub, origin: str) -> DownReceived:
        """The batches of ancestor ``origin`` after the node's mark, received as the link down delivers them."""
        (mark,) = self._sink.marks([origin])
        got = DownReceived(origin, high_water=mark.high_water)
        for group in _groups(self._fetch(stub, origin, mark.high_water)):
            answers = answer_batches(
                self._sink,
                self.parent,
                group,
                allowed=self._allowed,
                trust=self._security.receiver,
                limits=self._limits,
            )
            for message, answer in zip(group, answers, strict=True):
                if isinstance(answer, BatchRefused):
                    raise RecoveryRefused(
                        f"上级发回的来源 {origin} 批次 {message.first_seq}–{message.last_seq} "
                        f"未通过校验：{answer.message}",
                        origin=origin,
                        first_seq=message.first_seq,
                    )
                got.batches += 1
                got.records += message.last_seq - message.first_seq + 1
                got.high_water = answer.mark.high_water
        return got

    def _restore_own(self, stub: pb_grpc.ReplicationStub, mark: Mark, held: int, into: Restored) -> None:
        """The node's own batches after ``mark`` (the last sealed here), verified and written in groups, up to the
        parent's mark for this origin (its ``Status``): the local chain must be a prefix of the parent's."""
        theirs = self._parent_mark(stub)
        if theirs.high_water <= mark.high_water:  # the parent holds no more than this node sealed: the same chain?
            if theirs.high_water and self._restore.hash_at(theirs.high_water) != theirs.last_hash:
                raise RecoveryRefused(
                    f"本地已封批的第 {theirs.high_water} 条处与上级所存的批次哈希不同：{_FORKED}", seq=theirs.high_water
                )
            return
        pending: list[Batch] = []
        for message in self._fetch(stub, self.node, mark.high_water):
            batch = self._verified(message, mark, held)
            pending.append(batch)
            mark = Mark(self.node, batch.last_seq, batch.batch_hash)
            if len(pending) >= _GROUP:
                self._restore.write(pending, held_up_to=held, into=into)
                pending = []
        self._restore.write(pending, held_up_to=held, into=into)
        if mark.high_water < theirs.high_water:  # no batch of the parent's begins after the local chain's end
            raise RecoveryRefused(
                f"上级所存本节点记录至第 {theirs.high_water} 条，但其批次不能接在本地已封批的"
                f"第 {mark.high_water} 条之后（批次边界不同）：{_FORKED}",
                seq=mark.high_water,
            )

    def _parent_mark(self, stub: pb_grpc.ReplicationStub) -> Mark:
        """The parent's mark for this node's origin (``Status``: the caller hears of its own link only)."""
        try:
            reply = stub.Status(pb.StatusRequest(origin_prefix=self.node), timeout=60.0)
        except grpc.RpcError as exc:
            raise link_error(exc, self._target) from None
        for line in reply.origins:
            if line.origin == self.node:
                return Mark(self.node, line.high_water, bytes(line.last_hash))
        return Mark(self.node)

    def _verified(self, message: pb.Batch, mark: Mark, held: int) -> Batch:
        """The batch of ``message`` if it continues ``mark``, hashes to its records, carries this node's signature
        and agrees with every record the local outbox holds (``held``: its highest seq); else RecoveryRefused."""
        where = f"本节点来源 {self.node} 的批次 {message.first_seq}–{message.last_seq}"
        try:
            batch = batch_from_proto(
                message, max_record_bytes=self._limits.max_record_bytes, max_batch_bytes=self._limits.max_batch_bytes
            )
            if batch.origin != self.node:
                raise RecoveryRefused(f"{where}：来源却是 {batch.origin}", origin=batch.origin)
            if batch.first_seq == mark.high_water + 1 and batch.prev_hash != mark.last_hash:
                raise RecoveryRefused(
                    f"{where}不能接在本地已封批的第 {mark.high_water} 条之后（哈希链不同）：{_FORKED}"
                )
            if check_batch(mark, batch) is not Verdict.APPLY:
                raise RecoveryRefused(f"{where}：与本地已封批的记录重复", first_seq=batch.first_seq)
            self._security.receiver.verify_batch(self.node, batch.batch_hash, batch.signature, batch.signer_chain)
        except BatchRefused as refused:
            raise RecoveryRefused(
                f"{where}未通过校验：{refused.message}（本地已封批到 {mark.high_water}）", reason=refused.reason
            ) from None
        except RecoveryRefused:
            raise
        except SunshineError as exc:
            raise RecoveryRefused(f"{where}签名验证失败：{exc.message}") from None
        if batch.first_seq <= held:
            self._same_as_local(batch, held)
        return batch

    def _same_as_local(self, batch: Batch, held: int) -> None:
        local = self._restore.local_records(batch.first_seq, min(batch.last_seq, held))
        theirs = {r.origin_seq: r for r in batch.records}
        for mine in local:
            other = theirs.get(mine.origin_seq)
            if other is None or (mine.record_type, mine.record_id, mine.op, mine.payload) != (
                other.record_type,
                other.record_id,
                other.op,
                other.payload,
            ):
                raise RecoveryRefused(
                    f"本地发件箱第 {mine.origin_seq} 条记录（{mine.record_type} {mine.record_id}）"
                    f"与上级所存的不同：{_FORKED}",
                    seq=mine.origin_seq,
                )


def _groups(messages: Iterator[pb.Batch], size: int = _GROUP) -> Iterator[Sequence[pb.Batch]]:
    group: list[pb.Batch] = []
    for message in messages:
        group.append(message)
        if len(group) >= size:
            yield group
            group = []
    if group:
        yield group
