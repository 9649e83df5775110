"""The case card's action forms (办件详情的操作表单), derived from the lifecycle and the API's action bodies.

Which actions a card offers is the lifecycle's knowledge (:data:`county_node.approval.domain.ALLOWED`) and the
person's permission (:func:`county_node.entrypoints.permissions.action_permission`); each form's fields are the
action's body model (:data:`county_node.entrypoints.schemas.ACTION_BODIES`), so a parameter added to an action
appears on the page without editing it. Parsing a submitted form turns text into the body's types and leaves the
judging to the domain (its Chinese messages).
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from county_node.approval.domain import ACTION_LABELS, ALLOWED, Action, Case
from county_node.entrypoints.permissions import action_permission
from county_node.entrypoints.schemas import ACTION_BODIES
from federation.errors import ValidationError
from security.access import Principal

__all__ = ["CHOICE_LABELS", "DATA_PREFIX", "ActionForm", "FormField", "action_forms", "action_params"]

DATA_PREFIX = "data:"
"""A key data field's form name: ``data:统一社会信用代码``."""

CHOICE_LABELS: Mapping[str, str] = {
    "approve": "准予许可",
    "deny": "不予许可",
    "agree": "同意",
    "disagree": "不同意",
}
_CHOICE_FIELD_LABELS: Mapping[tuple[Action, str], str] = {
    (Action.DECIDE, "outcome"): "审批决定",
    (Action.COMPLETE_TASK, "outcome"): "联办意见",
}
_LONG_TEXT = frozenset({"reason", "opinion", "note"})
_DANGER = frozenset({Action.REFUSE_ACCEPTANCE, Action.RETURN})
_ASCII_ASIDE = re.compile(r"（[^）]*[A-Za-z][^）]*）")


@dataclass(frozen=True, slots=True)
class FormField:
    name: str
    label: str
    kind: Literal["text", "textarea", "number", "money", "select"]
    required: bool
    options: tuple[tuple[str, str], ...] = ()  # (value, label) of a select


@dataclass(frozen=True, slots=True)
class ActionForm:
    action: str
    label: str
    hint: str
    fields: tuple[FormField, ...]
    data_fields: tuple[tuple[str, str], ...]  # (key field, its current value): key data the action may record
    danger: bool


def _label(description: str | None, name: str) -> str:
    text = _ASCII_ASIDE.sub("", description or name).strip()
    return text or name


def _base(annotation: Any) -> Any:
    """``X | None`` → ``X``."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0] if len(args) == 1 else annotation
    return annotation


def _field(action: Action, name: str, info: Any, case: Case) -> FormField:
    annotation = _base(info.annotation)
    label = _CHOICE_FIELD_LABELS.get((action, name)) or _label(info.description, name)
    required = bool(info.is_required())
    if typing.get_origin(annotation) is Literal:
        values = typing.get_args(annotation)
        return FormField(name, label, "select", required, tuple((v, CHOICE_LABELS.get(v, v)) for v in values))
    if action is Action.COMPLETE_TASK and name == "department":
        pending = tuple((t.department, t.department) for t in case.tasks if t.status != "done")
        return FormField(name, label, "select", required, pending)
    if annotation is int:
        return FormField(name, label, "number", required)
    if annotation is Decimal:
        return FormField(name, label, "money", required)
    return FormField(name, label, "textarea" if name in _LONG_TEXT else "text", required)


def _hint(action: Action) -> str:
    doc = (ACTION_BODIES[action].__doc__ or "").strip()
    return _ASCII_ASIDE.sub("", doc)


def _offered(action: Action, case: Case, who: Principal) -> bool:
    if case.status not in ALLOWED[action] or not who.has(action_permission(action)):
        return False
    if action is Action.COMPLETE_TASK:
        return any(t.status != "done" for t in case.tasks)
    if action is Action.EXTEND:
        return not case.extension_days  # once per case: the domain refuses a second
    return True


def action_forms(case: Case, who: Principal) -> list[ActionForm]:
    """The forms of the actions valid for ``case`` in its status that ``who`` may take, in lifecycle order."""
    forms: list[ActionForm] = []
    for action, model in ACTION_BODIES.items():
        if not _offered(action, case, who):
            continue
        fields = tuple(_field(action, n, info, case) for n, info in model.model_fields.items() if n != "data")
        data: tuple[tuple[str, str], ...] = ()
        if "data" in model.model_fields:
            data = tuple((k, str(case.data.get(k, ""))) for k in case.key_fields)
            if action is not Action.RECORD_DATA:  # the other actions offer only what is still missing
                data = tuple((k, v) for k, v in data if not v.strip())
        if action is Action.RECORD_DATA and not data:
            continue
        forms.append(ActionForm(action.value, ACTION_LABELS[action], _hint(action), fields, data, action in _DANGER))
    return forms


def action_params(action: Action, form: Mapping[str, Any], key_fields: Sequence[str]) -> dict[str, Any]:
    """A submitted action form as the action's parameters: empty fields left out, numbers as numbers, key data as
    ``data``; a number that is not one is a Chinese :class:`ValidationError` (nothing is written)."""
    model = ACTION_BODIES[action]
    params: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        if name == "data":
            data = {
                k: str(form.get(DATA_PREFIX + k, "")).strip()
                for k in key_fields
                if str(form.get(DATA_PREFIX + k, "")).strip()
            }
            if data:
                params["data"] = data
            continue
        raw = str(form.get(name, "")).strip()
        if not raw:
            continue
        if _base(info.annotation) is int:
            try:
                params[name] = int(raw)
            except ValueError:
                raise ValidationError(f"{_label(info.description, name)}应为整数", field=name) from None
        else:
            params[name] = raw
    return params
