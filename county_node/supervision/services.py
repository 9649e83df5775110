"""The county's supervision service (电子监察): alerts raised in real time, a sweep for time, complaints, ratings.

Two ways a verdict changes, two ways it is evaluated:

* **an event** — every case transition is evaluated *inside the approval transaction* (:meth:`case_changed`, the
  approval service's observer): the whole rule set runs on the case's timeline and clock, alerts are raised and
  cleared, and the case row keeps ``sup_wake_at`` (when a time-driven rule other than the lights can next change)
  and ``sup_evidence`` (the events that shaped the clock); an answered complaint or a followed-up rating likewise;
* **time** — :meth:`sweep` finds what time alone changed with indexed range queries, never a walk over every
  case: cases whose yellow or due moment (``idx_yellow_at`` / ``idx_due_at``) has passed with no standing light
  alert (set-based, a chunk at a time), cases whose ``sup_wake_at`` has passed (re-evaluated in full),
  complaints and negative ratings past their limit, and open alerts past their acknowledgement limit
  (escalated one level: county → city → province).

Every alert write is one outbox row in the same transaction, so alerts, their escalation and their handling
replicate up with the cases. Red alerts and escalations queue an SMS (``notifications``) in the same transaction;
the notification dispatcher delivers them after commit.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import structlog
from sqlalchemy import Engine, bindparam, exists, select, update
from sqlalchemy.engine import Connection

from county_node.approval.adapters.repository import CaseRepository
from county_node.approval.domain import RUNNING_STATUSES, Case, Status
from county_node.supervision.adapters.light_sweep import (
    LightRaise,
    clear_yellow_of_red,
    raise_light_alerts,
    refresh_statistics,
)
from county_node.supervision.adapters.store import AlertFilter, AlertStore, FeedbackStore
from county_node.supervision.domain import (
    REGISTRY,
    RuleResult,
    SubjectKind,
    SupervisionParameters,
    clock_record,
    evaluate,
    evaluate_complaint,
    evaluate_rating,
    next_wake_at,
)
from county_node.supervision.domain.alerts import MAX_LEVEL, UNACKNOWLEDGED, Alert, AlertAction, AlertStatus
from county_node.supervision.domain.feedback import (
    answer_complaint,
    close_complaint,
    complaint_subject,
    follow_up_rating,
    new_complaint,
    new_rating,
    rating_subject,
)
from federation.calendar import WorkingCalendar
from federation.clock import ClockSpec, LightPolicy, compute_deadline
from federation.errors import Conflict, StandardsNotLoaded, ValidationError
from federation.standards import StandardsBundle
from federation.storage import outbox
from federation.storage.outbox import canonical_json
from federation.storage.standards_store import get_setting, set_setting
from federation.storage.tables import alerts, cases, complaints, ratings
from federation.storage.uow import UnitOfWork

__all__ = ["LIGHT_RULES", "AlertPage", "CaseSupervision", "StandardsView", "SupervisionService", "SweepReport"]

log = structlog.get_logger(__name__)

LIGHT_RULES = frozenset({"SUP-001", "SUP-002"})
"""The light rules: their moments are the indexed ``idx_yellow_at`` / ``idx_due_at``, swept set-based."""

_YELLOW, _RED = "SUP-001", "SUP-002"
_CHUNK = 50_000  # light alerts raised per transaction in the sweep
_TURNED_RED = "办件已超期，黄灯转为红灯（SUP-002）"
_WATERMARK = "supervision.light_swept"  # "{calendar version}|{disabled rules}@{moment of the last complete sweep}"
_EVAL_CHUNK = 1000  # subjects re-evaluated in full per round
_RUNNING = sorted(s.value for s in RUNNING_STATUSES)
_FINAL_LABELS = {
    Status.CONCLUDED: "办结",
    Status.REFUSED: "不予受理",
    Status.RETURNED: "退回",
    Status.APPROVED: "作出准予许可决定",
    Status.DENIED: "作出不予许可决定",
}

Clock = Callable[[], datetime]


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
class _Verdicts:
    """Every rule's result on one subject, with what an alert about it records and why a cleared one closed."""

    kind: SubjectKind
    subject_id: str
    results: Sequence[RuleResult]
    case_no: str | None
    department: str | None
    clear_reason: ClearReason


