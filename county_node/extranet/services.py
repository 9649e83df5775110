"""The public portal's use cases (网上办事): apply, ask a status, complain, rate, read 办件公示 and the catalogue.

Each write runs in one unit of work: the origin's writer lock first (``outbox.lock_origin``), the ``ext_*`` row,
and the record that carries it in to the county (origin ``371122-ext``, screened by the boundary policy's ``in``
direction as it enters the outbox) — both or neither. Bad input raises a Chinese
:class:`~federation.errors.ValidationError` naming the field before anything is written.

A status answer needs the number and its query code. An unknown number and a wrong code get the same
:class:`~federation.errors.NotFound` (same message, same details, and the same number of code checks — a missing
record is checked against a stand-in hash), so nobody learns which numbers exist by asking.

A code check is scrypt (some 50 ms of a core; a status query makes two): :class:`CodeChecks` bounds how many run
at once, node-wide (one per CPU by default). A lookup — or an application's hashing of its new code — that cannot
get a slot within a short wait is refused before it hashes anything: :class:`~federation.errors.RateLimited`
"系统繁忙，请稍后再试" (429, ``Retry-After``), so a flood of queries cannot take every core of the node.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import cache
from typing import Any

import structlog
from sqlalchemy.exc import IntegrityError

from county_node.extranet.domain import (
    NOT_FOUND_MESSAGE,
    CaseStatus,
    ComplaintReceipt,
    DisclosurePage,
    Lookup,
    RatingReceipt,
    SubmissionReceipt,
    SubmissionStatus,
    case_status,
    check_application,
    check_complaint,
    check_lookup,
    check_rating,
    rating_receipt,
    submission_status,
)
from county_node.extranet.unit_of_work import ExtranetUnitOfWork
from federation.errors import Conflict, ItemNotFound, NotFound, RateLimited, ValidationError
from federation.identities import extranet_of
from federation.paging import page_offset
from federation.public_records import (
    PUBLIC_COMPLAINT,
    PUBLIC_RATING,
    PUBLIC_SUBMISSION,
    PublicItem,
    complaint_ref,
    parse_public_complaint,
    parse_public_rating,
    parse_public_submission,
    submission_id,
)
from federation.query_codes import (
    check_query_code,
    new_query_code,
    query_hash,
)
from federation.storage import outbox
from federation.storage.outbox import OutboxRecord
from federation.timeutil import Clock, local_date

__all__ = ["BUSY_MESSAGE", "CodeChecks", "PublicPortal"]

log = structlog.get_logger(__name__)

Units = Callable[..., ExtranetUnitOfWork]
_ID_ATTEMPTS = 5
BUSY_MESSAGE = "系统繁忙，请稍后再试"
BUSY_RETRY_AFTER = 2  # seconds


class CodeChecks:
    """At most ``slots`` query-code hashings at once (default: the CPU count), each waiting at most ``wait``
    seconds for its slot — else RateLimited (busy) before hashing."""

    def __init__(self, slots: int | None = None, *, wait: float = 0.5) -> None:
        self.slots = slots or os.cpu_count() or 1
        self.wait = wait
        self.semaphore = threading.BoundedSemaphore(self.slots)

    @contextmanager
    def slot(self) -> Iterator[None]:
        if not self.semaphore.acquire(timeout=self.wait):
            raise RateLimited(BUSY_MESSAGE, retry_after=BUSY_RETRY_AFTER, limit="busy")
        try:
            yield
        finally:
            self.semaphore.release()


@cache
def _stand_in_hash() -> str:
    """A hash no code matches (its code is thrown away): what a missing record's code is checked against."""
    return query_hash(new_query_code())


def _matches(code: str, stored: str | None) -> bool:
    """Whether ``code`` opens ``stored``; a missing hash costs a check all the same."""
    return check_query_code(code, stored or _stand_in_hash()) and bool(stored)


def _not_found() -> NotFound:
    return NotFound(NOT_FOUND_MESSAGE)


