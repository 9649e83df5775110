"""The sending side (:class:`SqlBatchSource`): this node's outbox sealed into hash-chained batches, every batch
held served unchanged, and what the peer of each link acknowledged.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import Engine, bindparam, func, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from federation.errors import StorageError
from federation.identities import validate_origin
from federation.replication import Record
from federation.replication.chain import pack
from federation.storage import attestation
from federation.storage.attestation import AttestEvery
from federation.storage.seal import LAST_BATCH, OUTBOX_COLUMNS, PENDING, SEAL_LOCK_SPACE, lock_key, records_of
from federation.storage.tables import batch_log, link_acks, outbox, replication_marks
from federation.storage.uow import UnitOfWork
from federation.timeutil import utcnow
from sync_agent.domain import ZERO_HASH, Batch, seal_batch
from sync_agent.store._shared import INSERT_BATCH, Clock, batch_values, chains_of, store_chain

__all__ = ["LinkAck", "Signer", "SqlBatchSource"]

log = structlog.get_logger(__name__)

Signer = Callable[[bytes], tuple[bytes, tuple[bytes, ...]]]
"""``sign(batch_hash)`` → the node's signature and its certificate chain (``sync_agent.ports.BatchSigner.sign``)."""

_BATCHES_FROM = (
    select(batch_log)
    .where(batch_log.c.origin == bindparam("origin"), batch_log.c.first_seq > bindparam("after"))
    .order_by(batch_log.c.first_seq)
    .limit(bindparam("limit"))
)
_RECORDS_BETWEEN = (
    select(*OUTBOX_COLUMNS)
    .where(
        outbox.c.origin == bindparam("origin"),
        outbox.c.seq >= bindparam("first"),
        outbox.c.seq <= bindparam("last"),
    )
    .order_by(outbox.c.seq)
)
# the origins whose batches this node keeps (it relays them): one small row per origin in replication_marks, each
# checked with one index probe into batch_log — never a DISTINCT over every batch held
_OTHER_ORIGINS = select(replication_marks.c.origin).where(
    replication_marks.c.origin != bindparam("node"),
    select(batch_log.c.origin).where(batch_log.c.origin == replication_marks.c.origin).exists(),
)
# what a seal would find: the origin's highest outbox seq and the last seq already sealed (two index probes, read
# only) — an idle agent looks every linger without ever taking the write lock the hall's transactions need
_SEAL_PROBE = select(
    select(func.max(outbox.c.seq)).where(outbox.c.origin == bindparam("origin")).scalar_subquery().label("top"),
    select(func.max(batch_log.c.last_seq))
    .where(batch_log.c.origin == bindparam("origin"))
    .scalar_subquery()
    .label("sealed"),
)


def _upsert_ack(ins: Any) -> Any:
    stmt = ins(link_acks)
    return stmt.on_conflict_do_update(
        index_elements=[link_acks.c.link, link_acks.c.origin],
        set_={"acked_seq": stmt.excluded.acked_seq, "acked_at": stmt.excluded.acked_at, "last_error": None},
    )


def _upsert_link_error(ins: Any) -> Any:
    stmt = ins(link_acks)
    return stmt.on_conflict_do_update(
        index_elements=[link_acks.c.link, link_acks.c.origin], set_={"last_error": stmt.excluded.last_error}
    )


_UPSERT_ACK = {"postgresql": _upsert_ack(pg_insert), "sqlite": _upsert_ack(sqlite_insert)}
_UPSERT_LINK_ERROR = {"postgresql": _upsert_link_error(pg_insert), "sqlite": _upsert_link_error(sqlite_insert)}


@dataclass(frozen=True, slots=True)
class LinkAck:
    link: str
    origin: str
    acked_seq: int
    acked_at: datetime
    last_error: str | None


