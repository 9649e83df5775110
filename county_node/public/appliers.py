"""What the county's receiver applies from its extranet node (``371122-ext``): online applications, complaints and
ratings made on the public portal (``federation.public_records``, direction ``in``).

Each record is checked in full by ``prepare`` (the contract's parser: a malformed one is quarantined with the
reason in Chinese) and applied in the receiver's batch transaction under the county's writer lock, through the
same rules as the hall's own path:

* ``public_submission`` → a row of ``public_submissions``, ``pending`` (never a case by itself: a clerk accepts or
  refuses it, :class:`~county_node.public.services.IntakeDesk`); a resend of a held application changes nothing;
  an item the county's catalogue does not hold is rejected;
* ``public_complaint`` → a complaint (投诉, channel ``web``) against its case, or the hall (``window`` ``大厅``)
  when it names none; its id is derived from the public reference (:func:`public_complaint_id`), so a resend never
  files twice; it replicates up like every complaint;
* ``public_rating`` → a rating (好差评, channel ``web``) of the staff member who accepted the case
  (:func:`~county_node.public.domain.handling_staff`) — only of a concluded case of this county not rated from the
  portal before; else rejected with the reason (quarantined). The case's public status then closes its rating.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy.engine import Connection

from county_node.approval.adapters.repository import CaseRepository
from county_node.approval.domain import STATUS_LABELS, Status
from county_node.public.adapters import ContactStore, SubmissionStore
from county_node.public.domain import handling_staff, submission_from_public
from county_node.public.services import Publication
from county_node.supervision.services import SupervisionService
from federation.errors import RecordRejected, SunshineError
from federation.identities import extranet_of
from federation.public_records import (
    PUBLIC_COMPLAINT,
    PUBLIC_RATING,
    PUBLIC_SUBMISSION,
    PublicComplaint,
    PublicRating,
    PublicSubmission,
    parse_public_complaint,
    parse_public_rating,
    parse_public_submission,
)
from federation.replication import Applier, Prepared, Record, Rejection, rejection_reason
from federation.standards import Item
from federation.storage import outbox

__all__ = [
    "HALL_TARGET",
    "PublicComplaintApplier",
    "PublicRatingApplier",
    "PublicSubmissionApplier",
    "public_appliers",
    "public_complaint_id",
]

log = structlog.get_logger(__name__)

Clock = Callable[[], datetime]
HALL_TARGET = "大厅"
"""The target (a ``window`` complaint) of a public complaint that names no case: the hall as a whole."""


def public_complaint_id(complaint_ref: str) -> str:
    """The complaint id of a public complaint: ``371122-T20261207-4QX2ZP`` → ``371122-TS20261207`` + the suffix as a
    base-36 number in 10 digits. A county id (``-TS`` + 8 digits from a counter) never has 18 digits, so the two
    never meet, and the city's and province's replicas take it like any complaint id."""
    county, day, suffix = complaint_ref[:6], complaint_ref[8:16], complaint_ref[17:]
    return f"{county}-TS{day}{int(suffix, 36):010d}"


class _FromExtranet:
    """What every applier of the county's extranet stream checks first: the sender is this county's extranet node."""

    record_type: str

    def __init__(self, division: str) -> None:
        self.division = division
        self.origin = extranet_of(division)

    def _check_origin(self, origin: str, record: Record) -> None:
        if origin != self.origin:
            raise RecordRejected(
                f"{record.record_type} 只能来自本县外网节点 {self.origin}，不能来自 {origin}",
                record_type=record.record_type,
                record_id=record.record_id,
                origin=origin,
            )

    def _check_id(self, record: Record, key: str) -> None:
        if record.record_id != key:
            raise RecordRejected(
                f"记录编号 {record.record_id} 与内容中的编号 {key} 不一致",
                record_type=record.record_type,
                record_id=record.record_id,
            )


class PublicSubmissionApplier(_FromExtranet):
    """``public_submission`` → a pending online application. ``items`` gives the catalogue in force (by code)."""

    record_type = PUBLIC_SUBMISSION

    def __init__(self, division: str, clock: Clock, items: Callable[[], Mapping[str, Item]]) -> None:
        super().__init__(division)
        self._clock = clock
        self._items = items

    def prepare(self, origin: str, record: Record, payload: Any) -> PublicSubmission:
        self._check_origin(origin, record)
        parsed = parse_public_submission(self.division, payload)
        self._check_id(record, parsed.submission_id)
        return parsed

    def apply(self, conn: Connection, origin: str, items: Sequence[Prepared[PublicSubmission]]) -> Sequence[Rejection]:
        outbox.lock_origin(conn, self.division)  # the county's writer lock first, as every county writer
        store = SubmissionStore(conn)
        held = store.held([i.value.submission_id for i in items])
        catalogue = self._items()
        now = self._clock()
        rejected: list[Rejection] = []
        fresh = []
        for item in items:
            sub = item.value
            if sub.submission_id in held:
                continue  # a resend: the application is held (and may be decided already)
            if sub.item_code not in catalogue:
                rejected.append(Rejection(item.record, f"网上申报：事项 {sub.item_code} 不在本县当前的事项目录中"))
                continue
            held.add(sub.submission_id)
            fresh.append(submission_from_public(sub, origin=origin, received_at=now, origin_seq=item.record.origin_seq))
        store.add_many(fresh)
        for s in fresh:
            log.info("intake.received", submission_id=s.submission_id, item_code=s.item_code)
        return rejected


class PublicComplaintApplier(_FromExtranet):
    """``public_complaint`` → a complaint filed through the supervision service's rules (channel ``web``)."""

    record_type = PUBLIC_COMPLAINT

    def __init__(self, division: str, supervision: SupervisionService) -> None:
        super().__init__(division)
        self._supervision = supervision

    def prepare(self, origin: str, record: Record, payload: Any) -> PublicComplaint:
        self._check_origin(origin, record)
        parsed = parse_public_complaint(self.division, payload)
        self._check_id(record, parsed.complaint_ref)
        return parsed

    def apply(self, conn: Connection, origin: str, items: Sequence[Prepared[PublicComplaint]]) -> Sequence[Rejection]:
        outbox.lock_origin(conn, self.division)
        rejected: list[Rejection] = []
        for item in items:
            c = item.value
            try:
                with conn.begin_nested():
                    self._file(conn, origin, c, about_case=bool(c.case_no))
            except SunshineError as exc:
                if not c.case_no:
                    rejected.append(Rejection(item.record, f"网上投诉 {c.complaint_ref}：{rejection_reason(exc)}"))
                    continue
                # a case number the county does not know (mistyped, or not its own): the public was told it was
                # filed, so it is — against the hall, with the number as the complainant gave it
                try:
                    with conn.begin_nested():
                        self._file(conn, origin, c, about_case=False)
                except SunshineError as again:
                    rejected.append(Rejection(item.record, f"网上投诉 {c.complaint_ref}：{rejection_reason(again)}"))
        return rejected

    def _file(self, conn: Connection, origin: str, c: PublicComplaint, *, about_case: bool) -> None:
        content = c.content
        if c.case_no and not about_case:
            content += f"\n（投诉人填写的办件编号 {c.case_no} 本县未找到）"
        self._supervision.record_complaint(
            conn,
            complaint_id=public_complaint_id(c.complaint_ref),
            target="case" if about_case else "window",
            target_id=c.case_no if about_case else HALL_TARGET,
            complainant=c.complainant,
            content=content,
            channel="web",
            actor=f"外网 {origin}",
        )


