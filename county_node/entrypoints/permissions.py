"""Which permission each of the county's case actions needs (issue 15): the window's intake work (窗口人员)
and the approver's decisions (审批负责人). One table for the HTTP routes and the CLI."""

from __future__ import annotations

from county_node.approval.domain import Action
from security.access import Permission

__all__ = ["INTAKE_ACTIONS", "action_permission"]

INTAKE_ACTIONS = frozenset(
    {
        Action.SUBMIT,
        Action.ACCEPT,
        Action.REFUSE_ACCEPTANCE,
        Action.REQUEST_CORRECTION,
        Action.RECEIVE_CORRECTION,
        Action.RESUBMIT,
        Action.RECORD_DATA,
        Action.CONCLUDE,
    }
)


def action_permission(action: Action) -> Permission:
    """审核、决定、暂停/恢复、特别程序、延期、退回、联办任务 need the approver's permission; the rest the window's."""
    return Permission.CASE_INTAKE if action in INTAKE_ACTIONS else Permission.CASE_DECIDE
