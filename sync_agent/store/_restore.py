"""The store side of a node's recovery from its parent (:mod:`sync_agent.recover`): its own origin's batches,
fetched back and verified, written as if they had been sealed here — ``batch_log`` rows (boundaries, hashes, the
origin's signature and signer chain), the ``outbox`` rows, the node's tables rebuilt through its appliers, and its
gap-free counters moved past every number those records used — so that the next seal continues the chain and no
seq, case number or alert id is handed out twice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, bindparam, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from federation.replication import AppliersByType, Record
from federation.storage.seal import LAST_BATCH, OUTBOX_COLUMNS, records_of
from federation.storage.tables import batch_log, counters, outbox, quarantine
from federation.storage.uow import UnitOfWork
from federation.timeutil import utcnow
from sync_agent.apply import apply_records
from sync_agent.domain import ZERO_HASH, Batch, Mark
from sync_agent.store._shared import INSERT_BATCH, batch_values, chains_of, store_chain
from sync_agent.store._sink import write_relay_copy

__all__ = ["CounterFloors", "LocalOrigin", "Restored", "SqlRestore"]

CounterFloors = Callable[[str, Record], Iterable[tuple[str, int]]]
"""``floors(origin, record)`` → the counters (name, lowest value they may hold) the record's id shows were used: a
case ``371122-20261207-000123`` → ``("case_no:371122:20261207", 123)``. Declared by each counter's owner."""

_TOP = select(func.max(outbox.c.seq)).where(outbox.c.origin == bindparam("origin"))
_HASH_AT = select(batch_log.c.batch_hash).where(
    batch_log.c.origin == bindparam("origin"), batch_log.c.last_seq == bindparam("last_seq")
)
_SIGNER_AT = select(batch_log.c.signer).where(
    batch_log.c.origin == bindparam("origin"), batch_log.c.last_seq == bindparam("last_seq")
)
_LOCAL_BETWEEN = (
    select(*OUTBOX_COLUMNS)
    .where(
        outbox.c.origin == bindparam("origin"), outbox.c.seq >= bindparam("first"), outbox.c.seq <= bindparam("last")
    )
    .order_by(outbox.c.seq)
)


def _raise_counter(ins: Any, larger: Any) -> Any:
    stmt = ins(counters).values(name=bindparam("name"), value=bindparam("value"))
    return stmt.on_conflict_do_update(
        index_elements=[counters.c.name], set_={"value": larger(counters.c.value, stmt.excluded.value)}
    )


_RAISE_COUNTER = {
    "sqlite": _raise_counter(sqlite_insert, func.max),
    "postgresql": _raise_counter(pg_insert, func.greatest),
}
_INSERT_QUARANTINE = quarantine.insert()


@dataclass(frozen=True, slots=True)
class LocalOrigin:
    """What the local store holds of an origin it seals itself: the end of its last sealed batch (and that batch's
    hash), and its highest outbox seq (records written but not sealed yet reach beyond ``sealed``)."""

    origin: str
    sealed: int
    last_hash: bytes
    top: int

    @property
    def mark(self) -> Mark:
        return Mark(self.origin, self.sealed, self.last_hash)


@dataclass
class Restored:
    """What one restore wrote: batches and records taken back, those already held here (same content), those
    applied to the tables, set aside (quarantined, with their reason), or kept in the outbox only (a record type
    without tables here, e.g. the audit chain, whose home is the outbox)."""

    batches: int = 0
    records: int = 0
    already_held: int = 0
    applied: int = 0
    quarantined: int = 0
    outbox_only: Counter[str] = field(default_factory=Counter)
    counters: dict[str, int] = field(default_factory=dict)
    last_seq: int = 0


