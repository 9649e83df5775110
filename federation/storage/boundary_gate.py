"""The boundary policy at the outbox: a node's own records are screened as they are written (边界把关).

Every record a node writes to its outbox leaves it, sealed once into the origin's signed, hash-chained batches and
relayed unchanged by every tier above. So the policy applies where the record enters the outbox, in the writing
transaction: the outbox row holds the payload as it crosses, sealing, signing, relay and verification are
unchanged, and nothing unredacted is ever in a batch. The node's own tables keep the full record.

Directions by the origin's level: a county's records go ``up``; the province's go ``down``; a city's own records go
both ways (the same sealed row), so both directions screen them, one after the other.

* a record type the policy does not allow is **refused**: the domain write commits, no outbox row is written (its
  seq reads 0), the refusal is counted in ``boundary_refusals`` and the first of each kind is audited;
* a field the policy does not list is **dropped** from the record that crosses, counted and audited the same way;
* masks (names, ID and phone numbers, free text) are applied on the way.

The policy in force is the one of the newest standards bundle held (``standards.current``), read in the writing
transaction — one primary-key read per append — and compiled once per standards version and process. Like calendar
years, a policy applies on receipt, not on its bundle's effective date: a tightened policy must not wait.
"""

from __future__ import annotations

import json
import weakref
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import bindparam, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine

from federation.audit import Actor, AuditEntry
from federation.boundary import (
    CONTROL_RECORDS,
    BoundaryPolicy,
    CompiledBoundary,
    CompiledDirection,
    default_boundary_policy,
)
from federation.errors import SunshineError
from federation.identities import BoundaryKind, DivisionLevel, boundary_kind, level_of
from federation.storage.tables import boundary_refusals, standards_bundles

__all__ = [
    "DEFAULT_VERSION",
    "Gate",
    "Refusal",
    "directions_of",
    "gate",
    "note_refusals",
    "policy_in_force",
    "screen",
]

log = structlog.get_logger(__name__)

CURRENT_STANDARDS = "standards.current"  # federation.storage.standards_store.CURRENT_STANDARDS (no import cycle)
_CURRENT_SQL = f"SELECT value FROM node_settings WHERE key = '{CURRENT_STANDARDS}'"
DEFAULT_VERSION = ""  # the built-in default's "version": no bundle held, or a bundle that publishes no policy

# per engine (a database's version names one content for good; two databases may name different ones), per
# standards version: the compiled policy, and the gate of each origin
_COMPILED: weakref.WeakKeyDictionary[Engine, dict[str, CompiledBoundary]] = weakref.WeakKeyDictionary()
_GATES: weakref.WeakKeyDictionary[Engine, dict[tuple[str, str], Gate]] = weakref.WeakKeyDictionary()


def directions_of(origin: str) -> tuple[str, ...]:
    """The directions a node's own records cross: county ``up``, city ``up`` and ``down``, province ``down``; a
    county's public stream ``out`` (to its extranet node), the extranet node's own stream ``in``."""
    kind = boundary_kind(origin)
    if kind is BoundaryKind.PUBLIC:
        return ("out",)
    if kind is BoundaryKind.EXTRANET:
        return ("in",)
    try:
        level = level_of(origin)
    except SunshineError:
        return ("up",)
    if level is DivisionLevel.PROVINCE:
        return ("down",)
    if level is DivisionLevel.CITY:
        return ("up", "down")
    return ("up",)


@dataclass(frozen=True, slots=True)
class Gate:
    """The compiled policy of one standards version for one origin's directions."""

    version: str
    directions: tuple[CompiledDirection, ...]

    def allows(self, record_type: str) -> bool:
        return all(d.allows(record_type) for d in self.directions)

    def refusing(self, record_type: str) -> str:
        """The first direction that does not allow ``record_type``."""
        return next((d.direction for d in self.directions if not d.allows(record_type)), self.directions[0].direction)

    @staticmethod
    def whole(record_type: str) -> bool:
        """Whether ``record_type`` crosses as written, never screened (a control record)."""
        return record_type in CONTROL_RECORDS


def _compiled(conn: Connection, version: str | None) -> CompiledBoundary:
    key = version or DEFAULT_VERSION
    held = _COMPILED.setdefault(conn.engine, {})
    compiled = held.get(key)
    if compiled is None:
        raw = None
        if version:
            row = conn.execute(
                select(standards_bundles.c.content).where(standards_bundles.c.version == version)
            ).first()
            raw = json.loads(row[0]).get("boundary") if row is not None else None
        if raw:
            compiled = BoundaryPolicy.from_dict(raw).compile(key)
        else:
            compiled = default_boundary_policy().compile(DEFAULT_VERSION)
        held[key] = compiled
    return compiled


