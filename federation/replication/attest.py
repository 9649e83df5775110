"""Attested completeness, pure: per origin and record kind, how many records a node holds and a digest of their
content — the same figures on every tier that holds everything (DESIGN.md §4, completeness; issue 19).

**The digest** of a set of records is the sum, modulo 2²⁵⁶, of each record's SHA-256 over its seq, kind, id, op
and payload bytes (:func:`record_digest`). A sum does not depend on the order records were added in, so it is
kept *incrementally*: a receiver adds each record it applies, and a quarantined record it replays later; it never
rescans what it holds. Two nodes with the same count and digest for a kind hold the same records of that kind.

**The statement.** An origin puts its own figures into its stream: an ``attestation`` record (op ``insert``, id
``{origin}@{covers}``) whose payload names ``covers`` — the seq just before the statement itself — and, for each
kind it has written, ``[count, digest]`` of its records up to ``covers`` (statements themselves excluded). It
travels in a batch signed by the origin, relayed byte for byte, so every tier reads the origin's own, signed
words. A tier that applies the statement compares it, at that very point of the stream, with what it holds of
that origin: it agrees, or it names the kinds that differ (:func:`compare`).
"""

from __future__ import annotations

import hashlib
import re
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection

from federation.errors import RecordRejected
from federation.replication.appliers import Prepared, Rejection
from federation.replication.records import Record

__all__ = [
    "ATTESTATION",
    "MODULUS",
    "Statement",
    "StatementApplier",
    "Totals",
    "compare",
    "digest_hex",
    "is_kind",
    "parse_digest",
    "parse_figures",
    "record_digest",
    "statement_id",
    "totals_of",
]

ATTESTATION = "attestation"  # the record kind of an origin's statement
MODULUS = 2**256
MAX_KINDS = 64  # record kinds a statement may name (the federation has about 30)
MAX_SEQ = 2**62  # a seq or count a statement may name (the stores keep 64-bit integers)
_HEADER = struct.Struct(">QIII")
_KIND = re.compile(r"[a-z][a-z0-9_]{0,31}")  # a record kind as the federation names them (outbox.record_type)
_DIGEST = re.compile(r"[0-9a-f]{64}")


def record_digest(r: Record) -> int:
    """One record's part of a digest: SHA-256 over seq, kind, id, op and payload (lengths prefixed)."""
    t, i, o = r.record_type.encode(), r.record_id.encode(), r.op.encode()
    head = _HEADER.pack(r.origin_seq, len(t), len(i), len(o))
    return _from_bytes(_sha256(b"".join((head, t, i, o, r.payload))).digest(), "big")


_sha256 = hashlib.sha256
_from_bytes = int.from_bytes


def digest_hex(value: int) -> str:
    return f"{value % MODULUS:064x}"


def parse_digest(text: Any) -> int:
    if not isinstance(text, str) or not _DIGEST.fullmatch(text):
        raise ValueError("digest")
    return int(text, 16)


def is_kind(name: Any) -> bool:
    """A record kind's name as the federation writes them: lowercase ASCII, digits and ``_``, at most 32."""
    return isinstance(name, str) and _KIND.fullmatch(name) is not None


def parse_figures(kinds: Any, what: str) -> dict[str, tuple[int, int]]:
    """``{kind: [count, digest]}`` of a statement or a verdict, checked (RecordRejected naming what is wrong)."""
    if not isinstance(kinds, dict) or len(kinds) > MAX_KINDS:
        raise RecordRejected(f"{what}的 kinds 应为至多 {MAX_KINDS} 类记录的条数与摘要")
    parsed: dict[str, tuple[int, int]] = {}
    for kind, figures in kinds.items():
        if not is_kind(kind):
            raise RecordRejected(f"{what}中的记录类型名“{str(kind)[:32]!r}”格式错误")
        try:
            count, digest = figures
            if type(count) is not int or not 0 <= count < MAX_SEQ:
                raise ValueError("count")
            parsed[kind] = (count, parse_digest(digest))
        except (TypeError, ValueError):
            raise RecordRejected(f"{what}中“{kind}”的条数或摘要格式错误", kind=kind) from None
    return parsed


