"""The county's supervision service (电子监察): alerts raised in real time, a sweep for time, complaints, ratings.

Two ways a verdict changes, two ways it is evaluated:

* **an event** — every case transition is evaluated *inside the approval transaction* (:meth:`case_changed`, the
  approval service's observer): the whole rule set runs on the case's timeline and clock, alerts are raised and
  cleared, and the case row keeps ``sup_wake_at`` (when a time-driven rule other than the lights can next change)
  and ``sup_evidence`` (the events that shaped the clock); an answered complaint or a followed-up rating likewise;
* **time** — :meth:`sweep` finds what time alone changed with indexed range queries, never a walk over every
  case (:mod:`county_node.supervision.sweep_service`).

Every alert write is one outbox row in the same transaction, so alerts, their escalation and their handling
replicate up with the cases. Red alerts and escalations queue an SMS (``notifications``) in the same transaction;
the notification dispatcher delivers them after commit.

The service is one class per concept over a shared core, each in its module; they reach the database only through
the county's unit of work (:mod:`county_node.unit_of_work`) and its repositories:

==============================  =========================================================================
:mod:`.evaluation`              standards in force, evaluation of a subject, alerts raised and cleared, the
                                approval observer (``case_changed``)
:mod:`.alert_service`           签收 / 催办 / 督办 / 关闭, alert lists, a case's view, the summary
:mod:`.feedback_service`        complaints (投诉) and ratings (好差评)
:mod:`.sweep_service`           the sweep and escalation
==============================  =========================================================================
"""

from __future__ import annotations

from county_node.supervision.alert_service import AlertPage, AlertUseCases, CaseSupervision
from county_node.supervision.evaluation import LIGHT_RULES, AlertHook, StandardsView
from county_node.supervision.feedback_service import FeedbackUseCases
from county_node.supervision.sweep_service import SweepReport, SweepUseCases

__all__ = [
    "LIGHT_RULES",
    "AlertHook",
    "AlertPage",
    "CaseSupervision",
    "StandardsView",
    "SupervisionService",
    "SweepReport",
]


class SupervisionService(AlertUseCases, FeedbackUseCases, SweepUseCases):
    """The supervision use cases of one county node (``units.division``); ``standards`` returns the standards in
    force. Built once by the composition root, which makes it the approval service's observer."""
