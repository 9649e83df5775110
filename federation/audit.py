"""The audit chain (审计链), pure: what an entry is, how entries are chained, and how a chain is verified.

Every write and every inspector's read of personal data appends one :class:`AuditEntry` to the node's audit log.
Entries of one origin are numbered 1, 2, 3, … and chained: ``hash = SHA-256(prev_hash ‖ canonical entry)``, the
first entry's ``prev_hash`` being :data:`GENESIS`. :func:`verify_chain` recomputes a chain and names the first
entry that does not fit — a changed byte (its hash differs), a deleted entry (a gap in seq) or a reordered one
(its ``prev_hash`` is not its predecessor's hash).

The entry of a write is appended in the same transaction as the write itself: whoever performs a use case on
behalf of a person opens an :class:`AuditScope` (:func:`audited`); the storage kernel writes the scope's entry
when the transaction writes to the outbox or commits (:mod:`federation.storage.audit_log`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from json.encoder import encode_basestring as _encode_string  # json.dumps' own, with ensure_ascii=False
from typing import Any

__all__ = [
    "GENESIS",
    "Actor",
    "AuditEntry",
    "AuditScope",
    "ChainBreak",
    "StoredEntry",
    "audited",
    "current_audit",
    "entry_hash",
    "verify_chain",
]

GENESIS = "0" * 64

# the widths of the audit_log columns: longer values are cut (with an ellipsis) before they are hashed and stored
WIDTHS = {
    "user_id": 64,
    "name": 60,
    "role": 120,
    "division": 6,
    "action": 80,
    "target": 200,
    "source": 120,
    "outcome": 40,
}


def fit(value: str, width: int) -> str:
    return value if len(value) <= width else value[: width - 1] + "…"


@dataclass(frozen=True, slots=True)
class Actor:
    """The authenticated person (or the node itself, user ``system``) on whose behalf something is done."""

    user_id: str
    name: str
    role: str  # the role's label, e.g. "窗口人员" (several joined by "、")
    division: str
    source: str = ""  # where from: an IP address, "cli:<os user>"

    @property
    def label(self) -> str:
        """How the person appears in timelines, histories, orders and replies: 姓名（岗位，账号）."""
        return f"{self.name}（{self.role}，{self.user_id}）"


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: datetime
    user_id: str
    name: str
    role: str
    division: str
    action: str
    target: str
    source: str
    outcome: str  # "ok" or the error code of a refusal
    detail: str = ""

    @classmethod
    def of(
        cls, actor: Actor, *, at: datetime, action: str, target: str, outcome: str = "ok", detail: str = ""
    ) -> AuditEntry:
        return cls(
            at=at.astimezone(UTC),
            user_id=fit(actor.user_id, WIDTHS["user_id"]),
            name=fit(actor.name, WIDTHS["name"]),
            role=fit(actor.role, WIDTHS["role"]),
            division=fit(actor.division, WIDTHS["division"]),
            action=fit(action, WIDTHS["action"]),
            target=fit(target, WIDTHS["target"]),
            source=fit(actor.source, WIDTHS["source"]),
            outcome=fit(outcome, WIDTHS["outcome"]),
            detail=detail,
        )

    def content(self) -> dict[str, Any]:
        return {
            "at": self.at.astimezone(UTC).isoformat(timespec="microseconds"),
            "user_id": self.user_id,
            "name": self.name,
            "role": self.role,
            "division": self.division,
            "action": self.action,
            "target": self.target,
            "source": self.source,
            "outcome": self.outcome,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class StoredEntry:
    origin: str
    seq: int
    entry: AuditEntry
    prev_hash: str
    hash: str
    body: str = field(default="", compare=False, repr=False)  # entry_body(), when just computed

    def payload(self) -> dict[str, Any]:
        """The replicated form (outbox record type ``audit``): the hashed body, and the chain's two hashes."""
        return {
            "entry": {"origin": self.origin, "seq": self.seq, **self.entry.content()},
            "hash": self.hash,
            "prev_hash": self.prev_hash,
        }

    def payload_json(self) -> str:
        """:meth:`payload` as canonical JSON (sorted keys, no spaces), from the body hashed at append when known:
        the entry is encoded once per write."""
        body = self.body or entry_body(self.origin, self.seq, self.entry)
        return f'{{"entry":{body},"hash":"{self.hash}","prev_hash":"{self.prev_hash}"}}'

    @classmethod
    def from_payload(cls, p: dict[str, Any]) -> StoredEntry:
        e = p["entry"]
        entry = AuditEntry(
            at=datetime.fromisoformat(str(e["at"])),
            **{
                k: str(e[k])
                for k in ("user_id", "name", "role", "division", "action", "target", "source", "outcome", "detail")
            },
        )
        return cls(
            origin=str(e["origin"]), seq=int(e["seq"]), entry=entry, prev_hash=str(p["prev_hash"]), hash=str(p["hash"])
        )


