"""Sealing an origin's outbox rows into hash-chained batches (``batch_log``), and the writer's own seal.

Two sealers share the queries and the packing here:

* **the writer** — every outbox write (:func:`federation.storage.outbox.append` and friends) ends with
  :func:`after_write`: when a seal is *due* for the origin, the origin's pending (unsealed) rows are sealed into
  ``batch_log`` rows in the writer's own transaction — no extra lock, atomic with the data. Due: the origin's last
  batch was sealed more than ``linger`` ago (real time: ``batch_log.sealed_at`` is real UTC), or the pending rows
  reach a batch's worth. So an idle node seals its first commit at once, and under load at most one seal per
  linger per origin forms batches of several transactions. A writer seals at most :data:`WRITER_MAX_BATCHES`
  batches' worth of rows; a bigger backlog is left to the sync agent. The seal runs in a savepoint: any failure is
  rolled back to it and logged, the rows are left to the agent and the writer's own transaction goes on. A
  writer-sealed batch carries no signature (the writer holds no key): the agent signs it when it sends it.
* **the sync agent** (``sync_agent.store.SqlBatchSource``) — seals what no writer sealed: a backlog, the tail
  after the writes stop, and everything on an engine without a policy.

The writer seals only on an engine given a :class:`SealPolicy` by its composition root: :func:`register`, called by
:func:`federation.storage.engine.engine_from_config` with the ``[replication]`` section's ``batch_records``,
``batch_bytes`` and ``linger_ms`` — the agent's own figures. An engine made without one (``make_engine`` in
tests and tools) leaves every row to the agent, as before.

On PostgreSQL both sealers take the advisory lock ``(SEAL_LOCK_SPACE, lock_key(origin))`` for their transaction,
so they never seal the same rows; the writer only tries it (a writer never waits for the agent's seal).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import Engine, bindparam, insert, select, text, type_coerce
from sqlalchemy.engine import Connection
from sqlalchemy.types import NullType

from federation.errors import StorageError
from federation.replication import Record
from federation.replication.chain import ZERO_HASH, compute_batch_hash, pack
from federation.storage.tables import batch_log, outbox
from federation.timeutil import to_us, utcnow

__all__ = [
    "LAST_BATCH",
    "OUTBOX_COLUMNS",
    "PENDING",
    "SEAL_LOCK_SPACE",
    "WRITER_MAX_BATCHES",
    "SealPolicy",
    "after_write",
    "lock_key",
    "records_of",
    "register",
]

log = structlog.get_logger(__name__)

SEAL_LOCK_SPACE = 0x5EA1  # first key of pg_advisory_xact_lock(int, int): "sealing"; the second is the origin
WRITER_MAX_BATCHES = 4  # batches' worth of rows one writer seals at most; a bigger backlog is the agent's
_OPTION = "sunshine_seal"  # the engine's execution option holding its writer seal (see register)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_NAIVE = datetime(1970, 1, 1)
_US = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class SealPolicy:
    """How a writer seals: the ``[replication]`` section's batch size and linger (the agent's own)."""

    batch_records: int = 500
    batch_bytes: int = 1_048_576
    linger_ms: int = 50

    def __post_init__(self) -> None:
        if self.batch_records < 1 or self.batch_bytes < 1 or self.linger_ms < 0:
            raise ValueError("batch_records and batch_bytes must be positive, linger_ms not negative")


@dataclass
class _WriterSeal:
    """An engine's policy and what its writers last saw sealed, per origin: ``(last sealed seq, time.time() of
    that seal)`` — a hint that spares a write the look at ``batch_log`` while no seal can be due (a stale hint
    delays a seal by one linger at most; the look itself always reads the database)."""

    policy: SealPolicy
    seen: dict[str, tuple[int, float]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, origin: str, sealed: int, at: float) -> None:
        with self.lock:
            if sealed >= self.seen.get(origin, (0, 0.0))[0]:
                self.seen[origin] = (sealed, at)

    def maybe_due(self, origin: str, top: int, now: float) -> bool:
        hint = self.seen.get(origin)
        if hint is None:
            return True
        sealed, at = hint
        return top - sealed >= self.policy.batch_records or now - at >= self.policy.linger_ms / 1000.0


def register(engine: Engine, policy: SealPolicy) -> None:
    """Let the writers of ``engine`` seal their own outbox rows under ``policy`` (the composition root's call)."""
    engine.update_execution_options(**{_OPTION: _WriterSeal(policy)})


def lock_key(origin: str) -> int:
    """The origin as the advisory lock's second key: a division code is its number; a county's public stream
    (``371122-pub``) and extranet node (``371122-ext``) take the county's number plus 1 or 2 million (above any
    six-digit code, within int4)."""
    county, _, kind = origin.partition("-")
    return int(county) + {"": 0, "pub": 1_000_000, "ext": 2_000_000}[kind]


def _stored_us(value: Any) -> int:
    """``to_us`` of ``created_at`` as the driver returns it (see ``OUTBOX_COLUMNS``): UTC text on SQLite, an
    aware datetime on PostgreSQL."""
    if isinstance(value, str):
        moment = datetime.fromisoformat(value)
        return (moment - (_EPOCH_NAIVE if moment.tzinfo is None else _EPOCH)) // _US
    return to_us(value)


def records_of(rows: Iterable[Any]) -> list[Record]:
    """The records of outbox rows selected with ``OUTBOX_COLUMNS`` (the hot path of sealing and sending: one
    tuple unpacking per row)."""
    us = _stored_us
    return [Record(t, i, o, seq, p.encode("utf-8"), us(c)) for seq, t, i, o, p, c in rows]


# ``created_at`` as stored, without the column type's conversion to an aware datetime: ``_stored_us`` turns it
# straight into the microseconds a Record carries (a sizeable share of sealing time otherwise)
OUTBOX_COLUMNS = (
    outbox.c.seq,
    outbox.c.record_type,
    outbox.c.record_id,
    outbox.c.op,
    outbox.c.payload,
    type_coerce(outbox.c.created_at, NullType()).label("created_at"),
)
LAST_BATCH = (
    select(batch_log.c.last_seq, batch_log.c.batch_hash, batch_log.c.sealed_at)
    .where(batch_log.c.origin == bindparam("origin"))
    .order_by(batch_log.c.last_seq.desc())
    .limit(1)
)
PENDING = (
    select(*OUTBOX_COLUMNS)
    .where(outbox.c.origin == bindparam("origin"), outbox.c.seq > bindparam("after"))
    .order_by(outbox.c.seq)
    .limit(bindparam("limit"))
)
_TRY_LOCK = text("SELECT pg_try_advisory_xact_lock(:space, :key)")
_INSERT_BATCH = insert(batch_log)


def after_write(conn: Connection, origin: str, top: int) -> int:
    """The writer's seal, called right after it wrote ``origin``'s outbox rows up to seq ``top``: seal the
    origin's pending rows in this transaction when due; return the number of batches sealed (0 also when the seal
    failed: the rows are left to the agent, the caller's transaction is unharmed)."""
    writer: _WriterSeal | None = conn.get_execution_options().get(_OPTION)
    if writer is None or not writer.maybe_due(origin, top, time.time()):
        return 0
    savepoint = conn.begin_nested()
    try:
        sealed = _seal_due(conn, writer, origin, top)
        savepoint.commit()
    except Exception as exc:  # never the writer's failure: roll the seal back, the agent seals these rows
        try:
            if savepoint.is_active:
                savepoint.rollback()
        except Exception:  # pragma: no cover - the savepoint itself is gone; the transaction reports its own state
            log.exception("replication.writer_seal_rollback_failed", origin=origin)
        log.warning(
            "replication.writer_seal_failed", origin=origin, error=str(exc), message="写入方封批失败，留待同步代理封批"
        )
        return 0
    return sealed


def _seal_due(conn: Connection, writer: _WriterSeal, origin: str, top: int) -> int:
    policy = writer.policy
    if (
        conn.dialect.name == "postgresql"
        and not conn.execute(_TRY_LOCK, {"space": SEAL_LOCK_SPACE, "key": lock_key(origin)}).scalar()
    ):
        return 0  # the agent is sealing this origin right now
    last = conn.execute(LAST_BATCH, {"origin": origin}).first()
    wall = time.time()
    if last is None:
        after, prev_hash = 0, ZERO_HASH
    else:
        after, prev_hash = int(last.last_seq), bytes(last.batch_hash)
        sealed_at: datetime = last.sealed_at
        writer.note(origin, after, sealed_at.timestamp())
        linger = policy.linger_ms / 1000.0
        if top - after < policy.batch_records and wall - sealed_at.timestamp() < linger:
            return 0  # sealed less than a linger ago: this row joins the next batch
    if top <= after:
        return 0
    limit = policy.batch_records * WRITER_MAX_BATCHES
    rows = conn.execute(PENDING, {"origin": origin, "after": after, "limit": limit}).all()
    if not rows:
        return 0
    if rows[0].seq != after + 1 or rows[-1].seq != after + len(rows):
        raise StorageError(
            f"发件箱序号不连续（已封批到 {after}，其后的记录从 {rows[0].seq} 开始），无法封批", origin=origin
        )
    groups = pack(records_of(rows), policy.batch_records, policy.batch_bytes)
    if rows[-1].seq < top and len(groups) > 1 and len(groups[-1]) < policy.batch_records:
        groups.pop()  # cut short by the cap: sealed with what follows, later
    now = utcnow()
    values = []
    for group in groups:
        batch_hash = compute_batch_hash(prev_hash, group)
        values.append(
            {
                "origin": origin,
                "first_seq": group[0].origin_seq,
                "last_seq": group[-1].origin_seq,
                "prev_hash": prev_hash,
                "batch_hash": batch_hash,
                "signature": b"",  # the writer holds no key: the agent signs it when it sends it
                "record_count": len(group),
                "sealed_at": now,
                "signer": None,
            }
        )
        prev_hash = batch_hash
    conn.execute(_INSERT_BATCH, values)
    writer.note(origin, groups[-1][-1].origin_seq, now.timestamp())
    return len(values)
