"""The figures of attested completeness (:mod:`federation.replication.attest`): a digest that does not depend on
the order records were added in, changes with any part of any record, and a comparison that names what differs."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from federation.replication import Record
from federation.replication.attest import ATTESTATION, MODULUS, Statement, Totals, compare, totals_of


def _record(seq: int, kind: str = "case", payload: bytes = b"{}", record_id: str = "x", op: str = "upsert") -> Record:
    return Record(kind, record_id, op, seq, payload, 0)


@given(st.permutations(list(range(1, 30))))
def test_the_digest_does_not_depend_on_the_order_records_are_added_in(order: list[int]) -> None:
    records = [_record(seq, "case" if seq % 3 else "alert", f'{{"n":{seq}}}'.encode()) for seq in range(1, 30)]
    assert totals_of(records[i - 1] for i in order).kinds == totals_of(records).kinds


def test_every_part_of_a_record_counts_and_statements_do_not() -> None:
    base = totals_of([_record(1)]).kinds
    for changed in (_record(2), _record(1, payload=b'{"a":1}'), _record(1, record_id="y"), _record(1, op="delete")):
        assert totals_of([changed]).kinds != base
    assert totals_of([_record(1), _record(2, ATTESTATION)]).kinds == base


def test_adding_and_taking_back_a_record_leaves_the_figures_as_they_were() -> None:
    totals = totals_of([_record(1), _record(2)])
    before = totals.copy()
    totals.add(_record(3))
    totals.add(_record(3), sign=-1)
    assert totals.kinds == before.kinds
    assert all(0 <= d < MODULUS for _, d in totals.kinds.values())


def test_compare_names_each_kind_that_differs_with_both_figures() -> None:
    held = totals_of([_record(1), _record(2, "alert")])
    statement = Statement.of("371122", 3, totals_of([_record(1), _record(2, "alert"), _record(3, "alert")]))
    assert compare(statement, held.copy()) == {
        "alert": {
            "origin": [2, statement.payload()["kinds"]["alert"][1]],
            "held": [1, held.to_payload()["alert"][1]],
        }
    }
    assert compare(Statement.of("371122", 2, held), held) == {}
    assert compare(Statement.of("371122", 0, Totals.empty()), Totals.empty()) == {}


def test_adding_a_group_at_once_gives_the_figures_of_adding_one_by_one() -> None:
    records = [_record(seq, "case" if seq % 2 else "alert", f'{{"n":{seq}}}'.encode()) for seq in range(1, 200)]
    one_by_one = Totals.empty()
    for r in records:
        one_by_one.add(r)
    at_once = Totals.empty()
    assert at_once.add_all(records) == {"case", "alert"}
    assert at_once.kinds == one_by_one.kinds
