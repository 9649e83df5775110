"""Request bodies and JSON views of the supervision API (电子监察): alerts, complaints, ratings, sweeps, summary.

The one shape shared by the HTTP routes (:mod:`county_node.entrypoints.supervision_http`) and the ``--json``
output of ``sunshine alert|complaint|rating`` (:mod:`county_node.entrypoints.supervision_cli`,
:mod:`county_node.entrypoints.feedback_cli`). Bodies are pydantic models (their errors become one Chinese
:class:`federation.errors.ValidationError` through :func:`federation.http_errors.validation_error`); views are
``TypedDict`` s of JSON values only.
Moments are ISO 8601 strings in China Standard Time (``+08:00``); codes come with their Chinese labels
(``status_label``, ``light_label``, ``rule_name`` …).

The supervision service stays the validator of record: a rating level is passed on as given (an integer), so a
level outside 1–5 is refused by the domain with its own Chinese message, and nothing is written. Complaints and
ratings have their own module (:mod:`county_node.entrypoints.feedback_schemas`), re-exported here.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from typing_extensions import TypedDict  # pydantic needs this one on Python < 3.12

from county_node.entrypoints.feedback_schemas import (
    CHANNEL_LABELS,
    COMPLAINT_TARGET_LABELS,
    AnswerComplaintBody,
    CloseComplaintBody,
    ComplaintPageView,
    ComplaintView,
    FileComplaintBody,
    FollowUpBody,
    RateBody,
    RatingPageView,
    RatingView,
    complaint_page_view,
    complaint_view,
    rating_page_view,
    rating_view,
)
from county_node.entrypoints.schema_values import HistoryView, history, moment
from county_node.entrypoints.views import iso
from county_node.supervision.domain import RATING_LABELS, REGISTRY, RuleResult, clock_record
from county_node.supervision.domain.alerts import (
    ACTION_LABELS,
    ESCALATION_LABELS,
    PERSON_ACTIONS,
    STATUS_LABELS,
    Alert,
    AlertAction,
    AlertStatus,
)
from county_node.supervision.domain.feedback import COMPLAINT_STATUS_LABELS
from county_node.supervision.services import AlertPage, CaseSupervision, SweepReport

__all__ = [
    "ALERT_ACTION_DESCRIPTIONS",
    "ALERT_LIGHT_LABELS",
    "CHANNEL_LABELS",
    "COMPLAINT_TARGET_LABELS",
    "PERSON_ACTION_ORDER",
    "AlertActionBody",
    "AlertPageView",
    "AlertView",
    "AnswerComplaintBody",
    "CaseSupervisionView",
    "CloseComplaintBody",
    "ComplaintPageView",
    "ComplaintView",
    "FileComplaintBody",
    "FollowUpBody",
    "RateBody",
    "RatingPageView",
    "RatingView",
    "SupervisionSummaryView",
    "SweepView",
    "VerdictView",
    "alert_page_view",
    "alert_view",
    "case_supervision_view",
    "complaint_page_view",
    "complaint_view",
    "rating_page_view",
    "rating_view",
    "summary_view",
    "sweep_view",
    "verdict_view",
]

ALERT_LIGHT_LABELS: Mapping[str, str] = {"yellow": "黄灯", "red": "红灯"}
PERSON_ACTION_ORDER: tuple[AlertAction, ...] = tuple(a for a in AlertAction if a in PERSON_ACTIONS)
"""签收, 催办, 督办, 关闭 — the steps people take on an alert, in lifecycle order."""
ALERT_ACTION_DESCRIPTIONS: Mapping[AlertAction, str] = {
    AlertAction.ACKNOWLEDGE: "签收预警：本级已知悉并开始处理，签收后不再超时升级。",
    AlertAction.URGE: "催办：向承办部门发出催办，须填写催办意见；可重复催办，可在签收前催办。",
    AlertAction.SUPERVISE: "督办：比催办更严格的督办令，须填写督办意见；任何未关闭状态均可督办。",
    AlertAction.CLOSE: "关闭预警：记录关闭人、时间与原因（必填）；条件仍在时预警保持有效，不会重复触发。",
}


# -- request bodies -------------------------------------------------------------------------------------------


class AlertActionBody(BaseModel):
    """签收、催办、督办或关闭一条预警。催办、督办、关闭须填写原因或意见。处理人为当前登录账号。"""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="", description="原因或意见（催办、督办、关闭时必填）", examples=["请今日内办结"])


# -- views ----------------------------------------------------------------------------------------------------


class AlertView(TypedDict):
    """预警：触发它的规则（编号、版本、名称）、证据、时钟读数与参数，当前状态与处理记录。"""

    alert_id: str
    origin: str
    subject_kind: str
    subject_id: str
    case_no: str | None
    rule_id: str
    rule_version: int
    rule_name: str
    light: str | None
    light_label: str | None
    status: str
    status_label: str
    active: bool
    standing: bool
    level: int  # escalation level: 0 county, 1 city, 2 province (unacknowledged alerts escalate)
    level_label: str  # 督办层级 of supervision_level
    supervision_level: int  # the highest of ``level`` and the tiers whose orders acted on the alert
    supervising_order: str | None  # the order that raised supervision_level above ``level``
    department: str | None
    standards_version: str | None
    opened_at: str
    ack_due_at: str | None
    acknowledged_at: str | None
    escalated_at: str | None
    closed_at: str | None
    close_reason: str | None
    evidence: list[str]
    clock: dict[str, Any] | None
    details: dict[str, Any]
    parameters: dict[str, Any]
    history: list[HistoryView]
    updated_at: str


class AlertPageView(TypedDict):
    items: list[AlertView]
    total: int
    page: int
    page_size: int


class VerdictView(TypedDict):
    """一条规则此刻的判定：是否触发、灯色、证据、时钟读数与细节。"""

    rule_id: str
    rule_name: str
    version: int
    fired: bool
    light: str | None
    light_label: str | None
    evidence: list[str]
    clock: dict[str, Any] | None
    details: dict[str, Any]
    parameters: dict[str, Any]
    wake_at: str | None


class CaseSupervisionView(TypedDict):
    """办件的监察视图：全部规则此刻的判定、办件的全部预警、投诉与评价。"""

    case_no: str
    as_of: str
    rules: list[VerdictView]
    alerts: list[AlertView]
    complaints: list[ComplaintView]
    ratings: list[RatingView]


class SweepView(TypedDict):
    """一次巡检的结果：按规则统计新触发与消除的预警、升级的预警数、复核的对象数。"""

    as_of: str
    raised: dict[str, int]
    cleared: dict[str, int]
    escalated: int
    evaluated: int
    rule_names: dict[str, str]


class AlertCountView(TypedDict):
    rule_id: str
    rule_name: str
    light: str | None
    status: str
    count: int


class AlertSummaryView(TypedDict):
    by_rule: dict[str, int]
    by_light: dict[str, int]
    by_status: dict[str, int]
    rows: list[AlertCountView]
    rule_names: dict[str, str]
    light_labels: dict[str, str]
    status_labels: dict[str, str]


class ComplaintSummaryView(TypedDict):
    by_status: dict[str, int]
    status_labels: dict[str, str]


class RatingSummaryView(TypedDict):
    by_level: dict[str, int]
    level_labels: dict[str, str]


class SupervisionSummaryView(TypedDict):
    alerts: AlertSummaryView
    complaints: ComplaintSummaryView
    ratings: RatingSummaryView


# -- converters -----------------------------------------------------------------------------------------------


def _json(value: Any) -> Any:
    """JSON values only: moments in China Standard Time, money as decimal text, tuples as lists."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return value
    if isinstance(value, datetime):
        return moment(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Enum):
        return _json(value.value)
    if isinstance(value, Mapping):
        return {str(k): _json(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_json(v) for v in value]
    return str(value)


def _clock(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    out: dict[str, Any] = _json(value)
    for key in ("as_of", "due_at", "yellow_at"):
        if key in out:
            out[key] = moment(out[key])
    return out


_ALERT_ACTION_LABELS: Mapping[str, str] = {a.value: label for a, label in ACTION_LABELS.items()}


def _light_label(light: str | None) -> str | None:
    return None if light is None else ALERT_LIGHT_LABELS.get(light, light)


def alert_view(alert: Alert) -> AlertView:
    return {
        "alert_id": alert.alert_id,
        "origin": alert.origin,
        "subject_kind": alert.subject_kind,
        "subject_id": alert.subject_id,
        "case_no": alert.case_no,
        "rule_id": alert.rule_id,
        "rule_version": alert.rule_version,
        "rule_name": alert.rule_name,
        "light": alert.light,
        "light_label": _light_label(alert.light),
        "status": alert.status.value,
        "status_label": STATUS_LABELS[alert.status],
        "active": alert.active,
        "standing": alert.standing,
        "level": alert.level,
        "level_label": ESCALATION_LABELS.get(alert.supervision_level, str(alert.supervision_level)),
        "supervision_level": alert.supervision_level,
        "supervising_order": alert.supervising_order,
        "department": alert.department,
        "standards_version": alert.standards_version,
        "opened_at": iso(alert.opened_at),
        "ack_due_at": moment(alert.ack_due_at),
        "acknowledged_at": moment(alert.acknowledged_at),
        "escalated_at": moment(alert.escalated_at),
        "closed_at": moment(alert.closed_at),
        "close_reason": alert.close_reason,
        "evidence": list(alert.evidence),
        "clock": _clock(alert.clock),
        "details": _json(alert.details),
        "parameters": _json(alert.parameters),
        "history": history(alert.history, _ALERT_ACTION_LABELS),
        "updated_at": iso(alert.updated_at),
    }


def alert_page_view(page: AlertPage) -> AlertPageView:
    return {
        "items": [alert_view(a) for a in page.items],
        "total": page.total,
        "page": page.page,
        "page_size": page.page_size,
    }


def verdict_view(result: RuleResult) -> VerdictView:
    light = result.light.value if result.light else None
    spec = REGISTRY.get(result.rule_id)
    return {
        "rule_id": result.rule_id,
        "rule_name": spec.name if spec is not None else result.rule_id,
        "version": result.version,
        "fired": result.fired,
        "light": light,
        "light_label": _light_label(light),
        "evidence": list(result.evidence),
        "clock": _clock(clock_record(result.clock)),
        "details": _json(result.details),
        "parameters": _json(result.parameters),
        "wake_at": moment(result.wake_at),
    }


def case_supervision_view(view: CaseSupervision) -> CaseSupervisionView:
    return {
        "case_no": view.case_no,
        "as_of": iso(view.as_of),
        "rules": [verdict_view(r) for r in view.results],
        "alerts": [alert_view(a) for a in view.alerts],
        "complaints": [complaint_view(c) for c in view.complaints],
        "ratings": [rating_view(r) for r in view.ratings],
    }


def _rule_names(rule_ids: Any) -> dict[str, str]:
    return {r: REGISTRY[r].name if r in REGISTRY else r for r in sorted(rule_ids)}


def sweep_view(report: SweepReport) -> SweepView:
    raised = {k: int(v) for k, v in sorted(report.raised.items()) if v}
    cleared = {k: int(v) for k, v in sorted(report.cleared.items()) if v}
    return {
        "as_of": iso(report.as_of),
        "raised": raised,
        "cleared": cleared,
        "escalated": report.escalated,
        "evaluated": report.evaluated,
        "rule_names": _rule_names(set(raised) | set(cleared)),
    }


def summary_view(summary: Mapping[str, Any]) -> SupervisionSummaryView:
    """Alerts by rule, light and status (every status, zeros included); complaints by status; ratings by level."""
    rows: list[AlertCountView] = []
    by_rule: dict[str, int] = {}
    by_light: dict[str, int] = dict.fromkeys(ALERT_LIGHT_LABELS, 0)
    by_status: dict[str, int] = {s.value: 0 for s in AlertStatus}
    for r in summary["alerts"]:
        n = int(r["n"])
        rule_id, light, status = str(r["rule_id"]), r["light"], str(r["status"])
        rows.append(
            {
                "rule_id": rule_id,
                "rule_name": _rule_names([rule_id])[rule_id],
                "light": light,
                "status": status,
                "count": n,
            }
        )
        by_rule[rule_id] = by_rule.get(rule_id, 0) + n
        if light is not None:
            by_light[light] = by_light.get(light, 0) + n
        by_status[status] = by_status.get(status, 0) + n
    complaints = dict.fromkeys(COMPLAINT_STATUS_LABELS, 0)
    complaints.update({str(k): int(v) for k, v in summary["complaints"].items()})
    ratings = {str(level): 0 for level in sorted(RATING_LABELS, reverse=True)}
    ratings.update({str(k): int(v) for k, v in summary["ratings"].items()})
    return {
        "alerts": {
            "by_rule": by_rule,
            "by_light": by_light,
            "by_status": by_status,
            "rows": rows,
            "rule_names": _rule_names(REGISTRY),
            "light_labels": dict(ALERT_LIGHT_LABELS),
            "status_labels": {s.value: label for s, label in STATUS_LABELS.items()},
        },
        "complaints": {"by_status": complaints, "status_labels": dict(COMPLAINT_STATUS_LABELS)},
        "ratings": {
            "by_level": ratings,
            "level_labels": {str(k): v for k, v in sorted(RATING_LABELS.items(), reverse=True)},
        },
    }
