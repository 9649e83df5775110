"""The standards bundle (统一标准): item catalogue, calendar years, rule parameters, scoring rules.

Pure model plus JSON (de)serialisation. The province authors and publishes bundles; a county applies one
atomically. A bundle is identified by its ``version`` and has an ``effective_date``; its ``digest`` is a hash of
its canonical JSON, so two nodes can tell whether they run the very same bundle.
"""

from __future__ import annotations

import csv
import enum
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from federation.boundary import BoundaryPolicy, default_boundary_policy
from federation.calendar import WorkingCalendar, YearCalendar
from federation.errors import ItemNotFound, StandardsError, SunshineError
from federation.scoring_rules import default_scoring_rules

__all__ = [
    "SIGNATURE_SUITES",
    "BundleValidator",
    "Item",
    "ItemKind",
    "JointDepartment",
    "StandardsBundle",
    "bundle_from_catalogue_csv",
    "is_newer",
    "load_bundle",
    "read_catalogue_csv",
    "validate_bundle",
    "version_key",
]

_ITEM_CODE_RE = re.compile(r"^[A-Z0-9]{4,32}$")
_VERSION_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._-]{0,63}$")


class ItemKind(enum.StrEnum):
    INSTANT = "instant"  # 即办件
    PROMISED = "promised"  # 承诺件
    JOINT = "joint"  # 联办件（并联审批）


@dataclass(frozen=True)
class JointDepartment:
    """One department of a joint item, with its own promised limit (its sub-clock)."""

    department: str
    limit_days: int


@dataclass(frozen=True)
class Item:
    """事项: one approval item of the catalogue."""

    code: str
    name: str
    department: str
    kind: ItemKind
    legal_limit_days: int
    promised_limit_days: int
    fee_yuan: Decimal = Decimal("0")
    key_fields: tuple[str, ...] = ()
    joint_departments: tuple[JointDepartment, ...] = ()

    def __post_init__(self) -> None:
        where = {"item_code": self.code}
        if not _ITEM_CODE_RE.fullmatch(self.code):
            raise StandardsError(f"事项编码“{self.code}”格式错误", **where)
        if not self.name or not self.department:
            raise StandardsError(f"事项 {self.code} 缺少名称或实施部门", **where)
        if self.legal_limit_days < 0 or self.promised_limit_days < 0:
            raise StandardsError(f"事项 {self.code} 的时限不能为负数", **where)
        if self.promised_limit_days > self.legal_limit_days:
            raise StandardsError(f"事项 {self.code} 的承诺时限不能长于法定时限", **where)
        if self.kind is ItemKind.INSTANT and self.promised_limit_days != 0:
            raise StandardsError(f"即办件 {self.code} 的承诺时限应为 0（当日办结）", **where)
        if self.kind is not ItemKind.INSTANT and self.promised_limit_days == 0:
            raise StandardsError(f"事项 {self.code} 承诺时限为 0，应登记为即办件", **where)
        if self.fee_yuan < 0:
            raise StandardsError(f"事项 {self.code} 的收费标准不能为负数", **where)
        if self.kind is ItemKind.JOINT:
            if len(self.joint_departments) < 2:
                raise StandardsError(f"联办件 {self.code} 至少需要两个联办部门", **where)
            names = [d.department for d in self.joint_departments]
            if len(set(names)) != len(names):
                raise StandardsError(f"联办件 {self.code} 的联办部门重复", **where)
            for d in self.joint_departments:
                if not 0 < d.limit_days <= self.promised_limit_days:
                    raise StandardsError(f"联办件 {self.code} 中 {d.department} 的时限应在 1 到承诺时限之间", **where)
        elif self.joint_departments:
            raise StandardsError(f"只有联办件才能设置联办部门（{self.code}）", **where)

    @property
    def instant(self) -> bool:
        return self.kind is ItemKind.INSTANT

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "code": self.code,
            "name": self.name,
            "department": self.department,
            "kind": self.kind.value,
            "legal_limit_days": self.legal_limit_days,
            "promised_limit_days": self.promised_limit_days,
            "fee_yuan": str(self.fee_yuan),
            "key_fields": list(self.key_fields),
        }
        if self.joint_departments:
            out["joint_departments"] = [
                {"department": d.department, "limit_days": d.limit_days} for d in self.joint_departments
            ]
        return out

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Item:
        code = str(raw.get("code", "?"))
        try:
            return cls(
                code=str(raw["code"]),
                name=str(raw["name"]),
                department=str(raw["department"]),
                kind=ItemKind(raw["kind"]),
                legal_limit_days=int(raw["legal_limit_days"]),
                promised_limit_days=int(raw["promised_limit_days"]),
                fee_yuan=Decimal(str(raw.get("fee_yuan", "0"))),
                key_fields=tuple(str(k) for k in raw.get("key_fields", ())),
                joint_departments=tuple(
                    JointDepartment(str(d["department"]), int(d["limit_days"]))
                    for d in raw.get("joint_departments", ())
                ),
            )
        except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
            raise StandardsError(f"事项 {code} 数据格式错误：{exc!r}", item_code=code) from exc