@dataclass
class Totals:
    """Per kind: ``[count, digest]`` (the digest as an integer below 2²⁵⁶)."""

    kinds: dict[str, list[int]]

    @classmethod
    def empty(cls) -> Totals:
        return cls({})

    def add(self, record: Record, sign: int = 1) -> None:
        kind = self.kinds.setdefault(record.record_type, [0, 0])
        kind[0] += sign
        kind[1] = (kind[1] + sign * record_digest(record)) % MODULUS

    def add_all(self, records: Iterable[Record]) -> set[str]:
        """Add every record of ``records`` (the sums reduced once, not per record); the kinds touched."""
        kinds = self.kinds
        touched: set[str] = set()
        for r in records:
            kind = kinds.get(r.record_type)
            if kind is None:
                kind = kinds[r.record_type] = [0, 0]
            kind[0] += 1
            kind[1] += record_digest(r)
            touched.add(r.record_type)
        for name in touched:
            kinds[name][1] %= MODULUS
        return touched

    def copy(self) -> Totals:
        return Totals({k: list(v) for k, v in self.kinds.items()})

    def to_payload(self) -> dict[str, list[Any]]:
        return {k: [v[0], digest_hex(v[1])] for k, v in sorted(self.kinds.items()) if v[0] or v[1]}


def totals_of(records: Iterable[Record]) -> Totals:
    """The figures of ``records`` (statements excluded)."""
    totals = Totals.empty()
    for r in records:
        if r.record_type != ATTESTATION:
            totals.add(r)
    return totals


def statement_id(origin: str, covers: int) -> str:
    return f"{origin}@{covers}"


@dataclass(frozen=True, slots=True)
class Statement:
    """An origin's statement: its figures per kind for its records up to seq ``covers``."""

    origin: str
    covers: int
    kinds: Mapping[str, tuple[int, int]]

    def payload(self) -> dict[str, Any]:
        return {"covers": self.covers, "kinds": {k: [n, digest_hex(d)] for k, (n, d) in sorted(self.kinds.items())}}

    @classmethod
    def of(cls, origin: str, covers: int, totals: Totals) -> Statement:
        return cls(origin, covers, {k: (v[0], v[1]) for k, v in totals.kinds.items() if v[0] or v[1]})

    @classmethod
    def from_record(cls, origin: str, record: Record, payload: Any) -> Statement:
        """The statement a record carries; RecordRejected naming what is wrong (it is quarantined)."""
        if record.op != "insert":
            raise RecordRejected(f"核对声明记录的操作应为 insert，收到“{record.op}”", op=record.op)
        covers = payload.get("covers") if isinstance(payload, dict) else None
        if type(covers) is not int or not 0 <= covers < min(record.origin_seq, MAX_SEQ):
            raise RecordRejected("核对声明的载荷应含 covers（声明之前的序号）与 kinds（各类记录的条数与摘要）")
        if record.record_id != statement_id(origin, covers):
            raise RecordRejected(f"核对声明编号“{record.record_id}”与内容不符", record_id=record.record_id)
        return cls(origin, covers, parse_figures(payload.get("kinds"), "核对声明"))


def compare(statement: Statement, held: Totals) -> dict[str, dict[str, Any]]:
    """The kinds whose figures differ between the origin's ``statement`` and what a tier ``held`` at that point:
    kind → the origin's and the tier's ``[count, digest]``. Empty: the tier holds exactly what the origin wrote."""
    differ: dict[str, dict[str, Any]] = {}
    for kind in sorted(set(statement.kinds) | {k for k, v in held.kinds.items() if v[0] or v[1]}):
        stated = statement.kinds.get(kind, (0, 0))
        mine = tuple(held.kinds.get(kind, [0, 0]))
        if stated != mine:
            differ[kind] = {
                "origin": [stated[0], digest_hex(stated[1])],
                "held": [mine[0], digest_hex(mine[1])],
            }
    return differ


class StatementApplier:
    """``attestation`` records at a receiver: checked here (a malformed statement is quarantined like any poison
    record); the comparison itself is the sink's, which knows what it holds at that point of the stream
    (:func:`federation.storage.attestation.apply_totals`)."""

    def prepare(self, origin: str, record: Record, payload: Any) -> Statement:
        return Statement.from_record(origin, record, payload)

    def apply(self, conn: Connection, origin: str, items: Sequence[Prepared[Statement]]) -> Sequence[Rejection]:
        return []
