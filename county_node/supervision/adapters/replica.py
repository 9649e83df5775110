"""Replicas of a county's supervision records on an upper tier: the appliers of ``alert``, ``complaint``, ``rating``.

A county's supervision store (:mod:`county_node.supervision.adapters.store`) appends, for every write of an
alert (预警), a complaint (投诉) or a rating (好差评), one outbox record: op ``upsert``, id = the row's key
(``371122-A000000001``, ``371122-TS00000001``, ``371122-PJ00000001``), payload = the whole row but ``origin_seq``.
On a city or the province, :class:`SnapshotApplier` (one per table, see :func:`supervision_appliers`):

- ``prepare`` decodes the row against the table's own column types (:class:`~federation.storage.rows.RowDecoder`) and
  refuses, with the reason in Chinese, a record whose id is malformed, whose id, ``origin`` column, case or alert
  subject belongs to another division than the batch's origin (a county only sends its own), or whose status,
  level or kind is unknown;
- ``apply`` writes the newest snapshot of each record in the batch with one guarded
  ``INSERT … ON CONFLICT DO UPDATE … WHERE origin_seq < excluded.origin_seq`` (``origin_seq`` = the record's seq):
  an older or duplicate snapshot never overwrites a newer one.

Alerts keep at most one *standing* alert per subject and rule (a partial unique index, at every tier). A county
clears the old alert's ``standing`` before it raises the next one, so the replica writes the snapshots that stop
standing before those that stand: the batch never holds two standing alerts in between.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, bindparam, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from county_node.supervision.adapters.store import ALERT_RECORD, COMPLAINT_RECORD, RATING_RECORD
from county_node.supervision.domain.alerts import MAX_LEVEL, AlertStatus
from county_node.supervision.domain.complaints import ComplaintTarget
from county_node.supervision.domain.feedback import COMPLAINT_STATUS_LABELS, RATING_STATUS_LABELS
from county_node.supervision.domain.model import SubjectKind
from county_node.supervision.domain.ratings import RATING_LABELS
from federation.clock import Light
from federation.errors import RecordRejected, ValidationError
from federation.identities import parse_case_number
from federation.replication import Applier, Prepared, Record, Rejection
from federation.storage.bulk import BulkStatement
from federation.storage.rows import RowDecoder
from federation.storage.tables import alerts, complaints, ratings

__all__ = [
    "ALERTS",
    "COMPLAINTS",
    "RATINGS",
    "SnapshotApplier",
    "SnapshotTable",
    "SupervisionSnapshot",
    "supervision_appliers",
]


@dataclass(frozen=True, slots=True)
class SnapshotTable:
    """A table replicated as whole-row snapshots: its record type, key, id pattern and the values it allows."""

    record_type: str
    table: Table
    key: str
    label: str  # the record in Chinese (预警, 投诉, 好差评), for the reasons of rejections
    id_pattern: str  # the key after ``{division}-``, e.g. ``A\d{9,}``
    allowed: Mapping[str, frozenset[Any]] = field(default_factory=dict)  # column → values (a null passes)
    # the columns applied last: a row whose value is true here is written after the rows whose value is false
    # (alerts: ``standing``, held unique per subject and rule by a partial index)
    standing: str | None = None


ALERTS = SnapshotTable(
    ALERT_RECORD,
    alerts,
    "alert_id",
    "预警",
    r"A\d{9,}",
    {
        "status": frozenset(AlertStatus),
        "light": frozenset(Light),
        "subject_kind": frozenset(SubjectKind),
        "level": frozenset(range(MAX_LEVEL + 1)),
    },
    standing="standing",
)
COMPLAINTS = SnapshotTable(
    COMPLAINT_RECORD,
    complaints,
    "complaint_id",
    "投诉",
    r"TS\d{8,}",
    {"status": frozenset(COMPLAINT_STATUS_LABELS), "target": frozenset(ComplaintTarget)},
)
RATINGS = SnapshotTable(
    RATING_RECORD,
    ratings,
    "rating_id",
    "好差评",
    r"PJ\d{8,}",
    {"status": frozenset(RATING_STATUS_LABELS), "level": frozenset(RATING_LABELS)},
)


@dataclass(frozen=True, slots=True)
class SupervisionSnapshot:
    """A checked snapshot: its key, the seq of its record (its ``origin_seq`` here) and its row."""

    key: str
    origin_seq: int
    row: dict[str, Any]


def _guarded_upsert(ins: Callable[[Table], Any], table: Table, key: str) -> Any:
    stmt = ins(table)
    return stmt.on_conflict_do_update(
        index_elements=[table.c[key]],
        set_={c.name: stmt.excluded[c.name] for c in table.c if c.name != key},
        where=table.c.origin_seq.is_(None) | (table.c.origin_seq < stmt.excluded.origin_seq),
    )


def _division(case_no: str) -> str:
    try:
        return parse_case_number(case_no).division
    except ValidationError as exc:
        raise RecordRejected(exc.message, case_no=case_no) from None


class SnapshotApplier:
    """Records of one :class:`SnapshotTable` (op ``upsert``): the newest snapshot of each row wins."""

    def __init__(self, spec: SnapshotTable) -> None:
        self.spec = spec
        table = spec.table
        self._decoder = RowDecoder(table, [c.name for c in table.c if c.name != "origin_seq"], label=spec.label)
        self._id = re.compile(rf"(?P<division>\d{{6}})-{spec.id_pattern}")
        columns = [c.name for c in table.c]
        self._upsert = {
            "postgresql": BulkStatement(_guarded_upsert(pg_insert, table, spec.key), columns),
            "sqlite": BulkStatement(_guarded_upsert(sqlite_insert, table, spec.key), columns),
        }
        key = table.c[spec.key]
        self._stored = select(key, table.c.origin_seq).where(key.in_(bindparam("keys", expanding=True)))

    # -- prepare: pure, per record ------------------------------------------------------------------------------
    def prepare(self, origin: str, record: Record, payload: Any) -> SupervisionSnapshot:
        spec = self.spec
        if record.op != "upsert":
            raise RecordRejected(
                f"{spec.record_type} 记录不支持操作“{record.op}”（应为 upsert）", record_id=record.record_id
            )
        if not isinstance(payload, dict):
            raise RecordRejected(f"{spec.label}记录的载荷应为 JSON 对象", record_id=record.record_id)
        row = self._decoder.decode(payload)
        key = row[spec.key]
        if key != record.record_id:
            raise RecordRejected(f"{spec.label}编号“{key}”与记录编号“{record.record_id}”不符", record_id=key)
        self._check_origin(origin, key, row)
        for column, allowed in spec.allowed.items():
            value = row[column]
            if value is not None and value not in allowed:
                raise RecordRejected(
                    f"{spec.label}记录“{key}”的“{column}”取值“{value}”未知", record_id=key, field=column
                )
        return SupervisionSnapshot(key, record.origin_seq, row)

    def _check_origin(self, origin: str, key: str, row: Mapping[str, Any]) -> None:
        """The record, its ``origin``, its case and (alerts) its subject all belong to the sending origin."""
        label = self.spec.label
        m = self._id.fullmatch(key)
        if m is None:
            raise RecordRejected(f"{label}编号“{key}”格式错误", record_id=key)
        if m["division"] != origin:
            raise RecordRejected(
                f"{label}“{key}”属于区划 {m['division']}，不能由 {origin} 发送（只能发送本节点自己的记录）",
                record_id=key,
                origin=origin,
            )
        if row["origin"] != origin:
            raise RecordRejected(f"{label}“{key}”的来源“{row['origin']}”与批次来源 {origin} 不符", record_id=key)
        case_no = row.get("case_no")
        if case_no is not None and _division(case_no) != origin:
            raise RecordRejected(f"{label}“{key}”所属办件“{case_no}”不属于区划 {origin}", record_id=key)
        if row.get("target") == "case":  # a complaint against a case: that case, of this county
            target = str(row.get("target_id"))
            if _division(target) != origin or (case_no is not None and case_no != target):
                raise RecordRejected(f"{label}“{key}”投诉的办件“{target}”不属于区划 {origin}", record_id=key)
        subject = row.get("subject_id")
        if subject is not None and not subject.startswith(f"{origin}-"):
            raise RecordRejected(f"{label}“{key}”的对象“{subject}”不属于区划 {origin}", record_id=key)

    # -- apply: bulk, per batch ---------------------------------------------------------------------------------
    def apply(
        self, conn: Connection, origin: str, items: Sequence[Prepared[SupervisionSnapshot]]
    ) -> Sequence[Rejection]:
        latest: dict[str, SupervisionSnapshot] = {}
        for item in items:  # in seq order: the last snapshot of a row in the batch is its newest
            latest[item.value.key] = item.value
        stored = dict(conn.execute(self._stored, {"keys": list(latest)}).all())
        fresh = [
            {**s.row, "origin_seq": s.origin_seq}
            for s in latest.values()
            if stored.get(s.key) is None or stored[s.key] < s.origin_seq
        ]
        upsert = self._upsert[conn.dialect.name]
        standing = self.spec.standing
        if standing is None:
            upsert.execute(conn, fresh)
        else:
            upsert.execute(conn, [r for r in fresh if not r[standing]])
            upsert.execute(conn, [r for r in fresh if r[standing]])
        return []


def supervision_appliers() -> dict[str, Applier[Any]]:
    """The appliers of the supervision records an upper tier receives: ``alert``, ``complaint``, ``rating``."""
    return {spec.record_type: SnapshotApplier(spec) for spec in (ALERTS, COMPLAINTS, RATINGS)}
