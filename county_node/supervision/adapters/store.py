"""SQL for the supervision records: alerts, complaints, ratings, and the outbox rows that carry them up.

Every write of an alert, a complaint or a rating appends an ``upsert`` outbox row (record types ``alert``,
``complaint``, ``rating``; payload = the row) in the same transaction, and the row keeps the seq of that outbox
record as its ``origin_seq`` (the replicas apply a snapshot only when it is newer).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from county_node.supervision.domain.alerts import Alert
from federation.errors import AlertNotFound, ComplaintNotFound, RatingNotFound
from federation.storage import outbox
from federation.storage.bulk import BulkStatement
from federation.storage.tables import alerts, complaints, ratings

__all__ = [
    "ALERT_RECORD",
    "COMPLAINT_RECORD",
    "RATING_RECORD",
    "AlertFilter",
    "AlertStore",
    "FeedbackStore",
]

ALERT_RECORD = "alert"
COMPLAINT_RECORD = "complaint"
RATING_RECORD = "rating"

_ALERT_COLUMNS = [c.name for c in alerts.c]


def _upsert_alert(ins: Any) -> Any:
    stmt = ins(alerts)
    return stmt.on_conflict_do_update(
        index_elements=[alerts.c.alert_id], set_={n: stmt.excluded[n] for n in _ALERT_COLUMNS if n != "alert_id"}
    )


# alerts are written in bulk (the sweep raises and clears thousands at a time): an insert, and an upsert for
# changes (every column is rewritten from the domain value; the row is known to exist)
_INSERT_ALERTS = BulkStatement(insert(alerts), _ALERT_COLUMNS)
_WRITE_ALERTS = {
    "sqlite": BulkStatement(_upsert_alert(sqlite_insert), _ALERT_COLUMNS),
    "postgresql": BulkStatement(_upsert_alert(pg_insert), _ALERT_COLUMNS),
}


_STANDING = (alerts.c.subject_kind == bindparam("kind"), alerts.c.standing == True)  # noqa: E712 - the index's predicate
_STANDING_ONE = select(alerts).where(*_STANDING, alerts.c.subject_id == bindparam("id"))
_STANDING_MANY = select(alerts).where(*_STANDING, alerts.c.subject_id.in_(bindparam("ids", expanding=True)))


def _jsonable(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k != "origin_seq"}


@dataclass(frozen=True, slots=True)
class AlertFilter:
    status: str | None = None  # a status, or "active" (any but closed)
    light: str | None = None
    rule_id: str | None = None
    case_no: str | None = None
    level: int | None = None


class AlertStore:
    """Alerts of one node inside one connection (one unit of work)."""

    def __init__(self, conn: Connection, origin: str) -> None:
        self._conn = conn
        self.origin = origin

    # -- ids and outbox -------------------------------------------------------------------------------------
    def new_ids(self, count: int) -> list[str]:
        """``count`` new alert ids ``{origin}-A{n:09d}`` from the node's gap-free counter."""
        if count <= 0:
            return []
        last = outbox.next_value(self._conn, f"alert:{self.origin}", count)
        return [f"{self.origin}-A{n:09d}" for n in range(last - count + 1, last + 1)]

    def _emit(self, rows: Sequence[dict[str, Any]], now: datetime) -> None:
        seqs = outbox.append(
            self._conn,
            origin=self.origin,
            records=[outbox.OutboxRecord(ALERT_RECORD, r["alert_id"], "upsert", _jsonable(r)) for r in rows],
            created_at=now,
        )
        for row, seq in zip(rows, seqs, strict=True):
            row["origin_seq"] = seq

    # -- writes ---------------------------------------------------------------------------------------------
    def insert(self, new: Sequence[Alert], now: datetime) -> None:
        rows = [a.to_row() for a in new]
        if not rows:
            return
        self._emit(rows, now)
        _INSERT_ALERTS.execute(self._conn, rows)

    def update(self, changed: Sequence[Alert], now: datetime) -> None:
        rows = [a.to_row() for a in changed]
        if not rows:
            return
        self._emit(rows, now)
        _WRITE_ALERTS[self._conn.dialect.name].execute(self._conn, rows)

    # -- reads ----------------------------------------------------------------------------------------------
    def get(self, alert_id: str, *, for_update: bool = False) -> Alert:
        stmt = select(alerts).where(alerts.c.alert_id == alert_id)
        if for_update and self._conn.dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        row = self._conn.execute(stmt).mappings().first()
        if row is None:
            raise AlertNotFound(f"未找到预警“{alert_id}”", alert_id=alert_id)
        return Alert.from_row(row)

    def standing_of(self, subject_kind: str, subject_ids: Sequence[str]) -> dict[str, dict[str, Alert]]:
        """The standing alerts of many subjects of one kind: subject id → rule → alert (one query)."""
        out: dict[str, dict[str, Alert]] = {}
        if not subject_ids:
            return out
        if len(subject_ids) == 1:  # the incremental path: one subject, an equality the statement cache keeps
            found = self._conn.execute(_STANDING_ONE, {"kind": subject_kind, "id": subject_ids[0]})
        else:
            found = self._conn.execute(_STANDING_MANY, {"kind": subject_kind, "ids": list(subject_ids)})
        for r in found.mappings():
            out.setdefault(r["subject_id"], {})[r["rule_id"]] = Alert.from_row(r)
        return out

    def in_range(self, first_id: str, last_id: str) -> list[Alert]:
        """The alerts with ids ``first_id`` … ``last_id`` (one chunk the sweep raised)."""
        stmt = select(alerts).where(alerts.c.alert_id >= first_id, alerts.c.alert_id <= last_id)
        return [Alert.from_row(r) for r in self._conn.execute(stmt.order_by(alerts.c.alert_id)).mappings()]

    def of_case(self, case_no: str) -> list[Alert]:
        stmt = select(alerts).where(alerts.c.case_no == case_no).order_by(alerts.c.opened_at, alerts.c.alert_id)
        return [Alert.from_row(r) for r in self._conn.execute(stmt).mappings()]

    def page(self, flt: AlertFilter, *, offset: int, limit: int) -> tuple[list[Alert], int]:
        conds: list[Any] = []
        if flt.status == "active":
            conds.append(alerts.c.status != "closed")
        elif flt.status:
            conds.append(alerts.c.status == flt.status)
        if flt.light:
            conds.append(alerts.c.light == flt.light)
        if flt.rule_id:
            conds.append(alerts.c.rule_id == flt.rule_id)
        if flt.case_no:
            conds.append(alerts.c.case_no == flt.case_no)
        if flt.level is not None:
            conds.append(alerts.c.level == flt.level)
        total = self._conn.execute(select(func.count()).select_from(alerts).where(*conds)).scalar_one()
        stmt = (
            select(alerts)
            .where(*conds)
            .order_by(alerts.c.opened_at.desc(), alerts.c.alert_id.desc())
            .offset(offset)
            .limit(limit)
        )
        return [Alert.from_row(r) for r in self._conn.execute(stmt).mappings()], int(total)

    def counts(self) -> list[dict[str, Any]]:
        """Alert counts by rule, light and status (the summary of every tier)."""
        stmt = (
            select(alerts.c.rule_id, alerts.c.light, alerts.c.status, func.count().label("n"))
            .group_by(alerts.c.rule_id, alerts.c.light, alerts.c.status)
            .order_by(alerts.c.rule_id, alerts.c.light, alerts.c.status)
        )
        return [dict(r) for r in self._conn.execute(stmt).mappings()]


