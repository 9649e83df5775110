"""The ``replication`` benchmark's floor: what no receiver on this machine can do without (see
:mod:`bench.replication`).

**The store's own time.** The rows the SQLite city ended with — its cases, their pause and task ledgers, their
events — read back into memory, then written by SQLite alone into a fresh city (same migrations, the node's
pragmas: WAL, ``synchronous=FULL``, foreign keys on): plain ``INSERT`` of ready tuples, one ``executemany`` per
table per transaction of about ``GROUP_RECORDS`` records (what a receiver's group of batches commits at once),
in the order received. No decoding, no checks, no conflict clauses: a lower bound of any receiver's database work.

**The checks' own time.** Every payload decoded by its record type's typed decoder
(:data:`~county_node.approval.adapters.replica.PAYLOAD_DECODERS`: ``msgspec``, in C) into its struct — field
names, kinds, lengths and ranges checked, nothing converted or built in Python: a lower bound of any receiver
that checks each record's fields.

**The machine's CPU.** Each run's CPU seconds, of the sending process (the county: sealing, reading, the link)
and of the receiving one (the city), over the run. ``bound_events_per_s`` is what the machine's cores could reach
if sealing, the transport (the ceiling run's CPU on both ends), the checks and the store floor were each the only
work left and perfectly parallel: ``events / ((seal + transport + checks + store) CPU seconds / cores)``.
``overhead_us_per_record`` is the rest of the run's CPU (both processes, beyond those floors) per record, and
``overhead_budget_us_per_record`` what that rest may cost at most for a target rate even with perfect overlap of
the two processes on the machine's cores.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec
from sqlalchemy import Table

from bench.replication_county import prepare_city
from county_node.approval.adapters.replica import PAYLOAD_DECODERS
from federation.replication import Record
from federation.standards import StandardsBundle
from federation.storage.engine import make_engine
from federation.storage.tables import case_events, case_pauses, case_tasks, cases

__all__ = ["GROUP_RECORDS", "cpu_bound", "store_floor_s", "validation_floor_s"]

GROUP_RECORDS = 8000  # ≈ a receiver's group: 16 batches of 500 records
_TABLES: Sequence[Table] = (cases, case_pauses, case_tasks, case_events)


def _held(city_url: str) -> dict[str, tuple[list[str], list[Any]]]:
    """Each table's columns and rows, in the order the city stored them."""
    engine = make_engine(city_url)
    try:
        with engine.connect() as conn:
            held = {}
            for table in _TABLES:
                result = conn.exec_driver_sql(f"SELECT * FROM {table.name} ORDER BY rowid")
                held[table.name] = (list(result.keys()), [tuple(r) for r in result])
            return held
    finally:
        engine.dispose()


def _chunks(held: dict[str, tuple[list[str], list[Any]]]) -> list[dict[str, list[Any]]]:
    """The rows in transactions of about GROUP_RECORDS records, each case with its ledgers and events."""
    case_rows = held[cases.name][1]
    per_case = max(1, round(GROUP_RECORDS * len(case_rows) / sum(len(rows) for _, rows in held.values())))
    chunk_of = {row[0]: i // per_case for i, row in enumerate(case_rows)}
    chunks: list[dict[str, list[Any]]] = [{t.name: [] for t in _TABLES} for _ in range(len(case_rows) // per_case + 1)]
    for table in _TABLES:
        columns, rows = held[table.name]
        at = columns.index("case_no")
        for row in rows:
            chunks[chunk_of[row[at]]][table.name].append(row)
    return [c for c in chunks if c[cases.name]]


def store_floor_s(city_url: str, fresh_url: str, bundle: StandardsBundle) -> float:
    """Seconds SQLite itself takes to store what ``city_url`` holds into the new city ``fresh_url``."""
    held = _held(city_url)
    chunks = _chunks(held)
    prepare_city(fresh_url, bundle)
    engine = make_engine(fresh_url)
    sql = {
        t.name: f"INSERT INTO {t.name} ({', '.join(held[t.name][0])}) VALUES ({', '.join('?' * len(held[t.name][0]))})"
        for t in _TABLES
    }
    try:
        started = time.perf_counter()
        for chunk in chunks:
            with engine.begin() as conn:
                for table in _TABLES:
                    if chunk[table.name]:
                        conn.exec_driver_sql(sql[table.name], chunk[table.name])
        return time.perf_counter() - started
    finally:
        engine.dispose()


def validation_floor_s(records: Iterable[Record]) -> float:
    """CPU seconds the typed decoders take to decode every payload of ``records`` into its record type's struct."""
    decoders = {kind: msgspec.json.Decoder(d.struct) for kind, d in PAYLOAD_DECODERS.items()}
    work = [(decoders[r.record_type].decode, r.payload) for r in records]
    started = time.process_time()
    for decode, payload in work:
        decode(payload)
    return time.process_time() - started


def cpu_bound(
    events: int,
    records: int,
    *,
    seal_cpu_s: float,
    transport_cpu_s: float,
    validation_s: float,
    store_s: float,
    run_cpu_s: float,
    target_events_per_s: float,
) -> dict[str, Any]:
    """The machine's bound: events/s if the floors were the only work, spread over every core; the run's CPU
    beyond the floors per record, and what it may be at most for ``target_events_per_s``."""
    cores = os.cpu_count() or 1
    floors = seal_cpu_s + transport_cpu_s + validation_s + store_s
    sealed = (transport_cpu_s + validation_s + store_s) / cores
    budget = events / target_events_per_s * cores - floors
    return {
        "cores": cores,
        "seal_cpu_us_per_event": round(seal_cpu_s / events * 1e6, 2),
        "transport_cpu_us_per_event": round(transport_cpu_s / events * 1e6, 2),
        "validation_floor_us_per_event": round(validation_s / events * 1e6, 2),
        "store_floor_us_per_event": round(store_s / events * 1e6, 2),
        "bound_events_per_s": round(events / (floors / cores), 1),
        "bound_sealed_backlog_events_per_s": round(events / sealed, 1),
        "overhead_us_per_record": round((run_cpu_s - floors) / records * 1e6, 2),
        "overhead_budget_us_per_record": round(budget / records * 1e6, 2),
    }
