"""The minimum sample per measure (小样本): each indicator, deduction and bonus is counted over its basis — cases
accepted in the period for volume, cases decided for the clock — and one whose basis is below ``min_cases`` is shown
as such, scores nothing (null, not 0), and the weighted part is scaled to 100 over the measured weights."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from city_aggregator.scoring.domain import (
    MEASURES,
    ScoredSubject,
    SubjectKey,
    rank_subjects,
    samples,
    scale_to_100,
    score_subject,
)
from federation.scoring_rules import INDICATORS, Basis, ScoringRules, default_scoring_rules, parse_scoring_rules
from federation.storage.outbox import canonical_json
from federation.storage.scores_replica import small_sample_parts, top_losses

RULES = parse_scoring_rules(default_scoring_rules())  # min_cases: county 30, department 10, window 10


def _m(**counts: int) -> list[int]:
    assert set(counts) <= set(MEASURES)
    return [counts.get(name, 0) for name in MEASURES]


def _score(subject: str, measures: list[int], level: str = "county", rules: ScoringRules = RULES) -> ScoredSubject:
    key = SubjectKey(level, subject, subject[:6], "37" if level == "county" else subject[:6])
    return score_subject(key, measures, rules, rules_version="v", period="2026-11", scope_on_time=None)


def _parts(s: ScoredSubject) -> dict[str, dict[str, Any]]:
    return {i["id"]: i for i in s.breakdown["indicators"]}


# the demo's first days: many cases accepted, few decided yet
FEW_DECIDED = _m(accepted=80, instant=8, yellow=2, red=1, cases=3, on_time=1, eligible=3, used_days=9, budget_days=15)


def test_every_indicator_has_a_basis_and_the_clock_counts_decided_cases() -> None:
    bases = {i: spec.basis for i, spec in INDICATORS.items()}
    assert bases == {
        "on_time_rate": Basis.DECIDED,
        "yellow_cards_per_100": Basis.ACCEPTED,
        "red_cards_per_100": Basis.ACCEPTED,
        "budget_used_share": Basis.BUDGETED,
        "complaints_per_1000": Basis.ACCEPTED,
        "complaint_on_time_response": Basis.COMPLAINTS,
        "negative_follow_up": Basis.NEGATIVES,
        "correction_rate": Basis.DECIDED,
        "instant_share": Basis.ACCEPTED,
        "key_data_completeness": Basis.ACCEPTED,
    }


def test_enough_accepted_cases_score_and_rank_on_the_measures_they_have_data_for() -> None:
    s = _score("371122", FEW_DECIDED)
    parts = _parts(s)
    # counted over the 3 decided cases (fewer than 30): left out, no points and no loss (null) — not 0
    assert samples(dict(zip(MEASURES, FEW_DECIDED, strict=True))) == {
        Basis.ACCEPTED: 80,
        Basis.DECIDED: 3,
        Basis.BUDGETED: 3,
        Basis.COMPLAINTS: 0,
        Basis.NEGATIVES: 0,
    }
    for indicator_id in ("on_time_rate", "budget_used_share", "correction_rate"):
        assert (parts[indicator_id]["points"], parts[indicator_id]["lost"]) == (None, None)
    assert parts["on_time_rate"]["value"] == "0.3333"  # still shown: the record behind the mark
    # counted over the 80 accepted cases
    assert (parts["yellow_cards_per_100"]["value"], parts["yellow_cards_per_100"]["points"]) == ("2.5000", "3.75")
    assert (parts["red_cards_per_100"]["value"], parts["red_cards_per_100"]["points"]) == ("1.2500", "3.75")
    assert (parts["instant_share"]["value"], parts["instant_share"]["points"]) == ("0.1000", "0.00")
    assert (parts["complaints_per_1000"]["points"], parts["key_data_completeness"]["points"]) == ("10.00", "10.00")
    # no complaint or negative rating to judge: nothing to fault, full weight (no minimum for these)
    assert (parts["complaint_on_time_response"]["value"], parts["complaint_on_time_response"]["points"]) == (
        None,
        "10.00",
    )
    b = s.breakdown
    # 3.75 + 3.75 + 10 + 10 + 10 + 0 + 10 = 47.50 of the 55 measured points → 86.36 of 100
    assert (b["measured_points"], b["measured_weight"], b["weighted"]) == ("47.50", "55", "86.36")
    # cards per 100 accepted cases: 5 · 2 · 100/80 = 12.50 and 10 · 1 · 100/80 = 12.50
    assert [(d["count"], d["points"]) for d in b["deductions"]] == [(2, "-12.50"), (1, "-12.50")]
    assert b["deductions_total"] == "-25.00"
    # finishing early is a share of the 3 budgeted decided cases: not enough, not applied, and said so
    assert [(x["count"], x["of"], x["points"]) for x in b["bonuses"]] == [(0, 3, None)]
    assert b["bonuses_total"] == "0.00"
    assert (s.score, s.small_sample, s.cases) == (Decimal("61.36"), False, 3)
    assert b["min_sample"] == 30
    assert small_sample_parts(b) == ["按时办结率", "时限使用率", "补正率", "提前办结加分"]
    assert "按时办结率" not in dict(top_losses(b, 10))  # left out is not lost


def test_a_subject_with_too_few_cases_on_every_case_basis_is_scored_marked_and_not_ranked() -> None:
    few = _score("371123", _m(accepted=29, cases=29, on_time=29, eligible=29, used_days=29, budget_days=145, yellow=5))
    assert few.small_sample
    parts = _parts(few)
    assert [i for i, p in parts.items() if p["points"] is not None] == [
        "complaint_on_time_response",
        "negative_follow_up",
    ]
    assert few.breakdown["measured_weight"] == "20"
    assert [d["points"] for d in few.breakdown["deductions"]] == [None, None]  # 5 cards over 29 cases: not deducted
    ranked = _score("371122", FEW_DECIDED)
    assert rank_subjects([few, ranked]) == {few.key: (None, 1), ranked.key: (1, 1)}


def test_with_every_sample_large_enough_the_weighted_part_is_the_plain_sum() -> None:
    s = _score(
        "371122",
        _m(accepted=120, instant=60, cases=100, on_time=100, eligible=50, early=50, used_days=25, budget_days=50),
    )
    b = s.breakdown
    assert all(i["points"] is not None for i in b["indicators"])
    assert (b["measured_weight"], b["measured_points"], b["weighted"]) == ("100", "100.00", "100.00")
    assert small_sample_parts(b) == []
    assert s.score == Decimal("105.00")  # 100 + the early-finish bonus capped at 5 (every budgeted case early)


def test_the_minimum_is_the_subject_levels() -> None:
    window = _score("371122/W01", _m(accepted=12, cases=4, on_time=4), level="window")  # window minimum 10
    parts = _parts(window)
    assert parts["instant_share"]["points"] is not None
    assert parts["on_time_rate"]["points"] is None
    assert not window.small_sample
    assert window.breakdown["min_sample"] == 10


def test_a_rule_set_without_decided_measures_still_ranks_on_accepted_cases() -> None:
    raw = default_scoring_rules()
    raw["min_cases"] = {"county": 50, "department": 10, "window": 10}
    rules = parse_scoring_rules(raw)
    assert _score("371122", FEW_DECIDED, rules=rules).small_sample is False  # 80 accepted ≥ 50
    assert _score("371122", _m(accepted=49, cases=49, on_time=49), rules=rules).small_sample is True


def test_scaling_to_100() -> None:
    assert scale_to_100(Decimal("47.50"), Decimal(55), Decimal(100)) == Decimal("86.36")
    assert scale_to_100(Decimal("63.20"), Decimal(100), Decimal(100)) == Decimal("63.20")
    assert scale_to_100(Decimal("0.00"), Decimal(0), Decimal(100)) == Decimal("0.00")


def test_the_breakdown_is_canonical_json_with_or_without_small_samples() -> None:
    for measures in (FEW_DECIDED, _m(accepted=3, cases=1), _m(accepted=100, cases=100, on_time=90, yellow=3)):
        s = _score("371122", measures)
        assert s.breakdown_json == canonical_json(json.loads(s.breakdown_json))
