"""Supervision records for tests: a plausible complaint, rating or alert of county 371122, with what a test cares
about given as keyword changes (``complaint(limit_days=3, answered_at=…)``). A change that breaks a record's
invariants raises, as the domain does."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from county_node.supervision.domain.alerts import Alert, AlertStatus
from county_node.supervision.domain.complaints import Complaint, ComplaintStatus, ComplaintTarget
from county_node.supervision.domain.ratings import Rating, RatingStatus
from federation.timeutil import CST

__all__ = ["DIV", "T0", "alert", "complaint", "rating"]

DIV = "371122"
T0 = datetime(2026, 9, 21, 9, tzinfo=CST)


def complaint(**changes: Any) -> Complaint:
    """An open complaint against window W01, filed at ``filed_at`` (default :data:`T0`)."""
    filed: datetime = changes.get("filed_at", T0)
    base = Complaint(
        complaint_id=f"{DIV}-TS00000001",
        origin=DIV,
        target=ComplaintTarget.WINDOW,
        target_id="W01",
        case_no=None,
        complainant="李四",
        content="态度差",
        channel="window",
        status=ComplaintStatus.OPEN,
        limit_days=5,
        filed_at=filed,
        due_at=None,
        answered_at=None,
        answered_by=None,
        answer=None,
        closed_at=None,
        standards_version=None,
        history=(),
        updated_at=filed,
    )
    return replace(base, **changes)


def rating(**changes: Any) -> Rating:
    """A rating of level ``level`` (default 5) given at ``at`` (default :data:`T0`); negative at 2 and below,
    and then waiting for its follow-up, due a day later."""
    at: datetime = changes.get("at", T0)
    level: int = changes.get("level", 5)
    negative = level <= 2
    base = Rating(
        rating_id=f"{DIV}-PJ00000001",
        origin=DIV,
        case_no=f"{DIV}-20260921-000001",
        staff="窗口 1",
        level=level,
        comment=None,
        channel="window",
        at=at,
        negative=negative,
        status=RatingStatus.FOLLOW_UP_PENDING if negative else RatingStatus.RECORDED,
        follow_up_limit_days=15,
        due_at=at + timedelta(days=1) if negative else None,
        followed_up_at=None,
        followed_up_by=None,
        follow_up_note=None,
        history=(),
        updated_at=at,
    )
    return replace(base, **changes)


def alert(**changes: Any) -> Alert:
    """An open, standing red SUP-002 alert on a case, opened at ``opened_at`` (default :data:`T0`), to be
    acknowledged within a day."""
    opened: datetime = changes.get("opened_at", T0)
    case_no = f"{DIV}-20260921-000001"
    base = Alert(
        alert_id=f"{DIV}-A000000001",
        origin=DIV,
        subject_kind="case",
        subject_id=case_no,
        case_no=case_no,
        rule_id="SUP-002",
        rule_version=1,
        rule_name="超期",
        light="red",
        status=AlertStatus.OPEN,
        standing=True,
        level=0,
        department=None,
        standards_version=None,
        opened_at=opened,
        ack_due_at=opened + timedelta(days=1),
        acknowledged_at=None,
        escalated_at=None,
        closed_at=None,
        close_reason=None,
        evidence=(),
        clock=None,
        details={},
        parameters={},
        history=(),
        updated_at=opened,
    )
    return replace(base, **changes)
