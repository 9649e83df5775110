"""Alerts (预警) as people handle them: 签收 / 催办 / 督办 / 关闭, the lists, a case's supervision view, the summary."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog

from county_node.supervision.domain import REGISTRY, RuleResult, evaluate
from county_node.supervision.domain.alerts import Alert, AlertAction, AlertStatus
from county_node.supervision.domain.complaints import Complaint
from county_node.supervision.domain.ratings import Rating
from county_node.supervision.evaluation import SupervisionCore
from county_node.supervision.ports import AlertFilter
from federation.errors import ValidationError
from federation.paging import page_offset

__all__ = ["AlertPage", "AlertUseCases", "CaseSupervision"]

log = structlog.get_logger(__name__)


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
    complaints: list[Complaint]
    ratings: list[Rating]


class AlertUseCases(SupervisionCore):
    def act(self, alert_id: str, action: AlertAction | str, *, actor: str, reason: str = "") -> Alert:
        """签收 / 催办 / 督办 / 关闭 an alert; a typed error, and nothing written, when the step is not allowed."""
        with self._units() as uow:
            uow.lock()
            alert = uow.alerts.get(alert_id, for_update=True)
            now = self.now()
            after = alert.act(action, actor=actor, at=max(now, alert.updated_at), reason=reason)
            uow.alerts.update([after], now)
            uow.commit()
        log.info("alert.action", alert_id=alert_id, action=str(action), actor=actor, status=after.status.value)
        return after

    def get_alert(self, alert_id: str) -> Alert:
        with self._units(readonly=True) as uow:
            return uow.alerts.get(alert_id)

    def list_alerts(self, flt: AlertFilter, *, page: int = 1, page_size: int = 20) -> AlertPage:
        offset = page_offset(page, page_size)
        if flt.status and flt.status != "active" and flt.status not in {s.value for s in AlertStatus}:
            raise ValidationError(f"未知的预警状态“{flt.status}”", field="status")
        if flt.light and flt.light not in ("yellow", "red"):
            raise ValidationError(f"未知的预警灯色“{flt.light}”（yellow、red）", field="light")
        if flt.rule_id and flt.rule_id not in REGISTRY:
            raise ValidationError(f"未知的监察规则“{flt.rule_id}”", field="rule_id")
        with self._units(readonly=True) as uow:
            items, total = uow.alerts.page(flt, offset=offset, limit=page_size)
        return AlertPage(items, total, page, page_size)

    def case_view(self, case_no: str) -> CaseSupervision:
        """A case's supervision view: every rule's verdict now, and its alerts, complaints and ratings."""
        st, params = self._in_force()
        now = self.now()
        with self._units(readonly=True) as uow:
            case = uow.cases.get(case_no, st.key_fields)
            events = uow.cases.timeline(case_no)
            found = uow.alerts.of_case(case_no)
            comps, _ = uow.complaints.page(status=None, case_no=case_no, offset=0, limit=200)
            rates, _ = uow.ratings.page(case_no=case_no, staff=None, negative=None, offset=0, limit=200)
        results = evaluate(case, events, now, st.calendar, params)
        return CaseSupervision(case_no, now, results, found, comps, rates)

    def summary(self) -> dict[str, Any]:
        """Alerts by rule, light and status; complaints by status; ratings by level."""
        with self._units(readonly=True) as uow:
            counts = uow.alerts.counts()
            ratings_by_level = uow.ratings.counts_by_level()
            by_status = uow.complaints.counts_by_status()
        return {"alerts": counts, "complaints": by_status, "ratings": ratings_by_level}