class FeedbackStore:
    """Complaints and ratings of one node inside one connection."""

    def __init__(self, conn: Connection, origin: str) -> None:
        self._conn = conn
        self.origin = origin

    def new_id(self, prefix: str) -> str:
        n = outbox.next_value(self._conn, f"{prefix.lower()}:{self.origin}")
        return f"{self.origin}-{prefix}{n:08d}"

    def _emit(self, record_type: str, key: str, row: dict[str, Any], now: datetime) -> None:
        (seq,) = outbox.append(
            self._conn,
            origin=self.origin,
            records=[outbox.OutboxRecord(record_type, row[key], "upsert", _jsonable(row))],
            created_at=now,
        )
        row["origin_seq"] = seq

    def _write(  # noqa: PLR0917 - private: the table, its key and record type, the row
        self, table: Table, key: str, record_type: str, row: dict[str, Any], now: datetime, new: bool
    ) -> None:
        self._emit(record_type, key, row, now)
        if new:
            self._conn.execute(insert(table), row)
        else:
            values = {k: v for k, v in row.items() if k not in (key, "origin")}
            self._conn.execute(update(table).where(table.c[key] == row[key]).values(values))

    def save_complaint(self, row: dict[str, Any], now: datetime, *, new: bool) -> None:
        self._write(complaints, "complaint_id", COMPLAINT_RECORD, row, now, new)

    def save_rating(self, row: dict[str, Any], now: datetime, *, new: bool) -> None:
        self._write(ratings, "rating_id", RATING_RECORD, row, now, new)

    def _get(self, table: Table, key: str, value: str, for_update: bool) -> dict[str, Any] | None:
        stmt = select(table).where(table.c[key] == value)
        if for_update and self._conn.dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        row = self._conn.execute(stmt).mappings().first()
        return dict(row) if row is not None else None

    def complaint(self, complaint_id: str, *, for_update: bool = False) -> dict[str, Any]:
        row = self._get(complaints, "complaint_id", complaint_id, for_update)
        if row is None:
            raise ComplaintNotFound(f"未找到投诉“{complaint_id}”", complaint_id=complaint_id)
        return row

    def rating(self, rating_id: str, *, for_update: bool = False) -> dict[str, Any]:
        row = self._get(ratings, "rating_id", rating_id, for_update)
        if row is None:
            raise RatingNotFound(f"未找到评价“{rating_id}”", rating_id=rating_id)
        return row

    def list_complaints(
        self, *, status: str | None, case_no: str | None, offset: int, limit: int
    ) -> tuple[list[dict[str, Any]], int]:
        conds = []
        if status:
            conds.append(complaints.c.status == status)
        if case_no:
            conds.append(complaints.c.case_no == case_no)
        total = self._conn.execute(select(func.count()).select_from(complaints).where(*conds)).scalar_one()
        stmt = (
            select(complaints)
            .where(*conds)
            .order_by(complaints.c.filed_at.desc(), complaints.c.complaint_id.desc())
            .offset(offset)
            .limit(limit)
        )
        return [dict(r) for r in self._conn.execute(stmt).mappings()], int(total)

    def list_ratings(
        self, *, case_no: str | None, staff: str | None, negative: bool | None, offset: int, limit: int
    ) -> tuple[list[dict[str, Any]], int]:
        conds = []
        if case_no:
            conds.append(ratings.c.case_no == case_no)
        if staff:
            conds.append(ratings.c.staff == staff)
        if negative is not None:
            conds.append(ratings.c.negative == negative)
        total = self._conn.execute(select(func.count()).select_from(ratings).where(*conds)).scalar_one()
        stmt = (
            select(ratings)
            .where(*conds)
            .order_by(ratings.c.at.desc(), ratings.c.rating_id.desc())
            .offset(offset)
            .limit(limit)
        )
        return [dict(r) for r in self._conn.execute(stmt).mappings()], int(total)

    def ratings_summary(self) -> dict[int, int]:
        stmt = select(ratings.c.level, func.count()).group_by(ratings.c.level)
        return {int(level): int(n) for level, n in self._conn.execute(stmt)}
