"""Which node runs which standards (标准版本状态): each node's own report, and its subtree's replicas.

Every node that puts a bundle in place — the province when it publishes, a city or a county when it applies one
sent down (or a county initialised with a local bundle) — calls :func:`report_status` in that very transaction:
it writes the node's own ``standards_status`` row and appends one outbox record it owns::

    record_type "standards_status" · op "upsert" · record_id = the node · payload = the row (dates as ISO text)

The record flows like any other of that node: up to the city and the province (and down, from a city or the
province, so a hall sees what its upper tiers run). :class:`StandardsStatusApplier` keeps, at the receiving
node, the newest report of each node: the report's node must be the record's origin, and a report replaces the
stored one only when its origin seq is higher. :func:`status_rows` reads them for ``sunshine admin standards
status``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from federation.errors import RecordRejected, ValidationError
from federation.identities import validate_division_code
from federation.replication import Prepared, Record, Rejection
from federation.standards import StandardsBundle
from federation.storage import outbox
from federation.storage.rows import parse_moment
from federation.storage.tables import calendar_years, standards_status

__all__ = [
    "STATUS_RECORD",
    "StandardsStatus",
    "StandardsStatusApplier",
    "report_status",
    "status_rows",
]

STATUS_RECORD = "standards_status"
_OP = "upsert"


@dataclass(frozen=True, slots=True)
class StandardsStatus:
    """One node's report: the newest bundle it holds and the calendar years it holds."""

    node: str
    version: str
    digest: str
    effective_date: date
    applied_at: datetime
    calendar_revisions: Mapping[str, int]  # year (as text) -> revision
    origin_seq: int | None = None

    def to_payload(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "version": self.version,
            "digest": self.digest,
            "effective_date": self.effective_date.isoformat(),
            "applied_at": self.applied_at.isoformat(),
            "calendar_revisions": dict(sorted(self.calendar_revisions.items())),
        }

    def row(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "version": self.version,
            "digest": self.digest,
            "effective_date": self.effective_date,
            "applied_at": self.applied_at,
            "calendar_revisions": dict(sorted(self.calendar_revisions.items())),
            "origin_seq": self.origin_seq,
        }


def _upsert(ins: Any, *, guarded: bool) -> Any:
    stmt = ins(standards_status)
    return stmt.on_conflict_do_update(
        index_elements=[standards_status.c.node],
        set_={c.name: stmt.excluded[c.name] for c in standards_status.c if c.name != "node"},
        where=(
            standards_status.c.origin_seq.is_(None) | (standards_status.c.origin_seq < stmt.excluded.origin_seq)
            if guarded
            else None
        ),
    )


_UPSERT = {"postgresql": _upsert(pg_insert, guarded=False), "sqlite": _upsert(sqlite_insert, guarded=False)}
_GUARDED_UPSERT = {"postgresql": _upsert(pg_insert, guarded=True), "sqlite": _upsert(sqlite_insert, guarded=True)}


def report_status(conn: Connection, node: str, bundle: StandardsBundle, now: datetime) -> StandardsStatus:
    """Write ``node``'s own status row and its outbox record, in the caller's transaction (``bundle`` is the
    newest bundle the node now holds)."""
    revisions = {
        str(r.year): int(r.revision) for r in conn.execute(select(calendar_years.c.year, calendar_years.c.revision))
    }
    status = StandardsStatus(node, bundle.version, bundle.digest, bundle.effective_date, now, revisions)
    (seq,) = outbox.append(
        conn,
        origin=node,
        records=[outbox.OutboxRecord(STATUS_RECORD, node, _OP, status.to_payload())],
        created_at=now,
    )
    reported = StandardsStatus(**{**status.row(), "origin_seq": seq})
    conn.execute(_UPSERT[conn.dialect.name], [reported.row()])
    return reported


def _text(payload: Mapping[str, Any], key: str, limit: int) -> str:
    value = payload.get(key)
    if not isinstance(value, str) or not value or len(value) > limit:
        raise RecordRejected(f"标准版本状态记录的字段“{key}”缺失或无效", field=key)
    return value


def parse_status(origin: str, record: Record, payload: Any) -> StandardsStatus:
    """The report of a ``standards_status`` record, checked (raises RecordRejected with the reason)."""
    if record.op != _OP:
        raise RecordRejected(f"标准版本状态记录不支持操作“{record.op}”（应为 {_OP}）", op=record.op)
    if not isinstance(payload, dict):
        raise RecordRejected("标准版本状态记录的载荷应为 JSON 对象")
    node = _text(payload, "node", 6)
    if node != origin or record.record_id != origin:
        raise RecordRejected(
            f"标准版本状态只能由节点自己报告：记录 {record.record_id} 报告的是 {node}，来源是 {origin}",
            origin=origin,
        )
    try:
        validate_division_code(node)
        effective = date.fromisoformat(_text(payload, "effective_date", 10))
        applied_at = parse_moment(payload.get("applied_at"), "applied_at")
    except RecordRejected:
        raise
    except (ValidationError, ValueError) as exc:
        reason = exc.message if isinstance(exc, ValidationError) else str(exc)
        raise RecordRejected(f"标准版本状态记录无效：{reason}") from exc
    revisions = payload.get("calendar_revisions")
    if not isinstance(revisions, dict) or not all(
        isinstance(k, str) and k.isdigit() and type(v) is int for k, v in revisions.items()
    ):
        raise RecordRejected("标准版本状态记录的字段“calendar_revisions”应为 {年份: 修订号}", field="revisions")
    return StandardsStatus(
        node,
        _text(payload, "version", 64),
        _text(payload, "digest", 64),
        effective,
        applied_at,
        revisions,
        record.origin_seq,
    )


class StandardsStatusApplier:
    """``standards_status`` records: the newest report of each node in the subtree (or above) is kept."""

    def prepare(self, origin: str, record: Record, payload: Any) -> StandardsStatus:
        return parse_status(origin, record, payload)

    def apply(self, conn: Connection, origin: str, items: Sequence[Prepared[StandardsStatus]]) -> Sequence[Rejection]:
        newest: dict[str, StandardsStatus] = {}
        for item in items:
            newest[item.value.node] = item.value  # in seq order: the last one of each node is its newest
        if newest:
            conn.execute(_GUARDED_UPSERT[conn.dialect.name], [s.row() for s in newest.values()])
        return []


def status_rows(conn: Connection, prefix: str = "") -> dict[str, StandardsStatus]:
    """Every report held (the node's own and its replicas) of the nodes whose code starts with ``prefix``."""
    stmt = select(standards_status).order_by(standards_status.c.node)
    if prefix:
        stmt = stmt.where(standards_status.c.node.startswith(prefix, autoescape=True))
    return {
        r.node: StandardsStatus(
            r.node,
            r.version,
            r.digest,
            r.effective_date,
            r.applied_at,
            {str(k): int(v) for k, v in dict(r.calendar_revisions).items()},
            r.origin_seq,
        )
        for r in conn.execute(stmt)
    }
