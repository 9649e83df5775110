"""Every supervision rule, by id and version, and the evaluators that run them.

* :func:`evaluate` runs the case rules on one case: ``(case, events, now, calendar, params) -> [RuleResult]``,
  one result per enabled rule, fired or not (a result that no longer fires is what closes an alert);
* :func:`evaluate_complaint`, :func:`evaluate_rating` and :func:`evaluate_video_event` do the same for one
  complaint, one rating or one event of the hall's cameras;
* :func:`next_wake_at` is the earliest moment at which any of the results can change with no new event —
  the moment the sweep must look at the subject again.

Deterministic: the results depend only on the arguments. Ids are stable; a rule's version is bumped whenever its
logic changes, so an alert can always be recomputed with the rule that raised it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from county_node.approval.domain import Case, Event
from county_node.supervision.domain.clock_rules import approaching_deadline, clock_gaming, overdue, step_overdue
from county_node.supervision.domain.complaints import Complaint, ComplaintFacts, complaint_unanswered
from county_node.supervision.domain.facts import CaseFacts, case_facts
from county_node.supervision.domain.model import RuleResult, RuleSpec, SubjectKind
from county_node.supervision.domain.parameters import SupervisionParameters
from county_node.supervision.domain.process_rules import (
    fee_mismatch,
    key_data_missing_at_decide,
    repeated_corrections,
    return_and_resubmit,
    steps_out_of_order,
)
from county_node.supervision.domain.ratings import Rating, RatingFacts, negative_rating_not_followed_up
from county_node.supervision.domain.video_rules import VideoEvent, VideoEventFacts, video_alarm, window_unattended
from federation.calendar import WorkingCalendar

__all__ = [
    "CASE_RULES",
    "COMPLAINT_RULES",
    "RATING_RULES",
    "REGISTRY",
    "VIDEO_RULES",
    "evaluate",
    "evaluate_complaint",
    "evaluate_rating",
    "evaluate_video_event",
    "next_wake_at",
]

_CASE = SubjectKind.CASE
_LIGHT = ("yellow_days", "yellow_share")

CASE_RULES: tuple[RuleSpec[CaseFacts], ...] = (
    RuleSpec("SUP-001", 1, "临近时限（黄灯预警）", _CASE, True, _LIGHT, approaching_deadline),
    RuleSpec("SUP-002", 1, "超期（红灯）", _CASE, True, _LIGHT, overdue),
    RuleSpec(
        "SUP-003",
        1,
        "环节超时",
        _CASE,
        True,
        ("acceptance_step_days", "review_step_share", "decision_step_share"),
        step_overdue,
    ),
    RuleSpec("SUP-004", 1, "多次补正", _CASE, False, ("correction_threshold",), repeated_corrections),
    RuleSpec(
        "SUP-005",
        1,
        "退回重报",
        _CASE,
        False,
        ("resubmit_threshold", "return_after_acceptance_threshold"),
        return_and_resubmit,
    ),
    RuleSpec("SUP-006", 1, "临近时限暂停或启动特别程序", _CASE, False, ("clock_gaming_days", *_LIGHT), clock_gaming),
    RuleSpec("SUP-007", 1, "决定时关键数据缺失", _CASE, False, (), key_data_missing_at_decide),
    RuleSpec("SUP-008", 1, "环节顺序异常", _CASE, False, (), steps_out_of_order),
    RuleSpec("SUP-009", 1, "收费与标准不符", _CASE, False, ("fee_tolerance_yuan",), fee_mismatch),
)

COMPLAINT_RULES: tuple[RuleSpec[ComplaintFacts], ...] = (
    RuleSpec("SUP-101", 1, "投诉超时未答复", SubjectKind.COMPLAINT, True, (), complaint_unanswered),
)

RATING_RULES: tuple[RuleSpec[RatingFacts], ...] = (
    RuleSpec(
        "SUP-201",
        1,
        "差评超时未回访",
        SubjectKind.RATING,
        True,
        ("negative_rating_max_level",),
        negative_rating_not_followed_up,
    ),
)

_VIDEO = SubjectKind.VIDEO_EVENT

VIDEO_RULES: tuple[RuleSpec[VideoEventFacts], ...] = (
    RuleSpec("SUP-301", 1, "窗口视频报警", _VIDEO, False, ("video_alarm_light",), video_alarm),
    RuleSpec(
        "SUP-302", 1, "窗口无人值守", _VIDEO, False, ("unattended_minutes", "unattended_light"), window_unattended
    ),
)

_ALL: tuple[RuleSpec[Any], ...] = (*CASE_RULES, *COMPLAINT_RULES, *RATING_RULES, *VIDEO_RULES)
REGISTRY: Mapping[str, RuleSpec[Any]] = {r.rule_id: r for r in _ALL}
"""Every rule by id."""


def evaluate(
    case: Case,
    events: Iterable[Event],
    now: datetime,
    calendar: WorkingCalendar,
    params: SupervisionParameters,
) -> list[RuleResult]:
    """Run every enabled case rule on ``case`` at ``now``. ``events`` must be the case's whole timeline."""
    facts = case_facts(case, events, now, calendar, params)
    off = params.disabled_rules
    return [r.run(facts, case.case_no, params) for r in CASE_RULES if r.rule_id not in off]


def evaluate_complaint(
    complaint: Complaint, now: datetime, calendar: WorkingCalendar, params: SupervisionParameters
) -> list[RuleResult]:
    facts = ComplaintFacts(complaint, now, calendar, params)
    off = params.disabled_rules
    return [r.run(facts, complaint.complaint_id, params) for r in COMPLAINT_RULES if r.rule_id not in off]


def evaluate_rating(
    rating: Rating, now: datetime, calendar: WorkingCalendar, params: SupervisionParameters
) -> list[RuleResult]:
    facts = RatingFacts(rating, now, calendar, params)
    off = params.disabled_rules
    return [r.run(facts, rating.rating_id, params) for r in RATING_RULES if r.rule_id not in off]


def evaluate_video_event(event: VideoEvent, params: SupervisionParameters) -> list[RuleResult]:
    """Run every enabled video rule on one event of the hall's cameras (as the index recorded it)."""
    facts = VideoEventFacts(event, params)
    off = params.disabled_rules
    return [r.run(facts, event.event_id, params) for r in VIDEO_RULES if r.rule_id not in off]


def next_wake_at(results: Iterable[RuleResult]) -> datetime | None:
    """The earliest ``wake_at`` of ``results``: when the sweep must evaluate the subject again (None: never)."""
    moments = [r.wake_at for r in results if r.wake_at is not None]
    return min(moments) if moments else None
