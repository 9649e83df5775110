"""What crossed this node's boundary, what was redacted and what was refused (``sunshine admin boundary report``).

Read-only. *Crossed* counts the node's own outbox rows per record type (everything in the outbox leaves, on every
link of the node's directions, once the agent has sealed it); *redacted* lists the fields the policy in force
masks, clears or drops for each type; *refused* counts what the policy kept back (``boundary_refusals``): whole
records of a type it does not allow, and fields it does not list.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from federation.boundary import ACTION_LABELS, CONTROL_RECORDS, Action, Rule
from federation.identities import DivisionLevel, boundary_kind, level_of, public_stream_of
from federation.storage.boundary_gate import DEFAULT_VERSION, directions_of, policy_in_force
from federation.storage.tables import boundary_refusals, outbox

__all__ = ["BoundaryReport", "DirectionReport", "TypeReport", "boundary_report"]


@dataclass(frozen=True, slots=True)
class TypeReport:
    record_type: str
    allowed: bool
    crossed: int
    redacted: tuple[tuple[str, str], ...]  # (field path, action) of every field not kept as written
    refused: int
    dropped_fields: tuple[tuple[str, int], ...] = ()  # unlisted fields dropped, with how many times

    def to_dict(self) -> dict[str, Any]:
        return {
            "record_type": self.record_type,
            "allowed": self.allowed,
            "crossed": self.crossed,
            "redacted": [{"field": f, "action": a} for f, a in self.redacted],
            "refused": self.refused,
            "dropped_fields": [{"field": f, "count": n} for f, n in self.dropped_fields],
        }


@dataclass(frozen=True, slots=True)
class DirectionReport:
    direction: str
    types: tuple[TypeReport, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"direction": self.direction, "types": [t.to_dict() for t in self.types]}


@dataclass(frozen=True, slots=True)
class BoundaryReport:
    node: str
    policy_version: str  # "" = the built-in default
    directions: tuple[DirectionReport, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "policy_version": self.policy_version,
            "default_policy": self.policy_version == DEFAULT_VERSION,
            "directions": [d.to_dict() for d in self.directions],
        }


def _redactions(rules: Mapping[str, Rule], prefix: str = "") -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for name, rule in rules.items():
        if isinstance(rule, Action):
            if rule is not Action.KEEP:
                out.append((f"{prefix}{name}", rule.value))
        else:
            out.extend(_redactions(rule, f"{prefix}{name}."))
    return out


def boundary_report(conn: Connection, node: str) -> BoundaryReport:
    """What ``node``'s own records did at its boundary, per direction: its own stream's (a county ``up``, an extranet
    node ``in``) and, at a county that publishes to an extranet node, its public stream's (``out``)."""
    compiled = policy_in_force(conn)
    streams = [node]
    if boundary_kind(node) is None and level_of(node) is DivisionLevel.COUNTY:
        streams.append(public_stream_of(node))
    crossed: dict[tuple[str, str], int] = {
        (str(o), str(t)): int(n)
        for o, t, n in conn.execute(
            select(outbox.c.origin, outbox.c.record_type, func.count())
            .where(outbox.c.origin.in_(streams))
            .group_by(outbox.c.origin, outbox.c.record_type)
        )
    }
    refused: dict[tuple[str, str], int] = {}
    dropped: dict[tuple[str, str], list[tuple[str, int]]] = {}
    b = boundary_refusals.c
    for direction, record_type, path, n in conn.execute(select(b.direction, b.record_type, b.field, b.count)):
        if path:
            dropped.setdefault((direction, record_type), []).append((path, int(n)))
        else:
            refused[(direction, record_type)] = int(n)
    reports: list[DirectionReport] = []
    for origin in streams:
        own = {t: n for (o, t), n in crossed.items() if o == origin}
        for direction in directions_of(origin):
            noted = {t for d, t in (*refused, *dropped) if d == direction}
            if origin != node and not own and not noted:
                continue  # a county without an extranet node publishes nothing: no "out" to report
            rules = compiled.policy.directions.get(direction, {})
            types = sorted((set(rules) | set(own) | noted) - CONTROL_RECORDS)
            reports.append(
                DirectionReport(
                    direction,
                    tuple(
                        TypeReport(
                            record_type=t,
                            allowed=t in rules,
                            crossed=own.get(t, 0),
                            redacted=tuple(_redactions(rules[t])) if t in rules else (),
                            refused=refused.get((direction, t), 0),
                            dropped_fields=tuple(sorted(dropped.get((direction, t), []))),
                        )
                        for t in types
                    ),
                )
            )
    return BoundaryReport(node, compiled.version, tuple(reports))


def action_label(action: str) -> str:
    """The Chinese label of an action (``mask_name`` → 姓名脱敏)."""
    try:
        return ACTION_LABELS[Action(action)]
    except ValueError:
        return action
