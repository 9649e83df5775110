"""Complaints (投诉) and ratings (好差评): filed, answered, closed, rated, followed up — and their lists.

An answer or a follow-up re-evaluates its rule (SUP-101, SUP-201) in the same transaction, so the alert of a
complaint answered or a rating followed up clears with it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import structlog
from sqlalchemy.engine import Connection

from county_node.supervision.domain.complaints import MAX_LIMIT_DAYS, Complaint
from county_node.supervision.domain.feedback import (
    answer_complaint,
    close_complaint,
    follow_up_rating,
    new_complaint,
    new_rating,
)
from county_node.supervision.domain.ratings import Rating
from county_node.supervision.evaluation import SupervisionCore, limit_end
from county_node.unit_of_work import CountyRepositories
from federation.errors import Conflict, ValidationError
from federation.paging import page_offset

__all__ = ["FeedbackUseCases"]

log = structlog.get_logger(__name__)


class FeedbackUseCases(SupervisionCore):
    # -- complaints -----------------------------------------------------------------------------------------
    def file_complaint(
        self,
        *,
        target: str,
        target_id: str,
        complainant: str,
        content: str,
        channel: str = "window",
        limit_days: int | None = None,
        actor: str,
    ) -> Complaint:
        """投诉: against a case (it must exist), a window or a staff member; the limit from the standards."""
        with self._units() as uow:
            uow.lock()
            complaint = self._file(
                uow,
                complaint_id=None,
                target=target,
                target_id=target_id,
                complainant=complainant,
                content=content,
                channel=channel,
                limit_days=limit_days,
                actor=actor,
                now=None,
            )
            uow.commit()
        log.info("complaint.filed", complaint_id=complaint.complaint_id, target=target, target_id=target_id)
        return complaint

    def record_complaint(
        self,
        conn: Connection,
        *,
        complaint_id: str,
        target: str,
        target_id: str,
        complainant: str,
        content: str,
        channel: str,
        actor: str,
    ) -> Complaint | None:
        """投诉 filed elsewhere (the public portal) under its own ``complaint_id``, inside a transaction the caller
        owns and in which it holds the county's writer lock (the replication receiver's): the same rules as
        :meth:`file_complaint`; None when ``complaint_id`` is held already (a resend files nothing). It is filed at
        the county's now, not at the portal's filing time (a sender cannot start its answer's limit in the past)."""
        uow = self._units.joining(conn)
        if uow.complaints.find(complaint_id) is not None:
            return None
        complaint = self._file(
            uow,
            complaint_id=complaint_id,
            target=target,
            target_id=target_id,
            complainant=complainant,
            content=content,
            channel=channel,
            limit_days=None,
            actor=actor,
            now=self.now(),  # the answer's limit runs from its arrival here: a sender cannot backdate it
        )
        log.info("complaint.filed", complaint_id=complaint.complaint_id, target=target, channel=channel)
        return complaint

    def _file(
        self,
        uow: CountyRepositories,
        *,
        complaint_id: str | None,
        target: str,
        target_id: str,
        complainant: str,
        content: str,
        channel: str,
        limit_days: int | None,
        actor: str,
        now: datetime | None,
    ) -> Complaint:
        st, params = self._in_force()
        limit = params.complaint_response_days if limit_days is None else limit_days
        case_no = None
        if target == "case":
            case_no = uow.cases.get(target_id, st.key_fields).case_no
        at = self.now() if now is None else now
        if isinstance(limit, bool) or not isinstance(limit, int) or not 0 <= limit <= MAX_LIMIT_DAYS:
            raise ValidationError(f"投诉答复时限应为 0 到 {MAX_LIMIT_DAYS} 个工作日", field="limit_days")
        complaint = new_complaint(
            complaint_id=complaint_id or uow.complaints.new_id(),
            origin=self.division,
            target=target,
            target_id=target_id,
            case_no=case_no,
            complainant=complainant,
            content=content,
            channel=channel,
            limit_days=limit,
            due_at=limit_end(st.calendar, at, limit),
            standards_version=st.bundle.version if st.bundle else None,
            actor=actor,
            now=at,
        )
        uow.complaints.add(complaint, at)
        return complaint

    def answer_complaint(self, complaint_id: str, *, answer: str, actor: str) -> Complaint:
        st, params = self._in_force()
        with self._units() as uow:
            uow.lock()
            complaint = uow.complaints.get(complaint_id, for_update=True)
            now = max(self.now(), complaint.updated_at)
            after = answer_complaint(complaint, answer=answer, actor=actor, now=now)
            uow.complaints.save(after, now)
            self._reconcile(uow, [self._feedback_verdicts(after, now, st, params)], now, st, params)
            uow.commit()
        return after

    def close_complaint(self, complaint_id: str, *, actor: str, reason: str = "") -> Complaint:
        with self._units() as uow:
            uow.lock()
            complaint = uow.complaints.get(complaint_id, for_update=True)
            now = max(self.now(), complaint.updated_at)
            after = close_complaint(complaint, actor=actor, reason=reason, now=now)
            uow.complaints.save(after, now)
            uow.commit()
        return after

    def get_complaint(self, complaint_id: str) -> Complaint:
        with self._units(readonly=True) as uow:
            return uow.complaints.get(complaint_id)

    def list_complaints(
        self, *, status: str | None = None, case_no: str | None = None, page: int = 1, page_size: int = 20
    ) -> tuple[list[Complaint], int]:
        offset = page_offset(page, page_size)
        with self._units(readonly=True) as uow:
            return uow.complaints.page(status=status, case_no=case_no, offset=offset, limit=page_size)

    # -- ratings --------------------------------------------------------------------------------------------
    def rate(
        self, *, case_no: str, staff: str, level: Any, comment: str | None = None, channel: str = "window"
    ) -> Rating:
        """好差评: one rating per case and staff member; a negative one must be followed up within its limit."""
        with self._units() as uow:
            uow.lock()
            rating = self._rate(uow, case_no=case_no, staff=staff, level=level, comment=comment, channel=channel)
            uow.commit()
        log.info("rating.recorded", rating_id=rating.rating_id, level=rating.level, negative=rating.negative)
        return rating

    def record_rating(
        self, conn: Connection, *, case_no: str, staff: str, level: Any, comment: str | None, channel: str
    ) -> Rating:
        """好差评 made elsewhere (the public portal), inside a transaction the caller owns and in which it holds the
        county's writer lock: the same rules as :meth:`rate` (Conflict when the case and staff were rated)."""
        rating = self._rate(
            self._units.joining(conn), case_no=case_no, staff=staff, level=level, comment=comment, channel=channel
        )
        log.info("rating.recorded", rating_id=rating.rating_id, level=rating.level, channel=channel)
        return rating

    def _rate(
        self, uow: CountyRepositories, *, case_no: str, staff: str, level: Any, comment: str | None, channel: str
    ) -> Rating:
        st, params = self._in_force()
        uow.cases.get(case_no, st.key_fields)  # CaseNotFound for an unknown case
        existing, _ = uow.ratings.page(case_no=case_no, staff=staff, negative=None, offset=0, limit=1)
        if existing:
            raise Conflict(
                f"办件“{case_no}”已对工作人员“{staff}”评价过（{existing[0].rating_id}）",
                case_no=case_no,
                staff=staff,
            )
        now = self.now()
        limit = params.rating_follow_up_days
        rating = new_rating(
            rating_id=uow.ratings.new_id(),
            origin=self.division,
            case_no=case_no,
            staff=staff,
            level=level,
            comment=comment,
            channel=channel,
            negative_max_level=params.negative_rating_max_level,
            limit_days=limit,
            due_at=limit_end(st.calendar, now, limit),
            now=now,
        )
        uow.ratings.add(rating, now)
        return rating

    def follow_up(self, rating_id: str, *, note: str, actor: str) -> Rating:
        st, params = self._in_force()
        with self._units() as uow:
            uow.lock()
            rating = uow.ratings.get(rating_id, for_update=True)
            now = max(self.now(), rating.updated_at)
            after = follow_up_rating(rating, note=note, actor=actor, now=now)
            uow.ratings.save(after, now)
            self._reconcile(uow, [self._feedback_verdicts(after, now, st, params)], now, st, params)
            uow.commit()
        return after

    def get_rating(self, rating_id: str) -> Rating:
        with self._units(readonly=True) as uow:
            return uow.ratings.get(rating_id)

    def list_ratings(
        self,
        *,
        case_no: str | None = None,
        staff: str | None = None,
        negative: bool | None = None,
        page: int = 1,
        page_size: int = 20,
    ) -> tuple[list[Rating], int]:
        offset = page_offset(page, page_size)
        with self._units(readonly=True) as uow:
            return uow.ratings.page(case_no=case_no, staff=staff, negative=negative, offset=offset, limit=page_size)
