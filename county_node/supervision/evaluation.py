"""What every supervision use case shares: the standards in force, the evaluation of a subject, and the
reconciliation of verdicts into alerts — and the approval service's observer (:meth:`SupervisionCore.case_changed`)
and the video index's (:meth:`SupervisionCore.video_events_recorded`).

A subject (a case, a complaint, a rating) is evaluated by the pure rules of :mod:`county_node.supervision.domain`;
:meth:`SupervisionCore._reconcile` then raises an alert for each rule that fired with no standing alert and clears
each standing alert whose rule no longer fires — for many subjects of one kind at once, through the unit of
work's repositories (one read of their standing alerts, one insert, one update, each write with its outbox row).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

import structlog
from sqlalchemy.engine import Connection

from county_node.approval.domain import RUNNING_STATUSES, Case, Event, Status
from county_node.supervision.domain import (
    REGISTRY,
    RuleResult,
    SubjectKind,
    SupervisionParameters,
    clock_record,
    evaluate,
    evaluate_complaint,
    evaluate_rating,
    evaluate_video_event,
    next_wake_at,
)
from county_node.supervision.domain.alerts import Alert, AlertAction, AlertStatus
from county_node.supervision.domain.complaints import Complaint
from county_node.supervision.domain.ratings import Rating
from county_node.supervision.domain.video_rules import VideoEvent
from county_node.supervision.ports import CaseMark
from county_node.unit_of_work import CountyRepositories, CountyUnits
from federation.calendar import WorkingCalendar
from federation.clock import ClockSpec, LightPolicy, compute_deadline
from federation.errors import StandardsNotLoaded
from federation.standards import StandardsBundle
from federation.storage.outbox import canonical_json

__all__ = [
    "LIGHT_RULES",
    "RED",
    "TURNED_RED",
    "YELLOW",
    "AlertHook",
    "ClipLookup",
    "Clock",
    "StandardsView",
    "SupervisionCore",
    "Verdicts",
    "limit_end",
]

log = structlog.get_logger(__name__)

LIGHT_RULES = frozenset({"SUP-001", "SUP-002"})
"""The light rules: their moments are the indexed ``idx_yellow_at`` / ``idx_due_at``, swept set-based."""

YELLOW, RED = "SUP-001", "SUP-002"
TURNED_RED = "办件已超期，黄灯转为红灯（SUP-002）"
_FINAL_LABELS = {
    Status.CONCLUDED: "办结",
    Status.REFUSED: "不予受理",
    Status.RETURNED: "退回",
    Status.APPROVED: "作出准予许可决定",
    Status.DENIED: "作出不予许可决定",
}

Clock = Callable[[], datetime]
ClipLookup = Callable[[str | None, datetime], Mapping[str, Any]]
"""The video index's clip of a window at a moment (its camera then, with the margins): window, camera, range, note."""
AlertHook = Callable[[CountyRepositories, Alert, str, datetime], None]
"""Told, inside the alert's transaction, of a red alert ``"raised"`` and of an alert ``"escalated"``."""


class StandardsView(Protocol):
    """What supervision reads of the standards in force (the approval service's cached standards)."""

    @property
    def bundle(self) -> StandardsBundle | None: ...

    @property
    def calendar(self) -> WorkingCalendar: ...

    @property
    def key_fields(self) -> Mapping[tuple[str, str], tuple[str, ...]]: ...


ClearReason = Callable[[RuleResult, frozenset[str]], str]


@dataclass(frozen=True, slots=True)
class Verdicts:
    """Every rule's result on one subject, with what an alert about it records and why a cleared one closed."""

    kind: SubjectKind
    subject_id: str
    results: Sequence[RuleResult]
    case_no: str | None
    department: str | None
    clear_reason: ClearReason


def _answered(r: RuleResult, fired: frozenset[str]) -> str:
    return "已答复，预警条件消除"


def _event_stays(r: RuleResult, fired: frozenset[str]) -> str:  # pragma: no cover - an event never un-fires
    return "预警条件消除"


def _clip_reference(clip: Mapping[str, Any]) -> str:
    """How an alert's evidence names its clip: ``clip:{camera}/{start}/{end}`` (``-`` when no camera watched)."""
    return f"clip:{clip.get('camera_id') or '-'}/{clip['start']}/{clip['end']}"


def _followed_up(r: RuleResult, fired: frozenset[str]) -> str:
    return "已回访，预警条件消除"


def limit_end(calendar: WorkingCalendar, start: datetime, days: int) -> datetime:
    """The end of a limit of ``days`` working days from ``start``, counted like the case clock."""
    due = compute_deadline(calendar, ClockSpec(start, days)).due_at
    assert due is not None  # a clock with no pause always has a due moment
    return due