@dataclass(frozen=True)
class StandardsBundle:
    """A versioned set of shared standards published by the province."""

    version: str
    effective_date: date
    items: tuple[Item, ...]
    calendar_years: tuple[YearCalendar, ...] = ()
    rule_parameters: Mapping[str, Any] = field(default_factory=dict)
    scoring_rules: Mapping[str, Any] = field(default_factory=dict)
    issuer: str = "370000"
    # the provenance layer's signature suite for the whole federation: "ed25519" (default) or "sm2" (国密)
    signature_suite: str = "ed25519"
    # the boundary policy (federation.boundary): empty in a bundle published before it existed, which then runs
    # under the built-in default (docs/boundary.md)
    boundary: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.signature_suite not in SIGNATURE_SUITES:
            raise StandardsError(
                f"签名算法“{self.signature_suite}”不受支持（{'、'.join(SIGNATURE_SUITES)}）", version=self.version
            )
        if not _VERSION_RE.fullmatch(self.version):
            raise StandardsError(f"标准版本号“{self.version}”格式错误", version=self.version)
        codes = [i.code for i in self.items]
        if len(set(codes)) != len(codes):
            dup = sorted({c for c in codes if codes.count(c) > 1})[0]
            raise StandardsError(f"事项编码 {dup} 在标准包中重复", item_code=dup)
        years = [y.year for y in self.calendar_years]
        if len(set(years)) != len(years):
            raise StandardsError("标准包中的日历年份重复", version=self.version)
        if self.boundary:
            BoundaryPolicy.from_dict(self.boundary)  # refuses a malformed policy, naming where

    @property
    def boundary_policy(self) -> BoundaryPolicy:
        """The boundary policy this bundle publishes, or the built-in default when it publishes none."""
        return BoundaryPolicy.from_dict(self.boundary) if self.boundary else default_boundary_policy()

    def item(self, code: str) -> Item:
        for it in self.items:
            if it.code == code:
                return it
        raise ItemNotFound(f"事项目录中没有编码为“{code}”的事项", item_code=code)

    def calendar(self) -> WorkingCalendar:
        return WorkingCalendar(self.calendar_years)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": "sunshine-standards/1",
            "version": self.version,
            "effective_date": self.effective_date.isoformat(),
            "issuer": self.issuer,
            "items": [i.to_dict() for i in self.items],
            "calendar_years": [y.to_dict() for y in sorted(self.calendar_years, key=lambda y: y.year)],
            "rule_parameters": dict(self.rule_parameters),
            "scoring_rules": dict(self.scoring_rules),
            # written only when not the default, so the digest of every bundle published before it stays
            **({"signature_suite": self.signature_suite} if self.signature_suite != "ed25519" else {}),
            **({"boundary": dict(self.boundary)} if self.boundary else {}),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=True, indent=1)

    @property
    def digest(self) -> str:
        canonical = json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> StandardsBundle:
        if raw.get("format") != "sunshine-standards/1":
            raise StandardsError("不是 Sunshine 标准包（format 应为 sunshine-standards/1）")
        try:
            return cls(
                version=str(raw["version"]),
                effective_date=date.fromisoformat(str(raw["effective_date"])),
                items=tuple(Item.from_dict(i) for i in raw["items"]),
                calendar_years=tuple(YearCalendar.from_dict(y) for y in raw.get("calendar_years", ())),
                rule_parameters=dict(raw.get("rule_parameters", {})),
                scoring_rules=dict(raw.get("scoring_rules", {})),
                issuer=str(raw.get("issuer", "370000")),
                signature_suite=str(raw.get("signature_suite", "ed25519")),
                boundary=dict(raw.get("boundary") or {}),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise StandardsError(f"标准包格式错误：{exc!r}") from exc

    @classmethod
    def from_json(cls, text: str) -> StandardsBundle:
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise StandardsError(f"标准包不是有效的 JSON：{exc}") from exc
        if not isinstance(raw, dict):
            raise StandardsError("标准包顶层应为 JSON 对象")
        return cls.from_dict(raw)


SIGNATURE_SUITES = ("ed25519", "sm2")
"""The provenance layer's suites (``security.signing``): one per federation, named by its standards."""

#: A check of one part of a bundle that the shared kernel cannot judge itself (the supervision rule parameters, the
#: scoring rules): raises :class:`~federation.errors.StandardsError` naming what is wrong. Composition roots (the
#: province's publish command, the city and county bootstraps) inject them, so ``federation`` imports no tier.
BundleValidator = Callable[["StandardsBundle"], None]


def validate_bundle(bundle: StandardsBundle, validators: Sequence[BundleValidator]) -> None:
    """Run every validator on ``bundle``; any refusal becomes a :class:`StandardsError` naming the version."""
    for check in validators:
        try:
            check(bundle)
        except StandardsError as exc:
            details = {**exc.details, "version": bundle.version}
            raise StandardsError(f"标准包 {bundle.version} 无效：{exc.message}", **details) from exc
        except (SunshineError, ValueError, TypeError, KeyError) as exc:
            reason = exc.message if isinstance(exc, SunshineError) else repr(exc)
            raise StandardsError(f"标准包 {bundle.version} 无效：{reason}", version=bundle.version) from exc


_RUN = re.compile(r"(\d+)")


def version_key(version: str) -> tuple[tuple[tuple[int, int | str], ...], str]:
    """A natural sort key of a version: runs of digits compare as numbers (``2026.09.10`` > ``2026.09.9``)."""
    parts = tuple((0, int(p)) if p.isdigit() else (1, p) for p in _RUN.split(version) if p)
    return parts, version


def is_newer(bundle: StandardsBundle, current: StandardsBundle | None) -> bool:
    """Whether ``bundle`` supersedes ``current``: a later effective date, or the same date and a later version."""
    if current is None:
        return True
    return (bundle.effective_date, version_key(bundle.version)) > (current.effective_date, version_key(current.version))


def load_bundle(path: Path) -> StandardsBundle:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise StandardsError(f"无法读取标准包文件 {path}：{exc.strerror}", path=str(path)) from exc
    return StandardsBundle.from_json(text)


# The illustrative catalogue names its one joint item's departments only in the item name
# ("建设项目联合审批（规划、施工、消防）"); a real province bundle lists them. This table says which department
# handles each named part and with what limit, for the demo bundle built from that CSV.
_DEMO_JOINT_DEPARTMENTS: Mapping[str, tuple[JointDepartment, ...]] = {
    "XK00036000": (
        JointDepartment("自然资源局", 10),
        JointDepartment("住房和城乡建设局", 15),
        JointDepartment("消防救援大队", 10),
    ),
}


def read_catalogue_csv(csv_path: Path) -> tuple[Item, ...]:
    """The items of a catalogue CSV (columns of ``shared/data/county_items.csv``; an optional
    ``joint_departments`` column lists a joint item's departments as ``部门:天数;部门:天数``)."""
    items: list[Item] = []
    if not csv_path.is_file():
        raise StandardsError(f"找不到事项目录文件 {csv_path}", path=str(csv_path))
    with csv_path.open(encoding="utf-8-sig", newline="") as f:
        for line, row in enumerate(csv.DictReader(f), start=2):
            try:
                code = row["code"]
                items.append(
                    Item(
                        code=code,
                        name=row["name"],
                        department=row["department"],
                        kind=ItemKind(row["kind"]),
                        legal_limit_days=int(row["legal_limit_days"]),
                        promised_limit_days=int(row["promised_limit_days"]),
                        fee_yuan=Decimal(row["fee_yuan"] or "0"),
                        key_fields=tuple(k for k in (row["key_fields"] or "").split(";") if k),
                        joint_departments=_joint_departments(row.get("joint_departments"))
                        or _DEMO_JOINT_DEPARTMENTS.get(code, ()),
                    )
                )
            except StandardsError as exc:
                details = {**exc.details, "line": line}
                raise StandardsError(f"事项目录 {csv_path.name} 第 {line} 行：{exc.message}", **details) from exc
            except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
                raise StandardsError(f"事项目录 {csv_path.name} 第 {line} 行格式错误：{exc!r}", line=line) from exc
    return tuple(items)


def _joint_departments(cell: str | None) -> tuple[JointDepartment, ...]:
    out: list[JointDepartment] = []
    for part in (cell or "").split(";"):
        if part.strip():
            department, _, days = part.rpartition(":")
            out.append(JointDepartment(department.strip(), int(days)))
    return tuple(out)


def bundle_from_catalogue_csv(
    csv_path: Path,
    version: str,
    effective_date: date,
    calendar_years: Iterable[YearCalendar] = (),
    rule_parameters: Mapping[str, Any] | None = None,
    *,
    scoring_rules: Mapping[str, Any] | None = None,
    boundary: Mapping[str, Any] | None = None,
) -> StandardsBundle:
    """Build a bundle from a catalogue CSV (columns of ``shared/data/county_items.csv``); without
    ``scoring_rules`` it carries the published-practice default (``default_scoring_rules``), without ``boundary``
    the default boundary policy (``federation/data/boundary.toml``)."""
    return StandardsBundle(
        version=version,
        effective_date=effective_date,
        items=read_catalogue_csv(csv_path),
        calendar_years=tuple(calendar_years),
        rule_parameters=dict(rule_parameters or {"yellow_days": 1, "yellow_share": 0.8}),
        scoring_rules=dict(scoring_rules) if scoring_rules is not None else default_scoring_rules(),
        boundary=dict(boundary) if boundary is not None else default_boundary_policy().to_dict(),
    )
