"""The boundary policy (边界策略): which records, and which of their fields, leave a node — and in what form.

Pure model, no I/O. The province publishes the policy in the standards bundle (its ``boundary`` part), so it is
signed, versioned and applied like the rest of the bundle. Per link **direction** (``up``: a node's own records
to its parent; ``down``: to its children) it lists the record types that may cross and, per type, every field
that crosses with its treatment::

    {"up": {"case": {"case_no": "keep", "applicant": "mask_name", "data": "clear", ...},
            "case_event": {..., "payload": {"applicant": "mask_name", "data": "clear", ...}}},
     "down": {"order": {...}, ...}}

A field's rule is an action (:class:`Action`) or, for a JSON object (or a list of objects), the rules of its own
fields. Whatever the policy does not list does not cross: a record type not listed is refused, a field not listed
is dropped. Three record types are never screened (:data:`CONTROL_RECORDS`): the standards bundle and the
revocation list, the channel the policy itself travels on, and the audit entries — a county's audit chain is kept
in its outbox, hash-chained field by field, and crosses whole so every tier can verify it.

:meth:`BoundaryPolicy.compile` turns a policy into plain closures once per standards version; redacting a record
then costs a few dictionary look-ups per field, and no regular expression is compiled per write.
"""

from __future__ import annotations

import enum
import functools
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from federation.errors import StandardsError

__all__ = [
    "CONTROL_RECORDS",
    "DIRECTIONS",
    "Action",
    "BoundaryPolicy",
    "CompiledBoundary",
    "CompiledDirection",
    "Screened",
    "default_boundary_policy",
    "mask_id",
    "mask_name",
    "mask_phone",
    "scrub",
]

DIRECTIONS = ("up", "down", "out", "in")
"""``up``: a node's own records to its parent (county → city, city → province); ``down``: to its children;
``out``: a county's public stream to its extranet node (内网 → 外网); ``in``: the extranet node's records to its
county (外网 → 内网)."""

DIRECTION_LABELS = {
    "up": "上行（本级 → 上级）",
    "down": "下行（本级 → 下级）",
    "out": "出网（内网 → 外网）",
    "in": "入网（外网 → 内网）",
}

CONTROL_RECORDS = frozenset({"standards", "revocation_list", "audit", "attestation", "attestation_check"})
"""Never screened: the province's own publications (the channel the policy travels on), the audit chain (kept in
a county's outbox, hash-chained: a changed or missing entry would break every receiver's verification) and an
origin's statements of its own figures and its relays' verdicts on them (counts and digests only: no personal
data)."""


class Action(enum.StrEnum):
    KEEP = "keep"  # as written
    MASK_NAME = "mask_name"  # 张三 → 张*
    MASK_ID = "mask_id"  # 身份证号、统一社会信用代码: 371122********1234
    MASK_PHONE = "mask_phone"  # 138****5678
    SCRUB = "scrub"  # free text: ID numbers, 统一社会信用代码 and phone numbers inside it masked
    CLEAR = "clear"  # the empty value of its JSON type ({} [] ""): present for the receiver, its content does not cross
    DROP = "drop"  # not sent at all (the same as not listing it, but said explicitly)


ACTION_LABELS = {
    Action.KEEP: "原样",
    Action.MASK_NAME: "姓名脱敏",
    Action.MASK_ID: "证件号脱敏",
    Action.MASK_PHONE: "电话脱敏",
    Action.SCRUB: "文本内证件号/电话脱敏",
    Action.CLEAR: "清空",
    Action.DROP: "不出境",
}


# -- the masks ----------------------------------------------------------------------------------------------------


def mask_name(value: str) -> str:
    """张三 → 张*, 欧阳娜娜 → 欧***: the first character only (idempotent)."""
    text = value.strip()
    return text[:1] + "*" * (len(text) - 1) if len(text) > 1 else "*"


def _mask_middle(text: str, head: int, tail: int) -> str:
    return text[:head] + "*" * (len(text) - head - tail) + (text[-tail:] if tail else "")


def mask_id(value: str) -> str:
    """身份证号 / 统一社会信用代码: the first six and last four of 15 or more characters (371122********1234); two
    and two of a shorter number; nothing of a number under eight characters (idempotent)."""
    text = value.strip()
    n = len(text)
    if n >= 15:
        return _mask_middle(text, 6, 4)
    if n >= 8:
        return _mask_middle(text, 2, 2)
    return "*" * n


def mask_phone(value: str) -> str:
    """13812345678 → 138****5678; a shorter number keeps its last two (idempotent)."""
    text = value.strip()
    n = len(text)
    if n >= 11:
        return _mask_middle(text, n - 8, 4)
    if n > 4:
        return _mask_middle(text, 0, 2)
    return "*" * n