def _jsonable(value: Any) -> Any:
    return json.loads(canonical_json(value))


def _case_clear_reason(case: Case) -> ClearReason:
    def reason(r: RuleResult, fired: frozenset[str]) -> str:
        if case.status in _FINAL_LABELS:
            return f"办件已{_FINAL_LABELS[case.status]}，预警条件消除"
        if r.rule_id == YELLOW and RED in fired:
            return TURNED_RED
        if case.status not in RUNNING_STATUSES:
            return "办件计时已暂停或未在办理中，预警条件消除"
        return f"复核时规则 {r.rule_id} 不再触发，预警条件消除"

    return reason


class SupervisionCore:
    """The supervision of county ``units.division``: its units of work, clock, standards in force (``standards``
    returns them) and alert hook; the base of every supervision use case."""

    def __init__(
        self,
        units: CountyUnits,
        clock: Clock,
        standards: Callable[[], StandardsView],
        *,
        notify: AlertHook | None = None,
        default_policy: LightPolicy | None = None,
    ) -> None:
        self._units = units
        self.division = units.division
        self._now = clock
        self._standards = standards
        self._notify = notify
        self._params_cache: tuple[str | None, SupervisionParameters] | None = None
        # the node's [clock] thresholds, used when the bundle sets none — as the approval service does, so the
        # indexed yellow moments the sweep reads and rule SUP-001 agree
        self._default_policy = default_policy or LightPolicy()

    # -- standards ------------------------------------------------------------------------------------------
    def now(self) -> datetime:
        return self._now()

    def _params(self, bundle: StandardsBundle | None) -> SupervisionParameters:
        version = bundle.version if bundle else None
        cached = self._params_cache
        if cached is not None and cached[0] == version:
            return cached[1]
        raw = dict(bundle.rule_parameters) if bundle else {}
        raw.setdefault("yellow_days", self._default_policy.yellow_days)
        raw.setdefault("yellow_share", self._default_policy.yellow_share)
        params = SupervisionParameters.from_mapping(raw)
        self._params_cache = (version, params)
        return params

    def _in_force(self) -> tuple[StandardsView, SupervisionParameters]:
        st = self._standards()
        if st.bundle is None:
            raise StandardsNotLoaded("本节点尚未加载标准包，请先执行 sunshine county init")
        return st, self._params(st.bundle)

    @property
    def parameters(self) -> SupervisionParameters:
        return self._params(self._standards().bundle)

    def _ack_due(self, at: datetime, calendar: WorkingCalendar, params: SupervisionParameters) -> datetime:
        return limit_end(calendar, at, params.alert_ack_days)

    # -- raising and clearing -------------------------------------------------------------------------------
    def _new_alert(
        self, alert_id: str, v: Verdicts, r: RuleResult, now: datetime, *, version: str | None, ack_due: datetime
    ) -> Alert:
        spec = REGISTRY[r.rule_id]
        return Alert(
            alert_id=alert_id,
            origin=self.division,
            subject_kind=r.subject_kind.value,
            subject_id=r.subject_id,
            case_no=v.case_no,
            rule_id=r.rule_id,
            rule_version=r.version,
            rule_name=spec.name,
            light=r.light.value if r.light else None,
            status=AlertStatus.OPEN,
            standing=True,
            level=0,
            department=v.department,
            standards_version=version,
            opened_at=now,
            ack_due_at=ack_due,
            acknowledged_at=None,
            escalated_at=None,
            closed_at=None,
            close_reason=None,
            evidence=r.evidence,
            clock=_jsonable(clock_record(r.clock)),
            details=_jsonable(dict(r.details)),
            parameters=_jsonable(dict(r.parameters)),
            history=({"action": AlertAction.RAISE.value, "actor": "system", "at": now.isoformat(), "reason": ""},),
            updated_at=now,
        )

    def _reconcile(
        self,
        uow: CountyRepositories,
        subjects: Sequence[Verdicts],
        now: datetime,
        st: StandardsView,
        params: SupervisionParameters,
    ) -> tuple[list[Alert], list[Alert]]:
        """Raise what fired with no standing alert, clear the standing alerts whose rule no longer fires, for many
        subjects of one kind at once; the alerts raised and the alerts cleared."""
        if not subjects:
            return [], []
        standing = uow.alerts.standing_of(subjects[0].kind.value, [v.subject_id for v in subjects])
        raise_: list[tuple[Verdicts, RuleResult]] = []
        cleared: list[Alert] = []
        for v in subjects:
            held = standing.get(v.subject_id, {})
            fired = frozenset(r.rule_id for r in v.results if r.fired)
            for r in v.results:
                if r.fired and r.rule_id not in held:
                    raise_.append((v, r))
                elif not r.fired and r.rule_id in held:
                    cleared.append(held[r.rule_id].clear(at=now, reason=v.clear_reason(r, fired)))
        new: list[Alert] = []
        if raise_:
            ack_due = self._ack_due(now, st.calendar, params)
            version = st.bundle.version if st.bundle else None
            ids = uow.alerts.new_ids(len(raise_))
            new = [
                self._new_alert(i, v, r, now, version=version, ack_due=ack_due)
                for i, (v, r) in zip(ids, raise_, strict=True)
            ]
            uow.alerts.insert(new, now)
        uow.alerts.update(cleared, now)
        for a in new:
            if self._notify is not None and a.light == "red":
                self._notify(uow, a, "raised", now)
            log.info("alert.raised", alert_id=a.alert_id, rule=a.rule_id, subject=a.subject_id, light=a.light)
        for a in cleared:
            log.info("alert.cleared", alert_id=a.alert_id, rule=a.rule_id, reason=a.close_reason)
        return new, cleared

    # -- subjects -------------------------------------------------------------------------------------------
    def _case_verdicts(
        self, case: Case, events: Sequence[Event], now: datetime, st: StandardsView, params: SupervisionParameters
    ) -> tuple[Verdicts, CaseMark]:
        """Every case rule on ``case`` now, and the case's supervision bookkeeping (next wake-up, clock evidence)."""
        results = evaluate(case, events, now, st.calendar, params)
        wake = next_wake_at(r for r in results if r.rule_id not in LIGHT_RULES)
        evidence: list[str] = []
        for r in results:
            if r.rule_id in LIGHT_RULES and r.evidence:
                evidence = list(r.evidence)
                break
        verdicts = Verdicts(
            SubjectKind.CASE, case.case_no, results, case.case_no, case.department, _case_clear_reason(case)
        )
        return verdicts, CaseMark(case.case_no, wake, evidence)

    def _feedback_verdicts(
        self, record: Complaint | Rating, now: datetime, st: StandardsView, params: SupervisionParameters
    ) -> Verdicts:
        """SUP-101 on a complaint or SUP-201 on a rating. A verdict that fired stays: a late answer is late."""
        if isinstance(record, Complaint):
            results = evaluate_complaint(record, now, st.calendar, params)
            return Verdicts(SubjectKind.COMPLAINT, record.complaint_id, results, record.case_no, None, _answered)
        results = evaluate_rating(record, now, st.calendar, params)
        return Verdicts(SubjectKind.RATING, record.rating_id, results, record.case_no, None, _followed_up)

    def case_changed(
        self,
        conn: Connection,
        case: Case,
        now: datetime,
        st: StandardsView,
        previous: tuple[Any, Any] | None = None,
    ) -> None:
        """The approval service's observer: evaluate ``case`` (just written in ``conn``) in the same transaction.
        ``previous`` is the case's stored (``sup_wake_at``, ``sup_evidence``), when known: unchanged, not rewritten."""
        params = self._params(st.bundle)
        uow = self._units.joining(conn)
        verdicts, mark = self._case_verdicts(case, uow.cases.timeline(case.case_no), now, st, params)
        self._reconcile(uow, [verdicts], now, st, params)
        if previous is None or (previous[0], previous[1] or None) != (mark.wake_at, mark.evidence or None):
            uow.cases.mark([mark])

    def video_events_recorded(
        self, uow: CountyRepositories, events: Sequence[VideoEvent], clip: ClipLookup, now: datetime
    ) -> list[Alert]:
        """The video index's observer: evaluate the events just recorded in ``uow`` (new ones only, a re-sent event
        is not passed), raising their alerts in the same transaction; each alert's evidence is the event and its
        clip (``clip``: the video index's lookup — the window's camera at the event's moment, with the margins)."""
        st = self._standards()
        params = self._params(st.bundle)
        subjects: list[Verdicts] = []
        for e in events:
            results = evaluate_video_event(e, params)
            if not any(r.fired for r in results):
                continue
            found = {k: _jsonable(v) for k, v in clip(e.window, e.at).items()}
            with_clip = [
                replace(r, evidence=(*r.evidence, _clip_reference(found)), details={**r.details, "clip": found})
                if r.fired
                else r
                for r in results
            ]
            subjects.append(Verdicts(SubjectKind.VIDEO_EVENT, e.event_id, with_clip, None, None, _event_stays))
        new, _ = self._reconcile(uow, subjects, now, st, params)
        return new
