"""Apply the records of one batch through the appliers of their types; set the poison ones aside.

Each record's payload is decoded once (JSON) and checked by its applier — from its text by ``prepare_text``
when the applier has it, else decoded and checked by ``prepare`` — except an upsert
followed in the same batch by another upsert of the same record: it carries a state the later one replaces in
the same transaction, so it is skipped (neither decoded nor applied). What fails — an unknown
record type, a payload that is not JSON, a record its applier rejects — is returned for the quarantine with its
reason. The records that pass are applied in bulk, one ``apply`` per record type in the order of the appliers'
mapping, each inside a savepoint: should the database still refuse the bulk write (a constraint the checks did
not foresee), the savepoint is rolled back and that type's records are applied one by one, so that only the
faulty ones are set aside. Failures of the database itself (a lost connection, a lock timeout) are not a
record's fault: they propagate and the whole batch is rolled back, to be received again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy.engine import Connection
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, StatementError

from federation.errors import SunshineError
from federation.replication import Applier, AppliersByType, Prepared, Record, Rejection, rejection_reason
from sync_agent.stages import StageClock

__all__ = ["REJECTABLE", "apply_one_type", "apply_records", "held_row"]

#: What ``prepare`` may raise for a record that is wrong (anything else is a bug and propagates).
REJECTABLE: tuple[type[Exception], ...] = (SunshineError, ValueError, TypeError, KeyError)


def held_row(record: Record, payload: str, reason: str) -> dict[str, Any]:
    """The quarantine columns describing ``record`` (the caller adds origin, state and times)."""
    return {
        "seq": record.origin_seq,
        "record_type": record.record_type,
        "record_id": record.record_id,
        "op": record.op,
        "payload": payload,
        "reason": reason,
    }


def apply_records(
    conn: Connection,
    origin: str,
    records: Sequence[Record],
    payloads: Sequence[str],
    appliers: AppliersByType,
    *,
    batch_ends: Sequence[int] = (),
    stages: StageClock | None = None,
) -> list[dict[str, Any]]:
    """Apply ``records`` of ``origin`` (``payloads``: their payloads as text); return the quarantine rows.
    ``batch_ends``: the last seq of each batch ``records`` come from, when they are several batches applied together
    (an upsert is superseded only by a later one of its own batch, so the outcome never depends on how batches
    were grouped). ``stages``: add the seconds of decoding and checking, and of each record type's write, to it."""
    started = time.perf_counter()
    held: list[dict[str, Any]] = []
    groups: dict[str, list[Prepared[Any]]] = {}
    loads = json.loads
    superseded = _superseded_upserts(records, batch_ends)
    from_text = {t: getattr(a, "prepare_text", None) for t, a in appliers.items()}
    for i, (record, payload) in enumerate(zip(records, payloads, strict=True)):
        if i in superseded:
            continue
        applier = appliers.get(record.record_type)
        if applier is None:
            held.append(held_row(record, payload, f"未知的记录类型“{record.record_type}”，本节点没有对应的处理程序"))
            continue
        try:
            fast = from_text[record.record_type]
            value = None if fast is None else fast(origin, record)
            if value is None:
                try:
                    decoded = loads(payload)
                except (ValueError, RecursionError) as exc:
                    held.append(held_row(record, payload, f"载荷不是有效的 JSON：{exc}"))
                    continue
                value = applier.prepare(origin, record, decoded)
        except REJECTABLE as exc:
            held.append(held_row(record, payload, rejection_reason(exc)))
            continue
        groups.setdefault(record.record_type, []).append(Prepared(record, value))
    if stages is not None:
        stages.add("decode and check payloads", time.perf_counter() - started)
    if groups:
        text_of = dict(zip((r.origin_seq for r in records), payloads, strict=True))
        for record_type, applier in appliers.items():
            items = groups.get(record_type)
            if items:
                started = time.perf_counter()
                for r in apply_one_type(conn, origin, applier, items):
                    held.append(held_row(r.record, text_of[r.record.origin_seq], r.reason))
                if stages is not None:
                    stages.add(f"write {record_type}", time.perf_counter() - started)
    held.sort(key=lambda h: int(h["seq"]))
    return held


def _superseded_upserts(records: Sequence[Record], batch_ends: Sequence[int] = ()) -> set[int]:
    """Positions of upserts followed, in the same batch, by another upsert of the same record: an upsert carries
    the whole state of its record, so only the last one of the batch is decoded and applied."""
    last: dict[tuple[str, str], int] = {}
    superseded: set[int] = set()
    ends = iter(batch_ends)
    end = next(ends, None)
    for i, r in enumerate(records):
        while end is not None and r.origin_seq > end:  # the next batch: nothing of the last one supersedes
            last.clear()
            end = next(ends, None)
        if r.op == "upsert":
            key = (r.record_type, r.record_id)
            before = last.get(key)
            if before is not None:
                superseded.add(before)
            last[key] = i
    return superseded


def _record_fault(exc: Exception) -> bool:
    """Whether the database refused the *data* (a constraint, a value) rather than failed itself."""
    if isinstance(exc, IntegrityError | DataError):
        return True
    if isinstance(exc, DBAPIError):
        return False  # operational: connection, lock, serialization — not the record's fault
    return isinstance(exc, StatementError | SunshineError | ValueError | TypeError | KeyError)


def apply_one_type(
    conn: Connection, origin: str, applier: Applier[Any], items: Sequence[Prepared[Any]]
) -> list[Rejection]:
    """``applier.apply`` in a savepoint; if the database refuses the bulk write, one record at a time."""
    savepoint = conn.begin_nested()
    try:
        rejected = list(applier.apply(conn, origin, items))
    except Exception as exc:
        try:
            savepoint.rollback()
        except Exception as lost:  # the database ended the transaction itself (a full store, a lost connection):
            raise exc from lost  # the sender hears of the cause, not of the savepoint it took with it
        if not _record_fault(exc):
            raise
        if len(items) == 1:
            return [Rejection(items[0].record, f"写入失败：{_fault_message(exc)}")]
        return [r for item in items for r in apply_one_type(conn, origin, applier, [item])]
    savepoint.commit()
    return rejected


def _fault_message(exc: Exception) -> str:
    if isinstance(exc, SunshineError):
        return exc.message
    if isinstance(exc, DBAPIError):
        return str(exc.orig).splitlines()[0]
    return f"{type(exc).__name__}: {exc}"
