"""Scoring, pure: points from monthly aggregates under :class:`~federation.scoring_rules.ScoringRules`.

No I/O. The adapters hand over, per subject (county, department, window) and month, integer counts
(:data:`MEASURES`); this module sums them into periods, turns them into indicator values, points, deductions and
bonuses with :class:`~decimal.Decimal` arithmetic quantised at fixed places, and ranks the subjects. Every number
that enters a score is an integer count or a Decimal derived from counts, so the same counts and the same rules
give the same scores byte for byte on every node.

Each indicator, deduction and bonus is counted over its basis (:class:`~federation.scoring_rules.Basis`): cases
accepted in the period for volume, cases decided for the clock. The minimum sample (``min_cases``) applies per
measure: one whose basis is too small scores nothing — its points and loss are null in the breakdown, which is how it
is shown as 样本不足 (its sample is in the measures: :func:`samples`) — and the weighted part is the measured
indicators' points scaled to 100 over their weights (:func:`scale_to_100`).
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from federation.scoring_rules import (
    BASIS_LABELS,
    BONUS_BASIS,
    CASE_BASES,
    DEDUCTION_BASIS,
    INDICATORS,
    Basis,
    ScoringRules,
    quantize_points,
)

__all__ = [
    "BONUS_NAMES",
    "DEDUCTION_NAMES",
    "MEASURES",
    "MICRO",
    "ScoredSubject",
    "SubjectKey",
    "add_measures",
    "left_out",
    "rank_subjects",
    "samples",
    "scale_to_100",
    "score_subject",
    "small_sample_text",
]

#: The integer counts one aggregate row carries, in this order.
MEASURES = (
    "cases",  # cases decided (审批决定) in the month, i.e. concluded for the clock
    "on_time",  # … within their promised budget (plus extension)
    "expected_micro",  # Σ over those cases of their item's on-time rate across the scope that month, × 10^6
    "used_days",  # working days used by the non-instant ones (the decision day counts as one)
    "budget_days",  # … and their budgets (promised + extension)
    "early",  # non-instant cases that used at most the bonus's share of their budget
    "eligible",  # non-instant cases (the early-finish bonus's denominator)
    "corrected",  # cases with at least one correction request (补正)
    "accepted",  # cases accepted (受理) in the month
    "instant",  # … of instant items (即办件)
    "yellow",  # yellow cards (黄牌): alerts with a yellow light opened in the month
    "red",  # red cards (红牌)
    "key_missing",  # key-data-missing alerts (SUP-007) opened in the month
    "complaints",  # complaints filed in the month
    "complaints_on_time",  # … answered within their limit
    "complaints_missed",  # … answered late, or unanswered past their limit
    "negatives",  # negative ratings (差评) given in the month
    "negatives_on_time",  # … followed up within their limit
    "negatives_missed",  # … followed up late, or not followed up past their limit
)
_INDEX = {name: i for i, name in enumerate(MEASURES)}
MICRO = 1_000_000
_RATE = Decimal("0.0001")
_CENT = Decimal("0.01")
_ONE = Decimal(1)
_ZERO = Decimal(0)

DEDUCTION_NAMES = {"yellow_card": "黄牌扣分", "red_card": "红牌扣分"}
BONUS_NAMES = {"early_finish": "提前办结加分"}


@dataclass(frozen=True, slots=True, order=True)
class SubjectKey:
    """Who is scored: ``level`` county | department | window; ``subject`` 371122 | 371122/市场监督管理局 | 371122/W03;
    ``group`` the set it is ranked within (the scope for counties, the department's name across the scope for
    departments, the county for its windows)."""

    level: str
    subject: str
    county: str
    group: str


def add_measures(into: list[int], row: Sequence[int]) -> None:
    for i, v in enumerate(row):
        into[i] += v


def _rate(num: int, den: int, scale: int = 1) -> Decimal | None:
    if den <= 0:
        return None
    return (Decimal(num * scale) / Decimal(den)).quantize(_RATE)


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True, slots=True)
class ScoredSubject:
    key: SubjectKey
    cases: int
    score: Decimal
    small_sample: bool
    breakdown_json: str  # the breakdown as canonical JSON (sorted keys, no spaces, UTF-8 text)
    input_digest: str

    @property
    def breakdown(self) -> dict[str, Any]:
        """The breakdown: points, value and loss per indicator, deductions, bonuses, the measures, the reference."""
        value: dict[str, Any] = json.loads(self.breakdown_json)
        return value


@functools.lru_cache(maxsize=65536)
def _j(value: Any) -> str:
    """One value as canonical JSON (what ``federation.storage.outbox.canonical_json`` writes)."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _jd(value: Decimal | None) -> str:
    """A Decimal's text as a JSON string (digits, sign, point, exponent: nothing to escape), or null."""
    return "null" if value is None else f'"{value}"'


