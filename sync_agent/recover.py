"""Recovery (恢复) of a node from its parent: what the parent holds for it, fetched back and verified.

A county whose database is lost, or older than what its city holds (a restored backup), takes back over the
``Fetch`` RPC of its parent's replication port (mutual TLS: the parent answers only for the caller's certificate).
The parent first proves who it is, as on the link up: its Welcome carries its signature over this node's nonce,
by the certificate of ``parent_of(node)``; it states there its mark for this node's origin.

1. **its own origin** — every batch after the last one sealed here, up to the parent's mark, taken twice. First
   verified whole, nothing written: each must continue the local chain (its ``prev_hash`` is the hash of the last
   batch held here), hash to its records, agree with every record the local outbox holds (written, not sealed
   yet), and be signed by this node's own keys — the walk of its signing keys, each one consented to by the one
   before at a renewal, must end at its current key (``LinkSecurity.own_history``, :mod:`security.own_history`):
   a history signed with a certificate a relay minted is refused, though its chain verifies. Then fetched again,
   each batch the one verified, and written as if sealed here (:class:`~sync_agent.store.SqlRestore`): the outbox
   and batch log, the tables rebuilt through the node's appliers, the counters moved past every number the records
   used. The next seal continues the chain: no seq is reused. This comes first, before anything here writes a
   record of its own (receiving standards makes a county report them): a fresh database must hold no record of
   the node's own yet.
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
from sync_agent.client import SOFTWARE
from sync_agent.convert import (
    Hello,
    Welcome,
    batch_from_proto,
    client_message_to_proto,
    server_message_from_proto,
)
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
            theirs = self._parent_mark(stub)
            local = self._restore.local()
            report.held_before, report.sealed_before = local.top, local.sealed
            if theirs.high_water == 0 and local.top == 0:
                raise RecoveryRefused(
                    f"上级 {self.parent} 未保存本节点 {self.node} 的任何记录，无从恢复（本地也没有）",
                    parent=self.parent,
                )
            self._restore_own(stub, local.mark, held=local.top, theirs=theirs, into=report.own)
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

    def _parent_mark(self, stub: pb_grpc.ReplicationStub) -> Mark:
        """The parent proves who it is as on the link up (its Welcome: a signature over this node's nonce, by the
        node ``parent_of(node)`` the federation PKI certifies), and states its mark for this node's origin."""
        nonce = self._security.sender.nonce()
        hello = client_message_to_proto(Hello(self.node, (self.node,), f"{SOFTWARE} recover", nonce))
        call = stub.Stream(iter([hello]), timeout=60.0)
        try:
            first = next(iter(call), None)
        except grpc.RpcError as exc:
            raise link_error(exc, self._target) from None
        finally:
            call.cancel()
        welcome = server_message_from_proto(first) if first is not None else None
        if not isinstance(welcome, Welcome):
            raise RecoveryRefused(f"上级 {self._target} 没有以 Welcome 应答握手")
        try:
            receiver = self._security.sender.verify_receiver(welcome.receiver_chain, welcome.proof, nonce, up=True)
        except SunshineError as exc:
            raise RecoveryRefused(f"上级 {self._target} 未能证明其身份：{exc.message}") from None
        if receiver != self.parent:
            raise RecoveryRefused(f"{self._target} 是 {receiver}，不是本节点的上级 {self.parent}", receiver=receiver)
        return next((m for m in welcome.marks if m.origin == self.node), Mark(self.node))

    def _restore_own(
        self, stub: pb_grpc.ReplicationStub, mark: Mark, *, held: int, theirs: Mark, into: Restored
    ) -> None:
        """The node's own batches after ``mark`` (the last sealed here) up to the parent's mark ``theirs``: the local
        chain must be a prefix of the parent's. Taken twice: first verified whole — chain, hashes, the records held
        here, and every signature by this node's own keys up to its current one (``LinkSecurity.own_history``) —
        with nothing written; then again, each batch the one verified, written in groups."""
        if theirs.high_water <= mark.high_water:  # the parent holds no more than this node sealed: the same chain?
            if theirs.high_water and self._restore.hash_at(theirs.high_water) != theirs.last_hash:
                raise RecoveryRefused(
                    f"本地已封批的第 {theirs.high_water} 条处与上级所存的批次哈希不同：{_FORKED}", seq=theirs.high_water
                )
            return
        if self._security.own_history is None:  # pragma: no cover - every LinkSecurity of security.node has it
            raise RecoveryRefused("本节点的安全配置不能校验自己的历史签名，不能恢复")
        history = self._security.own_history(self._restore.signer_chain_at(mark.high_water))
        verified: dict[int, bytes] = {}
        end = mark
        for message in self._fetch(stub, self.node, mark.high_water):
            batch = self._verified(message, end, held)
            try:
                history.follow(batch.batch_hash, batch.signature, batch.signer_chain)
            except SunshineError as exc:
                raise RecoveryRefused(
                    f"本节点来源 {self.node} 的批次 {batch.first_seq}–{batch.last_seq}签名验证失败：{exc.message}"
                ) from None
            verified[batch.last_seq] = batch.batch_hash
            end = Mark(self.node, batch.last_seq, batch.batch_hash)
        if end.high_water < theirs.high_water:  # no batch of the parent's begins after the local chain's end
            raise RecoveryRefused(
                f"上级所存本节点记录至第 {theirs.high_water} 条，但其批次不能接在本地已封批的"
                f"第 {end.high_water} 条之后（批次边界不同）：{_FORKED}",
                seq=end.high_water,
            )
        try:
            history.complete()
        except SunshineError as exc:
            raise RecoveryRefused(f"本节点来源 {self.node} 的历史批次签名验证失败：{exc.message}") from None
        self._write_verified(stub, mark, end, verified=verified, held=held, into=into)

    def _write_verified(
        self,
        stub: pb_grpc.ReplicationStub,
        mark: Mark,
        end: Mark,
        *,
        verified: dict[int, bytes],
        held: int,
        into: Restored,
    ) -> None:
        """The batches verified (``verified``: last seq → hash) fetched again and written, each checked to be the one
        verified (its hash, recomputed from its records, and its place in the chain)."""
        pending: list[Batch] = []
        at = mark
        for message in self._fetch(stub, self.node, mark.high_water):
            batch = self._decoded(message, at)
            if verified.get(batch.last_seq) != batch.batch_hash:
                raise RecoveryRefused(
                    f"上级第二次发回的批次 {batch.first_seq}–{batch.last_seq} 与已校验的不同，已停止写入",
                    first_seq=batch.first_seq,
                )
            pending.append(batch)
            at = Mark(self.node, batch.last_seq, batch.batch_hash)
            if len(pending) >= _GROUP:
                self._restore.write(pending, held_up_to=held, into=into)
                pending = []
            if at.high_water >= end.high_water:
                break
        self._restore.write(pending, held_up_to=held, into=into)
        if at.high_water != end.high_water:
            raise RecoveryRefused(
                f"上级第二次只发回至第 {at.high_water} 条（已校验至第 {end.high_water} 条）；再次执行恢复可继续"
            )

    def _decoded(self, message: pb.Batch, mark: Mark) -> Batch:
        """The batch of ``message`` if it is well formed, hashes to its records and continues ``mark``."""
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
        except BatchRefused as refused:
            raise RecoveryRefused(
                f"{where}未通过校验：{refused.message}（本地已封批到 {mark.high_water}）", reason=refused.reason
            ) from None
        return batch

    def _verified(self, message: pb.Batch, mark: Mark, held: int) -> Batch:
        """:meth:`_decoded`, and every record the local outbox holds (``held``: its highest seq) is the same."""
        batch = self._decoded(message, mark)
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
