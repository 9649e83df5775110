"""The facts of one case that every case rule reads, derived once per evaluation.

:func:`case_facts` orders the timeline, finds the current acceptance round (the latest submission or
resubmission, and its acceptance) and reads the promised clock — at ``now`` while the case is open, at the
decision (or conclusion) once it has one, exactly as :func:`county_node.approval.domain.case_clocks` does, so
the supervision light and the case view agree.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from county_node.approval.domain import PAUSED_STATUSES, RUNNING_STATUSES, Action, Case, CasePause, Event, Status
from county_node.supervision.domain.parameters import SupervisionParameters
from federation.calendar import WorkingCalendar
from federation.clock import ClockReading, Pause, read_clock

__all__ = ["CLOCK_ACTIONS", "LIVE_STATUSES", "CaseFacts", "case_facts"]

LIVE_STATUSES = RUNNING_STATUSES | PAUSED_STATUSES
"""Statuses in which the case clock is live: accepted and not yet decided."""

CLOCK_ACTIONS = frozenset(
    {
        Action.ACCEPT,
        Action.REQUEST_CORRECTION,
        Action.RECEIVE_CORRECTION,
        Action.SUSPEND,
        Action.RESUME,
        Action.START_SPECIAL_PROCEDURE,
        Action.END_SPECIAL_PROCEDURE,
        Action.EXTEND,
        Action.DECIDE,
        Action.CONCLUDE,
    }
)
"""Actions whose events shape the clock of the round: the evidence of a clock reading."""

_ROUND_START = frozenset({Action.SUBMIT, Action.RESUBMIT})


@dataclass(frozen=True, slots=True)
class CaseFacts:
    """A case, its ordered timeline, the moment and the parameters, plus what the rules share.

    ``round_start`` indexes the latest submit / resubmit event, ``accept`` the acceptance event of that round
    (None before acceptance, or when the timeline lacks it). ``promised`` is the promised clock read at
    ``clock_at`` (None when the case has no clock: not accepted, refused or returned). ``pauses`` is the pause
    ledger of the round, ``clock_ledger`` the same as clock intervals.
    """

    case: Case
    events: tuple[Event, ...]
    now: datetime
    calendar: WorkingCalendar
    params: SupervisionParameters
    round_start: int
    accept: int | None
    clock_at: datetime | None
    promised: ClockReading | None
    pauses: tuple[CasePause, ...]
    clock_ledger: tuple[Pause, ...]

    @property
    def live(self) -> bool:
        """The clock is running or paused (accepted, not yet decided)."""
        return self.promised is not None and self.case.status in LIVE_STATUSES

    @property
    def round_events(self) -> tuple[Event, ...]:
        return self.events[self.round_start :]

    @property
    def accept_event(self) -> Event | None:
        return None if self.accept is None else self.events[self.accept]

    def round_pauses(self) -> tuple[CasePause, ...]:
        """The pause ledger of the current acceptance round."""
        return self.pauses

    def clock_pauses(self, pauses: Iterable[CasePause] | None = None) -> tuple[Pause, ...]:
        """``pauses`` (default: the whole round's ledger) as the clock's :class:`Pause` intervals."""
        if pauses is None:
            return self.clock_ledger
        return tuple(Pause(p.kind, p.started_at, p.ended_at) for p in pauses)

    def clock_evidence(self) -> tuple[str, ...]:
        """Ids of the events that shaped the current round's clock (acceptance, pauses, extension, decision)."""
        if self.accept is None:
            return ()
        return tuple(e.event_id for e in self.events[self.accept :] if e.action in CLOCK_ACTIONS)

    def pause_start_event(self, pause: CasePause) -> Event | None:
        """The event that started ``pause`` (by its ``pause_n``; by its moment for timelines without one)."""
        starts = (Action.REQUEST_CORRECTION, Action.SUSPEND, Action.START_SPECIAL_PROCEDURE)
        fallback = None
        for e in self.round_events:
            if e.action in starts:
                if e.payload.get("pause_n") == pause.n:
                    return e
                if fallback is None and e.at == pause.started_at:
                    fallback = e
        return fallback


def _clock_moment(case: Case, now: datetime) -> datetime | None:
    if case.accepted_at is None or case.status in (Status.REFUSED, Status.RETURNED, Status.SUBMITTED):
        return None
    if case.status is Status.CONCLUDED and case.concluded_at is not None:
        return case.concluded_at
    if case.decided_at is not None:
        return case.decided_at
    return now


def case_facts(
    case: Case,
    events: Iterable[Event],
    now: datetime,
    calendar: WorkingCalendar,
    params: SupervisionParameters,
) -> CaseFacts:
    """Derive the shared facts of ``case`` at ``now``. ``events`` is the case's whole timeline, in any order."""
    timeline = tuple(sorted(events, key=lambda e: e.n))
    round_start = 0
    for i in range(len(timeline) - 1, -1, -1):
        if timeline[i].action in _ROUND_START:
            round_start = i
            break
    accept = next((i for i in range(round_start, len(timeline)) if timeline[i].action is Action.ACCEPT), None)
    clock_at = _clock_moment(case, now)
    promised = None
    if clock_at is not None:
        promised = read_clock(calendar, case.clock_spec(case.promised_budget), clock_at, params.light_policy)
    accepted = case.accepted_at
    pauses = () if accepted is None else tuple(p for p in case.pauses if p.started_at >= accepted)
    ledger = tuple(Pause(p.kind, p.started_at, p.ended_at) for p in pauses)
    return CaseFacts(case, timeline, now, calendar, params, round_start, accept, clock_at, promised, pauses, ledger)
