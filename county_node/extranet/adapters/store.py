"""The extranet node's store over one connection (the ``ext_*`` tables): what the portal's services read and write.

Reads return the public records' own forms (:mod:`federation.public_records`); writes take the checked forms of
:mod:`county_node.extranet.domain`. Every method runs in the caller's transaction (the unit of work's).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import desc, func, insert, select
from sqlalchemy.engine import Connection

from county_node.extranet.domain import ApplicationForm, ComplaintForm
from federation.public_records import Disclosure, PublicCase, PublicItem
from federation.storage.tables import (
    ext_cases,
    ext_complaints,
    ext_disclosures,
    ext_items,
    ext_ratings,
    ext_submissions,
)

__all__ = ["ExtranetStore", "HeldSubmission"]


@dataclass(frozen=True, slots=True)
class HeldSubmission:
    """An online application held here, with what the hall made of it (None: not decided yet)."""

    submission_id: str
    item_code: str
    item_name: str
    query_hash: str
    submitted_at: datetime
    outcome: str | None
    case_no: str | None
    reason: str | None
    decided_at: datetime | None


def _item(row: Any) -> PublicItem:
    return PublicItem(
        code=row.code,
        name=row.name,
        department=row.department,
        kind=row.kind,
        legal_days=int(row.legal_days),
        promised_days=int(row.promised_days),
        fee=row.fee,
        key_fields=tuple(row.key_fields or ()),
    )


def _case(row: Any) -> PublicCase:
    return PublicCase(
        case_no=row.case_no,
        item_code=row.item_code,
        item_name=row.item_name,
        department=row.department,
        status=row.status,
        status_label=row.status_label,
        submitted_at=row.submitted_at,
        accepted_at=row.accepted_at,
        concluded_at=row.concluded_at,
        due_on=row.due_on,
        decision=row.decision,
        on_time=row.on_time,
        correction=tuple(row.correction or ()),
        rating_open=bool(row.rating_open),
        query_hash=row.query_hash,
        submission_id=row.submission_id or "",
        updated_at=row.updated_at,
    )


def _disclosure(row: Any) -> Disclosure:
    return Disclosure(
        case_no=row.case_no,
        item_code=row.item_code,
        item_name=row.item_name,
        department=row.department,
        accepted_on=row.accepted_on,
        concluded_on=row.concluded_on,
        result=row.result,
        on_time=bool(row.on_time),
    )


_SUBMISSION_COLUMNS = (
    ext_submissions.c.submission_id,
    ext_submissions.c.item_code,
    ext_submissions.c.item_name,
    ext_submissions.c.query_hash,
    ext_submissions.c.submitted_at,
    ext_submissions.c.outcome,
    ext_submissions.c.case_no,
    ext_submissions.c.reason,
    ext_submissions.c.decided_at,
)


class ExtranetStore:
    """The ``ext_*`` tables, read and written in the transaction of ``conn``."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # -- the catalogue --------------------------------------------------------------------------------------------

    def items(self) -> list[PublicItem]:
        rows = self.conn.execute(select(ext_items).order_by(ext_items.c.department, ext_items.c.code))
        return [_item(r) for r in rows]

    def item(self, code: str) -> PublicItem | None:
        row = self.conn.execute(select(ext_items).where(ext_items.c.code == code)).first()
        return None if row is None else _item(row)

    # -- cases and submissions ------------------------------------------------------------------------------------

    def case(self, case_no: str) -> PublicCase | None:
        row = self.conn.execute(select(ext_cases).where(ext_cases.c.case_no == case_no)).first()
        return None if row is None else _case(row)

    def rated(self, case_no: str) -> bool:
        return (
            self.conn.execute(select(ext_ratings.c.case_no).where(ext_ratings.c.case_no == case_no)).first() is not None
        )

    def submission(self, submission_id: str) -> HeldSubmission | None:
        row = self.conn.execute(
            select(*_SUBMISSION_COLUMNS).where(ext_submissions.c.submission_id == submission_id)
        ).first()
        return None if row is None else HeldSubmission(*row)

    def add_submission(
        self, submission_id: str, form: ApplicationForm, item: PublicItem, *, query_hash: str, client: str, at: datetime
    ) -> None:
        self.conn.execute(
            insert(ext_submissions).values(
                submission_id=submission_id,
                item_code=item.code,
                item_name=item.name,
                applicant=form.applicant,
                applicant_id=form.applicant_id,
                phone=form.phone,
                materials=list(form.materials),
                data=dict(form.data),
                note=form.note,
                sms_opt_out=form.sms_opt_out,
                query_hash=query_hash,
                client=client,
                submitted_at=at,
            )
        )

    # -- complaints and ratings -----------------------------------------------------------------------------------

    def complaint_exists(self, complaint_ref: str) -> bool:
        row = self.conn.execute(
            select(ext_complaints.c.complaint_ref).where(ext_complaints.c.complaint_ref == complaint_ref)
        ).first()
        return row is not None

    def add_complaint(self, complaint_ref: str, form: ComplaintForm, *, client: str, at: datetime) -> None:
        self.conn.execute(
            insert(ext_complaints).values(
                complaint_ref=complaint_ref,
                case_no=form.case_no or None,
                complainant=form.complainant,
                phone=form.phone,
                content=form.content,
                client=client,
                filed_at=at,
            )
        )

    def add_rating(self, case_no: str, level: int, comment: str, *, client: str, at: datetime) -> None:
        self.conn.execute(
            insert(ext_ratings).values(case_no=case_no, level=level, comment=comment, client=client, rated_at=at)
        )

    # -- 办件公示 ------------------------------------------------------------------------------------------------------

    def disclosures(self, *, department: str | None, offset: int, limit: int) -> tuple[list[Disclosure], int]:
        where = [] if not department else [ext_disclosures.c.department == department]
        total = int(self.conn.execute(select(func.count()).select_from(ext_disclosures).where(*where)).scalar_one())
        rows = self.conn.execute(
            select(ext_disclosures)
            .where(*where)
            .order_by(desc(ext_disclosures.c.concluded_on), desc(ext_disclosures.c.case_no))
            .offset(offset)
            .limit(limit)
        )
        return [_disclosure(r) for r in rows], total

    def departments(self) -> list[str]:
        """The departments of the catalogue, for the filter of 办件公示."""
        return sorted(self.conn.execute(select(ext_items.c.department).distinct()).scalars())