# 18-digit ID numbers (last may be X), old 15-digit ones, 18-character 统一社会信用代码, mobile numbers (with +86),
# landlines with an area code: compiled once, here
_ID_RE = re.compile(r"(?<![0-9A-Za-z])(\d{17}[\dXx]|\d{15})(?![0-9A-Za-z])")
_USCC_RE = re.compile(r"(?<![0-9A-Z])([0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10})(?![0-9A-Z])")
_PHONE_RE = re.compile(r"(?<!\d)((?:\+?86[- ]?)?1[3-9]\d{9}|0\d{2,3}-?\d{7,8})(?!\d)")


def scrub(text: str) -> str:
    """Free text with every ID number, 统一社会信用代码 and phone number in it masked (idempotent)."""
    if not any(c.isdigit() for c in text):
        return text
    text = _ID_RE.sub(lambda m: mask_id(m.group(1)), text)
    text = _USCC_RE.sub(lambda m: mask_id(m.group(1)), text)
    return _PHONE_RE.sub(lambda m: mask_phone(m.group(1)), text)


def _masking(mask: Callable[[str], str]) -> Callable[[Any], Any]:
    def apply(value: Any) -> Any:
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, str):
            return mask(value)
        if isinstance(value, int | float):
            return mask(str(value))
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return [mask(v) for v in value]  # a list of texts (e.g. what 补正 asks for): item by item
        return _DROPPED  # an object, or a list of anything else, where the policy expects text: it does not cross

    return apply


def _clear(value: Any) -> Any:
    if isinstance(value, dict):
        return {}
    if isinstance(value, list):
        return []
    if isinstance(value, str):
        return ""
    return None


class _Dropped:
    __slots__ = ()


_DROPPED = _Dropped()

_TRANSFORMS: Mapping[Action, Callable[[Any], Any]] = {
    Action.MASK_NAME: _masking(mask_name),
    Action.MASK_ID: _masking(mask_id),
    Action.MASK_PHONE: _masking(mask_phone),
    Action.SCRUB: _masking(scrub),
    Action.CLEAR: _clear,
}


# -- the model ----------------------------------------------------------------------------------------------------

Rule = Action | Mapping[str, "Rule"]
"""A field's rule: an action, or the rules of the fields of the object it holds."""


def _parse_rule(raw: Any, where: str) -> Rule:
    if isinstance(raw, str):
        try:
            return Action(raw)
        except ValueError:
            known = "、".join(a.value for a in Action)
            raise StandardsError(f"边界策略 {where} 的处理方式“{raw[:40]}”未知（可用：{known}）", where=where) from None
    if isinstance(raw, Mapping):
        if not raw:
            raise StandardsError(f"边界策略 {where} 没有列出任何字段", where=where)
        return {str(k): _parse_rule(v, f"{where}.{k}") for k, v in raw.items()}
    raise StandardsError(f"边界策略 {where} 应为处理方式或字段表", where=where)


def _rule_to_raw(rule: Rule) -> Any:
    if isinstance(rule, Action):
        return rule.value
    return {k: _rule_to_raw(v) for k, v in rule.items()}


@dataclass(frozen=True)
class BoundaryPolicy:
    """Per direction, per record type: :data:`WHOLE` or the rules of its fields (see the module)."""

    directions: Mapping[str, Mapping[str, Mapping[str, Rule]]] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> BoundaryPolicy:
        if not isinstance(raw, Mapping):
            raise StandardsError("边界策略应为 JSON 对象")
        directions: dict[str, dict[str, Mapping[str, Rule]]] = {}
        for direction, types in raw.items():
            if direction not in DIRECTIONS:
                raise StandardsError(
                    f"边界策略的方向“{str(direction)[:40]}”未知（可用：{'、'.join(DIRECTIONS)}）", direction=direction
                )
            if not isinstance(types, Mapping):
                raise StandardsError(f"边界策略 {direction} 应为记录类型表", direction=direction)
            out: dict[str, Mapping[str, Rule]] = {}
            for record_type, spec in types.items():
                where = f"{direction}.{record_type}"
                if record_type in CONTROL_RECORDS:
                    raise StandardsError(
                        f"边界策略 {where}：{record_type} 始终整条放行（标准下发通道、吊销列表与审计哈希链），"
                        "不能由策略限制",
                        where=where,
                    )
                rule = _parse_rule(spec, where)
                if isinstance(rule, Action):
                    raise StandardsError(f"边界策略 {where} 应逐字段列出", where=where)
                out[str(record_type)] = rule
            directions[direction] = out
        return cls(directions)

    def to_dict(self) -> dict[str, Any]:
        return {d: {t: _rule_to_raw(spec) for t, spec in types.items()} for d, types in self.directions.items()}

    def compile(self, version: str) -> CompiledBoundary:
        """The policy as closures, built once (per standards ``version``)."""
        return CompiledBoundary(
            version,
            {
                d: CompiledDirection(d, {t: _compile_object(s) for t, s in types.items()})
                for d, types in self.directions.items()
            },
            self,
        )


