"""A hand-built scoring data set (三个县, November 2026) whose every count and point is worked out by hand.

Counties 371122 (A) and 371123 (B) belong to city 3711; 371202 (C) to city 3712 and has one case only (a small
sample). Dates are China Standard Time; November 2026 has no holiday, so its working days are Monday–Friday.
The expected values are derived in ``test_scoring.py``.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, insert

from federation.standards import StandardsBundle
from federation.storage.standards_store import apply_bundle
from federation.storage.tables import alerts, case_pauses, cases, complaints, ratings
from federation.storage.uow import UnitOfWork
from federation.timeutil import CST

DEPT = "市场监督管理局"
NOW = datetime(2026, 12, 1, 10, 0, tzinfo=CST)


def cst(month: int, day: int, hour: int = 10) -> datetime:
    return datetime(2026, month, day, hour, 0, tzinfo=CST)


#: The scoring rules of the test bundle (weights add up to 100; per-card deductions per single case).
RULES: dict[str, Any] = {
    "format": "sunshine-scoring/1",
    "indicators": [
        {"id": "on_time_rate", "weight": 30, "floor": "0.5", "target": 1},
        {"id": "yellow_cards_per_100", "weight": 5, "floor": 50, "target": 0},
        {"id": "red_cards_per_100", "weight": 5, "floor": 50, "target": 0},
        {"id": "budget_used_share", "weight": 10, "floor": 1, "target": "0.5"},
        {"id": "complaints_per_1000", "weight": 10, "floor": 1000, "target": 0},
        {"id": "complaint_on_time_response", "weight": 10, "floor": 0, "target": 1},
        {"id": "negative_follow_up", "weight": 10, "floor": 0, "target": 1},
        {"id": "correction_rate", "weight": 5, "floor": "0.5", "target": 0},
        {"id": "instant_share", "weight": 5, "floor": 0, "target": "0.5"},
        {"id": "key_data_completeness", "weight": 10, "floor": "0.5", "target": 1},
    ],
    "deductions": {
        "yellow_card": {"points": 5, "per_cases": 1, "cap": 20},
        "red_card": {"points": 10, "per_cases": 1, "cap": 30},
    },
    "bonuses": {"early_finish": {"max_budget_share": "0.5", "points_per_percent": "0.1", "cap": 5}},
    "normalisation": {"item_mix": True},
    "min_cases": {"county": 3, "department": 2, "window": 2},
}


def _case(
    case_no: str,
    *,
    item: str,
    accepted: datetime,
    decided: datetime | None,
    window: str | None,
    budget: int,
) -> dict[str, Any]:
    return {
        "case_no": case_no,
        "origin": case_no[:6],
        "item_code": item,
        "item_name": "测试事项" + item,
        "department": DEPT,
        "kind": "instant" if budget == 0 else "promised",
        "standards_version": "2026.09.1",
        "status": "concluded" if decided else "in_review",
        "applicant": "申请人",
        "window": window,
        "data": {},
        "submitted_at": accepted,
        "accepted_at": accepted,
        "decided_at": decided,
        "concluded_at": decided,
        "decision": "approved" if decided else None,
        "fee_standard": Decimal("0"),
        "legal_budget": budget,
        "promised_budget": budget,
        "extension_days": 0,
        "event_count": 3,
        "pause_count": 0,
        "updated_at": decided or accepted,
    }


CASES = [
    # A: A1 uses its whole budget of 5 (Nov 3, 4, 5, 6, 9): on time
    _case("371122-A1", item="ITEMA0001", accepted=cst(11, 2), decided=cst(11, 9), window="W01", budget=5),
    # A2 decided the next working day: used 1 — early
    _case("371122-A2", item="ITEMA0001", accepted=cst(11, 2), decided=cst(11, 3), window="W01", budget=5),
    # A3: a correction pause [Nov 4, Nov 6) moves its due day to Nov 11; decided Nov 13: used 7 > 5, late
    _case("371122-A3", item="ITEMA0001", accepted=cst(11, 2), decided=cst(11, 13), window="W02", budget=5),
    # A4 instant, decided the same day: on time; A5 instant, decided the next day: late
    _case("371122-A4", item="ITEMB0001", accepted=cst(11, 5, 9), decided=cst(11, 5, 15), window=None, budget=0),
    _case("371122-A5", item="ITEMB0001", accepted=cst(11, 5, 9), decided=cst(11, 6, 9), window=None, budget=0),
    # A6 is still running: not scored; A7 was decided in October: another period
    _case("371122-A6", item="ITEMA0001", accepted=cst(11, 20), decided=None, window="W01", budget=5),
    _case("371122-A7", item="ITEMA0001", accepted=cst(10, 20), decided=cst(10, 21), window="W01", budget=5),
    # B: three cases decided the next working day: on time and early
    *(
        _case(f"371123-B{i}", item="ITEMA0001", accepted=cst(11, 2), decided=cst(11, 3), window="W01", budget=5)
        for i in (1, 2, 3)
    ),
    # C: one case (used 2 of 5: early) — a small sample
    _case("371202-C1", item="ITEMA0001", accepted=cst(11, 2), decided=cst(11, 4), window="W01", budget=5),
]

PAUSES = [
    {
        "case_no": "371122-A3",
        "n": 1,
        "kind": "correction",
        "started_at": cst(11, 4),
        "ended_at": cst(11, 6),
        "reason": "补正材料",
    }
]


def _alert(alert_id: str, case_no: str, rule_id: str, light: str | None, opened: datetime) -> dict[str, Any]:
    return {
        "alert_id": alert_id,
        "origin": case_no[:6],
        "subject_kind": "case",
        "subject_id": case_no,
        "case_no": case_no,
        "rule_id": rule_id,
        "rule_version": 1,
        "rule_name": rule_id,
        "light": light,
        "status": "open",
        "standing": False,
        "level": 1,
        "department": DEPT,
        "standards_version": "2026.09.1",
        "opened_at": opened,
        "evidence": [],
        "clock": None,
        "details": {},
        "parameters": {},
        "history": [],
        "updated_at": opened,
    }


ALERTS = [
    _alert("371122-Y1", "371122-A3", "SUP-001", "yellow", cst(11, 10)),
    _alert("371122-Y2", "371122-A5", "SUP-001", "yellow", cst(11, 5, 16)),
    _alert("371122-R1", "371122-A3", "SUP-002", "red", cst(11, 12)),
    _alert("371122-K1", "371122-A1", "SUP-007", None, cst(11, 9)),
    _alert("371122-Y0", "371122-A7", "SUP-001", "yellow", cst(10, 21)),  # October: another period
    _alert("371122-S1", "371122-A1", "SUP-008", None, cst(11, 9)),  # no light, not key data: not counted
]


def _complaint(
    cid: str,
    *,
    case_no: str | None,
    target: str,
    target_id: str,
    filed: datetime,
    due: datetime,
    answered: datetime | None,
) -> dict[str, Any]:
    return {
        "complaint_id": cid,
        "origin": cid[:6],
        "target": target,
        "target_id": target_id,
        "case_no": case_no,
        "complainant": "群众",
        "content": "投诉内容",
        "channel": "hall",
        "status": "answered" if answered else "open",
        "limit_days": 5,
        "filed_at": filed,
        "idx_due_at": due,
        "answered_at": answered,
        "history": [],
        "updated_at": answered or filed,
    }


COMPLAINTS = [
    # answered on time
    _complaint(
        "371122-Q1",
        case_no="371122-A1",
        target="case",
        target_id="371122-A1",
        filed=cst(11, 5),
        due=cst(11, 12, 0),
        answered=cst(11, 6),
    ),
    # unanswered and past its limit at NOW: missed
    _complaint(
        "371122-Q2", case_no=None, target="window", target_id="W02", filed=cst(11, 3), due=cst(11, 10, 0), answered=None
    ),
    _complaint(
        "371122-Q0", case_no=None, target="window", target_id="W02", filed=cst(10, 3), due=cst(10, 10, 0), answered=None
    ),  # October: another period
]


def _rating(
    rid: str, case_no: str, level: int, *, at: datetime, due: datetime | None, followed: datetime | None
) -> dict[str, Any]:
    negative = level <= 2
    return {
        "rating_id": rid,
        "origin": rid[:6],
        "case_no": case_no,
        "staff": "窗口人员",
        "level": level,
        "channel": "hall",
        "at": at,
        "negative": negative,
        "status": "followed_up" if followed else ("follow_up_pending" if negative else "recorded"),
        "follow_up_limit_days": 3,
        "idx_due_at": due,
        "followed_up_at": followed,
        "history": [],
        "updated_at": followed or at,
    }


RATINGS = [
    # followed up late; on time; still within its limit at NOW (pending); positive (not followed up)
    _rating("371122-P1", "371122-A3", 1, at=cst(11, 13), due=cst(11, 18, 0), followed=cst(11, 20)),
    _rating("371122-P2", "371122-A1", 2, at=cst(11, 9), due=cst(11, 12, 0), followed=cst(11, 10)),
    _rating("371122-P3", "371122-A2", 1, at=cst(11, 30), due=cst(12, 5, 0), followed=None),
    _rating("371122-P4", "371122-A4", 5, at=cst(11, 5), due=None, followed=None),
]


def load(engine: Engine, bundle: StandardsBundle, rules: dict[str, Any] | None = None) -> StandardsBundle:
    """Put a bundle carrying ``rules`` in force and insert the data set."""
    scored = dataclasses.replace(bundle, scoring_rules=rules or RULES)
    with UnitOfWork(engine) as uow:
        apply_bundle(uow.conn, scored, cst(9, 1))
        uow.conn.execute(insert(cases), CASES)
        uow.conn.execute(insert(case_pauses), PAUSES)
        uow.conn.execute(insert(alerts), ALERTS)
        uow.conn.execute(insert(complaints), COMPLAINTS)
        uow.conn.execute(insert(ratings), RATINGS)
        uow.commit()
    return scored
