"""The clock rules of a case: approaching deadline, overdue, a step overdue inside the budget, clock gaming.

All read the promised clock (the one that drives the light, ``docs/case-clock.md``) of the current acceptance
round; all working-day arithmetic goes through :mod:`federation.clock` (O(1) calendar look-ups).

Step budgets (SUP-003). A case's handling is cut into steps, each with its own budget in working days, counted
like the case clock (start day not counted, due at 24:00 of the last working day, the round's pauses excluded):

* ``acceptance`` — submission (or resubmission) → accept / refuse acceptance / return: ``acceptance_step_days``
  (行政许可法 Art. 32: decide on acceptance, or tell the applicant what to correct, within five days). The case
  clock has not started yet, so only this rule watches the acceptance step;
* ``review`` — acceptance → the review opinion (审核): ``review_step_share`` of the promised budget plus
  extension, rounded up, at least one working day;
* ``decision`` — review opinion → decision: ``decision_step_share`` of the same, rounded up, at least one;
* ``task:<department>`` — each department of a joint case (联办件) against its own limit (its sub-clock).

An instant item (即办件, budget 0) has no review / decision step budgets: its whole budget is one day, which
SUP-002 watches. A step counts as overdue when it finished after its due moment, or is still running past it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from county_node.approval.domain import Action, Event, Status
from county_node.supervision.domain.facts import CaseFacts
from county_node.supervision.domain.model import Verdict
from federation.clock import ClockReading, ClockSpec, Light, PauseKind, read_clock

__all__ = ["StepReading", "approaching_deadline", "clock_gaming", "overdue", "step_overdue", "step_readings"]

# -- SUP-001 / SUP-002: the light ---------------------------------------------------------------------------------


def approaching_deadline(f: CaseFacts) -> Verdict:
    """SUP-001 黄灯预警: the case clock is live and its light is yellow (paused cases keep their light)."""
    reading = f.promised
    if reading is None or not f.live:
        return Verdict(False, clock=reading)
    fired = reading.light is Light.YELLOW
    wake = None  # white → the yellow moment; yellow → the due moment (it turns red); red or paused → no change
    if reading.light is Light.WHITE and not reading.deadline.paused:
        wake = reading.yellow_at
    elif fired and not reading.deadline.paused:
        wake = reading.deadline.due_at
    return Verdict(
        fired,
        evidence=f.clock_evidence(),
        clock=reading,
        light=Light.YELLOW,
        wake_at=wake,
        details={"remaining_days": reading.remaining_days, "yellow_at": reading.yellow_at},
    )


def overdue(f: CaseFacts) -> Verdict:
    """SUP-002 红灯超期: the promised due moment has passed — at ``now`` while the case is open, at its decision
    (or conclusion) after it. A late decision stays red: the verdict records the fact, it is not cleared by it.
    """
    reading = f.promised
    if reading is None:
        return Verdict(False)
    fired = reading.light is Light.RED
    details: dict[str, Any] = {"overdue_days": reading.overdue_days, "due_at": reading.deadline.due_at}
    if fired and f.clock_at is not None:
        legal = read_clock(f.calendar, f.case.clock_spec(f.case.legal_budget), f.clock_at, f.params.light_policy)
        details["legal_overdue"] = legal.light is Light.RED
        details["legal_due_at"] = legal.deadline.due_at
    wake = None
    if not fired and f.live and not reading.deadline.paused:
        wake = reading.deadline.due_at
    return Verdict(fired, f.clock_evidence(), reading, Light.RED, wake, details)


# -- SUP-003: a step overdue inside the budget ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StepReading:
    """One step of the round, its budget and its clock (read at its end, or at ``now`` while it runs)."""

    step: str
    budget_days: int
    finished: bool
    reading: ClockReading
    evidence: tuple[str, ...]

    @property
    def overdue(self) -> bool:
        return self.reading.light is Light.RED

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "budget_days": self.budget_days,
            "finished": self.finished,
            "due_at": self.reading.deadline.due_at,
            "overdue_days": self.reading.overdue_days,
        }


_ACCEPTANCE_END = frozenset({Action.ACCEPT, Action.REFUSE_ACCEPTANCE, Action.RETURN})
_REVIEW_END = frozenset({Action.REVIEW, Action.RETURN})
_DECISION_END = frozenset({Action.DECIDE, Action.RETURN})
_FINAL = frozenset({Status.CONCLUDED, Status.REFUSED, Status.RETURNED})


def _share_days(share: float, total: int) -> int:
    return max(1, math.ceil(share * total - 1e-9))


def _end(events: tuple[Event, ...], after: int, actions: frozenset[Action]) -> int | None:
    return next((i for i in range(after + 1, len(events)) if events[i].action in actions), None)


def _step(f: CaseFacts, name: str, start: int, budget: int, ends: frozenset[Action], *, pauses: bool) -> StepReading:
    ev = f.events
    end = _end(ev, start, ends)
    spec = ClockSpec(ev[start].at, budget, f.clock_pauses() if pauses else ())
    at = f.now if end is None else ev[end].at
    reading = read_clock(f.calendar, spec, at, f.params.light_policy)
    evidence = (ev[start].event_id,) if end is None else (ev[start].event_id, ev[end].event_id)
    return StepReading(name, budget, end is not None, reading, evidence)


def step_readings(f: CaseFacts) -> list[StepReading]:
    """The steps of the current round that have started, with their clocks."""
    ev, case, p = f.events, f.case, f.params
    if not ev:
        return []
    steps = [_step(f, "acceptance", f.round_start, p.acceptance_step_days, _ACCEPTANCE_END, pauses=False)]
    if f.accept is None or case.accepted_at is None:
        return steps
    total = case.promised_budget + case.extension_days
    if case.promised_budget > 0:
        review_budget = _share_days(p.review_step_share, total)
        steps.append(_step(f, "review", f.accept, review_budget, _REVIEW_END, pauses=True))
        review = _end(ev, f.accept, _REVIEW_END)
        if review is not None and ev[review].action is Action.REVIEW:
            decision_budget = _share_days(p.decision_step_share, total)
            steps.append(_step(f, "decision", review, decision_budget, _DECISION_END, pauses=True))
    accept_id = ev[f.accept].event_id
    for task in case.tasks:
        if task.started_at is None:
            continue
        spec = ClockSpec(task.started_at, task.limit_days, f.clock_pauses(), case.extension_days)
        at = task.completed_at or f.clock_at or f.now
        reading = read_clock(f.calendar, spec, at, p.light_policy)
        done = next(
            (
                e.event_id
                for e in ev[f.accept :]
                if e.action is Action.COMPLETE_TASK and e.payload.get("department") == task.department
            ),
            None,
        )
        evidence = (accept_id,) if done is None else (accept_id, done)
        steps.append(
            StepReading(f"task:{task.department}", task.limit_days, task.completed_at is not None, reading, evidence)
        )
    return steps


def step_overdue(f: CaseFacts) -> Verdict:
    """SUP-003 环节超时: a step of the current round took (or is taking) longer than its budget."""
    steps = step_readings(f)
    late = [s for s in steps if s.overdue]
    running = [
        s.reading.deadline.due_at
        for s in steps
        if not s.finished and not s.overdue and s.reading.deadline.due_at is not None
    ]
    wake = min(running) if running and f.case.status not in _FINAL else None
    evidence = tuple(sorted({e for s in late for e in s.evidence}))
    return Verdict(
        bool(late),
        evidence=evidence,
        clock=late[0].reading if late else None,
        light=Light.YELLOW,
        wake_at=wake,
        details={"steps": [s.to_dict() for s in late]},
    )


# -- SUP-006: suspension or special procedure just before the deadline (clock gaming) ------------------------------

_GAMING_KINDS = frozenset({PauseKind.SUSPENSION, PauseKind.SPECIAL_PROCEDURE})


def clock_gaming(f: CaseFacts) -> Verdict:
    """SUP-006 临期暂停: a suspension (暂停) or special procedure (特别程序) of the current round started when at
    most ``clock_gaming_days`` working days (today included) were left on the promised clock — or after it had run
    out. The clock is read as it stood just before the pause: earlier pauses, and the extension if granted by then.
    Correction requests (补正) are left to SUP-004: they wait on the applicant, not the hall.
    """
    case = f.case
    if case.accepted_at is None:
        return Verdict(False)
    pauses = f.round_pauses()
    hits: list[tuple[ClockReading, dict[str, Any], tuple[str, ...]]] = []
    for i, pause in enumerate(pauses):
        if pause.kind not in _GAMING_KINDS:
            continue
        extended = case.extended_at is not None and case.extended_at <= pause.started_at
        before = ClockSpec(
            case.accepted_at,
            case.promised_budget,
            f.clock_pauses(pauses[:i]),
            case.extension_days if extended else 0,
        )
        reading = read_clock(f.calendar, before, pause.started_at, f.params.light_policy)
        if reading.deadline.paused or reading.remaining_days > f.params.clock_gaming_days:
            continue
        start = f.pause_start_event(pause)
        hits.append(
            (
                reading,
                {
                    "pause_n": pause.n,
                    "kind": pause.kind.value,
                    "started_at": pause.started_at,
                    "remaining_days": reading.remaining_days,
                    "due_at": reading.deadline.due_at,
                },
                () if start is None else (start.event_id,),
            )
        )
    if not hits:
        return Verdict(False)
    accept = f.accept_event
    evidence = tuple(sorted({*(e for _, _, ids in hits for e in ids), *(() if accept is None else (accept.event_id,))}))
    return Verdict(True, evidence, hits[0][0], None, None, {"pauses": [d for _, d, _ in hits]})