# -- the compiled form --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Screened:
    """What the policy made of one record: its payload as it crosses (None: refused), whether any field was masked
    or cleared, and the fields dropped because the policy does not list them (dotted paths)."""

    payload: Any
    redacted: bool = False
    unlisted: tuple[str, ...] = ()


# a compiled object rule: (value) -> (redacted value, changed, unlisted paths)
_ObjectFn = Callable[[Mapping[str, Any], str], tuple[dict[str, Any], bool, list[str]]]


def _compile_object(rules: Mapping[str, Rule]) -> _ObjectFn:
    keep = tuple(name for name, rule in rules.items() if rule is Action.KEEP)
    transforms: list[tuple[str, Callable[[Any, str], tuple[Any, bool, list[str]]]]] = []
    for name, rule in rules.items():
        fn = None if rule in (Action.KEEP, Action.DROP) else _compile_value(rule, name)
        if fn is not None:
            transforms.append((name, fn))
    dropped = frozenset(name for name, rule in rules.items() if rule is Action.DROP)
    carried = frozenset(keep) | frozenset(name for name, _ in transforms)

    def apply(obj: Mapping[str, Any], prefix: str) -> tuple[dict[str, Any], bool, list[str]]:
        out = {name: obj[name] for name in keep if name in obj}  # most fields: one comprehension
        seen = len(out)
        changed = False
        unlisted: list[str] = []
        for name, fn in transforms:
            if name not in obj:
                continue
            seen += 1
            new, diff, extra = fn(obj[name], prefix)
            if extra:
                unlisted.extend(extra)
            if new is _DROPPED:
                changed = True
                continue
            out[name] = new
            changed = changed or diff
        if seen != len(obj):  # fields the plan did not carry: dropped by the policy, or not listed at all
            for k in obj:
                if k in dropped:
                    changed = changed or obj[k] is not None
                elif k not in carried:
                    unlisted.append(f"{prefix}{k}")
        return out, changed, unlisted

    return apply


def _compile_value(rule: Rule, name: str) -> Callable[[Any, str], tuple[Any, bool, list[str]]] | None:
    if rule is Action.KEEP:
        return None
    if isinstance(rule, Action):
        transform = _TRANSFORMS[rule]

        def act(value: Any, prefix: str) -> tuple[Any, bool, list[str]]:
            new = transform(value)
            return new, new != value, []

        return act
    nested = _compile_object(rule)

    def descend(value: Any, prefix: str) -> tuple[Any, bool, list[str]]:
        path = f"{prefix}{name}."
        if isinstance(value, Mapping):
            return nested(value, path)
        if isinstance(value, list):
            items: list[Any] = []
            changed = False
            unlisted: list[str] = []
            for item in value:
                if isinstance(item, Mapping):
                    new, diff, extra = nested(item, path)
                    items.append(new)
                    changed = changed or diff
                    unlisted.extend(extra)
                else:
                    changed = True  # a scalar where the policy lists fields: it does not cross
            return items, changed, unlisted
        if value is None:
            return None, False, []
        return _DROPPED, True, []

    return descend


@dataclass(frozen=True, slots=True)
class CompiledDirection:
    """One direction of a compiled policy: per record type, its object rule."""

    direction: str
    types: Mapping[str, _ObjectFn]

    def allows(self, record_type: str) -> bool:
        return record_type in CONTROL_RECORDS or record_type in self.types

    def screen(self, record_type: str, payload: Any) -> Screened:
        """``payload`` as it may cross, or refused (``payload`` None) when the type is not allowed."""
        if record_type in CONTROL_RECORDS:
            return Screened(payload)
        fn = self.types.get(record_type)
        if fn is None or not isinstance(payload, Mapping):
            return Screened(None)
        out, changed, unlisted = fn(payload, "")
        return Screened(out, changed, tuple(unlisted))


_DENY_ALL = CompiledDirection("", {})


@dataclass(frozen=True, slots=True)
class CompiledBoundary:
    version: str  # the standards version the policy came with ("" for the built-in default)
    directions: Mapping[str, CompiledDirection]
    policy: BoundaryPolicy

    def direction(self, name: str) -> CompiledDirection:
        """A direction the policy does not name lets nothing but the control records cross."""
        return self.directions.get(name, _DENY_ALL)


@functools.cache
def default_boundary_policy() -> BoundaryPolicy:
    """The default policy (``federation/data/boundary.toml``): what the example and catalogue bundles publish, and
    what a node runs under while its bundle publishes none (read once per process)."""
    from federation.data import data_path

    with data_path("boundary.toml").open("rb") as f:
        return BoundaryPolicy.from_dict(tomllib.load(f))