class SqlRestore:
    """Writes an origin's verified batches back into the node that seals it (``origin``)."""

    def __init__(
        self,
        engine: Engine,
        origin: str,
        appliers: AppliersByType,
        floors: Sequence[CounterFloors] = (),
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._engine = engine
        self.origin = origin
        self._appliers = appliers
        self._floors = floors
        self._clock = clock

    def local(self) -> LocalOrigin:
        with UnitOfWork(self._engine, readonly=True) as uow:
            last = uow.conn.execute(LAST_BATCH, {"origin": self.origin}).first()
            top = uow.conn.execute(_TOP, {"origin": self.origin}).scalar()
        sealed, last_hash = (int(last.last_seq), bytes(last.batch_hash)) if last else (0, ZERO_HASH)
        return LocalOrigin(self.origin, sealed, last_hash, int(top or 0))

    def hash_at(self, last_seq: int) -> bytes | None:
        """The hash of the origin's batch held here that ends at ``last_seq`` (None: no batch ends there)."""
        with UnitOfWork(self._engine, readonly=True) as uow:
            found = uow.conn.execute(_HASH_AT, {"origin": self.origin, "last_seq": last_seq}).scalar()
        return None if found is None else bytes(found)

    def signer_chain_at(self, last_seq: int) -> tuple[bytes, ...]:
        """The signer chain of the origin's batch held here that ends at ``last_seq`` (empty: none, or it was sealed
        by a writer and signed only as it was sent)."""
        with UnitOfWork(self._engine, readonly=True) as uow:
            signer = uow.conn.execute(_SIGNER_AT, {"origin": self.origin, "last_seq": last_seq}).scalar()
            return chains_of(uow.conn, {signer}).get(signer, ()) if signer else ()

    def local_records(self, first: int, last: int) -> list[Record]:
        """The outbox records of the origin held here from seq ``first`` to ``last`` (written, perhaps not sealed)."""
        with UnitOfWork(self._engine, readonly=True) as uow:
            rows = uow.conn.execute(_LOCAL_BETWEEN, {"origin": self.origin, "first": first, "last": last}).all()
        return records_of(rows)

    def write(self, batches: Sequence[Batch], *, held_up_to: int, into: Restored) -> None:
        """Write ``batches`` (verified, consecutive, continuing the local chain) in one transaction: their
        ``batch_log`` rows; the outbox rows and the tables' rows of the records beyond ``held_up_to`` (those up to it
        are held here already, with the same content); the counters those records' ids used."""
        if not batches:
            return
        now = self._clock()
        fresh = [r for b in batches for r in b.records if r.origin_seq > held_up_to]
        texts = [r.payload.decode("utf-8") for r in fresh]
        applicable = [(r, t) for r, t in zip(fresh, texts, strict=True) if r.record_type in self._appliers]
        floors: dict[str, int] = {}
        for r in fresh:
            for floor in self._floors:
                for name, value in floor(self.origin, r):
                    if value > floors.get(name, 0):
                        floors[name] = value
        floors[f"outbox:{self.origin}"] = batches[-1].last_seq
        with UnitOfWork(self._engine) as uow:
            conn = uow.conn
            chains: dict[tuple[bytes, ...], str | None] = {}
            logged = []
            for b in batches:
                if b.signer_chain not in chains:
                    chains[b.signer_chain] = store_chain(conn, b.signer_chain)
                logged.append({**batch_values(b, now, chains[b.signer_chain]), "wire": None})
            conn.execute(INSERT_BATCH, logged)
            write_relay_copy(conn, self.origin, fresh, texts)
            held = (
                apply_records(
                    conn,
                    self.origin,
                    [r for r, _ in applicable],
                    [t for _, t in applicable],
                    self._appliers,
                    batch_ends=[b.last_seq for b in batches],
                )
                if applicable
                else []
            )
            if held:
                conn.execute(
                    _INSERT_QUARANTINE,
                    [
                        {**h, "origin": self.origin, "state": "held", "created_at": now, "resolved_at": None}
                        for h in held
                    ],
                )
            _raise_counters(conn, floors)
            uow.commit()
        into.batches += len(batches)
        into.records += sum(len(b.records) for b in batches)
        into.already_held += sum(len(b.records) for b in batches) - len(fresh)
        into.applied += len(applicable) - len(held)
        into.quarantined += len(held)
        into.outbox_only.update(r.record_type for r in fresh if r.record_type not in self._appliers)
        for name, value in floors.items():
            into.counters[name] = max(value, into.counters.get(name, 0))
        into.last_seq = batches[-1].last_seq


def _raise_counters(conn: Connection, floors: Mapping[str, int]) -> None:
    """Each counter to at least its floor (a counter already beyond it is left as it is)."""
    if floors:
        conn.execute(_RAISE_COUNTER[conn.dialect.name], [{"name": n, "value": v} for n, v in sorted(floors.items())])
