"""Shared set-up of the video index tests: a county with a case, its steps, an alert and a complaint."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, insert

from federation.storage.tables import alerts, case_events, cases, complaints

COUNTY = "371122"
CAM1 = "37112200001311000001"
CAM2 = "37112200001321000002"


def add_case(engine: Engine, case_no: str, window: str | None, steps: list[datetime]) -> None:
    row: dict[str, Any] = {
        "case_no": case_no,
        "origin": COUNTY,
        "item_code": "X",
        "item_name": "测试事项",
        "department": "测试局",
        "kind": "promised",
        "standards_version": "t",
        "status": "accepted",
        "applicant": "张三",
        "window": window,
        "data": {},
        "submitted_at": steps[0],
        "fee_standard": 0,
        "legal_budget": 20,
        "promised_budget": 10,
        "extension_days": 0,
        "event_count": len(steps),
        "pause_count": 0,
        "updated_at": steps[-1],
    }
    events = [
        {"case_no": case_no, "n": i + 1, "action": "step", "actor": "a", "at": at, "to_status": "x", "payload": {}}
        for i, at in enumerate(steps)
    ]
    with engine.begin() as conn:
        conn.execute(insert(cases).values(**row))
        conn.execute(insert(case_events), events)


def add_alert(engine: Engine, alert_id: str, case_no: str, opened_at: datetime, closed_at: datetime | None) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(alerts).values(
                alert_id=alert_id,
                origin=COUNTY,
                subject_kind="case",
                subject_id=case_no,
                case_no=case_no,
                rule_id="SUP-002",
                rule_version=1,
                rule_name="超期",
                light="red",
                status="closed" if closed_at else "open",
                standing=closed_at is None,
                level=0,
                opened_at=opened_at,
                closed_at=closed_at,
                evidence=[],
                details={},
                parameters={},
                history=[],
                updated_at=opened_at,
            )
        )


def add_complaint(engine: Engine, complaint_id: str, window: str, filed_at: datetime) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(complaints).values(
                complaint_id=complaint_id,
                origin=COUNTY,
                target="window",
                target_id=window,
                complainant="李四",
                content="态度差",
                channel="hall",
                status="open",
                limit_days=5,
                filed_at=filed_at,
                history=[],
                updated_at=filed_at,
            )
        )
