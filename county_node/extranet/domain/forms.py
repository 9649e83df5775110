"""What the public sends, checked before anything is stored: an application, a complaint, a rating.

Pure: each ``check_*`` takes the raw values (from a JSON body or an HTML form) and returns a frozen form with the
text trimmed, or raises :class:`~federation.errors.ValidationError` naming the field in Chinese (``field`` in its
details) — the portal answers 422 and nothing is written. The limits are those of the records' contract
(:mod:`federation.public_records`), so whatever passes here also passes the county's checks.

No text may hold an invisible control character: C0 and C1 controls (and DEL) — except a line break or a tab in
the multi-line fields (备注, 投诉内容, 评价意见) — and the bidirectional marks, embeddings, overrides and isolates
(U+200E, U+200F, U+061C, U+202A–U+202E, U+2066–U+2069), which make a name or a note read otherwise on a screen
than it is stored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from federation.errors import ValidationError
from federation.public_records import RATING_LABELS
from federation.query_codes import normalise_code

__all__ = [
    "MAX_COMMENT",
    "MAX_COMPLAINT",
    "ApplicationForm",
    "ComplaintForm",
    "Lookup",
    "RatingForm",
    "check_application",
    "check_complaint",
    "check_lookup",
    "check_rating",
    "is_case_number",
    "is_submission_id",
]

MAX_NAME = 100
MAX_ID = 32
MAX_NOTE = 1000
MAX_MATERIALS = 50
MAX_MATERIAL = 100
MAX_DATA_VALUE = 500
MAX_COMPLAINT = 2000
MAX_COMMENT = 500
MAX_CODE = 16

_MOBILE = re.compile(r"1[3-9][0-9]{9}", re.ASCII)  # a mainland mobile number (中国大陆手机号)
_ID_NUMBER = re.compile(r"[0-9A-Za-z]{15,18}", re.ASCII)  # 身份证号 (15/18) or 统一社会信用代码 (18)
_CASE_NO = re.compile(r"[1-9]\d{5}-\d{8}-\d{6}", re.ASCII)
_SUBMISSION = re.compile(r"[1-9]\d{5}-W\d{8}-[0-9A-Z]{6}", re.ASCII)
_CODE = re.compile(r"[0-9A-Z]{4,16}", re.ASCII)
_BIDI = r"\u200e\u200f\u061c\u202a-\u202e\u2066-\u2069"  # bidi marks, embeddings, overrides, isolates
_INVISIBLE = re.compile(rf"[\x00-\x1f\x7f-\x9f{_BIDI}]")  # C0, DEL, C1
_INVISIBLE_MULTILINE = re.compile(rf"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f{_BIDI}]")  # … but \t \n \r

_LABELS = {
    "item_code": "申请事项",
    "applicant": "申请人",
    "applicant_id": "证件号码",
    "phone": "手机号码",
    "materials": "申请材料",
    "data": "申请信息",
    "note": "备注",
    "case_no": "办件编号",
    "number": "办件编号或申报编号",
    "query_code": "查询码",
    "complainant": "投诉人",
    "content": "投诉内容",
    "level": "评价等级",
    "comment": "评价意见",
}


def _bad(field: str, message: str) -> ValidationError:
    return ValidationError(f"{_LABELS.get(field, field)}：{message}", field=field)


def _visible(value: str, field: str, *, multiline: bool = False) -> str:
    """``value``, unless it holds a control or bidi character (``multiline``: a line break or a tab is fine)."""
    if (_INVISIBLE_MULTILINE if multiline else _INVISIBLE).search(value):
        raise _bad(field, "含有不可见的控制字符")
    return value


def _text(raw: Any, field: str, *, max_len: int, required: bool, multiline: bool = False) -> str:
    if raw is None:
        raw = ""
    if not isinstance(raw, str):
        raise _bad(field, "应为文字")
    value = _visible(raw.strip(), field, multiline=multiline)
    if required and not value:
        raise _bad(field, "不能为空")
    if len(value) > max_len:
        raise _bad(field, f"不能超过 {max_len} 个字")
    return value


def _mobile(raw: Any, field: str = "phone") -> str:
    value = "".join(_text(raw, field, max_len=20, required=True).split())
    if not _MOBILE.fullmatch(value):
        raise _bad(field, "应为 11 位手机号码")
    return value


def is_case_number(value: str) -> bool:
    return bool(_CASE_NO.fullmatch(value))


def is_submission_id(value: str) -> bool:
    return bool(_SUBMISSION.fullmatch(value))


@dataclass(frozen=True, slots=True)
class ApplicationForm:
    """网上申报, as the applicant filled it in (checked against the item's key fields by :func:`check_application`)."""

    item_code: str
    applicant: str
    applicant_id: str
    phone: str
    materials: tuple[str, ...]
    data: dict[str, str]
    note: str
    sms_opt_out: bool


def check_application(
    *,
    item_code: Any,
    applicant: Any,
    applicant_id: Any,
    phone: Any,
    materials: Any,
    data: Any,
    note: Any,
    sms_opt_out: Any,
    key_fields: Sequence[str],
) -> ApplicationForm:
    """The application, checked: every key field of the item filled in (and no other), a mobile number, the
    materials as a list of names."""
    code = _text(item_code, "item_code", max_len=32, required=True)
    ident = _text(applicant_id, "applicant_id", max_len=MAX_ID, required=False).upper()
    if ident and not _ID_NUMBER.fullmatch(ident):
        raise _bad("applicant_id", "应为 15 或 18 位身份证号，或 18 位统一社会信用代码")
    if materials is None:
        materials = []
    if not isinstance(materials, list | tuple) or not all(isinstance(m, str) for m in materials):
        raise _bad("materials", "应为材料名称列表")
    names = tuple(_visible(m.strip(), "materials") for m in materials if m.strip())
    if len(names) > MAX_MATERIALS or any(len(m) > MAX_MATERIAL for m in names):
        raise _bad("materials", f"至多 {MAX_MATERIALS} 项，每项不超过 {MAX_MATERIAL} 个字")
    if data is None:
        data = {}
    if not isinstance(data, Mapping) or not all(isinstance(k, str) for k in data):
        raise _bad("data", "应为“名称: 内容”形式")
    for key in data:
        _visible(key, "data")
    unknown = [k for k in data if k not in key_fields]
    if unknown:
        raise _bad("data", f"本事项没有“{unknown[0][:32]}”一项")
    filled: dict[str, str] = {}
    for name in key_fields:
        filled[name] = _text(data.get(name), "data", max_len=MAX_DATA_VALUE, required=False)
        if not filled[name]:
            raise ValidationError(f"申请信息：请填写“{name}”", field=f"data.{name}")
    if not isinstance(sms_opt_out, bool):
        raise _bad("sms_opt_out", "应为 true 或 false")
    return ApplicationForm(
        item_code=code,
        applicant=_text(applicant, "applicant", max_len=MAX_NAME, required=True),
        applicant_id=ident,
        phone=_mobile(phone),
        materials=names,
        data=filled,
        note=_text(note, "note", max_len=MAX_NOTE, required=False, multiline=True),
        sms_opt_out=sms_opt_out,
    )


@dataclass(frozen=True, slots=True)
class ComplaintForm:
    case_no: str  # "" when the complaint is about the hall in general
    complainant: str
    phone: str
    content: str


def check_complaint(*, county: str, case_no: Any, complainant: Any, phone: Any, content: Any) -> ComplaintForm:
    number = _text(case_no, "case_no", max_len=32, required=False)
    if number and not (is_case_number(number) and number[:6] == county):
        raise _bad("case_no", f"应为本县（{county}）的办件编号，如 {county}-20261207-000001；不涉及具体办件可不填")
    return ComplaintForm(
        case_no=number,
        complainant=_text(complainant, "complainant", max_len=MAX_NAME, required=True),
        phone=_mobile(phone),
        content=_text(content, "content", max_len=MAX_COMPLAINT, required=True, multiline=True),
    )


@dataclass(frozen=True, slots=True)
class Lookup:
    """A status query: a case number or a submission id, and the query code that opens it."""

    number: str
    code: str

    @property
    def is_submission(self) -> bool:
        return is_submission_id(self.number)


def check_lookup(*, number: Any, query_code: Any, field: str = "number") -> Lookup:
    """A well-formed number (办件编号 or 申报编号) and code; says nothing about whether either exists."""
    value = _text(number, field, max_len=32, required=True).upper()
    if not (is_case_number(value) or is_submission_id(value)):
        raise _bad(field, "格式不正确（办件编号如 371122-20261207-000001，申报编号如 371122-W20261207-7K3M9Q）")
    code = normalise_code(_text(query_code, "query_code", max_len=MAX_CODE + 8, required=True))
    if not _CODE.fullmatch(code):
        raise _bad("query_code", "格式不正确（受理短信、受理通知书或申报成功页面上的 8 位字母数字）")
    return Lookup(value, code)


@dataclass(frozen=True, slots=True)
class RatingForm:
    lookup: Lookup
    level: int
    comment: str


def check_rating(*, case_no: Any, query_code: Any, level: Any, comment: Any) -> RatingForm:
    lookup = check_lookup(number=case_no, query_code=query_code, field="case_no")
    if lookup.is_submission:
        raise _bad("case_no", "请填写受理后的办件编号（不是申报编号）")
    if isinstance(level, str) and level.strip().isdigit():
        level = int(level.strip())
    if isinstance(level, bool) or not isinstance(level, int) or level not in RATING_LABELS:
        raise _bad("level", "应为 1–5（5 非常满意 … 1 非常不满意）")
    return RatingForm(lookup, level, _text(comment, "comment", max_len=MAX_COMMENT, required=False, multiline=True))