def _answered(r: RuleResult, fired: frozenset[str]) -> str:
    return "已答复，预警条件消除"


def _followed_up(r: RuleResult, fired: frozenset[str]) -> str:
    return "已回访，预警条件消除"


def _check_page(page: int, page_size: int) -> None:
    if page < 1 or not 1 <= page_size <= 200:
        raise ValidationError("分页参数无效：页码从 1 开始，每页 1 到 200 条")


def _limit_end(calendar: WorkingCalendar, start: datetime, days: int) -> datetime:
    """The end of a limit of ``days`` working days from ``start``, counted like the case clock."""
    due = compute_deadline(calendar, ClockSpec(start, days)).due_at
    assert due is not None  # a clock with no pause always has a due moment
    return due


def _jsonable(value: Any) -> Any:
    return json.loads(canonical_json(value))


@dataclass
class SweepReport:
    as_of: datetime
    raised: Counter[str] = field(default_factory=Counter)
    cleared: Counter[str] = field(default_factory=Counter)
    escalated: int = 0
    evaluated: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "raised": dict(sorted(self.raised.items())),
            "cleared": dict(sorted(self.cleared.items())),
            "escalated": self.escalated,
            "evaluated": self.evaluated,
        }


@dataclass(frozen=True, slots=True)
class AlertPage:
    items: list[Alert]
    total: int
    page: int
    page_size: int


@dataclass(frozen=True, slots=True)
class CaseSupervision:
    """A case's supervision view: its current verdicts, its alerts (all), complaints and ratings."""

    case_no: str
    as_of: datetime
    results: list[RuleResult]
    alerts: list[Alert]
    complaints: list[dict[str, Any]]
    ratings: list[dict[str, Any]]


