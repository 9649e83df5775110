"""SQL of the county's side of the boundary: online applications, case contacts, the public stream's writes, and
the applicant's number resolved for the SMS dispatcher.

Everything works inside the caller's transaction (a connection it owns). The public stream (``371122-pub``) is
written with :func:`federation.storage.outbox.append` under its own writer lock, taken **after** the county's own
(every county writer takes the county's lock first), so the two never deadlock.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.engine import Connection, RowMapping

from county_node.public.domain import CaseContact, Submission, SubmissionStatus
from county_node.supervision.notifier import Notification
from federation.errors import SubmissionNotFound
from federation.identities import public_stream_of
from federation.storage import outbox
from federation.storage.tables import case_contacts, public_submissions

__all__ = [
    "APPLICANT_CHANNEL",
    "ApplicantNumbers",
    "ContactStore",
    "PublicStream",
    "SubmissionStore",
    "contact_from_row",
    "submission_from_row",
]

APPLICANT_CHANNEL = "sms-applicant"
"""The delivery log's channel of an SMS to a case's applicant: ``recipient`` is the masked number, the number itself
is read from ``case_contacts`` (of the row's subject, the case) when it is sent — never kept in the log."""


# -- online applications ------------------------------------------------------------------------------------------


def submission_from_row(r: RowMapping) -> Submission:
    return Submission(
        submission_id=r["submission_id"],
        origin=r["origin"],
        item_code=r["item_code"],
        applicant=r["applicant"],
        applicant_id=r["applicant_id"],
        phone=r["phone"],
        materials=tuple(r["materials"] or ()),
        data=dict(r["data"] or {}),
        note=r["note"],
        sms_opt_out=bool(r["sms_opt_out"]),
        query_hash=r["query_hash"],
        submitted_at=r["submitted_at"],
        received_at=r["received_at"],
        status=SubmissionStatus(r["status"]),
        origin_seq=int(r["origin_seq"]),
        case_no=r["case_no"],
        decided_by=r["decided_by"],
        decided_at=r["decided_at"],
        reason=r["reason"],
    )


def _submission_row(s: Submission) -> dict[str, Any]:
    return {
        "submission_id": s.submission_id,
        "origin": s.origin,
        "item_code": s.item_code,
        "applicant": s.applicant,
        "applicant_id": s.applicant_id,
        "phone": s.phone,
        "materials": list(s.materials),
        "data": dict(s.data),
        "note": s.note,
        "sms_opt_out": s.sms_opt_out,
        "query_hash": s.query_hash,
        "submitted_at": s.submitted_at,
        "received_at": s.received_at,
        "status": s.status.value,
        "case_no": s.case_no,
        "decided_by": s.decided_by,
        "decided_at": s.decided_at,
        "reason": s.reason,
        "origin_seq": s.origin_seq,
    }


class SubmissionStore:
    """The online applications of the county inside one connection."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def find(self, submission_id: str, *, for_update: bool = False) -> Submission | None:
        stmt = select(public_submissions).where(public_submissions.c.submission_id == submission_id)
        if for_update and self._conn.dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        row = self._conn.execute(stmt).mappings().first()
        return None if row is None else submission_from_row(row)

    def get(self, submission_id: str, *, for_update: bool = False) -> Submission:
        found = self.find(submission_id, for_update=for_update)
        if found is None:
            raise SubmissionNotFound(f"未找到网上申报“{submission_id}”", submission_id=submission_id)
        return found

    def held(self, submission_ids: Sequence[str]) -> set[str]:
        """Which of ``submission_ids`` are held already (a resend is not stored twice)."""
        if not submission_ids:
            return set()
        stmt = select(public_submissions.c.submission_id).where(
            public_submissions.c.submission_id.in_(bindparam("ids", expanding=True))
        )
        return {r[0] for r in self._conn.execute(stmt, {"ids": list(submission_ids)})}

    def add_many(self, subs: Sequence[Submission]) -> None:
        if subs:
            self._conn.execute(insert(public_submissions), [_submission_row(s) for s in subs])

    def save_decision(self, s: Submission) -> None:
        self._conn.execute(
            update(public_submissions)
            .where(public_submissions.c.submission_id == s.submission_id)
            .values(
                status=s.status.value,
                case_no=s.case_no,
                decided_by=s.decided_by,
                decided_at=s.decided_at,
                reason=s.reason,
            )
        )

    def page(self, *, status: str | None, offset: int, limit: int) -> tuple[list[Submission], int]:
        t = public_submissions
        conds = [t.c.status == status] if status else []
        total = self._conn.execute(select(func.count()).select_from(t).where(*conds)).scalar_one()
        stmt = select(t).where(*conds).order_by(t.c.submitted_at, t.c.submission_id).offset(offset).limit(limit)
        return [submission_from_row(r) for r in self._conn.execute(stmt).mappings()], int(total)


# -- contacts -----------------------------------------------------------------------------------------------------


def contact_from_row(r: RowMapping) -> CaseContact:
    return CaseContact(
        case_no=r["case_no"],
        phone=r["phone"],
        sms_opt_out=bool(r["sms_opt_out"]),
        query_hash=r["query_hash"],
        submission_id=r["submission_id"],
        rated=bool(r["rated"]),
        updated_at=r["updated_at"],
    )


_CONTACT = select(case_contacts).where(case_contacts.c.case_no == bindparam("case_no"))


class ContactStore:
    """The applicants' contacts of the county's cases inside one connection (one primary-key read per case)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def get(self, case_no: str) -> CaseContact | None:
        row = self._conn.execute(_CONTACT, {"case_no": case_no}).mappings().first()
        return None if row is None else contact_from_row(row)

    def put(self, c: CaseContact) -> None:
        values = {
            "phone": c.phone,
            "sms_opt_out": c.sms_opt_out,
            "query_hash": c.query_hash,
            "submission_id": c.submission_id,
            "rated": c.rated,
            "updated_at": c.updated_at,
        }
        done = self._conn.execute(update(case_contacts).where(case_contacts.c.case_no == c.case_no).values(values))
        if done.rowcount == 0:
            self._conn.execute(insert(case_contacts).values(case_no=c.case_no, **values))


# -- the public stream --------------------------------------------------------------------------------------------


class PublicStream:
    """Writes county ``division``'s public stream (``371122-pub``) — the caller holds the county's writer lock."""

    def __init__(self, division: str) -> None:
        self.division = division
        self.origin = public_stream_of(division)

    def write(self, conn: Connection, records: Sequence[outbox.OutboxRecord], now: datetime) -> list[int]:
        if not records:
            return []
        outbox.lock_origin(conn, self.origin)
        return outbox.append(conn, origin=self.origin, records=records, created_at=now)


# -- the applicant's number, at send time --------------------------------------------------------------------------


class ApplicantNumbers:
    """The dispatcher's address resolver for :data:`APPLICANT_CHANNEL`: the case's applicant's number from
    ``case_contacts``, read when the message is sent; None (not sent) when it is gone or the applicant opted out."""

    def __call__(self, conn: Connection, notification: Notification) -> str | None:
        row = conn.execute(_CONTACT, {"case_no": notification.subject_id}).mappings().first()
        if row is None or row["sms_opt_out"] or not row["phone"]:
            return None
        phone: str = row["phone"]
        return phone
