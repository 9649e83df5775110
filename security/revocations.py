"""The province's revocation list (吊销列表): published down the standards channel, enforced by every node.

``sunshine admin revoke --division 371122`` (or ``--fingerprint``) at the province writes a new version of the
whole list and its ``revocation_list`` outbox record in one transaction; the record flows down like a standards
bundle (the cities relay it), and every node applies the newest version it receives (:class:`RevocationApplier`).
A node's trust store re-reads the list it holds (:func:`held_revocations`), so a revoked node is refused within
one propagation: its streams at Hello, its batches at their signature, its Welcome at the sender.

Revoking a division revokes every certificate of that division, and every certificate its CA issued, that was
issued before the moment of revocation; the node enrols again (a new token) to come back.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection

from federation.errors import RecordRejected, ValidationError
from federation.identities import DivisionLevel, level_of, validate_node_id
from federation.replication import Prepared, Record, Rejection
from federation.storage import outbox
from federation.storage.outbox import OutboxRecord, canonical_json
from federation.storage.rows import parse_moment
from federation.storage.tables import revocation_list
from security.trust import Revocations

__all__ = [
    "REVOCATION_RECORD",
    "RevocationApplier",
    "held_revocations",
    "publish_revocation",
    "revocations_reader",
]

REVOCATION_RECORD = "revocation_list"
_FINGERPRINT_LEN = 64


def _parse(payload: Mapping[str, Any]) -> Revocations:
    try:
        version = int(payload["version"])
        divisions = {validate_node_id(str(k)): parse_moment(v, "divisions") for k, v in payload["divisions"].items()}
        fingerprints = frozenset(str(f).lower() for f in payload["fingerprints"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise RecordRejected(f"吊销列表格式错误：{exc}") from None
    if version < 1 or any(len(f) != _FINGERPRINT_LEN for f in fingerprints):
        raise RecordRejected("吊销列表版本或证书指纹格式错误")
    return Revocations(version, divisions, fingerprints)


def _payload(r: Revocations, issued_at: datetime, reasons: Mapping[str, str]) -> dict[str, Any]:
    return {
        "version": r.version,
        "issued_at": issued_at.isoformat(),
        "divisions": {k: v.isoformat() for k, v in sorted(r.divisions.items())},
        "fingerprints": sorted(r.fingerprints),
        "reasons": dict(sorted(reasons.items())),
    }


def _held(conn: Connection) -> tuple[Revocations, dict[str, str]]:
    row = conn.execute(select(revocation_list.c.payload)).first()
    if row is None:
        return Revocations(), {}
    payload = json.loads(row.payload)
    return _parse(payload), dict(payload.get("reasons", {}))


def held_revocations(conn: Connection) -> Revocations:
    return _held(conn)[0]


Reader = Callable[[Callable[[Connection], Revocations]], Revocations]


def revocations_reader(read: Reader, ttl: float = 1.0) -> Callable[[], Revocations]:
    """``revocations()`` for a :class:`~security.trust.TrustStore`: the held list, re-read at most every ``ttl``
    seconds (``read`` runs a function in a read-only transaction of the node's database)."""
    import time

    state: dict[str, Any] = {"at": -1e9, "value": Revocations()}

    def current() -> Revocations:
        now = time.monotonic()
        if now - state["at"] >= ttl:
            state["value"] = read(held_revocations)
            state["at"] = now
        value: Revocations = state["value"]
        return value

    return current


def publish_revocation(
    conn: Connection,
    *,
    province: str,
    now: datetime,
    divisions: Sequence[str] = (),
    fingerprints: Sequence[str] = (),
    reason: str,
) -> Revocations:
    """A new version of the province's list with ``divisions`` (every certificate issued before ``now``) and
    ``fingerprints`` added, held here and queued down in the caller's transaction."""
    if level_of(province) is not DivisionLevel.PROVINCE:
        raise ValidationError(f"只有省级节点可以吊销证书，{province} 不是省级区划", node=province)
    if not divisions and not fingerprints:
        raise ValidationError("请指定要吊销的区划（--division）或证书指纹（--fingerprint）")
    if not reason.strip():
        raise ValidationError("请说明吊销原因（--reason）")
    outbox.lock_origin(conn, province)
    current, reasons = _held(conn)
    added = {validate_node_id(d): now for d in divisions}
    prints = {f.lower().removeprefix("sha256:") for f in fingerprints}
    if any(len(f) != _FINGERPRINT_LEN or any(c not in "0123456789abcdef" for c in f) for f in prints):
        raise ValidationError("证书指纹应为 64 位十六进制（sunshine admin certs 中显示）")
    new = Revocations(current.version + 1, {**current.divisions, **added}, current.fingerprints | frozenset(prints))
    reasons.update({k: reason.strip()[:200] for k in (*added, *prints)})
    payload = _payload(new, now, reasons)
    _store(conn, new.version, payload, now)
    outbox.append(
        conn,
        origin=province,
        records=[OutboxRecord(REVOCATION_RECORD, province, "upsert", payload)],
        created_at=now,
    )
    return new


def _store(conn: Connection, version: int, payload: Mapping[str, Any], now: datetime) -> None:
    text = canonical_json(payload)
    if conn.execute(select(revocation_list.c.version)).first() is None:
        conn.execute(insert(revocation_list).values(id=1, version=version, payload=text, applied_at=now))
    else:
        conn.execute(update(revocation_list).values(version=version, payload=text, applied_at=now))


class RevocationApplier:
    """Applies the province's list at a city or county: the newest version wins, an older one changes nothing."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self._clock = clock

    def prepare(self, origin: str, record: Record, payload: Any) -> tuple[Revocations, Mapping[str, Any]]:
        if level_of(origin) is not DivisionLevel.PROVINCE or record.record_id != origin:
            raise RecordRejected(f"吊销列表只能由省级节点发布，来源 {origin} 不是", origin=origin)
        if not isinstance(payload, dict):
            raise RecordRejected("吊销列表应为 JSON 对象")
        return _parse(payload), payload

    def apply(
        self, conn: Connection, origin: str, items: Sequence[Prepared[tuple[Revocations, Mapping[str, Any]]]]
    ) -> Sequence[Rejection]:
        del origin
        newest = max(items, key=lambda p: p.value[0].version)
        held = conn.execute(select(revocation_list.c.version)).first()
        if held is None or int(held.version) < newest.value[0].version:
            _store(conn, newest.value[0].version, newest.value[1], self._clock())
        return []
