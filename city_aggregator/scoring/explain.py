"""Explaining a county's score (评分说明): every indicator, deduction and bonus with the records behind it.

:func:`explain_score` reads the stored score of a county and period, lists the records each part was counted
from (alert ids, case numbers, complaint and rating ids) with the same SQL the run uses, restricted to that
county, and checks the stored totals: the points add up to the score, and the records still count what the run
counted — if not, the data changed since the scores were computed and the explanation says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, and_, literal, or_, select
from sqlalchemy.engine import Connection

from city_aggregator.scoring.adapters.aggregates import KEY_DATA_RULE, accepted_facts, case_facts, day_table
from city_aggregator.scoring.domain import scale_to_100
from city_aggregator.scoring.service import LOOKBACK_YEARS
from federation.errors import NotFound
from federation.scoring_rules import parse_period
from federation.storage.scores_replica import latest_rules_version, read_scores
from federation.storage.standards_store import load_calendar
from federation.storage.tables import alerts, complaints, ratings
from federation.storage.types import UTCDateTime
from federation.storage.uow import UnitOfWork
from federation.timeutil import start_of_local_day

__all__ = ["RECORD_LABELS", "Explanation", "explain_score"]

#: How a person reads each kind of record a score explanation lists (the CLI and the page).
RECORD_LABELS = {
    "late_cases": "超期办结的办件",
    "early_cases": "提前办结的办件（加分）",
    "corrected_cases": "发生补正的办件",
    "yellow_cards": "黄牌（预警）",
    "red_cards": "红牌（超期）",
    "key_data_alerts": "关键数据缺失预警",
    "complaints": "投诉",
    "complaints_missed": "未按时答复的投诉",
    "negative_ratings": "差评",
    "negative_ratings_missed": "未按时回访的差评",
}


@dataclass(frozen=True, slots=True)
class Explanation:
    computed_by: str
    rules_version: str
    period: str
    county: str
    row: dict[str, Any]  # the stored score row (county level)
    records: dict[str, list[str]]  # what each part was counted from
    recount: dict[str, int]  # the counts the records give now
    changed: dict[str, tuple[int, int]]  # measure -> (stored, now) where they differ
    arithmetic_ok: bool

    def to_dict(self) -> dict[str, Any]:
        b = self.row["breakdown"]
        return {
            "computed_by": self.computed_by,
            "rules_version": self.rules_version,
            "period": self.period,
            "county": self.county,
            "score": str(Decimal(self.row["score"]).quantize(Decimal("0.01"))),
            "rank": self.row["rank"],
            "ranked_of": self.row["ranked_of"],
            "small_sample": bool(self.row["small_sample"]),
            "cases": self.row["cases"],
            "breakdown": b,
            "records": self.records,
            "check": {
                "arithmetic_ok": self.arithmetic_ok,
                "data_changed": bool(self.changed),
                "changed": {k: {"stored": s, "now": n} for k, (s, n) in sorted(self.changed.items())},
            },
        }


def _ids(conn: Connection, stmt: Any) -> list[str]:
    return sorted(str(r[0]) for r in conn.execute(stmt))


def _records(conn: Connection, county: str, period: str, now: datetime, early_percent: int) -> dict[str, list[str]]:
    p = parse_period(period)
    first, end = p.first_day, p.end_day
    lo, hi = start_of_local_day(first), start_of_local_day(end)
    out: dict[str, list[str]] = {}
    calendar = load_calendar(conn)
    with day_table(conn, calendar, date(first.year - LOOKBACK_YEARS, 1, 1), end) as days:
        facts = case_facts(conn, days, scope=county, first=first, end=end, early_percent=early_percent)
        rows = conn.execute(
            select(facts.c.case_no, facts.c.on_time, facts.c.early, facts.c.corrected).where(facts.c.origin == county)
        ).all()
        accepted = accepted_facts(conn, scope=county, first=first, end=end)
        taken = conn.execute(select(accepted.c.case_no, accepted.c.instant).where(accepted.c.origin == county)).all()
    out["accepted_cases"] = sorted(r[0] for r in taken)
    out["instant_cases"] = sorted(r[0] for r in taken if r[1])
    out["cases"] = sorted(r[0] for r in rows)
    out["late_cases"] = sorted(r[0] for r in rows if not r[1])
    out["early_cases"] = sorted(r[0] for r in rows if r[2])
    out["corrected_cases"] = sorted(r[0] for r in rows if r[3])
    a = alerts.c
    in_period = and_(a.origin == county, a.opened_at >= lit(lo), a.opened_at < lit(hi))
    out["yellow_cards"] = _ids(conn, select(a.alert_id).where(in_period, a.light == "yellow"))
    out["red_cards"] = _ids(conn, select(a.alert_id).where(in_period, a.light == "red"))
    out["key_data_alerts"] = _ids(conn, select(a.alert_id).where(in_period, a.rule_id == KEY_DATA_RULE))
    q = complaints.c
    filed = and_(q.origin == county, q.filed_at >= lit(lo), q.filed_at < lit(hi))
    out["complaints"] = _ids(conn, select(q.complaint_id).where(filed))
    out["complaints_missed"] = _ids(
        conn,
        select(q.complaint_id).where(
            filed, or_(q.answered_at > q.idx_due_at, and_(q.answered_at.is_(None), q.idx_due_at <= lit(now)))
        ),
    )
    r = ratings.c
    rated = and_(r.origin == county, r.negative.is_(True), r.at >= lit(lo), r.at < lit(hi))
    out["negative_ratings"] = _ids(conn, select(r.rating_id).where(rated))
    out["negative_ratings_missed"] = _ids(
        conn,
        select(r.rating_id).where(
            rated, or_(r.followed_up_at > r.idx_due_at, and_(r.followed_up_at.is_(None), r.idx_due_at <= lit(now)))
        ),
    )
    return out


def lit(moment: datetime) -> Any:
    return literal(moment, UTCDateTime)


_RECOUNT = {
    "accepted": "accepted_cases",
    "cases": "cases",
    "early": "early_cases",
    "corrected": "corrected_cases",
    "instant": "instant_cases",
    "yellow": "yellow_cards",
    "red": "red_cards",
    "key_missing": "key_data_alerts",
    "complaints": "complaints",
    "complaints_missed": "complaints_missed",
    "negatives": "negative_ratings",
    "negatives_missed": "negative_ratings_missed",
}


def _sum(parts: list[dict[str, Any]]) -> Decimal:
    """The sum of the parts' points, those left out for a small sample (null) not counted."""
    return sum((Decimal(p["points"]) for p in parts if p["points"] is not None), Decimal(0))


