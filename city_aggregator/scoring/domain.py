"""Scoring, pure: points from monthly aggregates under :class:`~federation.scoring_rules.ScoringRules`.

No I/O. The adapters hand over, per subject (county, department, window) and month, integer counts
(:data:`MEASURES`); this module sums them into periods, turns them into indicator values, points, deductions and
bonuses with :class:`~decimal.Decimal` arithmetic quantised at fixed places, and ranks the subjects. Every number
that enters a score is an integer count or a Decimal derived from counts, so the same counts and the same rules
give the same scores byte for byte on every node.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from federation.scoring_rules import INDICATORS, ScoringRules, quantize_points

__all__ = [
    "BONUS_NAMES",
    "DEDUCTION_NAMES",
    "MEASURES",
    "MICRO",
    "ScoredSubject",
    "SubjectKey",
    "add_measures",
    "rank_subjects",
    "score_subject",
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
    "instant",  # cases of instant items (即办件)
    "corrected",  # cases with at least one correction request (补正)
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
        self.indicators = [
            (
                rule.id,
                rule.weight,
                quantize_points(rule.weight),
                rule.floor,
                rule.target - rule.floor,
                '{"id":' + _j(rule.id) + ',"lost":"',
                '","name":' + _j(rule.name) + ',"points":"',
                '","unit":' + _j(INDICATORS[rule.id].unit) + ',"value":',
                ',"weight":' + _j(str(rule.weight)) + "}",
            )
            for rule in rules.indicators
        ]
        self.yellow = ',"id":"yellow_card","name":' + _j(DEDUCTION_NAMES["yellow_card"]) + ',"points":"'
        self.red = ',"id":"red_card","name":' + _j(DEDUCTION_NAMES["red_card"]) + ',"points":"'
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


def _indicator_values(m: Mapping[str, int], scope_on_time: Decimal | None, item_mix: bool) -> dict[str, Any]:
    """Each indicator's value (a Decimal to 4 places, or None when there is nothing to measure) and, for the
    on-time rate, the reference it was normalised with."""
    cases = m["cases"]
    actual = _rate(m["on_time"], cases)
    on_time = actual
    expected: Decimal | None = None
    if actual is not None and item_mix and scope_on_time is not None:
        expected = (Decimal(m["expected_micro"]) / Decimal(MICRO * cases)).quantize(_RATE)
        on_time = min(Decimal(1), max(Decimal(0), actual - expected + scope_on_time)).quantize(_RATE)
    key_missing = _rate(m["key_missing"], cases)
    return {
        "on_time_rate": on_time,
        "yellow_cards_per_100": _rate(m["yellow"], cases, 100),
        "red_cards_per_100": _rate(m["red"], cases, 100),
        "budget_used_share": _rate(m["used_days"], m["budget_days"]),
        "complaints_per_1000": _rate(m["complaints"], cases, 1000),
        "complaint_on_time_response": _rate(m["complaints_on_time"], m["complaints_on_time"] + m["complaints_missed"]),
        "negative_follow_up": _rate(m["negatives_on_time"], m["negatives_on_time"] + m["negatives_missed"]),
        "correction_rate": _rate(m["corrected"], cases),
        "instant_share": _rate(m["instant"], cases),
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
    """The score of one subject for one period from its summed counts."""
    t = _templates(rules)
    m = dict(zip(MEASURES, measures, strict=True))
    values = _indicator_values(m, scope_on_time, rules.item_mix)
    parts = []
    weighted = Decimal("0.00")
    for rule_id, weight, full, floor, span, a, b, c, d in t.indicators:
        value = values[rule_id]
        if value is None:  # IndicatorRule.points, inlined with its constants computed once
            points = full
        else:
            points = (weight * min(_ONE, max(_ZERO, (value - floor) / span))).quantize(_CENT, rounding=ROUND_HALF_UP)
        weighted += points
        lost = (weight - points).quantize(_CENT, rounding=ROUND_HALF_UP)
        parts.append(f"{a}{lost}{b}{points}{c}{_jd(value)}{d}")
    cases = m["cases"]
    yellow = rules.yellow_card.deduct(m["yellow"], cases)
    red = rules.red_card.deduct(m["red"], cases)
    early = rules.early_finish.bonus(m["early"], m["eligible"])
    total = quantize_points(max(Decimal(0), weighted - yellow - red + early))
    small = cases < rules.min_cases[key.level]
    measures_json = t.measures.format(*(int(v) for v in measures))
    scope_text = _jd(scope_on_time)
    breakdown_json = (
        f'{{"bonuses":[{{"count":{m["early"]}{t.early}{m["eligible"]},"points":"{early}"}}],'
        f'"bonuses_total":"{early}",'
        f'"deductions":[{{"count":{m["yellow"]}{t.yellow}{-yellow}"}},{{"count":{m["red"]}{t.red}{-red}"}}],'
        f'"deductions_total":"{-(yellow + red)}",'
        f'"indicators":[{",".join(parts)}],'
        f'"measures":{measures_json},'
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
    return ScoredSubject(key, cases, total, small, breakdown_json, digest)


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
