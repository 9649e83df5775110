"""The records that cross the intranet/extranet boundary (内外网交换), both ways: their types and payloads.

Pure, no I/O: the contract a county node and its extranet node share (``docs/boundary.md``). Each record rides the
replication spine like every other — sealed into hash-chained batches, signed by its origin, acknowledged — on
two streams of their own:

* **out** (origin ``371122-pub``, written and signed by the county, applied by its extranet node):
  :data:`PUBLIC_CATALOGUE` (record id ``catalogue``; the items the public may apply for), :data:`PUBLIC_CASE`
  (record id = case number; a case's status as the public may see it), :data:`SUBMISSION_RESULT` (record id =
  submission id; what the hall made of an online submission), :data:`DISCLOSURE` (record id = case number;
  办件公示 of a concluded case);
* **in** (origin ``371122-ext``, written and signed by the extranet node, applied by the county):
  :data:`PUBLIC_SUBMISSION` (网上申报, a pre-review application; it becomes a case only when a clerk accepts it),
  :data:`PUBLIC_COMPLAINT` (投诉), :data:`PUBLIC_RATING` (好差评 of a concluded case, once).

Every ``parse_*`` function checks a decoded payload completely (types, lengths, formats) and returns a frozen
dataclass, or raises :class:`~federation.errors.RecordRejected` with the reason in Chinese — the receiver
quarantines the record with it, and nothing is applied blindly. The boundary policy (directions ``out`` and
``in``) decides which of these fields cross and how each is masked; a field it drops arrives absent or empty, so
the parsers accept the policy's ``clear`` forms ("" / [] / {}).

The query code (查询码) that opens a case's status is :mod:`federation.query_codes`; only its salted scrypt hash
crosses (``query_hash`` fields).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from federation.errors import RecordRejected
from federation.query_codes import HASH_RE as _HASH_RE

__all__ = [
    "DISCLOSURE",
    "IN_RECORDS",
    "OUT_RECORDS",
    "PUBLIC_CASE",
    "PUBLIC_CATALOGUE",
    "PUBLIC_COMPLAINT",
    "PUBLIC_RATING",
    "PUBLIC_SUBMISSION",
    "RATING_LABELS",
    "SUBMISSION_RESULT",
    "Disclosure",
    "PublicCase",
    "PublicCatalogue",
    "PublicComplaint",
    "PublicItem",
    "PublicRating",
    "PublicSubmission",
    "SubmissionResult",
    "complaint_ref",
    "parse_disclosure",
    "parse_public_case",
    "parse_public_catalogue",
    "parse_public_complaint",
    "parse_public_rating",
    "parse_public_submission",
    "parse_submission_result",
    "submission_id",
]

PUBLIC_CATALOGUE = "public_catalogue"
PUBLIC_CASE = "public_case"
SUBMISSION_RESULT = "submission_result"
DISCLOSURE = "disclosure"
PUBLIC_SUBMISSION = "public_submission"
PUBLIC_COMPLAINT = "public_complaint"
PUBLIC_RATING = "public_rating"
OUT_RECORDS = (PUBLIC_CATALOGUE, PUBLIC_CASE, SUBMISSION_RESULT, DISCLOSURE)
IN_RECORDS = (PUBLIC_SUBMISSION, PUBLIC_COMPLAINT, PUBLIC_RATING)

RATING_LABELS = {5: "非常满意", 4: "满意", 3: "基本满意", 2: "不满意", 1: "非常不满意"}

_SUBMISSION_RE = re.compile(r"(?P<county>[1-9]\d{5})-W(?P<day>\d{8})-[0-9A-Z]{6}", re.ASCII)
_COMPLAINT_RE = re.compile(r"(?P<county>[1-9]\d{5})-T(?P<day>\d{8})-[0-9A-Z]{6}", re.ASCII)
_CASE_NO_RE = re.compile(r"[1-9]\d{5}-\d{8}-\d{6}", re.ASCII)
_ITEM_RE = re.compile(r"[A-Za-z0-9_.-]{1,32}", re.ASCII)
_PHONE_RE = re.compile(r"[0-9*+\- ]{0,20}", re.ASCII)  # masked forms (138****5678) are phone numbers too
# C0 and C1 control characters, and the bidirectional overrides, isolates and marks: a terminal or a page that
# shows public input must not be steered by it (line breaks and tabs only where a field has several lines)
_FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u061c\u202a-\u202e\u2066-\u2069]")
_ID_ALPHABET = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"


# -- identifiers -------------------------------------------------------------------------------------------------------


def _random_suffix() -> str:
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(6))


def submission_id(county: str, day: date) -> str:
    """A new 申报编号: ``371122-W20261207-7K3M9Q`` (random: it does not say how many came before)."""
    return f"{county}-W{day:%Y%m%d}-{_random_suffix()}"


def complaint_ref(county: str, day: date) -> str:
    """A new public complaint's reference: ``371122-T20261207-4QX2ZP``."""
    return f"{county}-T{day:%Y%m%d}-{_random_suffix()}"


