"""The parameters of the supervision rules, read from the standards bundle's ``rule_parameters``.

The bundle carries a flat mapping (``StandardsBundle.rule_parameters``); the keys below are the ones the rules
read. A key that is absent takes its documented default; a key of the wrong type or out of range is a
:class:`~federation.errors.StandardsError` naming the key, so a bad bundle is refused when it is read, not when a
rule happens to need the value. Keys the rules do not know are left alone (other parts of the bundle's users —
scoring, alert escalation — read their own keys from the same mapping).

=====================================  =======  ================================================================
key                                    default  meaning
=====================================  =======  ================================================================
``yellow_days``                        1        yellow when at most this many working days remain (today
                                                included)
``yellow_share``                       0.8      … or when at least this share of the budget is used
``acceptance_step_days``               5        working days from submission to acceptance (行政许可法 Art. 32)
``review_step_share``                  0.6      share of the promised budget (+ extension) for accept → review
``decision_step_share``                0.4      share of the promised budget (+ extension) for review → decide
``correction_threshold``               2        correction requests (补正告知) in a case at which SUP-004 fires
``resubmit_threshold``                 2        return → resubmit cycles (any) at which SUP-005 fires
``return_after_acceptance_threshold``  1        return → resubmit cycles *after acceptance* at which SUP-005 fires
``clock_gaming_days``                  2        a suspension / special procedure started with at most this many
                                                working days left (today included) is clock gaming (SUP-006)
``fee_tolerance_yuan``                 "0.00"   |charged − expected fee| above this fires SUP-009
``complaint_response_days``            5        default response limit of a new complaint (working days)
``negative_rating_max_level``          2        ratings at or below this level are negative (1 非常不满意,
                                                2 不满意)
``rating_follow_up_days``              15       default follow-up limit of a negative rating (working days)
``alert_ack_days``                     1        working days to acknowledge (签收) an alert before it escalates
                                                (county → city → province)
``unattended_minutes``                 10       a window unattended at least this long raises SUP-302 (minutes)
``video_alarm_light``                  "red"    the light of an NVR alarm's alert (SUP-301): "red" or "yellow"
``unattended_light``                   "yellow" the light of an unattended window's alert (SUP-302)
``disabled_rules``                     []       rule ids the province has switched off, e.g. ``["SUP-004"]``
=====================================  =======  ================================================================
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from decimal import Decimal, InvalidOperation
from typing import Any

from federation.clock import LightPolicy
from federation.errors import StandardsError, ValidationError
from federation.standards import StandardsBundle

__all__ = ["SupervisionParameters"]


def _int(key: str, value: Any, lo: int, hi: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise StandardsError(f"规则参数 {key} 应为整数，实际为“{value!r}”", key=key)
    if value < lo or (hi is not None and value > hi):
        bound = f"{lo} 到 {hi}" if hi is not None else f"不小于 {lo}"
        raise StandardsError(f"规则参数 {key} 应为{bound}的整数，实际为 {value}", key=key)
    return value


def _share(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise StandardsError(f"规则参数 {key} 应为 0 到 1 之间的比例，实际为“{value!r}”", key=key)
    share = float(value)
    if not (math.isfinite(share) and 0 < share <= 1):
        raise StandardsError(f"规则参数 {key} 应为 0 到 1 之间的比例（不含 0），实际为 {value}", key=key)
    return share


def _money(key: str, value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise StandardsError(f'规则参数 {key} 应为金额（如 "0.00"），实际为“{value!r}”', key=key)
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise StandardsError(f'规则参数 {key} 应为金额（如 "0.00"），实际为“{value}”', key=key) from None
    if not amount.is_finite() or amount < 0:
        raise StandardsError(f"规则参数 {key} 应为非负金额，实际为 {value}", key=key)
    return amount


def _alert_light(key: str, value: Any) -> str:
    if value not in ("red", "yellow"):
        raise StandardsError(f'规则参数 {key} 应为 "red"（红灯）或 "yellow"（黄灯），实际为“{value!r}”', key=key)
    return str(value)


def _rule_ids(key: str, value: Any) -> frozenset[str]:
    if isinstance(value, str) or not isinstance(value, list | tuple | frozenset | set):
        raise StandardsError(f'规则参数 {key} 应为规则编号列表，如 ["SUP-004"]', key=key)
    if not all(isinstance(v, str) and v.strip() for v in value):
        raise StandardsError(f"规则参数 {key} 中有无效的规则编号", key=key)
    return frozenset(v.strip() for v in value)


_INT_KEYS = (
    "yellow_days",
    "acceptance_step_days",
    "correction_threshold",
    "resubmit_threshold",
    "return_after_acceptance_threshold",
    "clock_gaming_days",
    "complaint_response_days",
    "negative_rating_max_level",
    "rating_follow_up_days",
    "alert_ack_days",
    "unattended_minutes",
)


@dataclass(frozen=True, slots=True)
class SupervisionParameters:
    """The supervision rules' parameters (see the module docstring for each key and its default)."""

    yellow_days: int = 1
    yellow_share: float = 0.8
    acceptance_step_days: int = 5
    review_step_share: float = 0.6
    decision_step_share: float = 0.4
    correction_threshold: int = 2
    resubmit_threshold: int = 2
    return_after_acceptance_threshold: int = 1
    clock_gaming_days: int = 2
    fee_tolerance_yuan: Decimal = Decimal("0.00")
    complaint_response_days: int = 5
    negative_rating_max_level: int = 2
    rating_follow_up_days: int = 15
    alert_ack_days: int = 1
    unattended_minutes: int = 10
    video_alarm_light: str = "red"
    unattended_light: str = "yellow"
    disabled_rules: frozenset[str] = frozenset()
    light_policy: LightPolicy = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _int("yellow_days", self.yellow_days, 0)
        _share("yellow_share", self.yellow_share)
        _int("acceptance_step_days", self.acceptance_step_days, 0)
        _share("review_step_share", self.review_step_share)
        _share("decision_step_share", self.decision_step_share)
        _int("correction_threshold", self.correction_threshold, 1)
        _int("resubmit_threshold", self.resubmit_threshold, 1)
        _int("return_after_acceptance_threshold", self.return_after_acceptance_threshold, 1)
        _int("clock_gaming_days", self.clock_gaming_days, 0)
        _money("fee_tolerance_yuan", self.fee_tolerance_yuan)
        _int("complaint_response_days", self.complaint_response_days, 0)
        _int("negative_rating_max_level", self.negative_rating_max_level, 1, 4)
        _int("rating_follow_up_days", self.rating_follow_up_days, 0)
        _int("alert_ack_days", self.alert_ack_days, 1)
        _int("unattended_minutes", self.unattended_minutes, 0, 24 * 60)
        _alert_light("video_alarm_light", self.video_alarm_light)
        _alert_light("unattended_light", self.unattended_light)
        try:
            policy = LightPolicy(self.yellow_days, self.yellow_share)
        except ValidationError as exc:  # pragma: no cover - the checks above are stricter
            raise StandardsError(exc.message, **exc.details) from exc
        object.__setattr__(self, "light_policy", policy)

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> SupervisionParameters:
        """Read the known keys of a bundle's ``rule_parameters``; absent keys take their defaults."""
        kwargs: dict[str, Any] = {}
        for key in _INT_KEYS:
            if key in raw:
                kwargs[key] = _int(key, raw[key], 0)
        for key in ("yellow_share", "review_step_share", "decision_step_share"):
            if key in raw:
                kwargs[key] = _share(key, raw[key])
        if "fee_tolerance_yuan" in raw:
            kwargs["fee_tolerance_yuan"] = _money("fee_tolerance_yuan", raw["fee_tolerance_yuan"])
        for key in ("video_alarm_light", "unattended_light"):
            if key in raw:
                kwargs[key] = _alert_light(key, raw[key])
        if "disabled_rules" in raw:
            kwargs["disabled_rules"] = _rule_ids("disabled_rules", raw["disabled_rules"])
        return cls(**kwargs)  # __post_init__ checks the ranges

    @classmethod
    def from_bundle(cls, bundle: StandardsBundle) -> SupervisionParameters:
        return cls.from_mapping(bundle.rule_parameters)

    def value(self, name: str) -> Any:
        """One parameter by name, in a form fit for a record (what an alert stores beside its evidence)."""
        v = getattr(self, name)
        if isinstance(v, Decimal):
            return str(v)
        if isinstance(v, frozenset):
            return sorted(v)
        return v

    def to_dict(self) -> dict[str, Any]:
        return {f.name: self.value(f.name) for f in fields(self) if f.init}