class SupervisionService:
    """The supervision use cases of one county node. ``standards`` returns the standards in force."""

    def __init__(
        self,
        engine: Engine,
        division: str,
        clock: Clock,
        standards: Callable[[], StandardsView],
        *,
        notify: Callable[[Connection, Alert, str, datetime], None] | None = None,
        default_policy: LightPolicy | None = None,
    ) -> None:
        self._engine = engine
        self.division = division
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

    def _lock(self, uow: UnitOfWork) -> None:
        """Take this node's writer lock first in every supervision write, as the approval service does
        (:func:`outbox.lock_origin`). One lock order for every writer: no deadlock, and what a sweep read is not
        changed under it by a concurrent action (an acknowledgement is never overwritten by an escalation)."""
        outbox.lock_origin(uow.conn, self.division)

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
        return _limit_end(calendar, at, params.alert_ack_days)

    # -- raising and clearing -------------------------------------------------------------------------------
    def _new_alert(
        self,
        alert_id: str,
        r: RuleResult,
        now: datetime,
        *,
        case_no: str | None,
        department: str | None,
        standards_version: str | None,
        ack_due_at: datetime,
    ) -> Alert:
        spec = REGISTRY[r.rule_id]
        return Alert(
            alert_id=alert_id,
            origin=self.division,
            subject_kind=r.subject_kind.value,
            subject_id=r.subject_id,
            case_no=case_no,
            rule_id=r.rule_id,
            rule_version=r.version,
            rule_name=spec.name,
            light=r.light.value if r.light else None,
            status=AlertStatus.OPEN,
            standing=True,
            level=0,
            department=department,
            standards_version=standards_version,
            opened_at=now,
            ack_due_at=ack_due_at,
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
        conn: Connection,
        subjects: Sequence[_Verdicts],
        now: datetime,
        st: StandardsView,
        params: SupervisionParameters,
        *,
        report: SweepReport | None = None,
    ) -> list[Alert]:
        """Raise what fired with no standing alert, clear the standing alerts whose rule no longer fires — for
        many subjects of one kind at once (one read of their standing alerts, one insert, one update)."""
        if not subjects:
            return []
        store = AlertStore(conn, self.division)
        kind = subjects[0].kind
        standing = store.standing_of(kind.value, [v.subject_id for v in subjects])
        raise_: list[tuple[_Verdicts, RuleResult]] = []
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
            ids = store.new_ids(len(raise_))
            new = [
                self._new_alert(
                    i, r, now, case_no=v.case_no, department=v.department, standards_version=version, ack_due_at=ack_due
                )
                for i, (v, r) in zip(ids, raise_, strict=True)
            ]
            store.insert(new, now)
        store.update(cleared, now)
        for a in new:
            if self._notify is not None and a.light == "red":
                self._notify(conn, a, "raised", now)
            log.info("alert.raised", alert_id=a.alert_id, rule=a.rule_id, subject=a.subject_id, light=a.light)
        for a in cleared:
            log.info("alert.cleared", alert_id=a.alert_id, rule=a.rule_id, reason=a.close_reason)
        if report is not None:
            report.raised.update(a.rule_id for a in new)
            report.cleared.update(a.rule_id for a in cleared)
        return new

    @staticmethod
    def _case_clear_reason(case: Case) -> Callable[[RuleResult, frozenset[str]], str]:
        def reason(r: RuleResult, fired: frozenset[str]) -> str:
            if case.status in _FINAL_LABELS:
                return f"办件已{_FINAL_LABELS[case.status]}，预警条件消除"
            if r.rule_id == _YELLOW and _RED in fired:
                return _TURNED_RED
            if case.status not in RUNNING_STATUSES:
                return "办件计时已暂停或未在办理中，预警条件消除"
            return f"复核时规则 {r.rule_id} 不再触发，预警条件消除"

        return reason

    def _case_verdicts(
        self, case: Case, events: Sequence[Any], now: datetime, st: StandardsView, params: SupervisionParameters
    ) -> tuple[_Verdicts, dict[str, Any]]:
        """Every case rule on ``case`` now, and the case's supervision bookkeeping (next wake-up, clock evidence)."""
        results = evaluate(case, events, now, st.calendar, params)
        wake = next_wake_at(r for r in results if r.rule_id not in LIGHT_RULES)
        evidence: list[str] = []
        for r in results:
            if r.rule_id in LIGHT_RULES and r.evidence:
                evidence = list(r.evidence)
                break
        verdicts = _Verdicts(
            SubjectKind.CASE, case.case_no, results, case.case_no, case.department, self._case_clear_reason(case)
        )
        return verdicts, {"k_case_no": case.case_no, "sup_wake_at": wake, "sup_evidence": evidence}

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
        events = CaseRepository(conn, st.key_fields).timeline(case.case_no)
        verdicts, row = self._case_verdicts(case, events, now, st, params)
        self._reconcile(conn, [verdicts], now, st, params)
        if previous is None or (previous[0], previous[1] or None) != (row["sup_wake_at"], row["sup_evidence"] or None):
            conn.execute(_UPDATE_CASE_SUP, [row])

    # -- the sweep ------------------------------------------------------------------------------------------
    def sweep(self, now: datetime | None = None) -> SweepReport:
        """Bring every time-driven verdict up to ``now`` (default: the clock). Safe to run at any time, twice."""
        st, params = self._in_force()
        now = now or self.now()
        report = SweepReport(now)
        off = params.disabled_rules
        light = params.light_policy
        stamp = f"{st.calendar.version}|{light.yellow_days}|{light.yellow_share}|{sorted(off)}"
        since = self._light_watermark(stamp, now)
        if since is None:  # every running case is looked at: the planner must know how many alerts there are
            with UnitOfWork(self._engine) as uow:
                refresh_statistics(uow.conn)
                uow.commit()
        if _RED not in off:
            self._sweep_light(_RED, now, since, st, params, report)
        if _YELLOW not in off:
            self._sweep_light(_YELLOW, now, since, st, params, report)
        self._set_light_watermark(stamp, now, since)
        self._sweep_wakes(now, st, params, report)
        self._sweep_feedback(now, st, params, report)
        self._escalate(now, st, params, report)
        log.info("supervision.swept", **report.to_dict())
        return report

    def _light_watermark(self, stamp: str, now: datetime) -> datetime | None:
        """The moment of the previous complete light sweep under the same calendar and rule switches (None: look
        at every due case). Earlier moments were swept then; a transition since was evaluated in its own
        transaction; a calendar revision (which moves the indexed moments) changes the stamp."""
        with UnitOfWork(self._engine, readonly=True) as uow:
            raw = get_setting(uow.conn, _WATERMARK)
        if raw is None:
            return None
        held, _, moment = raw.rpartition("@")
        if held != stamp:
            return None
        since = datetime.fromisoformat(moment)
        return since if since <= now else None  # a sweep "in the past" (tests, a clock set back) looks at all

    def _set_light_watermark(self, stamp: str, now: datetime, since: datetime | None) -> None:
        with UnitOfWork(self._engine) as uow:
            set_setting(uow.conn, _WATERMARK, f"{stamp}@{max(now, since or now).isoformat()}")
            uow.commit()

    def _sweep_light(  # noqa: PLR0917 - the rule, the moment and what it is judged under
        self,
        rule_id: str,
        now: datetime,
        since: datetime | None,
        st: StandardsView,
        params: SupervisionParameters,
        report: SweepReport,
    ) -> None:
        """Raise the light alerts due, set-based in the database (:mod:`..adapters.light_sweep`), a chunk per
        transaction; the yellow alerts of cases that turned red close themselves in the same transaction."""
        spec = REGISTRY[rule_id]
        at = now.isoformat()
        raise_ = LightRaise(
            origin=self.division,
            rule_id=rule_id,
            rule_version=spec.version,
            rule_name=spec.name,
            light="red" if rule_id == _RED else "yellow",
            running=_RUNNING,
            now=now,
            ack_due_at=self._ack_due(now, st.calendar, params),
            standards_version=st.bundle.version if st.bundle else None,
            parameters_json=canonical_json({name: params.value(name) for name in spec.parameters}),
            history_json=canonical_json([{"action": "raise", "actor": "system", "at": at, "reason": "定时巡检"}]),
            since=since,
        )
        while True:
            with UnitOfWork(self._engine) as uow:
                ids = raise_light_alerts(uow.conn, raise_, limit=_CHUNK)
                report.raised[rule_id] += len(ids)
                if ids:
                    store = AlertStore(uow.conn, self.division)
                    if rule_id == _RED and _YELLOW not in params.disabled_rules:
                        report.cleared[_YELLOW] += clear_yellow_of_red(
                            uow.conn, origin=self.division, red=ids, now=now, reason=_TURNED_RED
                        )
                    if self._notify is not None and rule_id == _RED:
                        for alert in store.in_range(ids[0], ids[-1]):
                            self._notify(uow.conn, alert, "raised", now)
                uow.commit()
            if len(ids) < _CHUNK:
                return

    def _sweep_wakes(
        self, now: datetime, st: StandardsView, params: SupervisionParameters, report: SweepReport
    ) -> None:
        """Re-evaluate in full the cases whose other time-driven rules (a step overdue) may have changed."""
        done: set[str] = set()
        while True:
            with UnitOfWork(self._engine) as uow:
                self._lock(uow)
                ids = [
                    r.case_no
                    for r in uow.conn.execute(
                        select(cases.c.case_no)
                        .where(cases.c.sup_wake_at <= now)
                        .order_by(cases.c.sup_wake_at, cases.c.case_no)
                        .limit(_EVAL_CHUNK + len(done))
                    )
                    if r.case_no not in done
                ][:_EVAL_CHUNK]
                if not ids:
                    return
                repo = CaseRepository(uow.conn, st.key_fields)
                timelines = repo.timelines(ids)
                evaluated = [
                    self._case_verdicts(c, timelines.get(c.case_no, ()), now, st, params) for c in repo.many(ids)
                ]
                self._reconcile(uow.conn, [v for v, _ in evaluated], now, st, params, report=report)
                uow.conn.execute(_UPDATE_CASE_SUP, [row for _, row in evaluated])
                uow.commit()
            done.update(ids)
            report.evaluated += len(ids)

    def _sweep_feedback(
        self, now: datetime, st: StandardsView, params: SupervisionParameters, report: SweepReport
    ) -> None:
        """Complaints and negative ratings past their limit with no standing alert."""
        for table, key, kind, status, rule in (
            (complaints, "complaint_id", SubjectKind.COMPLAINT, "open", "SUP-101"),
            (ratings, "rating_id", SubjectKind.RATING, "follow_up_pending", "SUP-201"),
        ):
            if rule in params.disabled_rules:
                continue
            standing = exists().where(
                alerts.c.subject_kind == kind.value,
                alerts.c.subject_id == table.c[key],
                alerts.c.rule_id == rule,
                alerts.c.standing == True,  # noqa: E712
            )
            stmt = (
                select(table)
                .where(table.c.status == status, table.c.idx_due_at <= now, ~standing)
                .order_by(table.c.idx_due_at, table.c[key])
            )
            done: set[str] = set()  # a row whose rule does not fire stays in the set: look at each once
            while True:
                with UnitOfWork(self._engine) as uow:
                    self._lock(uow)
                    found = uow.conn.execute(stmt.limit(_EVAL_CHUNK + len(done))).mappings()
                    rows = [dict(r) for r in found if r[key] not in done][:_EVAL_CHUNK]
                    verdicts = [self._feedback_verdicts(kind, row, now, st, params) for row in rows]
                    self._reconcile(uow.conn, verdicts, now, st, params, report=report)
                    uow.commit()
                done.update(r[key] for r in rows)
                report.evaluated += len(rows)
                if len(rows) < _EVAL_CHUNK:
                    break

    def _feedback_verdicts(
        self,
        kind: SubjectKind,
        row: Mapping[str, Any],
        now: datetime,
        st: StandardsView,
        params: SupervisionParameters,
    ) -> _Verdicts:
        """SUP-101 on a complaint or SUP-201 on a rating. A verdict that fired stays: a late answer is late."""
        if kind is SubjectKind.COMPLAINT:
            results = evaluate_complaint(complaint_subject(row), now, st.calendar, params)
            return _Verdicts(kind, row["complaint_id"], results, row["case_no"], None, _answered)
        results = evaluate_rating(rating_subject(row), now, st.calendar, params)
        return _Verdicts(kind, row["rating_id"], results, row["case_no"], None, _followed_up)

    def _escalate(self, now: datetime, st: StandardsView, params: SupervisionParameters, report: SweepReport) -> None:
        """Open alerts not acknowledged by their limit go one level up (county → city → province)."""
        stmt = (
            select(alerts)
            .where(
                alerts.c.status.in_([s.value for s in UNACKNOWLEDGED]),
                alerts.c.ack_due_at <= now,
                alerts.c.acknowledged_at.is_(None),
                alerts.c.level < MAX_LEVEL,
                alerts.c.rule_id.notin_(sorted(params.disabled_rules)),  # a switched-off rule is not pursued
            )
            .order_by(alerts.c.ack_due_at)
            .limit(_EVAL_CHUNK)
        )
        while True:
            with UnitOfWork(self._engine) as uow:
                self._lock(uow)
                found = [Alert.from_row(r) for r in uow.conn.execute(stmt).mappings()]
                if not found:
                    return
                escalated = []
                for a in found:
                    at = max(now, a.updated_at)
                    next_due = self._ack_due(at, st.calendar, params)
                    escalated.append(a.escalate(at=at, next_due=next_due, ack_days=params.alert_ack_days))
                store = AlertStore(uow.conn, self.division)
                store.update(escalated, now)
                if self._notify is not None:
                    for a in escalated:
                        self._notify(uow.conn, a, "escalated", now)
                uow.commit()
            report.escalated += len(escalated)
            for a in escalated:
                log.warning("alert.escalated", alert_id=a.alert_id, rule=a.rule_id, level=a.level)
            if len(found) < _EVAL_CHUNK:
                return

    # -- alert actions and queries --------------------------------------------------------------------------
    def act(self, alert_id: str, action: AlertAction | str, *, actor: str, reason: str = "") -> Alert:
        """签收 / 催办 / 督办 / 关闭 an alert; a typed error, and nothing written, when the step is not allowed."""
        with UnitOfWork(self._engine) as uow:
            self._lock(uow)
            store = AlertStore(uow.conn, self.division)
            alert = store.get(alert_id, for_update=True)
            now = self.now()
            after = alert.act(action, actor=actor, at=max(now, alert.updated_at), reason=reason)
            store.update([after], now)
            uow.commit()
        log.info("alert.action", alert_id=alert_id, action=str(action), actor=actor, status=after.status.value)
        return after

    def get_alert(self, alert_id: str) -> Alert:
        with UnitOfWork(self._engine, readonly=True) as uow:
            return AlertStore(uow.conn, self.division).get(alert_id)

    def list_alerts(self, flt: AlertFilter, *, page: int = 1, page_size: int = 20) -> AlertPage:
        _check_page(page, page_size)
        if flt.status and flt.status != "active" and flt.status not in {s.value for s in AlertStatus}:
            raise ValidationError(f"未知的预警状态“{flt.status}”", field="status")
        if flt.light and flt.light not in ("yellow", "red"):
            raise ValidationError(f"未知的预警灯色“{flt.light}”（yellow、red）", field="light")
        if flt.rule_id and flt.rule_id not in REGISTRY:
            raise ValidationError(f"未知的监察规则“{flt.rule_id}”", field="rule_id")
        with UnitOfWork(self._engine, readonly=True) as uow:
            items, total = AlertStore(uow.conn, self.division).page(flt, offset=(page - 1) * page_size, limit=page_size)
        return AlertPage(items, total, page, page_size)

    def case_view(self, case_no: str) -> CaseSupervision:
        """A case's supervision view: every rule's verdict now, and its alerts, complaints and ratings."""
        st, params = self._in_force()
        now = self.now()
        with UnitOfWork(self._engine, readonly=True) as uow:
            repo = CaseRepository(uow.conn, st.key_fields)
            case = repo.get(case_no)
            events = repo.timeline(case_no)
            found = AlertStore(uow.conn, self.division).of_case(case_no)
            fb = FeedbackStore(uow.conn, self.division)
            comps, _ = fb.list_complaints(status=None, case_no=case_no, offset=0, limit=200)
            rates, _ = fb.list_ratings(case_no=case_no, staff=None, negative=None, offset=0, limit=200)
        results = evaluate(case, events, now, st.calendar, params)
        return CaseSupervision(case_no, now, results, found, comps, rates)

    def summary(self) -> dict[str, Any]:
        """Alerts by rule, light and status; complaints by status; ratings by level."""
        with UnitOfWork(self._engine, readonly=True) as uow:
            counts = AlertStore(uow.conn, self.division).counts()
            fb = FeedbackStore(uow.conn, self.division)
            ratings_by_level = fb.ratings_summary()
            comp = Counter(
                r.status for r in uow.conn.execute(select(complaints.c.status))
            )  # complaints are few per county; a GROUP BY would be the same one scan
        return {"alerts": counts, "complaints": dict(comp), "ratings": ratings_by_level}

    # -- complaints and ratings -----------------------------------------------------------------------------
    def file_complaint(
        self,
        *,
        target: str,
        target_id: str,
        complainant: str,
        content: str,
        channel: str = "window",
        limit_days: int | None = None,
        actor: str,
    ) -> dict[str, Any]:
        """投诉: against a case (it must exist), a window or a staff member; the limit from the standards."""
        st, params = self._in_force()
        limit = params.complaint_response_days if limit_days is None else limit_days
        with UnitOfWork(self._engine) as uow:
            self._lock(uow)
            case_no = None
            if target == "case":
                case_no = CaseRepository(uow.conn, st.key_fields).get(target_id).case_no
            now = self.now()
            if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
                raise ValidationError("投诉答复时限应为不小于 0 的工作日数", field="limit_days")
            store = FeedbackStore(uow.conn, self.division)
            row = new_complaint(
                complaint_id=store.new_id("TS"),
                origin=self.division,
                target=target,
                target_id=target_id,
                case_no=case_no,
                complainant=complainant,
                content=content,
                channel=channel,
                limit_days=limit,
                due_at=_limit_end(st.calendar, now, limit),
                standards_version=st.bundle.version if st.bundle else None,
                actor=actor,
                now=now,
            )
            store.save_complaint(row, now, new=True)
            uow.commit()
        log.info("complaint.filed", complaint_id=row["complaint_id"], target=target, target_id=target_id)
        return row

    def answer_complaint(self, complaint_id: str, *, answer: str, actor: str) -> dict[str, Any]:
        st, params = self._in_force()
        with UnitOfWork(self._engine) as uow:
            self._lock(uow)
            store = FeedbackStore(uow.conn, self.division)
            row = store.complaint(complaint_id, for_update=True)
            now = max(self.now(), row["updated_at"])
            after = answer_complaint(row, answer=answer, actor=actor, now=now)
            store.save_complaint(after, now, new=False)
            self._reconcile(
                uow.conn, [self._feedback_verdicts(SubjectKind.COMPLAINT, after, now, st, params)], now, st, params
            )
            uow.commit()
        return after

    def close_complaint(self, complaint_id: str, *, actor: str, reason: str = "") -> dict[str, Any]:
        with UnitOfWork(self._engine) as uow:
            self._lock(uow)
            store = FeedbackStore(uow.conn, self.division)
            row = store.complaint(complaint_id, for_update=True)
            now = max(self.now(), row["updated_at"])
            after = close_complaint(row, actor=actor, reason=reason, now=now)
            store.save_complaint(after, now, new=False)
            uow.commit()
        return after

    def rate(
        self, *, case_no: str, staff: str, level: Any, comment: str | None = None, channel: str = "window"
    ) -> dict[str, Any]:
        """好差评: one rating per case and staff member; a negative one must be followed up within its limit."""
        st, params = self._in_force()
        with UnitOfWork(self._engine) as uow:
            self._lock(uow)
            CaseRepository(uow.conn, st.key_fields).get(case_no)  # CaseNotFound for an unknown case
            store = FeedbackStore(uow.conn, self.division)
            existing, _ = store.list_ratings(case_no=case_no, staff=staff, negative=None, offset=0, limit=1)
            if existing:
                raise Conflict(
                    f"办件“{case_no}”已对工作人员“{staff}”评价过（{existing[0]['rating_id']}）",
                    case_no=case_no,
                    staff=staff,
                )
            now = self.now()
            limit = params.rating_follow_up_days
            row = new_rating(
                rating_id=store.new_id("PJ"),
                origin=self.division,
                case_no=case_no,
                staff=staff,
                level=level,
                comment=comment,
                channel=channel,
                negative_max_level=params.negative_rating_max_level,
                limit_days=limit,
                due_at=_limit_end(st.calendar, now, limit),
                now=now,
            )
            store.save_rating(row, now, new=True)
            uow.commit()
        log.info("rating.recorded", rating_id=row["rating_id"], level=row["level"], negative=row["negative"])
        return row

    def follow_up(self, rating_id: str, *, note: str, actor: str) -> dict[str, Any]:
        st, params = self._in_force()
        with UnitOfWork(self._engine) as uow:
            self._lock(uow)
            store = FeedbackStore(uow.conn, self.division)
            row = store.rating(rating_id, for_update=True)
            now = max(self.now(), row["updated_at"])
            after = follow_up_rating(row, note=note, actor=actor, now=now)
            store.save_rating(after, now, new=False)
            self._reconcile(
                uow.conn, [self._feedback_verdicts(SubjectKind.RATING, after, now, st, params)], now, st, params
            )
            uow.commit()
        return after

    def get_complaint(self, complaint_id: str) -> dict[str, Any]:
        with UnitOfWork(self._engine, readonly=True) as uow:
            return FeedbackStore(uow.conn, self.division).complaint(complaint_id)

    def get_rating(self, rating_id: str) -> dict[str, Any]:
        with UnitOfWork(self._engine, readonly=True) as uow:
            return FeedbackStore(uow.conn, self.division).rating(rating_id)

    def list_complaints(
        self, *, status: str | None = None, case_no: str | None = None, page: int = 1, page_size: int = 20
    ) -> tuple[list[dict[str, Any]], int]:
        _check_page(page, page_size)
        with UnitOfWork(self._engine, readonly=True) as uow:
            return FeedbackStore(uow.conn, self.division).list_complaints(
                status=status, case_no=case_no, offset=(page - 1) * page_size, limit=page_size
            )

    def list_ratings(
        self,
        *,
        case_no: str | None = None,
        staff: str | None = None,
        negative: bool | None = None,
        page: int = 1,
        page_size: int = 20,
    ) -> tuple[list[dict[str, Any]], int]:
        _check_page(page, page_size)
        with UnitOfWork(self._engine, readonly=True) as uow:
            return FeedbackStore(uow.conn, self.division).list_ratings(
                case_no=case_no, staff=staff, negative=negative, offset=(page - 1) * page_size, limit=page_size
            )


_UPDATE_CASE_SUP = (
    update(cases)
    .where(cases.c.case_no == bindparam("k_case_no"))
    .values(sup_wake_at=bindparam("sup_wake_at"), sup_evidence=bindparam("sup_evidence"))
)
