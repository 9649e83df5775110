"""SQL for the alerts (:class:`AlertStore`, the :class:`~county_node.ports.Alerts` port), and the record types of the
supervision records that replicate.

Every write of an alert, a complaint or a rating appends an ``upsert`` outbox row (record types ``alert``,
``complaint``, ``rating``; payload = the row) in the same transaction, and the row keeps the seq of that outbox
record as its ``origin_seq`` (the replicas apply a snapshot only when it is newer). Complaints and ratings are in
:mod:`county_node.supervision.adapters.feedback_store`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from county_node.supervision.domain.alerts import MAX_LEVEL, UNACKNOWLEDGED, Alert
from county_node.supervision.ports import AlertFilter, Alerts
from federation.errors import AlertNotFound
from federation.storage import outbox
from federation.storage.bulk import BulkStatement
from federation.storage.tables import alerts

__all__ = [
    "ALERT_RECORD",
    "COMPLAINT_RECORD",
    "RATING_RECORD",
    "AlertFilter",
    "AlertStore",
    "without_seq",
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


_UNACKNOWLEDGED = sorted(s.value for s in UNACKNOWLEDGED)


def without_seq(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row as its outbox payload: every column but ``origin_seq`` (a replica keeps its own)."""
    return {k: v for k, v in row.items() if k != "origin_seq"}


class AlertStore(Alerts):
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
            records=[outbox.OutboxRecord(ALERT_RECORD, r["alert_id"], "upsert", without_seq(r)) for r in rows],
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

    def find(self, alert_id: str) -> Alert | None:
        row = self._conn.execute(select(alerts).where(alerts.c.alert_id == alert_id)).mappings().first()
        return None if row is None else Alert.from_row(row)

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

    def awaiting_escalation(self, now: datetime, *, disabled_rules: Collection[str], limit: int) -> list[Alert]:
        stmt = (
            select(alerts)
            .where(
                alerts.c.status.in_(_UNACKNOWLEDGED),
                alerts.c.ack_due_at <= now,
                alerts.c.acknowledged_at.is_(None),
                alerts.c.level < MAX_LEVEL,
                alerts.c.rule_id.notin_(sorted(disabled_rules)),  # a switched-off rule is not pursued
            )
            .order_by(alerts.c.ack_due_at)
            .limit(limit)
        )
        return [Alert.from_row(r) for r in self._conn.execute(stmt).mappings()]

    def holding_video(self, since: datetime) -> list[Alert]:
        a = alerts.c
        stmt = select(alerts).where(
            (a.case_no.is_not(None)) | (a.subject_kind.in_(("complaint", "video_event"))),
            (a.closed_at.is_(None)) | (a.closed_at > since),
        )
        return [Alert.from_row(r) for r in self._conn.execute(stmt).mappings()]