class PublicPortal:
    """The extranet node of ``county``: its public use cases over ``units`` and ``clock``; ``checks`` bounds the
    concurrent query-code hashings."""

    def __init__(self, units: Units, county: str, clock: Clock, *, checks: CodeChecks | None = None) -> None:
        self._units = units
        self.county = county
        self.origin = extranet_of(county)
        self._now = clock
        self.checks = checks or CodeChecks()

    def now(self) -> datetime:
        return self._now()

    # -- reads ----------------------------------------------------------------------------------------------------

    def catalogue(self) -> list[PublicItem]:
        """The items the public may apply for online (as the county last published them)."""
        with self._units(readonly=True) as uow:
            return uow.store.items()

    def item(self, code: str) -> PublicItem:
        with self._units(readonly=True) as uow:
            item = uow.store.item(code)
        if item is None:
            raise ItemNotFound(f"事项“{code[:32]}”不存在或暂不支持网上申报", item_code=code[:32])
        return item

    def departments(self) -> list[str]:
        with self._units(readonly=True) as uow:
            return uow.store.departments()

    def disclosures(self, *, page: int = 1, page_size: int = 20, department: str | None = None) -> DisclosurePage:
        """办件公示: concluded cases, newest concluded first, optionally of one department."""
        offset = page_offset(page, page_size)
        if department is not None and len(department) > 100:
            raise ValidationError("部门：不能超过 100 个字", field="department")
        with self._units(readonly=True) as uow:
            items, total = uow.store.disclosures(department=department or None, offset=offset, limit=page_size)
        return DisclosurePage(tuple(items), total, page, page_size)

    # -- status ---------------------------------------------------------------------------------------------------

    def status(self, *, number: Any, query_code: Any) -> CaseStatus | SubmissionStatus:
        """The case (办件编号) or the online application (申报编号) ``number`` opens with ``query_code``."""
        lookup = check_lookup(number=number, query_code=query_code)
        with self.checks.slot(), self._units(readonly=True) as uow:
            if lookup.is_submission:
                return self._submission_status(uow, lookup)
            return self._case_status(uow, lookup)

    def _case_status(self, uow: ExtranetUnitOfWork, lookup: Lookup) -> CaseStatus:
        case = uow.store.case(lookup.number)
        held = uow.store.submission(case.submission_id) if case is not None and case.submission_id else None
        # two checks whatever is held: the case's own code, then the code of the submission it came from
        own = _matches(lookup.code, case.query_hash if case is not None else None)
        via = _matches(lookup.code, held.query_hash if held is not None else None)
        if case is None or not (own or via):
            raise _not_found()
        return case_status(case, rated=uow.store.rated(case.case_no))

    def _submission_status(self, uow: ExtranetUnitOfWork, lookup: Lookup) -> SubmissionStatus:
        held = uow.store.submission(lookup.number)
        if not _matches(lookup.code, held.query_hash if held is not None else None) or held is None:
            raise _not_found()
        case = uow.store.case(held.case_no) if held.outcome == "accepted" and held.case_no else None
        return submission_status(
            submission_id=held.submission_id,
            item_code=held.item_code,
            item_name=held.item_name,
            submitted_at=held.submitted_at,
            outcome=held.outcome,
            reason=held.reason,
            decided_at=held.decided_at,
            case_no=held.case_no,
            case=None if case is None else case_status(case, rated=uow.store.rated(case.case_no)),
        )

    # -- writes ---------------------------------------------------------------------------------------------------

    def submit(
        self,
        *,
        item_code: Any,
        applicant: Any,
        phone: Any,
        applicant_id: Any = "",
        materials: Any = (),
        data: Any = None,
        note: Any = "",
        sms_opt_out: Any = False,
        client: str,
    ) -> SubmissionReceipt:
        """网上申报: stored here and sent in to the county; the receipt holds the query code, shown this once."""
        if not isinstance(item_code, str) or not item_code.strip():
            raise ValidationError("申请事项：不能为空", field="item_code")
        item = self.item(item_code.strip())
        form = check_application(
            item_code=item.code,
            applicant=applicant,
            applicant_id=applicant_id,
            phone=phone,
            materials=list(materials) if isinstance(materials, tuple) else materials,
            data=data,
            note=note,
            sms_opt_out=sms_opt_out,
            key_fields=item.key_fields,
        )
        code = new_query_code()
        with self.checks.slot():
            hashed = query_hash(code)  # ~20 ms: before the transaction, which holds the origin's writer lock
        now = self._now()
        with self._units() as uow:
            outbox.lock_origin(uow.conn, self.origin)
            if uow.store.item(item.code) is None:  # withdrawn from the catalogue meanwhile
                raise ItemNotFound(f"事项“{item.code}”不存在或暂不支持网上申报", item_code=item.code)
            sid = self._fresh(lambda: submission_id(self.county, local_date(now)), uow, "submission")
            payload = {
                "submission_id": sid,
                "item_code": item.code,
                "applicant": form.applicant,
                "applicant_id": form.applicant_id,
                "phone": form.phone,
                "materials": list(form.materials),
                "data": dict(form.data),
                "note": form.note,
                "sms_opt_out": form.sms_opt_out,
                "query_hash": hashed,
                "submitted_at": now.isoformat(),
            }
            parse_public_submission(self.county, payload)  # the county will accept what is sent (contract check)
            uow.store.add_submission(sid, form, item, query_hash=hashed, client=client, at=now)
            outbox.append(
                uow.conn,
                origin=self.origin,
                records=[OutboxRecord(PUBLIC_SUBMISSION, sid, "insert", payload)],
                created_at=now,
            )
            uow.commit()
        log.info("portal.submitted", submission_id=sid, item_code=item.code, client=client)
        return SubmissionReceipt(sid, code, item.code, item.name, now)

    def complain(
        self, *, case_no: Any = "", complainant: Any, phone: Any, content: Any, client: str
    ) -> ComplaintReceipt:
        """网上投诉: about one case of this county (its number) or the hall in general; sent in to the county."""
        form = check_complaint(
            county=self.county, case_no=case_no, complainant=complainant, phone=phone, content=content
        )
        now = self._now()
        with self._units() as uow:
            outbox.lock_origin(uow.conn, self.origin)
            ref = self._fresh(lambda: complaint_ref(self.county, local_date(now)), uow, "complaint")
            payload = {
                "complaint_ref": ref,
                "case_no": form.case_no,
                "complainant": form.complainant,
                "phone": form.phone,
                "content": form.content,
                "filed_at": now.isoformat(),
            }
            parse_public_complaint(self.county, payload)
            uow.store.add_complaint(ref, form, client=client, at=now)
            outbox.append(
                uow.conn,
                origin=self.origin,
                records=[OutboxRecord(PUBLIC_COMPLAINT, ref, "insert", payload)],
                created_at=now,
            )
            uow.commit()
        log.info("portal.complained", complaint_ref=ref, about_case=bool(form.case_no), client=client)
        return ComplaintReceipt(ref, now)

    def rate(self, *, case_no: Any, query_code: Any, level: Any, comment: Any = "", client: str) -> RatingReceipt:
        """好差评 of a concluded case by whoever holds its query code: once per case, while the county keeps it
        open for rating."""
        form = check_rating(case_no=case_no, query_code=query_code, level=level, comment=comment)
        number = form.lookup.number
        with self.checks.slot(), self._units(readonly=True) as uow:
            self._case_status(uow, form.lookup)  # NotFound, the same as a status query's, unless the code opens it
        now = self._now()
        with self._units() as uow:
            outbox.lock_origin(uow.conn, self.origin)
            case = uow.store.case(number)
            if case is None:  # pragma: no cover - cases are never deleted here
                raise _not_found()
            if uow.store.rated(number):
                raise Conflict("该办件已经评价过，每件办件只能评价一次", case_no=number)
            if not case.rating_open:
                raise Conflict("该办件尚未办结或已关闭评价，暂不能评价", case_no=number)
            payload = {"case_no": number, "level": form.level, "comment": form.comment, "rated_at": now.isoformat()}
            parse_public_rating(self.county, payload)
            try:
                uow.store.add_rating(number, form.level, form.comment, client=client, at=now)
            except IntegrityError:  # pragma: no cover - the writer lock serialises ratings
                raise Conflict("该办件已经评价过，每件办件只能评价一次", case_no=number) from None
            outbox.append(
                uow.conn,
                origin=self.origin,
                records=[OutboxRecord(PUBLIC_RATING, number, "insert", payload)],
                created_at=now,
            )
            uow.commit()
        log.info("portal.rated", case_no=number, level=form.level, client=client)
        return rating_receipt(number, form.level, now)

    def _fresh(self, make: Callable[[], str], uow: ExtranetUnitOfWork, kind: str) -> str:
        """A new random identifier not held yet (a clash is one in a billion a day; tried a few times)."""
        exists = uow.store.submission if kind == "submission" else uow.store.complaint_exists
        for _ in range(_ID_ATTEMPTS):
            candidate = make()
            if not exists(candidate):
                return candidate
        raise Conflict("编号生成冲突，请重新提交")  # pragma: no cover - 34^6 values a day
