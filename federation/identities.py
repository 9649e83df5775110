"""Node and record identities: GB/T 2260 division codes (行政区划代码) and case numbers.

A node's identity is its six-digit division code: ``370000`` (province), ``371100`` (city), ``371122``
(county). A city sees the counties whose code starts with its four digits; the province sees its two.
"""

from __future__ import annotations

import csv
import enum
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from federation.errors import InvalidDivisionCode, ValidationError

__all__ = [
    "CaseNumber",
    "Division",
    "DivisionLevel",
    "DivisionRegistry",
    "format_case_number",
    "parent_of",
    "parse_case_number",
    "scope_prefix",
    "validate_division_code",
]

_DIVISION_RE = re.compile(r"[1-9]\d{5}", re.ASCII)  # fullmatch: no trailing newline, ASCII digits
_CASE_NO_RE = re.compile(r"(?P<division>\d{6})-(?P<day>\d{8})-(?P<seq>\d{6})", re.ASCII)


class DivisionLevel(enum.StrEnum):
    PROVINCE = "province"
    CITY = "city"
    COUNTY = "county"


def validate_division_code(code: str) -> str:
    """Return ``code`` if it is a well-formed six-digit division code, else raise InvalidDivisionCode."""
    if not isinstance(code, str) or not _DIVISION_RE.fullmatch(code):
        shown = str(code)[:20]  # a peer may send anything: echo a bounded excerpt
        raise InvalidDivisionCode(f"行政区划代码“{shown}”格式错误，应为 6 位数字", code=shown)
    return code


def level_of(code: str) -> DivisionLevel:
    validate_division_code(code)
    if code.endswith("0000"):
        return DivisionLevel.PROVINCE
    if code.endswith("00"):
        return DivisionLevel.CITY
    return DivisionLevel.COUNTY


def scope_prefix(code: str) -> str:
    """The prefix that selects a node's subtree: 2 digits for a province, 4 for a city, 6 for a county."""
    level = level_of(code)
    return {DivisionLevel.PROVINCE: code[:2], DivisionLevel.CITY: code[:4], DivisionLevel.COUNTY: code}[level]


def parent_of(code: str) -> str | None:
    """The division directly above ``code`` in the federation's tree of codes: a county's city, a city's province
    (None for a province)."""
    level = level_of(code)
    if level is DivisionLevel.PROVINCE:
        return None
    return code[:4] + "00" if level is DivisionLevel.COUNTY else code[:2] + "0000"


@dataclass(frozen=True, slots=True)
class Division:
    code: str
    name: str
    level: DivisionLevel
    parent: str | None


class DivisionRegistry:
    """Known divisions, loaded from a CSV (``code,name,level,parent``) such as shandong_divisions.csv."""

    def __init__(self, divisions: list[Division]) -> None:
        self._by_code = {d.code: d for d in divisions}

    @classmethod
    def from_csv(cls, path: Path) -> DivisionRegistry:
        with path.open(encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))
        return cls(
            [
                Division(
                    code=validate_division_code(r["code"]),
                    name=r["name"],
                    level=DivisionLevel(r["level"]),
                    parent=r.get("parent") or None,
                )
                for r in rows
            ]
        )

    def get(self, code: str) -> Division:
        validate_division_code(code)
        try:
            return self._by_code[code]
        except KeyError:
            raise InvalidDivisionCode(f"行政区划代码“{code}”不在区划表中", code=code) from None

    def __contains__(self, code: object) -> bool:
        return code in self._by_code

    def __len__(self) -> int:
        return len(self._by_code)

    def children(self, code: str) -> list[Division]:
        return sorted((d for d in self._by_code.values() if d.parent == code), key=lambda d: d.code)

    def of_level(self, level: DivisionLevel) -> list[Division]:
        return sorted((d for d in self._by_code.values() if d.level is level), key=lambda d: d.code)


@dataclass(frozen=True, slots=True)
class CaseNumber:
    """办件编号 ``{division}-{yyyymmdd}-{seq:06d}``: unique across the federation because it names its county."""

    division: str
    day: date
    seq: int

    def __str__(self) -> str:
        return format_case_number(self.division, self.day, self.seq)


def format_case_number(division: str, day: date, seq: int) -> str:
    validate_division_code(division)
    if not 1 <= seq <= 999_999:
        raise ValidationError("办件流水号超出范围（1–999999）", seq=seq)
    return f"{division}-{day:%Y%m%d}-{seq:06d}"


def parse_case_number(text: str) -> CaseNumber:
    m = _CASE_NO_RE.fullmatch(text)
    if not m:
        raise ValidationError(f"办件编号“{text}”格式错误，应为 区划代码-年月日-六位流水号", case_number=text)
    try:
        day = date(int(m["day"][:4]), int(m["day"][4:6]), int(m["day"][6:]))
    except ValueError:
        raise ValidationError(f"办件编号“{text}”中的日期无效", case_number=text) from None
    seq = int(m["seq"])
    if seq == 0:
        raise ValidationError(f"办件编号“{text}”的流水号不能为 0", case_number=text)
    return CaseNumber(validate_division_code(m["division"]), day, seq)
