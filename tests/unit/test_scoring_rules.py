"""Scoring rules as data: parsing refuses bad rules with a clear Chinese error naming the field; points, deductions,
bonuses and ranking are exact Decimal arithmetic; periods parse."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest

from city_aggregator.scoring.domain import MEASURES, SubjectKey, rank_subjects, score_subject
from federation.errors import StandardsError, ValidationError
from federation.scoring_rules import (
    IndicatorRule,
    default_scoring_rules,
    expand_year,
    parse_period,
    parse_scoring_rules,
)
from federation.storage.scores_replica import top_losses


def test_the_default_rules_parse_and_round_trip() -> None:
    rules = parse_scoring_rules(default_scoring_rules())
    assert sum(i.weight for i in rules.indicators) == 100
    assert len(rules.indicators) == 10
    assert rules.yellow_card.points == 5
    assert rules.red_card.points == 10
    assert parse_scoring_rules(rules.to_dict()) == rules


def _bad(change: Any) -> str:
    raw = copy.deepcopy(default_scoring_rules())
    change(raw)
    with pytest.raises(StandardsError) as info:
        parse_scoring_rules(raw)
    return f"{info.value.message} {info.value.details.get('field')}"


def test_bad_rules_are_refused_naming_the_field() -> None:
    assert "权重之和应为 100，实为 101" in _bad(lambda r: r["indicators"][0].update(weight=31))
    assert "未知指标“satisfaction”" in _bad(lambda r: r["indicators"][0].update(id="satisfaction"))
    assert "indicators.on_time_rate.weight" in _bad(lambda r: r["indicators"][0].update(weight=True))
    assert "不是数值" in _bad(lambda r: r["indicators"][0].update(floor="九成"))
    assert "不能大于 1" in _bad(lambda r: r["indicators"][0].update(target="1.5"))
    assert "不能相等" in _bad(lambda r: r["indicators"][0].update(floor="1"))
    assert "target 应低于 floor" in _bad(lambda r: r["indicators"][1].update(floor="0", target="10"))
    assert "重复" in _bad(lambda r: r["indicators"].append(dict(r["indicators"][0])))
    assert "未知字段“colour”" in _bad(lambda r: r.update(colour="red"))
    assert "未知字段“deductions.yellow_card.per_case”" in _bad(
        lambda r: r["deductions"]["yellow_card"].update(per_case=1)
    )
    assert "缺少“red_card”" in _bad(lambda r: r["deductions"].pop("red_card"))
    assert "应为整数" in _bad(lambda r: r["min_cases"].update(county=2.5))
    assert "不能小于 1" in _bad(lambda r: r["min_cases"].update(window=0))
    assert "整百分比" in _bad(lambda r: r["bonuses"]["early_finish"].update(max_budget_share="0.333"))
    assert "item_mix" in _bad(lambda r: r["normalisation"].update(item_mix="yes"))
    assert "有限数值" in _bad(lambda r: r["indicators"][0].update(weight=float("nan")))
    with pytest.raises(StandardsError, match="未包含考核评分规则"):
        parse_scoring_rules({})


def test_points_are_linear_between_floor_and_target_and_clamped() -> None:
    higher = IndicatorRule("on_time_rate", "按时办结率", Decimal(30), Decimal("0.9"), Decimal(1))
    assert higher.points(Decimal("0.95")) == Decimal("15.00")
    assert higher.points(Decimal("0.5")) == Decimal("0.00")
    assert higher.points(Decimal("1")) == Decimal("30.00")
    assert higher.points(None) == Decimal("30.00")  # nothing to measure: full weight
    lower = IndicatorRule("complaints_per_1000", "每千件投诉数", Decimal(10), Decimal(3), Decimal(0))
    assert lower.points(Decimal(1)) == Decimal("6.67")  # 10 · 2/3, rounded half up
    assert lower.points(Decimal(5)) == Decimal("0.00")


def test_deductions_per_card_are_normalised_per_cases_and_capped() -> None:
    rules = parse_scoring_rules(default_scoring_rules())
    assert rules.yellow_card.deduct(3, 200) == Decimal("7.50")  # 5 · 3 · 100/200
    assert rules.yellow_card.deduct(30, 200) == Decimal("20")  # capped
    assert rules.red_card.deduct(0, 200) == Decimal("0.00")
    assert rules.early_finish.bonus(40, 100) == Decimal("4.00")  # 0.1 per percent
    assert rules.early_finish.bonus(90, 100) == Decimal("5")  # capped


def _m(**counts: int) -> list[int]:
    return [counts.get(name, 0) for name in MEASURES]


def test_ties_share_a_rank_small_samples_are_not_ranked_and_order_does_not_matter() -> None:
    rules = parse_scoring_rules(default_scoring_rules())
    subjects = {
        "371101": _m(accepted=100, cases=100, on_time=100),
        "371102": _m(accepted=100, cases=100, on_time=100),
        "371103": _m(accepted=100, cases=100, on_time=95, yellow=2),
        "371104": _m(accepted=5, cases=5, on_time=5),
    }
    scored = [
        score_subject(
            SubjectKey("county", s, s, "37"), m, rules, rules_version="v", period="2026-10", scope_on_time=None
        )
        for s, m in subjects.items()
    ]
    ranks = {k.subject: v for k, v in rank_subjects(scored).items()}
    assert ranks == {"371101": (1, 3), "371102": (1, 3), "371103": (3, 3), "371104": (None, 3)}
    assert {k.subject: v for k, v in rank_subjects(list(reversed(scored))).items()} == ranks
    third = next(s for s in scored if s.key.subject == "371103")
    assert top_losses(third.breakdown, 2) == [("按时办结率", Decimal("-15.00")), ("黄牌扣分", Decimal("-10.00"))]


def test_periods() -> None:
    assert parse_period("2026-10").months == ("2026-10",)
    assert parse_period("2026-Q4").months == ("2026-10", "2026-11", "2026-12")
    assert len(parse_period("2026").months) == 12
    assert parse_period("2026-Q4").end_day.isoformat() == "2027-01-01"
    assert len(expand_year(2026)) == 17
    for bad in ("2026-13", "2026-Q5", "26-10", "1999", "2026/10"):
        with pytest.raises(ValidationError, match="考核周期"):
            parse_period(bad)