class SqlBatchSource:
    """The sending side of a node: its own outbox sealed into batches, and every batch it holds of any origin.

    ``signer`` (optional) signs each new batch's hash with the node's key; a batch of this node's origin sealed
    by a writer (:mod:`federation.storage.seal`: stored without a signature) is signed when it is read to be sent;
    batches of other origins keep the signature they arrived with."""

    def __init__(
        self,
        engine: Engine,
        node: str,
        *,
        max_records: int = 500,
        max_bytes: int = 1_000_000,
        signer: Signer | None = None,
        clock: Clock = utcnow,
        batches_per_transaction: int = 200,
        attest: AttestEvery | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_records < 1 or max_bytes < 1 or batches_per_transaction < 2:
            raise ValueError("max_records and max_bytes must be positive, batches_per_transaction at least 2")
        self._engine = engine
        self.node = validate_origin(node)  # the origin sealed here: the node, or a county's public stream
        self.max_records = max_records
        self.max_bytes = max_bytes
        self._signer = signer
        self._clock = clock
        self._fetch = max_records * batches_per_transaction
        self._attest = attest
        self._monotonic = monotonic
        self._stated: tuple[int, float] | None = None  # this origin's last statement: its seq, and when (monotonic)

    def origins(self) -> list[str]:
        with UnitOfWork(self._engine, readonly=True) as uow:
            others = sorted(uow.conn.execute(_OTHER_ORIGINS, {"node": self.node}).scalars())
        return [self.node, *others]

    def unsealed(self) -> tuple[int, int]:
        """``(last seq sealed, highest outbox seq)`` of this node's origin: a read-only look (two index probes)
        that never takes the write lock the node's writers need."""
        with UnitOfWork(self._engine, readonly=True) as uow:
            probe = uow.conn.execute(_SEAL_PROBE, {"origin": self.node}).one()
        return int(probe.sealed or 0), int(probe.top or 0)

    def seal(self) -> int:
        """Seal every outbox record of this node committed since the last batch; return the number of batches.

        A large backlog is sealed in several transactions of up to ``batches_per_transaction`` batches (the
        chain continues across them), so a county's writers are never held behind one long seal."""
        with UnitOfWork(self._engine, readonly=True) as uow:
            probe = uow.conn.execute(_SEAL_PROBE, {"origin": self.node}).one()
        if (probe.top or 0) <= (probe.sealed or 0):
            return 0
        total = 0
        while True:
            sealed, more = self._seal_some()
            total += sealed
            if not more:
                return total

    def attest(self, *, force: bool = False) -> int | None:
        """This origin's statement of its own figures (:mod:`federation.storage.attestation`), written to its outbox
        when due by ``attest`` — or now (``force``) if anything was written since the last one; its seq, or
        None. Due: ``attest.records`` records sealed since the last statement, or ``attest.seconds`` after it
        when any was."""
        if self._attest is None and not force:
            return None
        now = self._monotonic()
        with UnitOfWork(self._engine, readonly=True) as uow:
            sealed = int(uow.conn.execute(_SEAL_PROBE, {"origin": self.node}).one().sealed or 0)
            if self._stated is None:
                self._stated = (attestation.last_statement(uow.conn, self.node)[0], now)
        last, at = self._stated
        if not force:
            assert self._attest is not None
            if sealed <= last or (sealed - last < self._attest.records and now - at < self._attest.seconds):
                return None
        with UnitOfWork(self._engine) as uow:
            stated = attestation.state(uow.conn, self.node, self._clock())
            uow.commit()
        if stated is None:
            return None
        self._stated = (stated[0], now)
        log.info("replication.attested", origin=self.node, seq=stated[0], covers=stated[1].covers)
        return stated[0]

    def _seal_some(self) -> tuple[int, bool]:
        with UnitOfWork(self._engine) as uow:
            conn = uow.conn
            if conn.dialect.name == "postgresql":
                conn.execute(
                    text("SELECT pg_advisory_xact_lock(:space, :key)"),
                    {"space": SEAL_LOCK_SPACE, "key": lock_key(self.node)},
                )
            last = conn.execute(LAST_BATCH, {"origin": self.node}).first()
            after, prev_hash = (int(last.last_seq), bytes(last.batch_hash)) if last else (0, ZERO_HASH)
            rows = conn.execute(PENDING, {"origin": self.node, "after": after, "limit": self._fetch}).all()
            if not rows:
                return 0, False
            if rows[0].seq != after + 1 or rows[-1].seq != after + len(rows):
                raise StorageError(
                    f"本节点发件箱序号不连续（已封批到 {after}，其后的记录从 {rows[0].seq} 开始），无法封批",
                    origin=self.node,
                )
            more = len(rows) == self._fetch
            groups = pack(records_of(rows), self.max_records, self.max_bytes)
            if more and len(groups) > 1:
                groups.pop()  # may have been cut short by the fetch limit: sealed with what follows, next round
            now = self._clock()
            values = []
            stored: dict[tuple[bytes, ...], str | None] = {}
            for group in groups:
                batch = seal_batch(self.node, prev_hash, group)
                signature, chain = self._signer(batch.batch_hash) if self._signer else (b"", ())
                if chain not in stored:
                    stored[chain] = store_chain(conn, chain)
                values.append(batch_values(replace(batch, signature=signature), now, stored[chain]))
                prev_hash = batch.batch_hash
            conn.execute(INSERT_BATCH, values)
            uow.commit()
        log.debug("replication.sealed", origin=self.node, batches=len(values), last_seq=values[-1]["last_seq"])
        return len(values), more

    def batches_after(self, origin: str, high_water: int, limit: int) -> list[Batch]:
        """Up to ``limit`` batches of ``origin`` held here, consecutive from seq ``high_water + 1``, unchanged."""
        if limit < 1:
            return []
        with UnitOfWork(self._engine, readonly=True) as uow:
            conn = uow.conn
            logged = conn.execute(_BATCHES_FROM, {"origin": origin, "after": high_water, "limit": limit}).all()
            chain: list[Any] = []
            expect = high_water + 1
            for b in logged:
                if b.first_seq != expect:
                    break
                chain.append(b)
                expect = b.last_seq + 1
            if not chain:
                if logged:
                    log.warning(
                        "replication.no_batch_boundary",
                        origin=origin,
                        high_water=high_water,
                        next_first_seq=logged[0].first_seq,
                    )
                return []
            loose = [b for b in chain if b.wire is None]  # sealed here, or relayed before revision 0014
            rows = (
                conn.execute(
                    _RECORDS_BETWEEN, {"origin": origin, "first": loose[0].first_seq, "last": loose[-1].last_seq}
                ).all()
                if loose
                else []
            )
            signers = chains_of(conn, {b.signer for b in chain if b.signer})
        batches = _assemble(origin, chain, rows, signers)
        if origin == self.node and self._signer is not None:  # sealed by a writer, which holds no key: sign now
            sign = self._signer
            batches = [_signed(b, *sign(b.batch_hash)) if not b.signature else b for b in batches]
        return batches

    def record_ack(self, link: str, origin: str, high_water: int) -> None:
        with UnitOfWork(self._engine) as uow:
            uow.conn.execute(
                _UPSERT_ACK[uow.dialect],
                {
                    "link": link,
                    "origin": origin,
                    "acked_seq": high_water,
                    "acked_at": self._clock(),
                    "last_error": None,
                },
            )
            uow.commit()

    def batch_hash_at(self, origin: str, last_seq: int) -> bytes | None:
        """The hash of the batch of ``origin`` held here that ends at ``last_seq`` (None: no batch ends there)."""
        with UnitOfWork(self._engine, readonly=True) as uow:
            found = uow.conn.execute(
                select(batch_log.c.batch_hash).where(batch_log.c.origin == origin, batch_log.c.last_seq == last_seq)
            ).scalar()
        return None if found is None else bytes(found)

    def record_link_error(self, link: str, origin: str, message: str) -> None:
        """Remember the last error of ``link`` for ``origin`` (a refusal, a broken stream); cleared by an ack."""
        with UnitOfWork(self._engine) as uow:
            uow.conn.execute(
                _UPSERT_LINK_ERROR[uow.dialect],
                {"link": link, "origin": origin, "acked_seq": 0, "acked_at": self._clock(), "last_error": message},
            )
            uow.commit()

    def link_acks(self) -> list[LinkAck]:
        with UnitOfWork(self._engine, readonly=True) as uow:
            rows = uow.conn.execute(select(link_acks).order_by(link_acks.c.link, link_acks.c.origin)).all()
        return [LinkAck(r.link, r.origin, int(r.acked_seq), r.acked_at, r.last_error) for r in rows]


def _signed(batch: Batch, signature: bytes, chain: tuple[bytes, ...]) -> Batch:
    return replace(batch, signature=signature, signer_chain=chain)


def _assemble(
    origin: str, chain: Sequence[Any], rows: Sequence[Any], signers: dict[str, tuple[bytes, ...]]
) -> list[Batch]:
    """The batches of ``chain`` (``batch_log`` rows): one held whole as its wire bytes, the others with their
    records from ``rows`` (the outbox rows of the seqs from the first of them to the last)."""
    loose = [b for b in chain if b.wire is None]
    if loose:
        first, last = loose[0].first_seq, loose[-1].last_seq
        if len(rows) != last - first + 1 or (rows and (rows[0].seq != first or rows[-1].seq != last)):
            raise StorageError(
                f"来源 {origin} 的批次 {first}–{last} 在本节点发件箱中的记录不完整（{len(rows)} 条）", origin=origin
            )
    batches = []
    for b in chain:
        if b.wire is not None:
            records: tuple[Record, ...] = ()
            wire = bytes(b.wire)
        else:
            start = b.first_seq - loose[0].first_seq
            records = tuple(records_of(rows[start : start + b.record_count]))
            wire = b""
        batches.append(
            Batch(
                origin,
                b.first_seq,
                b.last_seq,
                bytes(b.prev_hash),
                bytes(b.batch_hash),
                records,
                bytes(b.signature),
                signers.get(b.signer, ()) if b.signer else (),
                wire,
            )
        )
    return batches