def entry_body(origin: str, seq: int, entry: AuditEntry) -> str:
    """The canonical JSON of an entry as it is hashed (sorted keys, no spaces, UTF-8 text): exactly
    ``json.dumps({"origin": …, "seq": …, **entry.content()}, ensure_ascii=False, sort_keys=True,
    separators=(",", ":"))``, written out key by key (every write hashes one)."""
    s = _encode_string
    return (
        f'{{"action":{s(entry.action)},"at":"{entry.at.astimezone(UTC).isoformat(timespec="microseconds")}",'
        f'"detail":{s(entry.detail)},"division":{s(entry.division)},"name":{s(entry.name)},'
        f'"origin":{s(origin)},"outcome":{s(entry.outcome)},"role":{s(entry.role)},"seq":{int(seq)},'
        f'"source":{s(entry.source)},"target":{s(entry.target)},"user_id":{s(entry.user_id)}}}'
    )


def hash_body(prev_hash: str, body: str) -> str:
    return hashlib.sha256(prev_hash.encode("ascii") + body.encode("utf-8")).hexdigest()


def entry_hash(prev_hash: str, origin: str, seq: int, entry: AuditEntry) -> str:
    return hash_body(prev_hash, entry_body(origin, seq, entry))


@dataclass(frozen=True, slots=True)
class ChainBreak:
    """The first entry of a chain that does not fit, and why (Chinese, for the operator)."""

    origin: str
    seq: int
    reason: str


def verify_chain(origin: str, entries: Iterable[StoredEntry]) -> tuple[int, ChainBreak | None]:
    """Check one origin's entries (in stored order); return how many were checked and the first break, if any."""
    prev, expected, n = GENESIS, 1, 0
    it = iter(entries)
    for e in it:
        n += 1
        if e.seq != expected:
            if e.seq < expected:
                return n, ChainBreak(origin, e.seq, f"序号 {e.seq} 次序错乱")
            following = next(it, None)
            if following is not None and following.seq == expected:  # the missing one comes next: a swap
                return n, ChainBreak(origin, expected, f"次序错乱（第 {e.seq} 条排在第 {expected} 条之前）")
            return n, ChainBreak(origin, expected, f"缺少第 {expected} 条（下一条为第 {e.seq} 条）")
        if e.prev_hash != prev:
            return n, ChainBreak(origin, e.seq, "前一条的哈希不符（条目被删除、插入或调换次序）")
        if entry_hash(e.prev_hash, origin, e.seq, e.entry) != e.hash:
            return n, ChainBreak(origin, e.seq, "条目内容与其哈希不符（内容被改动）")
        prev, expected = e.hash, expected + 1
    return n, None


@dataclass(slots=True)
class AuditScope:
    """One use case performed on behalf of ``actor`` at node ``origin``: the entry to append with its write.

    ``replicate``: the entry also goes to the outbox (a county's audit log replicates up with its records).
    ``session``: the write is refused (Unauthenticated) unless that login session is still live when its entry is
    appended — in the write's own transaction, so a logout, an expiry or a disabled account stops it at once."""

    origin: str
    actor: Actor
    action: str
    target: str
    now: datetime
    replicate: bool = False
    detail: str = ""
    outcome: str = "ok"
    session: str | None = None  # the SHA-256 of the person's session token: the write commits only while it is live
    written: bool = field(default=False)

    def entry(self, outcome: str | None = None) -> AuditEntry:
        return AuditEntry.of(
            self.actor,
            at=self.now,
            action=self.action,
            target=self.target,
            outcome=self.outcome if outcome is None else outcome,
            detail=self.detail,
        )


_current: ContextVar[AuditScope | None] = ContextVar("sunshine_audit_scope", default=None)


def current_audit() -> AuditScope | None:
    return _current.get()


@contextmanager
def audited(scope: AuditScope) -> Iterator[AuditScope]:
    """Writes committed inside the block are audited with ``scope``'s entry (once, in the first write's
    transaction)."""
    token = _current.set(scope)
    try:
        yield scope
    finally:
        _current.reset(token)
