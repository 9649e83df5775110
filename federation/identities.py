"""Node and record identities: GB/T 2260 division codes (行政区划代码) and case numbers.

A node's identity is its six-digit division code: ``370000`` (province), ``371100`` (city), ``371122``
(county). A city sees the counties whose code starts with its four digits; the province sees its two.

The intranet/extranet boundary adds two identities per county (``docs/boundary.md``), never division codes:

* ``371122-ext`` — the county's **extranet node** (外网, the public portal in the DMZ): a node of its own, with its
  own certificate, whose outbox stream (public submissions, complaints, ratings) crosses *in* to the county;
* ``371122-pub`` — the county's **public stream**: records the county itself writes and signs (status, 办件公示,
  the public catalogue) that cross *out* to its extranet node. Not a node: an origin only.

Both name their county in their first six characters, so a prefix test places them under the county; the
replication policy (``sync_agent.runtime.receiver_policy``) nevertheless lets them cross only between a county
and its own extranet node — never up to a city or the province.
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
    "EXTRANET_SUFFIX",
    "PUBLIC_SUFFIX",
    "BoundaryKind",
    "CaseNumber",
    "Division",
    "DivisionLevel",
    "DivisionRegistry",
    "boundary_kind",
    "ca_parent_of",
    "county_of",
    "extranet_of",
    "format_case_number",
    "is_boundary_origin",
    "origin_signer",
    "parent_of",
    "parse_case_number",
    "public_stream_of",
    "scope_prefix",
    "validate_division_code",
    "validate_node_id",
    "validate_origin",
]

_DIVISION_RE = re.compile(r"[1-9]\d{5}", re.ASCII)  # fullmatch: no trailing newline, ASCII digits
_BOUNDARY_RE = re.compile(r"(?P<county>[1-9]\d{5})-(?P<kind>ext|pub)", re.ASCII)
EXTRANET_SUFFIX = "-ext"
PUBLIC_SUFFIX = "-pub"
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


class BoundaryKind(enum.StrEnum):
    EXTRANET = "ext"  # the county's extranet node (and its outbox stream, crossing in)
    PUBLIC = "pub"  # the county's public stream (crossing out)


def boundary_kind(code: str) -> BoundaryKind | None:
    """The boundary identity ``code`` is (None: it is not one — a division code, or malformed)."""
    m = _BOUNDARY_RE.fullmatch(code) if isinstance(code, str) else None
    if m is None or level_of(m["county"]) is not DivisionLevel.COUNTY:
        return None
    return BoundaryKind(m["kind"])


def is_boundary_origin(code: str) -> bool:
    return boundary_kind(code) is not None


def county_of(code: str) -> str:
    """The county a boundary identity belongs to (``371122-ext`` → ``371122``); a division code is itself."""
    if boundary_kind(code) is not None:
        return code[:6]
    return validate_division_code(code)


def extranet_of(county: str) -> str:
    """The extranet node of ``county`` (``371122`` → ``371122-ext``)."""
    if level_of(county) is not DivisionLevel.COUNTY:
        raise InvalidDivisionCode(f"只有县级节点有外网节点，{county} 不是县级行政区划", code=county)
    return county + EXTRANET_SUFFIX


def public_stream_of(county: str) -> str:
    """The public stream of ``county`` (``371122`` → ``371122-pub``): what it publishes to its extranet node."""
    if level_of(county) is not DivisionLevel.COUNTY:
        raise InvalidDivisionCode(f"只有县级节点发布外网公开数据，{county} 不是县级行政区划", code=county)
    return county + PUBLIC_SUFFIX


def validate_node_id(code: str) -> str:
    """A node's identity: a division code, or a county's extranet node (``371122-ext``); else InvalidDivisionCode."""
    if boundary_kind(code) is BoundaryKind.EXTRANET:
        return code
    if isinstance(code, str) and _DIVISION_RE.fullmatch(code):
        return code
    shown = str(code)[:20]
    raise InvalidDivisionCode(
        f"节点标识“{shown}”格式错误，应为 6 位行政区划代码或“县级代码-ext”（外网节点）", code=shown
    )


def validate_origin(code: str) -> str:
    """A replication origin: a node's identity or a county's public stream (``371122-pub``); else
    InvalidDivisionCode."""
    if boundary_kind(code) is not None:
        return code
    if isinstance(code, str) and _DIVISION_RE.fullmatch(code):
        return code
    shown = str(code)[:20]
    raise InvalidDivisionCode(
        f"来源标识“{shown}”格式错误，应为 6 位行政区划代码、“县级代码-ext”或“县级代码-pub”", code=shown
    )


def origin_signer(origin: str) -> str:
    """The node whose key signs ``origin``'s batches: the county for its public stream, else the origin itself."""
    if boundary_kind(origin) is BoundaryKind.PUBLIC:
        return origin[:6]
    return validate_origin(origin)


def ca_parent_of(node_id: str) -> str | None:
    """The node whose CA certifies ``node_id``: a division's parent; for a county's extranet node, the county's
    city (the county has no CA of its own)."""
    if boundary_kind(node_id) is BoundaryKind.EXTRANET:
        return parent_of(node_id[:6])
    return parent_of(node_id)


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
