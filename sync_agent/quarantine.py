"""The quarantine (隔离区): poison records set aside by the receiver, for an admin to inspect, fix and replay.

A record lands here with its reason when its type is unknown, its payload is not JSON, or its applier rejects
it; the stream goes on without it. The admin lists what is held, looks at one, may ``fix`` its payload, then
``replay``s it — the applier runs again on the (fixed) payload, under the origin's mark lock so it cannot race
the stream — or ``discard``s it with a reason. A replay that fails raises :class:`RecordRejected` with the reason
and leaves the record held.

Fixing changes only the quarantined copy: the node's relay copy in ``outbox`` keeps the origin's bytes, since
they are hash-chained and signed by the origin (an upper tier receives the original and quarantines it too).
"""

from __future__ import annotations

import enum
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, bindparam, func, select, update
from sqlalchemy.engine import Connection

from federation.errors import Conflict, NotFound, RecordRejected, ValidationError
from federation.replication import AppliersByType, Prepared, Record, rejection_reason
from federation.replication.attest import ATTESTATION, StatementApplier
from federation.storage import attestation
from federation.storage.tables import quarantine
from federation.storage.uow import UnitOfWork
from federation.timeutil import utcnow
from sync_agent.apply import REJECTABLE, apply_one_type
from sync_agent.store import Clock, lock_mark

__all__ = ["QuarantinePage", "QuarantineService", "QuarantineState", "QuarantinedRecord"]


class QuarantineState(enum.StrEnum):
    HELD = "held"  # 待处理
    REPLAYED = "replayed"  # 已重放
    DISCARDED = "discarded"  # 已丢弃


@dataclass(frozen=True, slots=True)
class QuarantinedRecord:
    id: int
    origin: str
    seq: int
    record_type: str
    record_id: str
    op: str
    payload: str
    reason: str
    state: QuarantineState
    created_at: datetime
    resolved_at: datetime | None


@dataclass(frozen=True, slots=True)
class QuarantinePage:
    items: list[QuarantinedRecord]
    total: int
    page: int
    page_size: int


def _from_row(row: Any) -> QuarantinedRecord:
    return QuarantinedRecord(
        int(row.id),
        row.origin,
        int(row.seq),
        row.record_type,
        row.record_id,
        row.op,
        row.payload,
        row.reason,
        QuarantineState(row.state),
        row.created_at,
        row.resolved_at,
    )


_BY_ID = select(quarantine).where(quarantine.c.id == bindparam("id"))
_RESOLVE = (
    update(quarantine)
    .where(quarantine.c.id == bindparam("k_id"))
    .values(state=bindparam("state"), reason=bindparam("reason"), resolved_at=bindparam("resolved_at"))
)