def _arithmetic_ok(row: dict[str, Any]) -> bool:
    b = row["breakdown"]
    indicators = b["indicators"]
    measured = _sum(indicators)
    measured_weight = sum((Decimal(i["weight"]) for i in indicators if i["points"] is not None), Decimal(0))
    total_weight = sum((Decimal(i["weight"]) for i in indicators), Decimal(0))
    weighted = scale_to_100(measured, measured_weight, total_weight)
    total = max(Decimal(0), weighted + _sum(b["deductions"]) + _sum(b["bonuses"]))
    return (
        measured == Decimal(b.get("measured_points", measured))
        and weighted == Decimal(b["weighted"])
        and total == Decimal(b["score"])
        and Decimal(b["score"]) == Decimal(row["score"]).quantize(Decimal("0.01"))
    )


def explain_score(
    engine: Engine,
    *,
    node: str | None,
    county: str,
    period: str,
    now: datetime,
    rules_version: str | None = None,
) -> Explanation:
    """The explanation of ``county``'s score for ``period`` as computed by ``node`` (None: whoever computed the
    newest scores held here) under ``rules_version`` (None: the newest computed)."""
    label = parse_period(period).label
    with UnitOfWork(engine, readonly=True) as uow:
        conn = uow.conn
        if rules_version is None or node is None:
            found = latest_rules_version(conn, computed_by=node, period=label, county=county)
            if found is None:
                raise NotFound(f"没有 {county} 在 {label} 的考核评分，请先执行评分计算", county=county, period=label)
            node, rules_version = node or found[0], rules_version or found[1]
        rows = read_scores(
            conn, computed_by=node, rules_version=rules_version, period=label, level="county", subject=county
        )
        if not rows:
            raise NotFound(
                f"没有 {county} 在 {label} 的考核评分（计算节点 {node}，规则版本 {rules_version}）",
                county=county,
                period=label,
            )
        row = rows[0]
        early = next(b for b in row["breakdown"]["bonuses"] if b["id"] == "early_finish")
        early_percent = int(Decimal(str(early["max_budget_share"])) * 100)
        records = _records(conn, county, label, now, early_percent)
    measures = row["breakdown"]["measures"]
    recount = {m: len(records[key]) for m, key in _RECOUNT.items() if m in measures}
    changed = {m: (int(measures[m]), n) for m, n in recount.items() if int(measures[m]) != n}
    return Explanation(node, rules_version, label, county, row, records, recount, changed, _arithmetic_ok(row))
