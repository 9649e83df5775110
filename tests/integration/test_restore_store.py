"""The store side of a county's recovery (:class:`sync_agent.store.SqlRestore`), on SQLite and PostgreSQL: verified
batches of the node's own origin written back as if sealed here — batch log, outbox rows, tables through the
appliers (a poison record quarantined), counters moved past every number used and never moved back — and the
pure parts: who may fetch what (``fetch_policy``) and which counters a record's id shows were used."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import Engine, select

from county_node.recovery import counter_floors
from federation.replication import Record
from federation.storage.outbox import next_value
from federation.storage.tables import batch_log, counters, outbox, quarantine
from federation.storage.uow import UnitOfWork
from federation.timeutil import utcnow
from sync_agent.domain import ZERO_HASH, seal_batch
from sync_agent.runtime import fetch_policy
from sync_agent.store import Restored, SqlRestore
from tests.settings_applier import Settings

COUNTY = "371122"


def _record(seq: int, record_type: str, record_id: str, payload: object) -> Record:
    body = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
    return Record(record_type, record_id, "upsert", seq, body, 1_765_000_000_000_000 + seq)


def _counters(engine: Engine) -> dict[str, int]:
    with UnitOfWork(engine, readonly=True) as uow:
        return {r.name: int(r.value) for r in uow.conn.execute(select(counters.c.name, counters.c.value))}


def test_batches_are_written_back_as_sealed_here_with_tables_and_counters(engine: Engine) -> None:
    with UnitOfWork(engine) as uow:  # a counter already beyond what the records show is never moved back
        next_value(uow.conn, f"alert:{COUNTY}", 50)
        uow.commit()
    first = seal_batch(
        COUNTY,
        ZERO_HASH,
        [
            _record(1, "setting", "k1", {"value": "a"}),
            _record(2, "case", f"{COUNTY}-20261207-000007", {"not": "a case"}),  # no case applier here: outbox only
            _record(3, "alert", f"{COUNTY}-A000000009", {}),
        ],
    )
    second = seal_batch(
        COUNTY,
        first.batch_hash,
        [_record(4, "setting", "k2", {"value": "bad"}), _record(5, "complaint", f"{COUNTY}-TS00000003", {})],
    )
    restore = SqlRestore(engine, COUNTY, {"setting": Settings(strict=True)}, [counter_floors])
    assert restore.local() == type(restore.local())(COUNTY, 0, ZERO_HASH, 0)
    done = Restored()
    restore.write([first], held_up_to=0, into=done)
    restore.write([second], held_up_to=0, into=done)
    local = restore.local()
    assert (local.sealed, local.last_hash, local.top) == (5, second.batch_hash, 5)
    assert restore.hash_at(3) == first.batch_hash
    assert restore.hash_at(4) is None
    assert [r.payload for r in restore.local_records(1, 5)] == [r.payload for r in (*first.records, *second.records)]
    assert (done.batches, done.records, done.already_held, done.applied, done.quarantined) == (2, 5, 0, 1, 1)
    assert dict(done.outbox_only) == {"case": 1, "alert": 1, "complaint": 1}
    assert _counters(engine) == {
        f"outbox:{COUNTY}": 5,
        f"case_no:{COUNTY}:20261207": 7,
        f"alert:{COUNTY}": 50,
        f"ts:{COUNTY}": 3,
    }
    with UnitOfWork(engine, readonly=True) as uow:
        logged = uow.conn.execute(select(batch_log.c.first_seq, batch_log.c.wire).order_by(batch_log.c.first_seq)).all()
        held = uow.conn.execute(select(quarantine.c.seq, quarantine.c.origin)).all()
        seqs = list(uow.conn.execute(select(outbox.c.seq).where(outbox.c.origin == COUNTY).order_by(outbox.c.seq)))
    assert [(r.first_seq, r.wire) for r in logged] == [(1, None), (4, None)]  # as if sealed here: no wire
    assert [tuple(h) for h in held] == [(4, COUNTY)]
    assert [s for (s,) in seqs] == [1, 2, 3, 4, 5]


def test_records_already_held_are_neither_written_again_nor_applied(engine: Engine) -> None:
    batch = seal_batch(COUNTY, ZERO_HASH, [_record(1, "setting", "k1", {"value": "a"})])
    with UnitOfWork(engine) as uow:  # written here before the loss of the rest, never sealed
        uow.conn.execute(
            outbox.insert(),
            {
                "origin": COUNTY,
                "seq": 1,
                "record_type": "setting",
                "record_id": "k1",
                "op": "upsert",
                "payload": batch.records[0].payload.decode(),
                "created_at": utcnow(),
            },
        )
        uow.commit()
    done = Restored()
    SqlRestore(engine, COUNTY, {"setting": Settings(strict=True)}, [counter_floors]).write(
        [batch], held_up_to=1, into=done
    )
    assert (done.records, done.already_held, done.applied) == (1, 1, 0)
    assert _counters(engine) == {f"outbox:{COUNTY}": 1}


@pytest.mark.parametrize(
    ("caller", "node", "origin", "allowed"),
    [
        ("371122", "371100", "371122", True),  # its own records back from its city
        ("371122", "371100", "371100", True),  # the city's own records that go down to it
        ("371122", "371100", "370000", True),  # the province's, relayed down by the city
        ("371122", "370000", "371122", True),  # its own, from the province (which holds them too)
        ("371122", "371100", "371121", False),  # a sibling's
        ("371122", "370000", "371100", False),  # the city's, from the province: not what goes down to it there
        ("371100", "371122", "371100", False),  # a parent from its child
        ("371100", "371100", "371100", False),  # the node itself
        ("371122", "371100", "371122-pub", False),  # never across the boundary
        ("371122-ext", "371100", "371122-ext", False),
        ("371122", "371100", "37112x", False),  # malformed
        ("37112x", "371100", "37112x", False),
        ("371122", "371122-ext", "371122", False),  # an extranet node serves no fetch
    ],
)
def test_a_node_fetches_its_own_origin_and_its_ancestors_only(
    caller: str, node: str, origin: str, allowed: bool
) -> None:
    assert fetch_policy(node)(caller, origin) is allowed


@pytest.mark.parametrize(
    ("record", "floors"),
    [
        (_record(1, "case", "371122-20261207-000123", {}), [("case_no:371122:20261207", 123)]),
        (_record(1, "alert", "371122-A000000042", {}), [("alert:371122", 42)]),
        (_record(1, "complaint", "371122-TS00000005", {}), [("ts:371122", 5)]),
        (_record(1, "rating", "371122-PJ00000006", {}), [("pj:371122", 6)]),
        (_record(1, "order", "371122-OD00000002", {}), [("order:371122", 2)]),
        (_record(1, "order", "371100-OD00000002", {}), []),  # another issuer's order: not this node's counter
        (_record(1, "case", "371121-20261207-000123", {}), []),
        (_record(1, "case", "371122-2026-1", {}), []),
        (_record(1, "case_event", "371122-20261207-000123#0001", {}), []),
    ],
)
def test_a_records_id_names_the_counter_it_used(record: Record, floors: list[tuple[str, int]]) -> None:
    assert list(counter_floors(COUNTY, record)) == floors
