"""The county's use cases at the boundary: the clerk's desk for online applications (网上受理), the publication of
the public stream (出网公开) and the applicant's SMS.

* :class:`Publication` — the approval service's observer and standards observer (composition root, only when
  ``[extranet] link`` is set): on every case change, in the same transaction, one read of the case's contact by
  primary key and one append to the public stream (``public_case`` when the case has a query code, and a
  ``disclosure`` when it concludes); SMS to the applicant at 补正 and 办结; the public catalogue whenever the
  standards in force change (and on demand, ``sunshine county publish-catalogue``).
* :class:`IntakeDesk` — what a clerk does with online applications (list, show, accept, refuse) and the query
  code of every case accepted at the counter: acceptance is :meth:`ApprovalService.take_in` /
  :meth:`ApprovalService.act` with the desk's own writes in the same transaction (the application marked
  accepted, the case's contact, ``submission_result``, the acceptance SMS), so nothing is half-written.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import Engine
from sqlalchemy.engine import Connection

from county_node.approval.domain import Action, Case, Status
from county_node.approval.services import ApprovalService
from county_node.public.adapters import APPLICANT_CHANNEL, ContactStore, PublicStream, SubmissionStore
from county_node.public.domain import (
    CaseContact,
    Submission,
    SubmissionStatus,
    accept_submission,
    acceptance_message,
    catalogue_payload,
    check_phone,
    conclusion_message,
    correction_list,
    correction_message,
    disclosure_payload,
    public_case_payload,
    refuse_submission,
    require_pending,
    submission_result_payload,
    textable,
)
from county_node.supervision.notifier import enqueue, mask_recipient
from federation.calendar import WorkingCalendar
from federation.errors import ConfigError, StandardsNotLoaded, ValidationError
from federation.paging import page_offset
from federation.public_records import (
    DISCLOSURE,
    PUBLIC_CASE,
    PUBLIC_CATALOGUE,
    SUBMISSION_RESULT,
)
from federation.query_codes import (
    new_query_code,
    query_hash,
)
from federation.standards import StandardsBundle
from federation.storage import outbox
from federation.storage.standards_store import AppliedStandards, current_bundle, get_setting, set_setting
from federation.storage.uow import UnitOfWork
from federation.timeutil import local_date

__all__ = ["CATALOGUE_SETTING", "Accepted", "IntakeDesk", "Publication", "SubmissionPage", "require_desk"]

log = structlog.get_logger(__name__)

CATALOGUE_SETTING = "public.catalogue_version"
"""``node_settings``: the standards version whose catalogue the public stream carries last."""


@dataclass(frozen=True, slots=True)
class Accepted:
    """A case accepted at the desk, and the query code issued with it (shown once: None when none was issued —
    the online applicant keeps the code of the application, a case accepted again keeps its code)."""

    case: Case
    query_code: str | None
    submission_id: str | None = None


@dataclass(frozen=True, slots=True)
class SubmissionPage:
    items: list[Submission]
    total: int
    page: int
    page_size: int


class Publication:
    """The public stream of county ``division`` (``371122-pub``) and the applicant's SMS; ``portal_url`` is printed
    in the SMS. Built by the composition root only when the county has an extranet node."""

    def __init__(self, engine: Engine, approval: ApprovalService, portal_url: str = "") -> None:
        self._engine = engine
        self._approval = approval
        self.division = approval.division
        self.portal_url = portal_url
        self.stream = PublicStream(approval.division)
        self._catalogue_version: str | None = None  # what this process knows the stream carries

    # -- the approval service's observers ----------------------------------------------------------------------
    def case_changed(
        self, conn: Connection, case: Case, now: datetime, st: Any, previous: tuple[Any, Any] | None = None
    ) -> None:
        """In the transaction of every case change: ``public_case`` (when the case has a query code),
        ``disclosure`` at conclusion, the catalogue when the standards in force changed; SMS at 补正 and 办结."""
        contact = ContactStore(conn).get(case.case_no)
        records = self.case_records(case, contact, st.calendar, now)
        bundle = st.bundle
        if bundle is not None and bundle.version != self._catalogue_version:
            records.extend(self._catalogue_if_changed(conn, bundle, now))
        self.stream.write(conn, records, now)
        if textable(contact):
            assert contact is not None
            self._text_applicant(conn, case, contact, now)

    def standards_applied(self, conn: Connection, result: AppliedStandards, now: datetime) -> None:
        """A bundle was applied: publish the catalogue if the standards in force today are another version."""
        bundle = current_bundle(conn, local_date(now))
        if bundle is None:
            return
        outbox.lock_origin(conn, self.division)  # the county's lock first, as every county writer
        self.stream.write(conn, self._catalogue_if_changed(conn, bundle, now), now)

    # -- records -----------------------------------------------------------------------------------------------
    def case_records(
        self, case: Case, contact: CaseContact | None, calendar: WorkingCalendar, now: datetime
    ) -> list[outbox.OutboxRecord]:
        records = []
        if contact is not None and contact.query_hash:
            payload = public_case_payload(case, contact, calendar, now)
            records.append(outbox.OutboxRecord(PUBLIC_CASE, case.case_no, "upsert", payload))
        if case.status is Status.CONCLUDED and case.concluded_at == now:
            disclosure = disclosure_payload(case, calendar)
            if disclosure is not None:
                records.append(outbox.OutboxRecord(DISCLOSURE, case.case_no, "upsert", disclosure))
        return records

    def _catalogue_if_changed(
        self, conn: Connection, bundle: StandardsBundle, now: datetime
    ) -> list[outbox.OutboxRecord]:
        if get_setting(conn, CATALOGUE_SETTING) == bundle.version:
            self._catalogue_version = bundle.version
            return []
        return [self._catalogue_record(conn, bundle, now)]

    def _catalogue_record(self, conn: Connection, bundle: StandardsBundle, now: datetime) -> outbox.OutboxRecord:
        set_setting(conn, CATALOGUE_SETTING, bundle.version)
        self._catalogue_version = bundle.version
        log.info("public.catalogue_published", version=bundle.version, items=len(bundle.items))
        return outbox.OutboxRecord(PUBLIC_CATALOGUE, "catalogue", "upsert", catalogue_payload(bundle, now))

    def publish_catalogue(self) -> StandardsBundle:
        """``sunshine county publish-catalogue``: the catalogue of the standards in force, published again."""
        with UnitOfWork(self._engine) as uow:
            outbox.lock_origin(uow.conn, self.division)
            now = self._approval.now()
            bundle = current_bundle(uow.conn, local_date(now))
            if bundle is None:
                raise StandardsNotLoaded("本节点尚未加载事项目录（标准包），无法发布外网事项目录")
            self.stream.write(uow.conn, [self._catalogue_record(uow.conn, bundle, now)], now)
            uow.commit()
        return bundle

    def republish_case(self, conn: Connection, case: Case, contact: CaseContact, now: datetime) -> None:
        """``public_case`` again after a change outside the case (its public rating arrived)."""
        if contact.query_hash:
            payload = public_case_payload(case, contact, self._approval.calendar, now)
            self.stream.write(conn, [outbox.OutboxRecord(PUBLIC_CASE, case.case_no, "upsert", payload)], now)

    # -- SMS -----------------------------------------------------------------------------------------------------
    def _text_applicant(self, conn: Connection, case: Case, contact: CaseContact, now: datetime) -> None:
        pause = case.open_pause
        if case.status is Status.CORRECTION and pause is not None and pause.started_at == now:
            self.text(conn, case, contact, correction_message(case, correction_list(case), self.portal_url), now)
        elif case.status is Status.CONCLUDED and case.concluded_at == now:
            self.text(conn, case, contact, conclusion_message(case, self.portal_url), now)

    def text(self, conn: Connection, case: Case, contact: CaseContact, message: str, now: datetime) -> None:
        """Queue an SMS to the applicant of ``case`` (unless opted out): the delivery log keeps the number masked;
        the dispatcher reads it from ``case_contacts`` when it sends (``APPLICANT_CHANNEL``)."""
        if not textable(contact):
            return
        enqueue(
            conn,
            recipients=[mask_recipient(contact.phone)],
            subject_kind="case",
            subject_id=case.case_no,
            message=message,
            now=now,
            channel=APPLICANT_CHANNEL,
        )


class IntakeDesk:
    """The clerk's desk: online applications (网上申报) and the query code of every case accepted here."""

    def __init__(self, engine: Engine, approval: ApprovalService, publication: Publication) -> None:
        self._engine = engine
        self._approval = approval
        self._publication = publication

    # -- online applications ------------------------------------------------------------------------------------
    def list(self, *, status: str | None = "pending", page: int = 1, page_size: int = 20) -> SubmissionPage:
        if status is not None and status not in {s.value for s in SubmissionStatus}:
            known = "、".join(s.value for s in SubmissionStatus)
            raise ValidationError(f"未知的网上申报状态“{status}”，可选：{known}", field="status")
        offset = page_offset(page, page_size)
        with UnitOfWork(self._engine, readonly=True) as uow:
            items, total = SubmissionStore(uow.conn).page(status=status, offset=offset, limit=page_size)
        return SubmissionPage(items, total, page, page_size)

    def get(self, submission_id: str) -> Submission:
        with UnitOfWork(self._engine, readonly=True) as uow:
            return SubmissionStore(uow.conn).get(submission_id)

    def accept(self, submission_id: str, *, actor: str, window: str | None = None) -> Accepted:
        """受理 an online application: in one transaction the case is submitted and accepted, the application
        marked accepted with its number, the case's contact written (a fresh query code of the case's own; the
        applicant's submission code opens the case as well),
        ``submission_result`` and ``public_case`` published and the acceptance SMS queued."""
        sub = self.get(submission_id)
        require_pending(sub, "受理")  # early, with its reason; checked again in the transaction
        data = dict(sub.data)
        if sub.applicant_id and "证件号码" not in data:
            data["证件号码"] = sub.applicant_id
        # a code of the case's own, for the SMS and the 受理通知书; the one shown at the online submission keeps
        # opening the case too (the extranet node checks it through the submission the case came from)
        code, hashed = _fresh_code()
        pub = self._publication

        def within(conn: Connection, case: Case, now: datetime) -> None:
            store = SubmissionStore(conn)
            decided = accept_submission(
                store.get(submission_id, for_update=True), case_no=case.case_no, actor=actor, now=now
            )
            store.save_decision(decided)
            contact = CaseContact(case.case_no, sub.phone, sub.sms_opt_out, hashed, submission_id, False, now)
            ContactStore(conn).put(contact)
            pub.stream.write(
                conn,
                [outbox.OutboxRecord(SUBMISSION_RESULT, submission_id, "upsert", submission_result_payload(decided))],
                now,
            )
            pub.text(conn, case, contact, acceptance_message(case, code, pub.portal_url, online=True), now)

        case = self._approval.take_in(
            item_code=sub.item_code,
            applicant=sub.applicant,
            data=data,
            actor=actor,
            window=window,
            note=f"网上申报 {submission_id}",
            within=within,
        )
        log.info("intake.accepted", submission_id=submission_id, case_no=case.case_no)
        return Accepted(case, code, submission_id)

    def refuse(self, submission_id: str, *, reason: str, actor: str) -> Submission:
        """不予受理 an online application: its result (with the reason) is published to the portal."""
        with UnitOfWork(self._engine) as uow:
            outbox.lock_origin(uow.conn, self._approval.division)
            store = SubmissionStore(uow.conn)
            now = self._approval.now()
            decided = refuse_submission(store.get(submission_id, for_update=True), reason=reason, actor=actor, now=now)
            store.save_decision(decided)
            self._publication.stream.write(
                uow.conn,
                [outbox.OutboxRecord(SUBMISSION_RESULT, submission_id, "upsert", submission_result_payload(decided))],
                now,
            )
            uow.commit()
        log.info("intake.refused", submission_id=submission_id)
        return decided

    # -- cases taken in at the counter -------------------------------------------------------------------------
    def submit(
        self,
        *,
        item_code: str,
        applicant: str,
        data: Mapping[str, Any] | None,
        actor: str,
        window: str | None = None,
        phone: str | None = None,
        sms_opt_out: bool = False,
    ) -> Case:
        """申请 at the counter, with the applicant's phone (for the hall's SMS) when given."""
        number = check_phone(phone)
        within = None
        if number:

            def within(conn: Connection, case: Case, now: datetime) -> None:
                ContactStore(conn).put(CaseContact(case.case_no, number, sms_opt_out, "", None, False, now))

        return self._approval.submit(
            item_code=item_code, applicant=applicant, data=data, actor=actor, window=window, within=within
        )

    def accept_case(self, case_no: str, *, actor: str, params: Mapping[str, Any] | None = None) -> Accepted:
        """受理 a case at the counter: a fresh query code when the case has none yet (shown once, for the 受理通知书,
        and sent by SMS), ``public_case`` published, in the acceptance's transaction."""
        code, hashed = _fresh_code()
        issued: list[str] = []
        pub = self._publication

        def within(conn: Connection, case: Case, now: datetime) -> None:
            contacts = ContactStore(conn)
            contact = contacts.get(case.case_no)
            if contact is None:
                contact = CaseContact(case.case_no, "", False, hashed, None, False, now)
                issued.append(code)
            elif not contact.query_hash:
                contact = replace(contact, query_hash=hashed, updated_at=now)
                issued.append(code)
            contacts.put(contact)
            shown = code if issued else None
            message = acceptance_message(case, shown, pub.portal_url, online=contact.submission_id is not None)
            pub.text(conn, case, contact, message, now)

        case = self._approval.act(case_no, Action.ACCEPT, actor=actor, params=params, within=within)
        return Accepted(case, code if issued else None)


def _fresh_code() -> tuple[str, str]:
    code = new_query_code()
    return code, query_hash(code)


def require_desk(desk: IntakeDesk | None) -> IntakeDesk:
    """The desk, or the Chinese reason there is none (the county has no extranet node)."""
    if desk is None:
        raise ConfigError("本县未配置外网节点（[extranet] link），没有网上受理与外网公开")
    return desk
