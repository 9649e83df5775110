"""The sweep (定时巡检): what time alone changed, found with indexed range queries, never a walk over every case.

* cases whose yellow or due moment (``idx_yellow_at`` / ``idx_due_at``) has passed with no standing light alert —
  raised set-based in the database, a chunk per transaction (:class:`~county_node.ports.LightSweep`), since the
  previous complete sweep under the same calendar and rule switches (its watermark);
* cases whose ``sup_wake_at`` has passed — re-evaluated in full, a chunk at a time;
* complaints and negative ratings past their limit with no standing alert;
* open alerts past their acknowledgement limit — escalated one level (county → city → province).

Safe to run at any time, twice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog

from county_node.approval.domain import RUNNING_STATUSES
from county_node.supervision.domain import REGISTRY, SupervisionParameters
from county_node.supervision.domain.alerts import Alert
from county_node.supervision.domain.complaints import Complaint
from county_node.supervision.domain.ratings import Rating
from county_node.supervision.evaluation import RED, TURNED_RED, YELLOW, StandardsView, SupervisionCore, Verdicts
from county_node.supervision.ports import LightRaise
from county_node.unit_of_work import CountyRepositories
from federation.storage.outbox import canonical_json

__all__ = ["SweepReport", "SweepUseCases"]

log = structlog.get_logger(__name__)

_CHUNK = 50_000  # light alerts raised per transaction in the sweep
_EVAL_CHUNK = 1000  # subjects re-evaluated in full per round
_RUNNING = sorted(s.value for s in RUNNING_STATUSES)

Feedback = Complaint | Rating


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

    def count(self, raised: Sequence[Alert], cleared: Sequence[Alert]) -> None:
        self.raised.update(a.rule_id for a in raised)
        self.cleared.update(a.rule_id for a in cleared)


def _key(record: Feedback) -> str:
    return record.complaint_id if isinstance(record, Complaint) else record.rating_id


class SweepUseCases(SupervisionCore):
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
            with self._units() as uow:
                uow.light_sweep.refresh_statistics()
                uow.commit()
        if RED not in off:
            self._sweep_light(RED, now, since, st, params, report)
        if YELLOW not in off:
            self._sweep_light(YELLOW, now, since, st, params, report)
        self._set_light_watermark(stamp, now, since)
        self._sweep_wakes(now, st, params, report)
        if "SUP-101" not in off:
            self._sweep_feedback(lambda uow, n: uow.complaints.overdue(now, limit=n), now, st, params, report)
        if "SUP-201" not in off:
            self._sweep_feedback(lambda uow, n: uow.ratings.overdue(now, limit=n), now, st, params, report)
        self._escalate(now, st, params, report)
        log.info("supervision.swept", **report.to_dict())
        return report

    def _light_watermark(self, stamp: str, now: datetime) -> datetime | None:
        """The moment of the previous complete light sweep under the same calendar and rule switches (None: look
        at every due case). Earlier moments were swept then; a transition since was evaluated in its own
        transaction; a calendar revision (which moves the indexed moments) changes the stamp."""
        with self._units(readonly=True) as uow:
            raw = uow.light_sweep.watermark()
        if raw is None:
            return None
        held, _, moment = raw.rpartition("@")
        if held != stamp:
            return None
        since = datetime.fromisoformat(moment)
        return since if since <= now else None  # a sweep "in the past" (tests, a clock set back) looks at all

    def _set_light_watermark(self, stamp: str, now: datetime, since: datetime | None) -> None:
        with self._units() as uow:
            uow.light_sweep.set_watermark(f"{stamp}@{max(now, since or now).isoformat()}")
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
        """Raise the light alerts due, set-based in the database, a chunk per transaction; the yellow alerts of
        cases that turned red close themselves in the same transaction."""
        spec = REGISTRY[rule_id]
        at = now.isoformat()
        raise_ = LightRaise(
            origin=self.division,
            rule_id=rule_id,
            rule_version=spec.version,
            rule_name=spec.name,
            light="red" if rule_id == RED else "yellow",
            running=_RUNNING,
            now=now,
            ack_due_at=self._ack_due(now, st.calendar, params),
            standards_version=st.bundle.version if st.bundle else None,
            parameters_json=canonical_json({name: params.value(name) for name in spec.parameters}),
            history_json=canonical_json([{"action": "raise", "actor": "system", "at": at, "reason": "定时巡检"}]),
            since=since,
        )
        while True:
            with self._units() as uow:
                ids = uow.light_sweep.raise_alerts(raise_, limit=_CHUNK)
                report.raised[rule_id] += len(ids)
                if ids:
                    if rule_id == RED and YELLOW not in params.disabled_rules:
                        report.cleared[YELLOW] += uow.light_sweep.clear_yellow_of_red(ids, now, TURNED_RED)
                    if self._notify is not None and rule_id == RED:
                        for alert in uow.alerts.in_range(ids[0], ids[-1]):
                            self._notify(uow, alert, "raised", now)
                uow.commit()
            if len(ids) < _CHUNK:
                return

    def _sweep_wakes(
        self, now: datetime, st: StandardsView, params: SupervisionParameters, report: SweepReport
    ) -> None:
        """Re-evaluate in full the cases whose other time-driven rules (a step overdue) may have changed."""
        done: set[str] = set()
        while True:
            with self._units() as uow:
                uow.lock()
                ids = [n for n in uow.cases.waking(now, limit=_EVAL_CHUNK + len(done)) if n not in done][:_EVAL_CHUNK]
                if not ids:
                    return
                timelines = uow.cases.timelines(ids)
                evaluated = [
                    self._case_verdicts(c, timelines.get(c.case_no, ()), now, st, params)
                    for c in uow.cases.many(ids, st.key_fields)
                ]
                report.count(*self._reconcile(uow, [v for v, _ in evaluated], now, st, params))
                uow.cases.mark([mark for _, mark in evaluated])
                uow.commit()
            done.update(ids)
            report.evaluated += len(ids)

    def _sweep_feedback(
        self,
        overdue: Callable[[CountyRepositories, int], Sequence[Feedback]],
        now: datetime,
        st: StandardsView,
        params: SupervisionParameters,
        report: SweepReport,
    ) -> None:
        """Complaints (or negative ratings) past their limit with no standing alert."""
        done: set[str] = set()  # a record whose rule does not fire stays overdue: look at each once
        while True:
            with self._units() as uow:
                uow.lock()
                found = [r for r in overdue(uow, _EVAL_CHUNK + len(done)) if _key(r) not in done][:_EVAL_CHUNK]
                verdicts: list[Verdicts] = [self._feedback_verdicts(r, now, st, params) for r in found]
                report.count(*self._reconcile(uow, verdicts, now, st, params))
                uow.commit()
            done.update(_key(r) for r in found)
            report.evaluated += len(found)
            if len(found) < _EVAL_CHUNK:
                return

    def _escalate(self, now: datetime, st: StandardsView, params: SupervisionParameters, report: SweepReport) -> None:
        """Open alerts not acknowledged by their limit go one level up (county → city → province)."""
        while True:
            with self._units() as uow:
                uow.lock()
                found = uow.alerts.awaiting_escalation(now, disabled_rules=params.disabled_rules, limit=_EVAL_CHUNK)
                if not found:
                    return
                escalated = []
                for a in found:
                    at = max(now, a.updated_at)
                    next_due = self._ack_due(at, st.calendar, params)
                    escalated.append(a.escalate(at=at, next_due=next_due, ack_days=params.alert_ack_days))
                uow.alerts.update(escalated, now)
                if self._notify is not None:
                    for a in escalated:
                        self._notify(uow, a, "escalated", now)
                uow.commit()
            report.escalated += len(escalated)
            for a in escalated:
                log.warning("alert.escalated", alert_id=a.alert_id, rule=a.rule_id, level=a.level)
            if len(found) < _EVAL_CHUNK:
                return