class QuarantineService:
    """Inspect, fix, replay and discard quarantined records; ``appliers`` as given to the node's sink."""

    def __init__(self, engine: Engine, appliers: AppliersByType, *, clock: Clock = utcnow) -> None:
        self._engine = engine
        self._appliers = {
            **appliers,
            ATTESTATION: appliers.get(ATTESTATION) or StatementApplier(),
            attestation.CHECK: appliers.get(attestation.CHECK) or attestation.CheckApplier(),
        }
        self._clock = clock

    def list(
        self,
        state: QuarantineState | str | None = QuarantineState.HELD,
        *,
        origin: str | None = None,
        page: int = 1,
        page_size: int = 50,
    ) -> QuarantinePage:
        """Quarantined records (oldest first), by state (``None``: every state) and optionally by origin."""
        if page < 1 or not 1 <= page_size <= 500:
            raise ValidationError("分页参数无效：页码从 1 开始，每页 1 到 500 条")
        conds = []
        if state is not None:
            try:
                conds.append(quarantine.c.state == QuarantineState(state).value)
            except ValueError:
                raise ValidationError(
                    f"未知的隔离状态“{state}”（held、replayed、discarded）", state=str(state)
                ) from None
        if origin is not None:
            conds.append(quarantine.c.origin == origin)
        with UnitOfWork(self._engine, readonly=True) as uow:
            total = int(uow.conn.execute(select(func.count()).select_from(quarantine).where(*conds)).scalar_one())
            rows = uow.conn.execute(
                select(quarantine)
                .where(*conds)
                .order_by(quarantine.c.id)
                .offset((page - 1) * page_size)
                .limit(page_size)
            ).all()
        return QuarantinePage([_from_row(r) for r in rows], total, page, page_size)

    def get(self, record_id: int) -> QuarantinedRecord:
        with UnitOfWork(self._engine, readonly=True) as uow:
            return _from_row(self._row(uow.conn, record_id))

    def fix(self, record_id: int, payload: str) -> QuarantinedRecord:
        """Replace the payload of a held record (it must be JSON); ``replay`` then applies it."""
        try:
            json.loads(payload)
        except (ValueError, RecursionError) as exc:
            raise ValidationError(f"修正后的载荷不是有效的 JSON：{exc}", id=record_id) from None
        if "\x00" in payload:
            raise ValidationError("修正后的载荷含有空字符（NUL）", id=record_id)
        with UnitOfWork(self._engine) as uow:
            self._held(uow.conn, record_id)
            uow.conn.execute(update(quarantine).where(quarantine.c.id == record_id).values(payload=payload))
            row = self._row(uow.conn, record_id)
            uow.commit()
        return _from_row(row)

    def replay(self, record_id: int) -> QuarantinedRecord:
        """Apply a held record again through its applier; mark it replayed, or raise RecordRejected (still held)."""
        now = self._clock()
        with UnitOfWork(self._engine) as uow:
            conn = uow.conn
            held = _from_row(self._held(conn, record_id))
            lock_mark(conn, held.origin, now)  # one writer per origin: the stream and a replay do not interleave
            attestation.replayed(conn, held.origin, self._apply(conn, held))  # held now: in the node's figures
            conn.execute(
                _RESOLVE,
                {"k_id": record_id, "state": QuarantineState.REPLAYED.value, "reason": held.reason, "resolved_at": now},
            )
            row = self._row(conn, record_id)
            uow.commit()
        return _from_row(row)

    def discard(self, record_id: int, reason: str) -> QuarantinedRecord:
        """Give up on a held record, saying why (kept, with its original reason, for the audit)."""
        if not reason.strip():
            raise ValidationError("丢弃隔离记录需要说明原因", id=record_id)
        now = self._clock()
        with UnitOfWork(self._engine) as uow:
            held = _from_row(self._held(uow.conn, record_id))
            uow.conn.execute(
                _RESOLVE,
                {
                    "k_id": record_id,
                    "state": QuarantineState.DISCARDED.value,
                    "reason": f"{held.reason}\n丢弃原因：{reason.strip()}",
                    "resolved_at": now,
                },
            )
            row = self._row(uow.conn, record_id)
            uow.commit()
        return _from_row(row)

    # -- helpers --------------------------------------------------------------------------------------------------
    def _apply(self, conn: Connection, held: QuarantinedRecord) -> Record:
        """Apply ``held`` through its applier; the record applied (RecordRejected if it is refused again)."""

        def rejected(reason: str) -> RecordRejected:
            return RecordRejected(f"重放失败：{reason}", id=held.id, record_id=held.record_id)

        applier = self._appliers.get(held.record_type)
        if applier is None:
            raise rejected(f"未知的记录类型“{held.record_type}”")
        record = Record(held.record_type, held.record_id, held.op, held.seq, held.payload.encode("utf-8"), 0)
        try:
            decoded = json.loads(held.payload)
        except (ValueError, RecursionError) as exc:
            raise rejected(f"载荷不是有效的 JSON：{exc}") from None
        try:
            value = applier.prepare(held.origin, record, decoded)
        except REJECTABLE as exc:
            raise rejected(rejection_reason(exc)) from exc
        refusals: Sequence[Any] = apply_one_type(conn, held.origin, applier, [Prepared(record, value)])
        if refusals:
            raise rejected(refusals[0].reason)
        return record

    def _row(self, conn: Connection, record_id: int) -> Any:
        row = conn.execute(_BY_ID, {"id": record_id}).first()
        if row is None:
            raise NotFound(f"隔离区中没有编号为 {record_id} 的记录", id=record_id)
        return row

    def _held(self, conn: Connection, record_id: int) -> Any:
        stmt = _BY_ID.with_for_update() if conn.dialect.name == "postgresql" else _BY_ID
        row = conn.execute(stmt, {"id": record_id}).first()
        if row is None:
            raise NotFound(f"隔离区中没有编号为 {record_id} 的记录", id=record_id)
        if row.state != QuarantineState.HELD.value:
            raise Conflict(
                f"隔离记录 {record_id} 已处理（{QuarantineState(row.state).value}），不能再修改、重放或丢弃",
                id=record_id,
            )
        return row
