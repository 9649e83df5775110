"""The audit chain, pure: an entry's canonical body is exactly the JSON it is specified as (hypothesis over the
strings a person can type), and verification names the first changed, missing or reordered entry."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from federation.audit import GENESIS, AuditEntry, StoredEntry, entry_body, hash_body, verify_chain

ORIGIN = "371122"
_text = st.text(max_size=40)


@given(
    texts=st.tuples(_text, _text, _text, _text, _text, _text, _text),
    seq=st.integers(min_value=1, max_value=2**53),
    micros=st.integers(min_value=0, max_value=10**12),
)
def test_the_body_is_the_canonical_json_of_the_entry(texts: tuple[str, ...], seq: int, micros: int) -> None:
    user_id, name, role, action, target, source, detail = texts
    at = datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=8))) + timedelta(microseconds=micros)
    e = AuditEntry(at, user_id, name, role, ORIGIN, action, target, source, "ok", detail)
    canonical = json.dumps(
        {"origin": ORIGIN, "seq": seq, **e.content()}, ensure_ascii=False, sort_keys=True, separators=(",", ":")
    )
    assert entry_body(ORIGIN, seq, e) == canonical


def _chain(n: int) -> list[StoredEntry]:
    out, prev = [], GENESIS
    for seq in range(1, n + 1):
        e = AuditEntry(
            datetime(2026, 3, 2, 9, seq, tzinfo=UTC), "w03", "何敏", "窗口人员", ORIGIN, "accept", f"c{seq}", "", "ok"
        )
        h = hash_body(prev, entry_body(ORIGIN, seq, e))
        out.append(StoredEntry(ORIGIN, seq, e, prev, h))
        prev = h
    return out


def test_an_intact_chain_verifies() -> None:
    assert verify_chain(ORIGIN, _chain(5)) == (5, None)


def test_a_changed_entry_a_missing_one_and_a_swap_are_named() -> None:
    chain = _chain(5)
    changed = [*chain[:2], replace(chain[2], entry=replace(chain[2].entry, target="cX")), *chain[3:]]
    assert verify_chain(ORIGIN, changed)[1].reason == "条目内容与其哈希不符（内容被改动）"  # type: ignore[union-attr]
    _, gap = verify_chain(ORIGIN, [*chain[:2], *chain[3:]])
    assert gap is not None
    assert (gap.seq, gap.reason) == (3, "缺少第 3 条（下一条为第 4 条）")
    _, swap = verify_chain(ORIGIN, [*chain[:2], chain[3], chain[2], chain[4]])
    assert swap is not None
    assert (swap.seq, swap.reason) == (3, "次序错乱（第 4 条排在第 3 条之前）")
    _, tail_gap = verify_chain(ORIGIN, [*chain[:3], chain[4]])
    assert tail_gap is not None
    assert tail_gap.reason == "缺少第 4 条（下一条为第 5 条）"