class _Templates:
    """The constant parts of one rules' breakdown JSON, encoded once: a subject's breakdown is then assembled from
    its numbers by string formatting, byte for byte what the canonical encoder writes for the same dict (keys
    sorted, no spaces), at a fraction of the cost."""

    def __init__(self, rules: ScoringRules) -> None:
        self.rules = rules  # kept alive while cached, so the cache key (its id) cannot be reused
        # per indicator: its id and basis; whether the minimum sample applies to it, and whether, measured, it makes
        # its subject rankable (a case basis and a weight); its weight and scale; the constant parts of its JSON
        self.indicators = [
            (
                rule.id,
                INDICATORS[rule.id].basis,
                INDICATORS[rule.id].basis in CASE_BASES,
                INDICATORS[rule.id].basis in CASE_BASES and rule.weight > 0,
                rule.weight,
                quantize_points(rule.weight),
                rule.floor,
                rule.target - rule.floor,
                '{"id":' + _j(rule.id) + ',"lost":',
                ',"name":' + _j(rule.name) + ',"points":',
                ',"unit":' + _j(INDICATORS[rule.id].unit) + ',"value":',
                ',"weight":' + _j(str(rule.weight)) + "}",
            )
            for rule in rules.indicators
        ]
        self.total_weight = sum((rule.weight for rule in rules.indicators), Decimal(0))
        self.yellow = ',"id":"yellow_card","name":' + _j(DEDUCTION_NAMES["yellow_card"]) + ',"points":'
        self.red = ',"id":"red_card","name":' + _j(DEDUCTION_NAMES["red_card"]) + ',"points":'
        self.early = (
            ',"id":"early_finish","max_budget_share":'
            + _j(str(rules.early_finish.max_budget_share))
            + ',"name":'
            + _j(BONUS_NAMES["early_finish"])
            + ',"of":'
        )
        order = sorted(range(len(MEASURES)), key=lambda i: MEASURES[i])
        self.measures = "{{" + ",".join(f'"{MEASURES[i]}":{{{i}}}' for i in order) + "}}"


_TEMPLATES: dict[int, _Templates] = {}


def _templates(rules: ScoringRules) -> _Templates:
    t = _TEMPLATES.get(id(rules))
    if t is None or t.rules is not rules:
        if len(_TEMPLATES) > 16:
            _TEMPLATES.clear()
        t = _TEMPLATES[id(rules)] = _Templates(rules)
    return t


def samples(m: Mapping[str, int]) -> dict[Basis, int]:
    """The size of each basis in a subject's counts: what its indicators, deductions and bonuses are counted over."""
    return {
        Basis.ACCEPTED: m["accepted"],
        Basis.DECIDED: m["cases"],
        Basis.BUDGETED: m["eligible"],
        Basis.COMPLAINTS: m["complaints_on_time"] + m["complaints_missed"],
        Basis.NEGATIVES: m["negatives_on_time"] + m["negatives_missed"],
    }


def small_sample_text(basis: Basis, breakdown: Mapping[str, Any]) -> str:
    """Why a part of a breakdown was left out: its basis and sample against the minimum (样本不足)."""
    return (
        f"样本不足（{BASIS_LABELS[basis]} {samples(breakdown['measures'])[basis]} 件，"
        f"少于 {breakdown['min_sample']} 件）"
    )


