"""Scoring rules as data (考核评分规则): indicators, weights, deductions, bonuses (the periods they are scored
over are in :mod:`federation.scoring_periods`, re-exported here).

Pure: no I/O. The province publishes the rules inside its standards bundle (``scoring_rules``); the scoring engine
(``city_aggregator.scoring``, run by the province and by each city) computes scores from replicated data under
them. The model, in short (see ``docs/scoring.md``):

* **Weighted part (100 points).** Every indicator has a weight; the weights add up to exactly 100. An indicator's
  value maps to points *linearly* between its ``floor`` (0 points) and its ``target`` (the full weight), clamped
  at both ends; when ``floor > target`` lower values are better (cards, complaints, budget used). A complaint or
  rating indicator with nothing to measure (no complaints in the period: no on-time response rate) scores its full
  weight.
* **Deductions (扣分).** Published practice deducts fixed points per card: 5 per yellow card and 10 per red card.
  To compare counties of different volume, the cards are counted *per ``per_cases`` cases accepted* (default per
  100 cases) and each deduction is capped.
* **Bonuses (加分).** Finishing early: ``points_per_percent`` for each percent of the concluded, non-instant cases
  that used at most ``max_budget_share`` of their budget, capped.
* **Total** = weighted part − deductions + bonuses, never below 0, rounded to 0.01.
* **Normalisation.** Rates per 100 / 1,000 cases normalise for volume; with ``item_mix`` the on-time rate is
  compared with the rate expected for the subject's own mix of items (each case's expectation is the on-time rate
  of its item across the whole scope in the case's month).
* **What each indicator counts (its basis).** Volume, and what is known when a case is accepted, counts the cases
  *accepted* (受理) in the period: cards, complaints and key-data alerts per case, the instant share, the per-card
  deductions. What the clock says once it stops counts the cases *decided* (审批决定) in the period: on-time
  rate, correction rate, and — over the decided cases with a budget — working days used and the early-finish
  bonus. Complaint and negative-rating indicators count the complaints and ratings past their limit.
* **Small samples, per measure.** An indicator, deduction or bonus whose case basis holds fewer cases than
  ``min_cases`` of the subject's level is left out: its points are null (not 0), and the weighted part is the
  points of the measured indicators scaled to 100 over their weights. A subject none of whose case-based indicators
  is measured is scored and marked ``small_sample`` but not ranked.

Numbers are :class:`~decimal.Decimal` (never floats), so that the same data and the same rules give the same
scores byte for byte.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from federation.errors import StandardsError
from federation.scoring_periods import Period, expand_year, parse_period

__all__ = [
    "BASIS_LABELS",
    "BONUS_BASIS",
    "CASE_BASES",
    "DEDUCTION_BASIS",
    "INDICATORS",
    "LEVELS",
    "Basis",
    "BonusRule",
    "CardDeduction",
    "Direction",
    "IndicatorRule",
    "IndicatorSpec",
    "Period",
    "ScoringRules",
    "default_scoring_rules",
    "expand_year",
    "parse_period",
    "parse_scoring_rules",
    "quantize_points",
]

FORMAT = "sunshine-scoring/1"
LEVELS = ("county", "department", "window")
_CENT = Decimal("0.01")


def quantize_points(value: Decimal) -> Decimal:
    """Points are kept to 0.01, rounded half up (the same on every node)."""
    return value.quantize(_CENT, rounding=ROUND_HALF_UP)


class Direction(enum.StrEnum):
    HIGHER_BETTER = "higher"
    LOWER_BETTER = "lower"


class Basis(enum.StrEnum):
    """What a measure is counted over (its sample, 样本): the denominator the minimum sample applies to."""

    ACCEPTED = "accepted"  # cases accepted (受理) in the period: volume, and what is known at acceptance
    DECIDED = "decided"  # cases decided (审批决定) in the period: what the clock says once it stops
    BUDGETED = "budgeted"  # … those with a working-day budget (not instant): working days used, finishing early
    COMPLAINTS = "complaints"  # complaints filed in the period and answered, or past their limit
    NEGATIVES = "negatives"  # negative ratings given in the period and followed up, or past their limit


#: The bases ``min_cases`` applies to (complaints and ratings have none: with none to judge there is nothing to fault).
CASE_BASES = frozenset({Basis.ACCEPTED, Basis.DECIDED, Basis.BUDGETED})
BASIS_LABELS: Mapping[Basis, str] = {
    Basis.ACCEPTED: "受理件",
    Basis.DECIDED: "审批决定件",
    Basis.BUDGETED: "审批决定的非即办件",
    Basis.COMPLAINTS: "已答复或已到期的投诉",
    Basis.NEGATIVES: "已回访或已到期的差评",
}
#: The per-card deductions are normalised per cases accepted; the early-finish bonus is a share of budgeted cases.
DEDUCTION_BASIS = Basis.ACCEPTED
BONUS_BASIS = Basis.BUDGETED


@dataclass(frozen=True, slots=True)
class IndicatorSpec:
    """What an indicator id measures (fixed in code; the rules only weight and scale it)."""

    id: str
    name: str
    unit: str  # "rate" (0..1) | "per_100" | "per_1000"
    direction: Direction
    basis: Basis


INDICATORS: Mapping[str, IndicatorSpec] = {
    s.id: s
    for s in (
        IndicatorSpec("on_time_rate", "按时办结率", "rate", Direction.HIGHER_BETTER, Basis.DECIDED),
        IndicatorSpec("yellow_cards_per_100", "每百件黄牌数", "per_100", Direction.LOWER_BETTER, Basis.ACCEPTED),
        IndicatorSpec("red_cards_per_100", "每百件红牌数", "per_100", Direction.LOWER_BETTER, Basis.ACCEPTED),
        IndicatorSpec("budget_used_share", "时限使用率", "rate", Direction.LOWER_BETTER, Basis.BUDGETED),
        IndicatorSpec("complaints_per_1000", "每千件投诉数", "per_1000", Direction.LOWER_BETTER, Basis.ACCEPTED),
        IndicatorSpec(
            "complaint_on_time_response", "投诉按时答复率", "rate", Direction.HIGHER_BETTER, Basis.COMPLAINTS
        ),
        IndicatorSpec("negative_follow_up", "差评按时回访率", "rate", Direction.HIGHER_BETTER, Basis.NEGATIVES),
        IndicatorSpec("correction_rate", "补正率", "rate", Direction.LOWER_BETTER, Basis.DECIDED),
        IndicatorSpec("instant_share", "即办件占比", "rate", Direction.HIGHER_BETTER, Basis.ACCEPTED),
        IndicatorSpec("key_data_completeness", "关键数据完整率", "rate", Direction.HIGHER_BETTER, Basis.ACCEPTED),
    )
}


@dataclass(frozen=True, slots=True)
class IndicatorRule:
    """One weighted indicator: ``weight`` points, linear between ``floor`` (0 points) and ``target`` (full)."""

    id: str
    name: str
    weight: Decimal
    floor: Decimal
    target: Decimal

    def points(self, value: Decimal | None) -> Decimal:
        """Points for ``value`` (None: nothing to measure, full weight), quantised to 0.01."""
        if value is None:
            return quantize_points(self.weight)
        share = (value - self.floor) / (self.target - self.floor)
        share = min(Decimal(1), max(Decimal(0), share))
        return quantize_points(self.weight * share)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "weight": str(self.weight),
            "floor": str(self.floor),
            "target": str(self.target),
        }


@dataclass(frozen=True, slots=True)
class CardDeduction:
    """扣分 per card: ``points`` per card per ``per_cases`` cases, at most ``cap`` points."""

    points: Decimal
    per_cases: int
    cap: Decimal

    def deduct(self, cards: int, cases: int) -> Decimal:
        if cards <= 0:
            return Decimal("0.00")
        raw = self.points * cards if cases <= 0 else self.points * cards * self.per_cases / Decimal(cases)
        return quantize_points(min(self.cap, raw))

    def to_dict(self) -> dict[str, Any]:
        return {"points": str(self.points), "per_cases": self.per_cases, "cap": str(self.cap)}


@dataclass(frozen=True, slots=True)
class BonusRule:
    """加分 for finishing early: ``points_per_percent`` for each percent of concluded non-instant cases that used at
    most ``max_budget_share`` of their budget, at most ``cap`` points."""

    max_budget_share: Decimal
    points_per_percent: Decimal
    cap: Decimal

    @property
    def max_budget_percent(self) -> int:
        """The share as a whole percent (the SQL compares ``used × 100 ≤ percent × budget`` in integers)."""
        return int(self.max_budget_share * 100)

    def bonus(self, early: int, eligible: int) -> Decimal:
        if early <= 0 or eligible <= 0:
            return Decimal("0.00")
        return quantize_points(min(self.cap, self.points_per_percent * Decimal(100 * early) / Decimal(eligible)))

    def to_dict(self) -> dict[str, Any]:
        return {
            "max_budget_share": str(self.max_budget_share),
            "points_per_percent": str(self.points_per_percent),
            "cap": str(self.cap),
        }


@dataclass(frozen=True, slots=True)
class ScoringRules:
    """The parsed, checked scoring rules of one standards version."""

    indicators: tuple[IndicatorRule, ...]
    yellow_card: CardDeduction
    red_card: CardDeduction
    early_finish: BonusRule
    item_mix: bool
    min_cases: Mapping[str, int]

    def indicator(self, indicator_id: str) -> IndicatorRule | None:
        for rule in self.indicators:
            if rule.id == indicator_id:
                return rule
        return None

    def to_dict(self) -> dict[str, Any]:
        """Canonical form (what :func:`parse_scoring_rules` reads back to equal rules)."""
        return {
            "format": FORMAT,
            "indicators": [i.to_dict() for i in self.indicators],
            "deductions": {"yellow_card": self.yellow_card.to_dict(), "red_card": self.red_card.to_dict()},
            "bonuses": {"early_finish": self.early_finish.to_dict()},
            "normalisation": {"item_mix": self.item_mix},
            "min_cases": {level: self.min_cases[level] for level in LEVELS},
        }


def default_scoring_rules() -> dict[str, Any]:
    """The published-practice default: ten indicators weighted to 100, −5 per yellow and −10 per red card per 100
    cases (capped at 20 and 30), up to 5 bonus points for finishing early, item-mix normalisation on."""
    weights = {
        "on_time_rate": ("30", "0.90", "1"),
        "yellow_cards_per_100": ("5", "10", "0"),
        "red_cards_per_100": ("5", "5", "0"),
        "budget_used_share": ("10", "1", "0.5"),
        "complaints_per_1000": ("10", "10", "0"),
        "complaint_on_time_response": ("10", "0.8", "1"),
        "negative_follow_up": ("10", "0.8", "1"),
        "correction_rate": ("5", "0.3", "0.05"),
        "instant_share": ("5", "0.1", "0.5"),
        "key_data_completeness": ("10", "0.9", "1"),
    }
    return {
        "format": FORMAT,
        "indicators": [{"id": key, "weight": w, "floor": lo, "target": hi} for key, (w, lo, hi) in weights.items()],
        "deductions": {
            "yellow_card": {"points": "5", "per_cases": 100, "cap": "20"},
            "red_card": {"points": "10", "per_cases": 100, "cap": "30"},
        },
        "bonuses": {"early_finish": {"max_budget_share": "0.5", "points_per_percent": "0.1", "cap": "5"}},
        "normalisation": {"item_mix": True},
        "min_cases": {"county": 30, "department": 10, "window": 10},
    }


# -- parsing ------------------------------------------------------------------------------------------------------


def _fail(message: str, field: str) -> StandardsError:
    return StandardsError(f"考核评分规则错误：{message}", field=field)


def _mapping(raw: Any, field: str) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise _fail(f"“{field}”应为对象", field)
    return raw


def _only(raw: Mapping[str, Any], allowed: set[str], field: str) -> None:
    unknown = sorted(str(k) for k in raw if k not in allowed)
    if unknown:
        where = f"{field}.{unknown[0]}" if field else unknown[0]
        raise _fail(f"未知字段“{where}”", where)


def _decimal(raw: Any, field: str, *, minimum: Decimal | None = None, maximum: Decimal | None = None) -> Decimal:
    if isinstance(raw, bool) or raw is None:
        raise _fail(f"“{field}”应为数值", field)
    if isinstance(raw, float):
        if not math.isfinite(raw):
            raise _fail(f"“{field}”应为有限数值", field)
        raw = repr(raw)
    if not isinstance(raw, int | str | Decimal):
        raise _fail(f"“{field}”应为数值", field)
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation:
        raise _fail(f"“{field}”的值“{raw}”不是数值", field) from None
    if not value.is_finite():
        raise _fail(f"“{field}”应为有限数值", field)
    if minimum is not None and value < minimum:
        raise _fail(f"“{field}”不能小于 {minimum}", field)
    if maximum is not None and value > maximum:
        raise _fail(f"“{field}”不能大于 {maximum}", field)
    return value


def _int(raw: Any, field: str, *, minimum: int) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise _fail(f"“{field}”应为整数", field)
    try:
        value = int(raw)
    except ValueError:
        raise _fail(f"“{field}”的值“{raw}”不是整数", field) from None
    if value < minimum:
        raise _fail(f"“{field}”不能小于 {minimum}", field)
    return value


def _indicator(raw: Any, n: int) -> IndicatorRule:
    where = f"indicators[{n}]"
    item = _mapping(raw, where)
    _only(item, {"id", "name", "weight", "floor", "target"}, where)
    indicator_id = item.get("id")
    if not isinstance(indicator_id, str):
        raise _fail(f"“{where}.id”应为指标编码", f"{where}.id")
    spec = INDICATORS.get(indicator_id)
    if spec is None:
        known = "、".join(INDICATORS)
        raise _fail(f"未知指标“{indicator_id}”（可用：{known}）", f"{where}.id")
    where = f"indicators.{indicator_id}"
    name = item.get("name", spec.name)
    if not isinstance(name, str) or not name.strip():
        raise _fail(f"“{where}.name”应为非空文本", f"{where}.name")
    for key in ("weight", "floor", "target"):
        if key not in item:
            raise _fail(f"指标“{indicator_id}”缺少“{key}”", f"{where}.{key}")
    weight = _decimal(item["weight"], f"{where}.weight", minimum=Decimal(0), maximum=Decimal(100))
    upper = Decimal(1) if spec.unit == "rate" else None
    floor = _decimal(item["floor"], f"{where}.floor", minimum=Decimal(0), maximum=upper)
    target = _decimal(item["target"], f"{where}.target", minimum=Decimal(0), maximum=upper)
    if floor == target:
        raise _fail(f"指标“{indicator_id}”的 floor 与 target 不能相等", f"{where}.target")
    better_high = target > floor
    if better_high != (spec.direction is Direction.HIGHER_BETTER):
        want = "高于" if spec.direction is Direction.HIGHER_BETTER else "低于"
        raise _fail(f"指标“{indicator_id}”的 target 应{want} floor（{spec.name}）", f"{where}.target")
    return IndicatorRule(indicator_id, name.strip(), weight, floor, target)


def _card(raw: Any, field: str) -> CardDeduction:
    item = _mapping(raw, field)
    _only(item, {"points", "per_cases", "cap"}, field)
    for key in ("points", "per_cases", "cap"):
        if key not in item:
            raise _fail(f"“{field}”缺少“{key}”", f"{field}.{key}")
    return CardDeduction(
        points=_decimal(item["points"], f"{field}.points", minimum=Decimal(0), maximum=Decimal(100)),
        per_cases=_int(item["per_cases"], f"{field}.per_cases", minimum=1),
        cap=_decimal(item["cap"], f"{field}.cap", minimum=Decimal(0), maximum=Decimal(100)),
    )


def _bonus(raw: Any, field: str) -> BonusRule:
    item = _mapping(raw, field)
    _only(item, {"max_budget_share", "points_per_percent", "cap"}, field)
    for key in ("max_budget_share", "points_per_percent", "cap"):
        if key not in item:
            raise _fail(f"“{field}”缺少“{key}”", f"{field}.{key}")
    share = _decimal(item["max_budget_share"], f"{field}.max_budget_share", minimum=Decimal(0), maximum=Decimal(1))
    if share * 100 != int(share * 100):
        raise _fail("“max_budget_share”应为整百分比（如 0.5）", f"{field}.max_budget_share")
    return BonusRule(
        max_budget_share=share,
        points_per_percent=_decimal(item["points_per_percent"], f"{field}.points_per_percent", minimum=Decimal(0)),
        cap=_decimal(item["cap"], f"{field}.cap", minimum=Decimal(0), maximum=Decimal(100)),
    )


def parse_scoring_rules(raw: Mapping[str, Any]) -> ScoringRules:
    """Parse and check the ``scoring_rules`` mapping of a standards bundle.

    Raises :class:`StandardsError` with a Chinese message naming the bad field: unknown fields or indicator ids,
    mistyped numbers, weights not adding up to 100, a duplicated indicator, an empty mapping (a bundle that carries
    no scoring rules cannot be scored; see :func:`default_scoring_rules`).
    """
    top = _mapping(raw, "scoring_rules")
    if not top:
        raise _fail("标准包未包含考核评分规则（scoring_rules 为空）", "scoring_rules")
    _only(top, {"format", "indicators", "deductions", "bonuses", "normalisation", "min_cases"}, "")
    if top.get("format", FORMAT) != FORMAT:
        raise _fail(f"格式应为 {FORMAT}", "format")
    items = top.get("indicators")
    if not isinstance(items, list) or not items:
        raise _fail("“indicators”应为非空数组", "indicators")
    indicators = tuple(_indicator(item, n) for n, item in enumerate(items))
    ids = [i.id for i in indicators]
    for indicator_id in ids:
        if ids.count(indicator_id) > 1:
            raise _fail(f"指标“{indicator_id}”重复", f"indicators.{indicator_id}")
    total = sum((i.weight for i in indicators), Decimal(0))
    if total != 100:
        raise _fail(f"指标权重之和应为 100，实为 {total}", "indicators.weight")

    deductions = _mapping(top.get("deductions"), "deductions")
    _only(deductions, {"yellow_card", "red_card"}, "deductions")
    for key in ("yellow_card", "red_card"):
        if key not in deductions:
            raise _fail(f"“deductions”缺少“{key}”", f"deductions.{key}")
    bonuses = _mapping(top.get("bonuses"), "bonuses")
    _only(bonuses, {"early_finish"}, "bonuses")
    if "early_finish" not in bonuses:
        raise _fail("“bonuses”缺少“early_finish”", "bonuses.early_finish")

    norm = _mapping(top.get("normalisation", {"item_mix": True}), "normalisation")
    _only(norm, {"item_mix"}, "normalisation")
    item_mix = norm.get("item_mix", True)
    if not isinstance(item_mix, bool):
        raise _fail("“normalisation.item_mix”应为 true 或 false", "normalisation.item_mix")

    raw_min = _mapping(top.get("min_cases"), "min_cases")
    _only(raw_min, set(LEVELS), "min_cases")
    min_cases: dict[str, int] = {}
    for level in LEVELS:
        if level not in raw_min:
            raise _fail(f"“min_cases”缺少“{level}”", f"min_cases.{level}")
        min_cases[level] = _int(raw_min[level], f"min_cases.{level}", minimum=1)

    return ScoringRules(
        indicators=indicators,
        yellow_card=_card(deductions["yellow_card"], "deductions.yellow_card"),
        red_card=_card(deductions["red_card"], "deductions.red_card"),
        early_finish=_bonus(bonuses["early_finish"], "bonuses.early_finish"),
        item_mix=item_mix,
        min_cases=min_cases,
    )
