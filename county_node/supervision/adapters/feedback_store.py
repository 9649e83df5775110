"""SQL for complaints (投诉) and ratings (好差评): the :class:`~county_node.ports.Complaints` and
:class:`~county_node.ports.Ratings` ports, rows mapped to the domain's :class:`Complaint` and :class:`Rating`.

Every write appends its ``upsert`` outbox row (record type ``complaint`` / ``rating``, payload = the row but
``origin_seq``) in the same transaction; the row keeps that record's seq as its ``origin_seq``. A node reads the
replicas of the counties below it with the same stores (``origin`` = the county).
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Table, exists, func, insert, select, update
from sqlalchemy.engine import Connection, RowMapping

from county_node.supervision.adapters.store import COMPLAINT_RECORD, RATING_RECORD, without_seq
from county_node.supervision.domain.complaints import Complaint, ComplaintStatus, ComplaintTarget
from county_node.supervision.domain.model import SubjectKind
from county_node.supervision.domain.ratings import Rating, RatingStatus
from county_node.supervision.ports import Complaints, Ratings
from federation.errors import ComplaintNotFound, NotFound, RatingNotFound
from federation.storage import outbox
from federation.storage.tables import alerts, complaints, ratings

__all__ = [
    "ComplaintStore",
    "RatingStore",
    "complaint_from_row",
    "complaint_row",
    "rating_from_row",
    "rating_row",
]

R = TypeVar("R")


def complaint_row(c: Complaint) -> dict[str, Any]:
    return {
        "complaint_id": c.complaint_id,
        "origin": c.origin,
        "target": c.target.value,
        "target_id": c.target_id,
        "case_no": c.case_no,
        "complainant": c.complainant,
        "content": c.content,
        "channel": c.channel,
        "status": c.status.value,
        "limit_days": c.limit_days,
        "filed_at": c.filed_at,
        "idx_due_at": c.due_at,
        "answered_at": c.answered_at,
        "answered_by": c.answered_by,
        "answer": c.answer,
        "closed_at": c.closed_at,
        "standards_version": c.standards_version,
        "history": [dict(h) for h in c.history],
        "updated_at": c.updated_at,
    }


def complaint_from_row(r: Mapping[Any, Any]) -> Complaint:
    return Complaint(
        complaint_id=r["complaint_id"],
        origin=r["origin"],
        target=ComplaintTarget(r["target"]),
        target_id=r["target_id"],
        case_no=r["case_no"],
        complainant=r["complainant"],
        content=r["content"],
        channel=r["channel"],
        status=ComplaintStatus(r["status"]),
        limit_days=r["limit_days"],
        filed_at=r["filed_at"],
        due_at=r["idx_due_at"],
        answered_at=r["answered_at"],
        answered_by=r["answered_by"],
        answer=r["answer"],
        closed_at=r["closed_at"],
        standards_version=r["standards_version"],
        history=tuple(r["history"] or ()),
        updated_at=r["updated_at"],
    )


def rating_row(r: Rating) -> dict[str, Any]:
    return {
        "rating_id": r.rating_id,
        "origin": r.origin,
        "case_no": r.case_no,
        "staff": r.staff,
        "level": r.level,
        "comment": r.comment,
        "channel": r.channel,
        "at": r.at,
        "negative": r.negative,
        "status": r.status.value,
        "follow_up_limit_days": r.follow_up_limit_days,
        "idx_due_at": r.due_at,
        "followed_up_at": r.followed_up_at,
        "followed_up_by": r.followed_up_by,
        "follow_up_note": r.follow_up_note,
        "history": [dict(h) for h in r.history],
        "updated_at": r.updated_at,
    }


def rating_from_row(r: Mapping[Any, Any]) -> Rating:
    return Rating(
        rating_id=r["rating_id"],
        origin=r["origin"],
        case_no=r["case_no"],
        staff=r["staff"],
        level=r["level"],
        comment=r["comment"],
        channel=r["channel"],
        at=r["at"],
        negative=bool(r["negative"]),
        status=RatingStatus(r["status"]),
        follow_up_limit_days=r["follow_up_limit_days"],
        due_at=r["idx_due_at"],
        followed_up_at=r["followed_up_at"],
        followed_up_by=r["followed_up_by"],
        follow_up_note=r["follow_up_note"],
        history=tuple(r["history"] or ()),
        updated_at=r["updated_at"],
    )


class _FeedbackTable(abc.ABC, Generic[R]):
    """One table of feedback records of a node (complaints or ratings): ids, writes with their outbox row,
    reads, and the records past their limit that the sweep looks at."""

    table: Table
    key: str
    record_type: str
    prefix: str  # of the ids: ``{origin}-{prefix}{n:08d}``
    kind: SubjectKind
    rule_id: str  # the rule that watches the limit
    waiting: str  # the status in which the limit runs

    def __init__(self, conn: Connection, origin: str) -> None:
        self._conn = conn
        self.origin = origin

    @abc.abstractmethod
    def _to_row(self, record: R) -> dict[str, Any]: ...

    @abc.abstractmethod
    def _from_row(self, row: Mapping[Any, Any]) -> R: ...

    @abc.abstractmethod
    def _not_found(self, key: str) -> NotFound: ...

    def new_id(self) -> str:
        n = outbox.next_value(self._conn, f"{self.prefix.lower()}:{self.origin}")
        return f"{self.origin}-{self.prefix}{n:08d}"

    def _write(self, record: R, now: datetime, *, new: bool) -> None:
        row = self._to_row(record)
        (seq,) = outbox.append(
            self._conn,
            origin=self.origin,
            records=[outbox.OutboxRecord(self.record_type, row[self.key], "upsert", without_seq(row))],
            created_at=now,
        )
        row["origin_seq"] = seq
        if new:
            self._conn.execute(insert(self.table), row)
        else:
            values = {k: v for k, v in row.items() if k not in (self.key, "origin")}
            self._conn.execute(update(self.table).where(self.table.c[self.key] == row[self.key]).values(values))

    def add(self, record: R, now: datetime) -> None:
        self._write(record, now, new=True)

    def save(self, record: R, now: datetime) -> None:
        self._write(record, now, new=False)

    def _row(self, key: str, *, for_update: bool = False) -> RowMapping | None:
        stmt = select(self.table).where(self.table.c[self.key] == key)
        if for_update and self._conn.dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        return self._conn.execute(stmt).mappings().first()

    def get(self, key: str, *, for_update: bool = False) -> R:
        row = self._row(key, for_update=for_update)
        if row is None:
            raise self._not_found(key)
        return self._from_row(row)

    def _page(
        self, conds: list[ColumnElement[bool]], order: tuple[Any, ...], *, offset: int, limit: int
    ) -> tuple[list[R], int]:
        total = self._conn.execute(select(func.count()).select_from(self.table).where(*conds)).scalar_one()
        stmt = select(self.table).where(*conds).order_by(*order).offset(offset).limit(limit)
        return [self._from_row(r) for r in self._conn.execute(stmt).mappings()], int(total)

    def overdue(self, now: datetime, *, limit: int) -> list[R]:
        t, key = self.table, self.table.c[self.key]
        standing = exists().where(
            alerts.c.subject_kind == self.kind.value,
            alerts.c.subject_id == key,
            alerts.c.rule_id == self.rule_id,
            alerts.c.standing == True,  # noqa: E712
        )
        stmt = (
            select(t)
            .where(t.c.status == self.waiting, t.c.idx_due_at <= now, ~standing)
            .order_by(t.c.idx_due_at, key)
            .limit(limit)
        )
        return [self._from_row(r) for r in self._conn.execute(stmt).mappings()]


class ComplaintStore(_FeedbackTable[Complaint], Complaints):
    """Complaints of one node inside one connection (one unit of work)."""

    table = complaints
    key = "complaint_id"
    record_type = COMPLAINT_RECORD
    prefix = "TS"
    kind = SubjectKind.COMPLAINT
    rule_id = "SUP-101"
    waiting = ComplaintStatus.OPEN.value

    def _to_row(self, record: Complaint) -> dict[str, Any]:
        return complaint_row(record)

    def _from_row(self, row: Mapping[Any, Any]) -> Complaint:
        return complaint_from_row(row)

    def _not_found(self, key: str) -> NotFound:
        return ComplaintNotFound(f"未找到投诉“{key}”", complaint_id=key)

    def find(self, complaint_id: str) -> Complaint | None:
        row = self._row(complaint_id)
        return None if row is None else complaint_from_row(row)

    def page(self, *, status: str | None, case_no: str | None, offset: int, limit: int) -> tuple[list[Complaint], int]:
        conds = []
        if status:
            conds.append(complaints.c.status == status)
        if case_no:
            conds.append(complaints.c.case_no == case_no)
        order = (complaints.c.filed_at.desc(), complaints.c.complaint_id.desc())
        return self._page(conds, order, offset=offset, limit=limit)

    def counts_by_status(self) -> dict[str, int]:
        stmt = select(complaints.c.status, func.count()).group_by(complaints.c.status)
        return {str(status): int(n) for status, n in self._conn.execute(stmt)}

    def holding_video(self, since: datetime) -> list[Complaint]:
        c = complaints.c
        stmt = select(complaints).where((c.closed_at.is_(None)) | (c.closed_at > since))
        return [complaint_from_row(r) for r in self._conn.execute(stmt).mappings()]


class RatingStore(_FeedbackTable[Rating], Ratings):
    """Ratings of one node inside one connection (one unit of work)."""

    table = ratings
    key = "rating_id"
    record_type = RATING_RECORD
    prefix = "PJ"
    kind = SubjectKind.RATING
    rule_id = "SUP-201"
    waiting = RatingStatus.FOLLOW_UP_PENDING.value

    def _to_row(self, record: Rating) -> dict[str, Any]:
        return rating_row(record)

    def _from_row(self, row: Mapping[Any, Any]) -> Rating:
        return rating_from_row(row)

    def _not_found(self, key: str) -> NotFound:
        return RatingNotFound(f"未找到评价“{key}”", rating_id=key)

    def page(
        self, *, case_no: str | None, staff: str | None, negative: bool | None, offset: int, limit: int
    ) -> tuple[list[Rating], int]:
        conds = []
        if case_no:
            conds.append(ratings.c.case_no == case_no)
        if staff:
            conds.append(ratings.c.staff == staff)
        if negative is not None:
            conds.append(ratings.c.negative == negative)
        order = (ratings.c.at.desc(), ratings.c.rating_id.desc())
        return self._page(conds, order, offset=offset, limit=limit)

    def counts_by_level(self) -> dict[int, int]:
        stmt = select(ratings.c.level, func.count()).group_by(ratings.c.level)
        return {int(level): int(n) for level, n in self._conn.execute(stmt)}