# -- field checks -------------------------------------------------------------------------------------------------


def _reject(record_type: str, message: str, **where: Any) -> RecordRejected:
    return RecordRejected(f"{_LABELS[record_type]}：{message}", record_type=record_type, **where)


_LABELS = {
    PUBLIC_CATALOGUE: "外网事项目录",
    PUBLIC_CASE: "外网办件状态",
    SUBMISSION_RESULT: "网上申报处理结果",
    DISCLOSURE: "办件公示",
    PUBLIC_SUBMISSION: "网上申报",
    PUBLIC_COMPLAINT: "网上投诉",
    PUBLIC_RATING: "网上评价",
}


class _Fields:
    """Reads one payload's fields, each checked; the first problem raises RecordRejected naming the field."""

    def __init__(self, record_type: str, payload: Any) -> None:
        if not isinstance(payload, Mapping):
            raise _reject(record_type, "记录内容应为 JSON 对象")
        self.t = record_type
        self.p = payload

    def text(
        self,
        name: str,
        *,
        max_len: int,
        required: bool = True,
        pattern: re.Pattern[str] | None = None,
        multiline: bool = False,
    ) -> str:
        value = self.p.get(name, "")
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise _reject(self.t, f"字段 {name} 应为文本", field=name)
        if required and not value.strip():
            raise _reject(self.t, f"缺少字段 {name}", field=name)
        if len(value) > max_len:
            raise _reject(self.t, f"字段 {name} 超过 {max_len} 个字符", field=name)
        if value and pattern is not None and not pattern.fullmatch(value):  # not echoed: it may be personal data
            raise _reject(self.t, f"字段 {name} 格式错误", field=name)
        if _FORBIDDEN.search(value.replace("\n", "").replace("\r", "").replace("\t", "") if multiline else value):
            raise _reject(self.t, f"字段 {name} 含有不可见的控制字符", field=name)
        return value

    def moment(self, name: str, *, required: bool = True) -> datetime | None:
        raw = self.text(name, max_len=40, required=required)
        if not raw:
            return None
        try:
            value = datetime.fromisoformat(raw)
        except ValueError:
            raise _reject(self.t, f"字段 {name} 不是 ISO 8601 时间（“{raw[:40]}”）", field=name) from None
        if value.tzinfo is None:
            raise _reject(self.t, f"字段 {name} 缺少时区", field=name)
        return value

    def at(self, name: str) -> datetime:
        value = self.moment(name)
        assert value is not None  # required: moment() raised when it was missing
        return value

    def day(self, name: str, *, required: bool = True) -> date | None:
        raw = self.text(name, max_len=10, required=required)
        if not raw:
            return None
        try:
            return date.fromisoformat(raw)
        except ValueError:
            raise _reject(self.t, f"字段 {name} 不是日期（“{raw[:20]}”）", field=name) from None

    def flag(self, name: str, *, default: bool | None = False) -> bool | None:
        value = self.p.get(name, default)
        if value is None and default is None:
            return None
        if not isinstance(value, bool):
            raise _reject(self.t, f"字段 {name} 应为 true 或 false", field=name)
        return value

    def integer(self, name: str, *, low: int, high: int) -> int:
        value = self.p.get(name)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise _reject(self.t, f"字段 {name} 应为 {low}–{high} 的整数", field=name)
        return value

    def texts(self, name: str, *, max_items: int, max_len: int) -> tuple[str, ...]:
        value = self.p.get(name, [])
        if value is None:
            value = []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise _reject(self.t, f"字段 {name} 应为文本列表", field=name)
        if len(value) > max_items or any(len(v) > max_len for v in value):
            raise _reject(self.t, f"字段 {name} 超出限制（至多 {max_items} 项，每项 {max_len} 字）", field=name)
        if any(_FORBIDDEN.search(v) for v in value):
            raise _reject(self.t, f"字段 {name} 含有不可见的控制字符", field=name)
        return tuple(value)

    def mapping(self, name: str, *, max_items: int, max_len: int) -> dict[str, str]:
        value = self.p.get(name, {})
        if value is None:
            value = {}
        if not isinstance(value, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise _reject(self.t, f"字段 {name} 应为“名称: 文本”对象", field=name)
        if len(value) > max_items or any(len(k) > 64 or len(v) > max_len for k, v in value.items()):
            raise _reject(self.t, f"字段 {name} 超出限制（至多 {max_items} 项，每项 {max_len} 字）", field=name)
        if any(_FORBIDDEN.search(k) or _FORBIDDEN.search(v) for k, v in value.items()):
            raise _reject(self.t, f"字段 {name} 含有不可见的控制字符", field=name)
        return dict(value)

    def county_id(self, name: str, pattern: re.Pattern[str], origin_county: str) -> str:
        value = self.text(name, max_len=32, pattern=pattern)
        if value[:6] != origin_county:
            raise _reject(self.t, f"字段 {name}（{value}）不属于本县 {origin_county}", field=name)
        return value


# -- in: extranet → county ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PublicSubmission:
    """网上申报: what the public sent, to be accepted (or refused) by a clerk."""

    submission_id: str
    item_code: str
    applicant: str
    applicant_id: str  # 身份证号 / 统一社会信用代码 ("" when not given)
    phone: str
    materials: tuple[str, ...]
    data: dict[str, str]  # the item's key data as the applicant filled it in
    note: str
    sms_opt_out: bool
    query_hash: str  # of the code shown to the submitter: it also opens the case's status once accepted
    submitted_at: datetime


def parse_public_submission(county: str, payload: Any) -> PublicSubmission:
    f = _Fields(PUBLIC_SUBMISSION, payload)
    moment = f.at("submitted_at")
    return PublicSubmission(
        submission_id=f.county_id("submission_id", _SUBMISSION_RE, county),
        item_code=f.text("item_code", max_len=32, pattern=_ITEM_RE),
        applicant=f.text("applicant", max_len=100),
        applicant_id=f.text("applicant_id", max_len=32, required=False),
        phone=f.text("phone", max_len=20, required=False, pattern=_PHONE_RE),
        materials=f.texts("materials", max_items=50, max_len=100),
        data=f.mapping("data", max_items=50, max_len=500),
        note=f.text("note", max_len=1000, required=False, multiline=True),
        sms_opt_out=bool(f.flag("sms_opt_out")),
        query_hash=f.text("query_hash", max_len=200, required=False, pattern=_HASH_RE),
        submitted_at=moment,
    )


@dataclass(frozen=True, slots=True)
class PublicComplaint:
    """网上投诉: against a case (with its number) or the hall in general."""

    complaint_ref: str
    case_no: str  # "" when not about one case
    complainant: str
    phone: str
    content: str
    filed_at: datetime


def parse_public_complaint(county: str, payload: Any) -> PublicComplaint:
    f = _Fields(PUBLIC_COMPLAINT, payload)
    case_no = f.text("case_no", max_len=32, required=False, pattern=_CASE_NO_RE)
    if case_no and case_no[:6] != county:
        raise _reject(PUBLIC_COMPLAINT, f"办件 {case_no} 不属于本县 {county}", field="case_no")
    moment = f.at("filed_at")
    return PublicComplaint(
        complaint_ref=f.county_id("complaint_ref", _COMPLAINT_RE, county),
        case_no=case_no,
        complainant=f.text("complainant", max_len=100),
        phone=f.text("phone", max_len=20, required=False, pattern=_PHONE_RE),
        content=f.text("content", max_len=2000, multiline=True),
        filed_at=moment,
    )


@dataclass(frozen=True, slots=True)
class PublicRating:
    """好差评 of a concluded case by its applicant (one per case): 5 非常满意 … 1 非常不满意."""

    case_no: str
    level: int
    comment: str
    rated_at: datetime


def parse_public_rating(county: str, payload: Any) -> PublicRating:
    f = _Fields(PUBLIC_RATING, payload)
    case_no = f.text("case_no", max_len=32, pattern=_CASE_NO_RE)
    if case_no[:6] != county:
        raise _reject(PUBLIC_RATING, f"办件 {case_no} 不属于本县 {county}", field="case_no")
    moment = f.at("rated_at")
    return PublicRating(
        case_no=case_no,
        level=f.integer("level", low=1, high=5),
        comment=f.text("comment", max_len=500, required=False, multiline=True),
        rated_at=moment,
    )


# -- out: county → extranet ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PublicItem:
    code: str
    name: str
    department: str
    kind: str
    legal_days: int
    promised_days: int
    fee: str  # yuan, as text ("0", "50.00")
    key_fields: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PublicCatalogue:
    standards_version: str
    published_at: datetime
    items: tuple[PublicItem, ...]


def parse_public_catalogue(payload: Any) -> PublicCatalogue:
    f = _Fields(PUBLIC_CATALOGUE, payload)
    raw_items = payload.get("items")
    if not isinstance(raw_items, list) or len(raw_items) > 5000:
        raise _reject(PUBLIC_CATALOGUE, "字段 items 应为事项列表（至多 5000 项）", field="items")
    items = []
    for raw in raw_items:
        i = _Fields(PUBLIC_CATALOGUE, raw)
        items.append(
            PublicItem(
                code=i.text("code", max_len=32, pattern=_ITEM_RE),
                name=i.text("name", max_len=200),
                department=i.text("department", max_len=100),
                kind=i.text("kind", max_len=16),
                legal_days=i.integer("legal_days", low=0, high=3650),
                promised_days=i.integer("promised_days", low=0, high=3650),
                fee=i.text("fee", max_len=20, required=False) or "0",
                key_fields=i.texts("key_fields", max_items=50, max_len=64),
            )
        )
    moment = f.at("published_at")
    return PublicCatalogue(f.text("standards_version", max_len=64), moment, tuple(items))


@dataclass(frozen=True, slots=True)
class PublicCase:
    """A case as the public may see it (by its number and query code)."""

    case_no: str
    item_code: str
    item_name: str
    department: str
    status: str  # county_node.approval Status value
    status_label: str  # 已受理, 补正中, 已办结 …
    submitted_at: datetime
    accepted_at: datetime | None
    concluded_at: datetime | None
    due_on: date | None  # the promised day (承诺办结日), China time
    decision: str  # "" | approved | denied
    on_time: bool | None  # None until concluded
    correction: tuple[str, ...]  # while 补正: what is missing
    rating_open: bool  # concluded and not yet rated: the applicant may rate it once
    query_hash: str
    submission_id: str  # "" for a case taken in at the counter
    updated_at: datetime


def parse_public_case(county: str, payload: Any) -> PublicCase:
    f = _Fields(PUBLIC_CASE, payload)
    case_no = f.text("case_no", max_len=32, pattern=_CASE_NO_RE)
    if case_no[:6] != county:
        raise _reject(PUBLIC_CASE, f"办件 {case_no} 不属于本县 {county}", field="case_no")
    submission = f.text("submission_id", max_len=32, required=False, pattern=_SUBMISSION_RE)
    submitted, updated = f.at("submitted_at"), f.at("updated_at")
    return PublicCase(
        case_no=case_no,
        item_code=f.text("item_code", max_len=32, pattern=_ITEM_RE),
        item_name=f.text("item_name", max_len=200),
        department=f.text("department", max_len=100),
        status=f.text("status", max_len=24),
        status_label=f.text("status_label", max_len=24),
        submitted_at=submitted,
        accepted_at=f.moment("accepted_at", required=False),
        concluded_at=f.moment("concluded_at", required=False),
        due_on=f.day("due_on", required=False),
        decision=f.text("decision", max_len=16, required=False),
        on_time=f.flag("on_time", default=None),
        correction=f.texts("correction", max_items=50, max_len=200),
        rating_open=bool(f.flag("rating_open")),
        query_hash=f.text("query_hash", max_len=200, required=False, pattern=_HASH_RE),
        submission_id=submission,
        updated_at=updated,
    )


@dataclass(frozen=True, slots=True)
class SubmissionResult:
    submission_id: str
    outcome: str  # accepted | refused
    case_no: str  # "" when refused
    reason: str  # why refused (or a note)
    decided_at: datetime


def parse_submission_result(county: str, payload: Any) -> SubmissionResult:
    f = _Fields(SUBMISSION_RESULT, payload)
    outcome = f.text("outcome", max_len=16)
    if outcome not in {"accepted", "refused"}:
        raise _reject(SUBMISSION_RESULT, f"处理结果“{outcome[:20]}”未知（accepted / refused）", field="outcome")
    case_no = f.text("case_no", max_len=32, required=outcome == "accepted", pattern=_CASE_NO_RE)
    moment = f.at("decided_at")
    return SubmissionResult(
        submission_id=f.county_id("submission_id", _SUBMISSION_RE, county),
        outcome=outcome,
        case_no=case_no,
        reason=f.text("reason", max_len=1000, required=outcome == "refused", multiline=True),
        decided_at=moment,
    )


@dataclass(frozen=True, slots=True)
class Disclosure:
    """办件公示: a concluded case as published to everyone (no applicant data)."""

    case_no: str
    item_code: str
    item_name: str
    department: str
    accepted_on: date | None
    concluded_on: date
    result: str  # 准予许可 / 不予许可 / 办结 …
    on_time: bool


def parse_disclosure(county: str, payload: Any) -> Disclosure:
    f = _Fields(DISCLOSURE, payload)
    case_no = f.text("case_no", max_len=32, pattern=_CASE_NO_RE)
    if case_no[:6] != county:
        raise _reject(DISCLOSURE, f"办件 {case_no} 不属于本县 {county}", field="case_no")
    concluded = f.day("concluded_on")
    assert concluded is not None  # required: day() raised when it was missing
    on_time = f.flag("on_time", default=None)
    if on_time is None:
        raise _reject(DISCLOSURE, "缺少字段 on_time", field="on_time")
    return Disclosure(
        case_no=case_no,
        item_code=f.text("item_code", max_len=32, pattern=_ITEM_RE),
        item_name=f.text("item_name", max_len=200),
        department=f.text("department", max_len=100),
        accepted_on=f.day("accepted_on", required=False),
        concluded_on=concluded,
        result=f.text("result", max_len=24),
        on_time=on_time,
    )