@dataclass(frozen=True, slots=True)
class _Rated:
    record: Record
    rating: PublicRating


class PublicRatingApplier(_FromExtranet):
    """``public_rating`` → a rating of the case's handling staff (channel ``web``), once per case."""

    record_type = PUBLIC_RATING

    def __init__(self, division: str, supervision: SupervisionService, publication: Publication | None) -> None:
        super().__init__(division)
        self._supervision = supervision
        self._publication = publication

    def prepare(self, origin: str, record: Record, payload: Any) -> PublicRating:
        self._check_origin(origin, record)
        parsed = parse_public_rating(self.division, payload)
        self._check_id(record, parsed.case_no)
        return parsed

    def apply(self, conn: Connection, origin: str, items: Sequence[Prepared[PublicRating]]) -> Sequence[Rejection]:
        outbox.lock_origin(conn, self.division)
        rejected: list[Rejection] = []
        for item in items:
            try:
                self._rate(conn, item.value)
            except SunshineError as exc:
                reason = f"网上评价（办件 {item.value.case_no}）：{rejection_reason(exc)}"
                rejected.append(Rejection(item.record, reason))
        return rejected

    def _rate(self, conn: Connection, r: PublicRating) -> None:
        repo = CaseRepository(conn, {})
        case = repo.get(r.case_no)  # CaseNotFound
        if case.status is not Status.CONCLUDED:
            raise RecordRejected(f"办件当前状态为“{STATUS_LABELS[case.status]}”，办结后才能评价", case_no=r.case_no)
        contacts = ContactStore(conn)
        contact = contacts.get(r.case_no)
        if contact is not None and contact.rated:
            raise RecordRejected("该办件已评价过（每件办件只能在网上评价一次）", case_no=r.case_no)
        self._supervision.record_rating(
            conn,
            case_no=r.case_no,
            staff=handling_staff(repo.timeline(r.case_no)),
            level=r.level,
            comment=r.comment or None,
            channel="web",
        )
        if contact is not None:
            now = self._supervision.now()
            contact = replace(contact, rated=True, updated_at=now)
            contacts.put(contact)
            if self._publication is not None:
                self._publication.republish_case(conn, case, contact, now)


def public_appliers(
    division: str,
    clock: Clock,
    items: Callable[[], Mapping[str, Item]],
    supervision: SupervisionService,
    publication: Publication | None,
) -> dict[str, Applier[Any]]:
    """The county's appliers of its extranet node's stream (the composition root adds them to its receiver's)."""
    return {
        PUBLIC_SUBMISSION: PublicSubmissionApplier(division, clock, items),
        PUBLIC_COMPLAINT: PublicComplaintApplier(division, supervision),
        PUBLIC_RATING: PublicRatingApplier(division, supervision, publication),
    }