def left_out(breakdown: Mapping[str, Any]) -> dict[str, str]:
    """The 样本不足 text of each part a breakdown left out (null points): by indicator id, and ``deductions`` /
    ``bonuses`` for those."""
    out = {
        i["id"]: small_sample_text(INDICATORS[i["id"]].basis, breakdown)
        for i in breakdown["indicators"]
        if i["points"] is None
    }
    if any(d["points"] is None for d in breakdown["deductions"]):
        out["deductions"] = small_sample_text(DEDUCTION_BASIS, breakdown)
    if any(x["points"] is None for x in breakdown["bonuses"]):
        out["bonuses"] = small_sample_text(BONUS_BASIS, breakdown)
    return out


def scale_to_100(points: Decimal, measured_weight: Decimal, total_weight: Decimal) -> Decimal:
    """The weighted part: the measured indicators' ``points`` scaled to 100 over their weights (折算为百分制); the
    sum as it is when every indicator is measured, 0 when none is."""
    if measured_weight == total_weight:
        return points
    if measured_weight <= 0:
        return Decimal("0.00")
    return quantize_points(points * 100 / measured_weight)


def _indicator_values(m: Mapping[str, int], scope_on_time: Decimal | None, item_mix: bool) -> dict[str, Any]:
    """Each indicator's value over its basis (a Decimal to 4 places, or None when there is nothing to measure) and,
    for the on-time rate, the reference it was normalised with."""
    cases = m["cases"]
    accepted = m["accepted"]
    actual = _rate(m["on_time"], cases)
    on_time = actual
    expected: Decimal | None = None
    if actual is not None and item_mix and scope_on_time is not None:
        expected = (Decimal(m["expected_micro"]) / Decimal(MICRO * cases)).quantize(_RATE)
        on_time = min(Decimal(1), max(Decimal(0), actual - expected + scope_on_time)).quantize(_RATE)
    key_missing = _rate(m["key_missing"], accepted)
    return {
        "on_time_rate": on_time,
        "yellow_cards_per_100": _rate(m["yellow"], accepted, 100),
        "red_cards_per_100": _rate(m["red"], accepted, 100),
        "budget_used_share": _rate(m["used_days"], m["budget_days"]),
        "complaints_per_1000": _rate(m["complaints"], accepted, 1000),
        "complaint_on_time_response": _rate(m["complaints_on_time"], m["complaints_on_time"] + m["complaints_missed"]),
        "negative_follow_up": _rate(m["negatives_on_time"], m["negatives_on_time"] + m["negatives_missed"]),
        "correction_rate": _rate(m["corrected"], cases),
        "instant_share": _rate(m["instant"], accepted),
        "key_data_completeness": None if key_missing is None else max(Decimal(0), 1 - key_missing),
        "_actual_on_time": actual,
        "_expected_on_time": expected,
    }


