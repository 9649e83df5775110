"""The supervision domain (电子监察): rules as small pure functions, no I/O.

Each rule reads one subject — a case (its snapshot, its event timeline and its clock), a complaint or a rating —
with parameters from the standards bundle (:class:`SupervisionParameters`), and returns a :class:`RuleResult`:
fired or not, the light, the evidence event ids, the clock reading that fired it and the parameters in force.

=======  ====================================  ======  =================================================
id       rule                                  light   parameters (default)
=======  ====================================  ======  =================================================
SUP-001  approaching deadline (临近时限)       yellow  yellow_days (1), yellow_share (0.8)
SUP-002  overdue (超期)                        red     yellow_days, yellow_share
SUP-003  a step overdue inside the budget      yellow  acceptance_step_days (5), review_step_share (0.6),
                                                       decision_step_share (0.4)
SUP-004  repeated correction requests          —       correction_threshold (2)
SUP-005  return and resubmit                   —       resubmit_threshold (2),
                                                       return_after_acceptance_threshold (1)
SUP-006  suspension / special procedure just   —       clock_gaming_days (2)
         before the deadline (clock gaming)
SUP-007  key data missing at the decision      —       —
SUP-008  steps out of order                    —       —
SUP-009  fee differs from the standard         —       fee_tolerance_yuan ("0.00")
SUP-101  complaint not answered in time        red     (complaint's own limit; complaint_response_days (5))
SUP-201  negative rating not followed up       red     negative_rating_max_level (2); rating_follow_up_days (15)
SUP-301  an NVR alarm at a window (窗口视频报警)  red     video_alarm_light ("red")
SUP-302  a window unattended (窗口无人值守)      yellow  unattended_minutes (10), unattended_light ("yellow")
=======  ====================================  ======  =================================================

Modules: ``parameters``, ``model`` (rule and result), ``facts`` (what case rules share), ``clock_rules``,
``process_rules``, ``complaints``, ``ratings``, ``video_rules``, ``registry`` (all rules, the evaluators);
``feedback`` and ``orders`` (the lifecycles of complaints, ratings and orders), ``alerts``, ``records`` (what those
records share).
"""

from county_node.supervision.domain.clock_rules import StepReading, step_readings
from county_node.supervision.domain.complaints import Complaint, ComplaintFacts, ComplaintStatus, ComplaintTarget
from county_node.supervision.domain.facts import CaseFacts, case_facts
from county_node.supervision.domain.model import RuleResult, RuleSpec, SubjectKind, Verdict, clock_record
from county_node.supervision.domain.parameters import SupervisionParameters
from county_node.supervision.domain.ratings import RATING_LABELS, Rating, RatingFacts, RatingStatus
from county_node.supervision.domain.registry import (
    CASE_RULES,
    COMPLAINT_RULES,
    RATING_RULES,
    REGISTRY,
    VIDEO_RULES,
    evaluate,
    evaluate_complaint,
    evaluate_rating,
    evaluate_video_event,
    next_wake_at,
)
from county_node.supervision.domain.video_rules import VideoEvent

__all__ = [
    "CASE_RULES",
    "COMPLAINT_RULES",
    "RATING_LABELS",
    "RATING_RULES",
    "REGISTRY",
    "VIDEO_RULES",
    "CaseFacts",
    "Complaint",
    "ComplaintFacts",
    "ComplaintStatus",
    "ComplaintTarget",
    "Rating",
    "RatingFacts",
    "RatingStatus",
    "RuleResult",
    "RuleSpec",
    "StepReading",
    "SubjectKind",
    "SupervisionParameters",
    "Verdict",
    "VideoEvent",
    "case_facts",
    "clock_record",
    "evaluate",
    "evaluate_complaint",
    "evaluate_rating",
    "evaluate_video_event",
    "next_wake_at",
    "step_readings",
]
