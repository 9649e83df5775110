"""The pure batch chain: sealing, and the receiver's check for duplicates, gaps, reorders and tampering."""

from __future__ import annotations

from dataclasses import replace

import pytest

from federation.replication import Record
from sync_agent.domain import ZERO_HASH, Mark, RefusalReason, Verdict, check_batch, seal_batch
from sync_agent.errors import BatchRefused

ORIGIN = "371122"


def records(first: int, last: int) -> list[Record]:
    return [
        Record("case_event", f"{ORIGIN}-20261102-000001#{n:04d}", "insert", n, f'{{"n":{n}}}'.encode(), 1_700_000 + n)
        for n in range(first, last + 1)
    ]


def chain(*bounds: tuple[int, int]) -> list:  # type: ignore[type-arg]
    out, prev = [], ZERO_HASH
    for first, last in bounds:
        b = seal_batch(ORIGIN, prev, records(first, last))
        out.append(b)
        prev = b.batch_hash
    return out


def refusal(mark: Mark, batch) -> BatchRefused:  # type: ignore[no-untyped-def]
    with pytest.raises(BatchRefused) as info:
        check_batch(mark, batch)
    return info.value


def test_a_chain_applies_in_order_and_resends_are_duplicates() -> None:
    b1, b2 = chain((1, 3), (4, 6))
    mark = Mark(ORIGIN)
    assert check_batch(mark, b1) is Verdict.APPLY
    mark = Mark(ORIGIN, b1.last_seq, b1.batch_hash)
    assert check_batch(mark, b1) is Verdict.DUPLICATE
    assert check_batch(mark, b2) is Verdict.APPLY


def test_gap_reorder_broken_chain_and_tampering_are_refused_with_the_mark() -> None:
    b1, b2, b3 = chain((1, 3), (4, 6), (7, 9))
    after_b1 = Mark(ORIGIN, 3, b1.batch_hash)
    gap = refusal(after_b1, b3)
    assert gap.reason == RefusalReason.GAP
    assert (gap.high_water, gap.last_hash) == (3, b1.batch_hash)
    overlapping = seal_batch(ORIGIN, b1.batch_hash, records(2, 5))
    assert refusal(after_b1, overlapping).reason == RefusalReason.REORDER
    forked = seal_batch(ORIGIN, bytes(range(32)), records(4, 6))
    assert refusal(after_b1, forked).reason == RefusalReason.BROKEN_CHAIN
    altered = replace(b2, records=(replace(b2.records[0], payload=b'{"n":999}'), *b2.records[1:]))
    assert refusal(after_b1, altered).reason == RefusalReason.BAD_HASH
    assert "篡改" in refusal(after_b1, altered).message


@pytest.mark.parametrize(
    "broken",
    [
        lambda b: replace(b, origin="37112"),
        lambda b: replace(b, records=()),
        lambda b: replace(b, first_seq=2),
        lambda b: replace(b, records=(b.records[0], b.records[2])),
        lambda b: replace(b, prev_hash=b"short"),
    ],
    ids=["bad-origin", "empty", "wrong-first-seq", "hole-inside", "short-hash"],
)
def test_malformed_batches_are_refused(broken) -> None:  # type: ignore[no-untyped-def]
    (b1,) = chain((1, 3))
    assert refusal(Mark(ORIGIN), broken(b1)).reason == RefusalReason.MALFORMED


def test_the_hash_covers_every_field_of_every_record() -> None:
    (b1,) = chain((1, 2))
    r = b1.records[0]
    for field, value in [("record_type", "case"), ("record_id", "x"), ("op", "upsert"), ("created_at_us", 1)]:
        changed = replace(b1, records=(replace(r, **{field: value}), b1.records[1]))
        assert refusal(Mark(ORIGIN), changed).reason == RefusalReason.BAD_HASH, field