def score_subject(
    key: SubjectKey,
    measures: Sequence[int],
    rules: ScoringRules,
    *,
    rules_version: str,
    period: str,
    scope_on_time: Decimal | None,
) -> ScoredSubject:
    """The score of one subject for one period from its summed counts.

    A measure whose case basis holds fewer than ``min_cases`` of the subject's level is left out: its points (and
    loss) are null — a deduction or bonus so marked is not applied — and the weighted part is the measured
    indicators' points scaled to 100 over their weights. The subject is ranked (``small_sample`` false) when at
    least one of its weighted case-based indicators is measured."""
    t = _templates(rules)
    m = dict(zip(MEASURES, measures, strict=True))
    values = _indicator_values(m, scope_on_time, rules.item_mix)
    size = samples(m)
    minimum = rules.min_cases[key.level]
    parts = []
    measured_points = Decimal("0.00")
    measured_weight = Decimal(0)
    rankable = False
    for rule_id, basis, sampled, ranking, weight, full, floor, span, a, b, c, d in t.indicators:
        value = values[rule_id]
        sample = size[basis]
        shown = "null" if value is None else f'"{value}"'
        if sampled and sample < minimum:  # left out: no points, no loss (null marks it; its sample is in the measures)
            parts.append(f"{a}null{b}null{c}{shown}{d}")
            continue
        if value is None:  # IndicatorRule.points, inlined with its constants computed once
            points = full
        else:
            points = (weight * min(_ONE, max(_ZERO, (value - floor) / span))).quantize(_CENT, rounding=ROUND_HALF_UP)
        measured_points += points
        measured_weight += weight
        if ranking:
            rankable = True
        lost = (weight - points).quantize(_CENT, rounding=ROUND_HALF_UP)
        parts.append(f'{a}"{lost}"{b}"{points}"{c}{shown}{d}')
    weighted = scale_to_100(measured_points, measured_weight, t.total_weight)
    deductions_sample = size[DEDUCTION_BASIS]
    deductions_small = deductions_sample < minimum
    yellow = None if deductions_small else rules.yellow_card.deduct(m["yellow"], deductions_sample)
    red = None if deductions_small else rules.red_card.deduct(m["red"], deductions_sample)
    early = None if size[BONUS_BASIS] < minimum else rules.early_finish.bonus(m["early"], m["eligible"])
    deducted = (yellow or _ZERO) + (red or _ZERO)
    added = early or Decimal("0.00")
    total = quantize_points(max(Decimal(0), weighted - deducted + added))
    small_sample = not rankable
    measures_json = t.measures.format(*(int(v) for v in measures))
    scope_text = _jd(scope_on_time)
    breakdown_json = (
        f'{{"bonuses":[{{"count":{m["early"]}{t.early}{m["eligible"]},"points":{_jd(early)}}}],'
        f'"bonuses_total":"{added}",'
        f'"deductions":[{{"count":{m["yellow"]}{t.yellow}{_jd(None if yellow is None else -yellow)}}},'
        f'{{"count":{m["red"]}{t.red}{_jd(None if red is None else -red)}}}],'
        f'"deductions_total":"{-deducted.quantize(_CENT)}",'
        f'"indicators":[{",".join(parts)}],'
        f'"measured_points":"{measured_points}","measured_weight":{_j(str(measured_weight))},'
        f'"measures":{measures_json},"min_sample":{minimum},'
        f'"reference":{{"actual_on_time_rate":{_jd(values["_actual_on_time"])},'
        f'"expected_on_time_rate":{_jd(values["_expected_on_time"])},"scope_on_time_rate":{scope_text}}},'
        f'"score":"{total}","weighted":"{weighted}"}}'
    )
    # the digest's input, canonical JSON of {rules_version, period, level, subject, measures, scope_on_time_rate}
    canonical = (
        f'{{"level":{_j(key.level)},"measures":{measures_json},"period":{_j(period)},'
        f'"rules_version":{_j(rules_version)},"scope_on_time_rate":{scope_text},"subject":{_j(key.subject)}}}'
    )
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return ScoredSubject(key, m["cases"], total, small_sample, breakdown_json, digest)


def rank_subjects(scored: Iterable[ScoredSubject]) -> dict[SubjectKey, tuple[int | None, int]]:
    """Competition ranking (1, 2, 2, 4) by score within each (level, group); small samples are not ranked.

    Returns ``{key: (rank or None, ranked_of)}``. Ties share a rank; the order among them is by subject, so the
    output never depends on the order the subjects came in."""
    groups: dict[tuple[str, str], list[ScoredSubject]] = {}
    for s in scored:
        groups.setdefault((s.key.level, s.key.group), []).append(s)
    out: dict[SubjectKey, tuple[int | None, int]] = {}
    for members in groups.values():
        ranked = sorted((s for s in members if not s.small_sample), key=lambda s: (-s.score, s.key.subject))
        n = len(ranked)
        previous: Decimal | None = None
        rank = 0
        for position, s in enumerate(ranked, start=1):
            if s.score != previous:
                rank, previous = position, s.score
            out[s.key] = (rank, n)
        for s in members:
            if s.small_sample:
                out[s.key] = (None, n)
    return out
