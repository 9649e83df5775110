"""SQL for the cases as supervision and the video index read them: the :class:`~county_node.ports.Cases` port.

The case itself and its timeline are read with the approval context's repository
(:class:`~county_node.approval.adapters.repository.CaseRepository`); supervision writes only its own bookkeeping
on the case row (``sup_wake_at``, ``sup_evidence``), and the video index reads where and when a case was handled.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.engine import Connection

from county_node.approval.adapters.repository import CaseRepository
from county_node.approval.domain import Case, Event
from county_node.supervision.ports import NO_KEY_FIELDS, CaseDesk, CaseMark, Cases, KeyFields
from federation.storage.tables import case_events, cases

__all__ = ["CaseStore"]

_MARK = (
    update(cases)
    .where(cases.c.case_no == bindparam("k_case_no"))
    .values(sup_wake_at=bindparam("sup_wake_at"), sup_evidence=bindparam("sup_evidence"))
)
_DESK = select(cases.c.origin, cases.c.window).where(cases.c.case_no == bindparam("case_no"))
_STEP_AT = select(case_events.c.at).where(
    case_events.c.case_no == bindparam("case_no"), case_events.c.n == bindparam("n")
)
_LAST_STEP_AT = select(func.max(case_events.c.at)).where(
    case_events.c.case_no == bindparam("case_no"), case_events.c.at <= bindparam("at")
)


class CaseStore(Cases):
    """The cases of one node inside one connection (one unit of work)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._events = CaseRepository(conn, NO_KEY_FIELDS)  # timelines need no standards

    def get(self, case_no: str, key_fields: KeyFields = NO_KEY_FIELDS) -> Case:
        return CaseRepository(self._conn, key_fields).get(case_no)

    def many(self, case_nos: Sequence[str], key_fields: KeyFields = NO_KEY_FIELDS) -> list[Case]:
        return CaseRepository(self._conn, key_fields).many(case_nos)

    def timeline(self, case_no: str) -> list[Event]:
        return self._events.timeline(case_no)

    def timelines(self, case_nos: Sequence[str]) -> dict[str, list[Event]]:
        return self._events.timelines(case_nos)

    def waking(self, now: datetime, *, limit: int) -> list[str]:
        stmt = (
            select(cases.c.case_no)
            .where(cases.c.sup_wake_at <= now)
            .order_by(cases.c.sup_wake_at, cases.c.case_no)
            .limit(limit)
        )
        return [r.case_no for r in self._conn.execute(stmt)]

    def mark(self, marks: Sequence[CaseMark]) -> None:
        if marks:
            rows = [{"k_case_no": m.case_no, "sup_wake_at": m.wake_at, "sup_evidence": m.evidence} for m in marks]
            self._conn.execute(_MARK, rows)

    def desk_of(self, case_no: str) -> CaseDesk | None:
        row = self._conn.execute(_DESK, {"case_no": case_no}).first()
        return None if row is None else CaseDesk(row.origin, row.window)

    def step_at(self, case_no: str, n: int) -> datetime | None:
        at: datetime | None = self._conn.execute(_STEP_AT, {"case_no": case_no, "n": n}).scalar_one_or_none()
        return at

    def last_step_at(self, case_no: str, at: datetime) -> datetime | None:
        last: datetime | None = self._conn.execute(_LAST_STEP_AT, {"case_no": case_no, "at": at}).scalar_one_or_none()
        return last