def _current_version(conn: Connection) -> str:
    """The newest standards version held, "" when none: one primary-key read straight on the DB-API cursor (every
    outbox write makes it, so it skips SQLAlchemy's result machinery), in the caller's transaction."""
    raw: Any = conn.connection.driver_connection
    cursor = raw.cursor()
    try:
        cursor.execute(_CURRENT_SQL)
        row = cursor.fetchone()
    finally:
        cursor.close()
    return "" if row is None else str(row[0])


def policy_in_force(conn: Connection) -> CompiledBoundary:
    """The policy of the newest bundle held (the built-in default when none, or when it publishes none)."""
    return _compiled(conn, _current_version(conn) or None)


def gate(conn: Connection, origin: str) -> Gate:
    """The gate the records ``origin`` writes now pass (one primary-key read; compiled once per version)."""
    key = (_current_version(conn), origin)
    gates = _GATES.setdefault(conn.engine, {})
    found = gates.get(key)
    if found is None:
        compiled = _compiled(conn, key[0] or None)
        found = gates[key] = Gate(compiled.version, tuple(compiled.direction(d) for d in directions_of(origin)))
    return found


@dataclass(frozen=True, slots=True)
class Refusal:
    """One thing the policy kept back: a record (``field`` "") or an unlisted field of a record that crossed."""

    direction: str
    record_type: str
    field: str = ""


def screen(gate: Gate, record_type: str, payload: Any, refusals: Counter[Refusal]) -> tuple[Any, bool]:
    """``payload`` as it crosses every direction of ``gate`` (None: refused), and whether it was redacted; what was
    refused or dropped is added to ``refusals``."""
    redacted = False
    for d in gate.directions:
        screened = d.screen(record_type, payload)
        if screened.payload is None:
            refusals[Refusal(d.direction, record_type)] += 1
            return None, redacted
        for path in screened.unlisted:
            refusals[Refusal(d.direction, record_type, path)] += 1
        payload = screened.payload
        redacted = redacted or screened.redacted
    return payload, redacted


def _upsert(ins: Any) -> Any:
    stmt = ins(boundary_refusals).values(
        direction=bindparam("direction"),
        record_type=bindparam("record_type"),
        field=bindparam("field"),
        count=bindparam("count"),
        policy_version=bindparam("policy_version"),
        first_at=bindparam("at", type_=boundary_refusals.c.first_at.type),
        last_at=bindparam("at2", type_=boundary_refusals.c.last_at.type),
    )
    return stmt.on_conflict_do_update(
        index_elements=[boundary_refusals.c.direction, boundary_refusals.c.record_type, boundary_refusals.c.field],
        set_={
            "count": boundary_refusals.c.count + stmt.excluded["count"],
            "policy_version": stmt.excluded["policy_version"],
            "last_at": stmt.excluded["last_at"],
        },
    ).returning(boundary_refusals.c.count)


_UPSERT = {"postgresql": _upsert(pg_insert), "sqlite": _upsert(sqlite_insert)}


def note_refusals(
    conn: Connection, origin: str, version: str, refusals: Mapping[Refusal, int], at: datetime
) -> list[AuditEntry]:
    """Count ``refusals`` in the caller's transaction; return the audit entries of those refused for the first time
    (per direction, record type and field, for as long as this node has kept it) for the caller to append."""
    stmt = _UPSERT[conn.dialect.name]
    entries: list[AuditEntry] = []
    for r, n in sorted(refusals.items(), key=lambda kv: (kv[0].direction, kv[0].record_type, kv[0].field)):
        total = conn.execute(
            stmt,
            {
                "direction": r.direction,
                "record_type": r.record_type,
                "field": r.field,
                "count": n,
                "policy_version": version,
                "at": at,
                "at2": at,
            },
        ).scalar_one()
        what = f"字段“{r.field}”（策略未列出，已删除后放行）" if r.field else "整条记录（策略不允许该类型出境）"
        log.warning(
            "boundary.refused", origin=origin, direction=r.direction, record_type=r.record_type, field=r.field, count=n
        )
        if total != n:  # audited when first refused
            continue
        entries.append(
            AuditEntry.of(
                Actor("system", "节点", "系统", origin, source="outbox"),
                at=at,
                action="boundary.refuse",
                target=f"{r.direction}:{r.record_type}{'.' + r.field if r.field else ''}",
                outcome="refused",
                detail=f"边界策略（标准版本 {version or '内置默认'}）拒绝 {r.record_type} 的{what}；本地数据不受影响",
            )
        )
    return entries
