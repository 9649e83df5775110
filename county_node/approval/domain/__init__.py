"""The approval domain — the case (办件) and its lifecycle: pure rules, no I/O.

The lifecycle diagram and its rules are in :mod:`county_node.approval.domain.lifecycle`.

Modules: ``case`` (the records), ``lifecycle`` (the transitions), ``clocks`` (derived clocks and indexed moments).
"""

from county_node.approval.domain.case import (
    ACTION_LABELS,
    OPEN_STATUSES,
    PAUSED_STATUSES,
    RUNNING_STATUSES,
    STATUS_LABELS,
    Action,
    Case,
    CasePause,
    CaseTask,
    Event,
    Status,
    TransitionResult,
    event_id,
)
from county_node.approval.domain.clocks import CaseClocks, IndexValues, case_clocks, index_values
from county_node.approval.domain.lifecycle import ALLOWED, apply_action, new_case

__all__ = [
    "ACTION_LABELS",
    "ALLOWED",
    "OPEN_STATUSES",
    "PAUSED_STATUSES",
    "RUNNING_STATUSES",
    "STATUS_LABELS",
    "Action",
    "Case",
    "CaseClocks",
    "CasePause",
    "CaseTask",
    "Event",
    "IndexValues",
    "Status",
    "TransitionResult",
    "apply_action",
    "case_clocks",
    "event_id",
    "index_values",
    "new_case",
]
