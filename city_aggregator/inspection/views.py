"""JSON views of the inspectors' API: ``TypedDict`` of JSON values only (FastAPI documents them in OpenAPI).

Cases, alerts, complaints and ratings are rendered by the county's own views (:mod:`county_node.entrypoints.views`,
:mod:`county_node.entrypoints.supervision_schemas`), so a record looks the same at every tier. Moments are ISO
8601 in China Standard Time; rates are fractions rounded to 4 decimals, ``null`` when there is no sample.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from typing_extensions import TypedDict  # pydantic needs this one on Python < 3.12

from city_aggregator.inspection.figures import CountyFigures, MonthFigures, rate
from city_aggregator.inspection.scope import Scope
from city_aggregator.inspection.service import AlertList, CaseDrillDown, CountyList, Ranking, Trend
from county_node.approval.domain import STATUS_LABELS, Status
from county_node.entrypoints.supervision_schemas import (
    AlertView,
    ComplaintView,
    RatingView,
    alert_view,
    complaint_view,
    rating_view,
)
from county_node.entrypoints.views import LIGHT_LABELS, CaseDetailView, case_detail_view, iso
from county_node.supervision.domain.alerts import Alert
from county_node.supervision.domain.ratings import RATING_LABELS
from county_node.video.services import Clip
from federation.clock import Light

__all__ = [
    "AlertListView",
    "ClipView",
    "CountyDetailView",
    "CountyListView",
    "CountySummaryView",
    "InspectorAlertView",
    "InspectorCaseView",
    "RankingView",
    "ScopeView",
    "TrendView",
    "alert_list_view",
    "clip_view",
    "county_detail_view",
    "county_list_view",
    "inspector_alert_view",
    "inspector_case_view",
    "ranking_view",
    "scope_view",
    "trend_view",
]


class ScopeView(TypedDict):
    node: str  # the node's division
    division: str  # the logged-in inspector's division (their account's)
    prefix: str  # every record shown belongs to a division starting with it


class CaseCountsView(TypedDict):
    total: int
    by_status: dict[str, int]
    by_light: dict[str, int]  # open cases under the clock, light at as_of
    decided: int
    on_time: int
    late: int
    on_time_rate: float | None


class AlertCountsView(TypedDict):
    active: int  # not closed
    by_light: dict[str, int]
    by_rule: dict[str, int]


class ComplaintCountsView(TypedDict):
    total: int
    open: int
    overdue: int  # open past the answer deadline
    answered: int
    answered_on_time: int
    answered_on_time_rate: float | None


class RatingCountsView(TypedDict):
    total: int
    by_level: dict[str, int]  # "5" 非常满意 … "1" 非常不满意
    negative: int
    satisfaction: float | None  # share of ratings that are not negative


class CountySummaryView(TypedDict):
    county: str
    name: str | None
    cases: CaseCountsView
    alerts: AlertCountsView
    complaints: ComplaintCountsView
    ratings: RatingCountsView


class CountyListView(TypedDict):
    as_of: str
    scope: ScopeView
    items: list[CountySummaryView]
    total: CountySummaryView  # the whole scope
    status_labels: dict[str, str]
    light_labels: dict[str, str]
    rating_labels: dict[str, str]


class CountyDetailView(TypedDict):
    as_of: str
    scope: ScopeView
    summary: CountySummaryView


class AlertListView(TypedDict):
    scope: ScopeView
    items: list[AlertView]
    total: int
    page: int
    page_size: int


class ClipSegmentView(TypedDict):
    start: str
    end: str
    uri: str  # where the county's NVR keeps it: ask the county for this file
    size: int
    checksum: str


class ClipGapView(TypedDict):
    start: str
    end: str


class ClipView(TypedDict):
    """录像片段：哪台摄像机、哪个时段、哪些录像片段（及其中无录像的空档），向县级调取。"""

    subject: str  # alert:371122-A000000001
    window: str | None
    at: str  # the moment the clip is centred on (the case's last step before the alert)
    camera_id: str | None  # None: no camera watched the window then (see note)
    start: str
    end: str
    complete: bool  # a camera and no gap
    note: str
    segments: list[ClipSegmentView]
    gaps: list[ClipGapView]


class InspectorAlertView(AlertView):
    """The county's alert view, and the clip to ask the county for (null: this node lacks the alert's case)."""

    clip: ClipView | None


class InspectorCaseView(CaseDetailView):
    """The county's case detail (case, clocks read now on this node's calendar, timeline) and its supervision."""

    alerts: list[AlertView]
    complaints: list[ComplaintView]
    ratings: list[RatingView]
    clips: list[ClipView]  # one per alert, in the order of ``alerts``


class ScoreView(TypedDict):
    subject: str  # 371122 | 371122/市场监督管理局 | 371122/W03
    county: str
    county_name: str | None
    cases: int
    score: float
    small_sample: bool  # too few cases to rank as if exact: shown, not ranked
    rank: int | None
    ranked_of: int
    breakdown: Any  # the scoring engine's breakdown (indicators, deductions, bonuses), as computed
    input_digest: str
    computed_at: str


class RankingView(TypedDict):
    scope: ScopeView
    period: str | None
    level: str
    computed_by: str | None
    rules_version: str | None
    versions: list[str]  # every rules version computed for the period, newest first
    items: list[ScoreView]
    total: int
    page: int
    page_size: int


class MonthView(TypedDict):
    month: str
    accepted: int
    decided: int
    on_time: int
    late: int
    on_time_rate: float | None
    concluded: int
    alerts_raised: int
    alerts_yellow: int
    alerts_red: int
    complaints: int


class TrendView(TypedDict):
    scope: ScopeView
    county: str | None  # None: the whole scope
    months: list[MonthView]


def scope_view(scope: Scope) -> ScopeView:
    return {"node": scope.node, "division": scope.division, "prefix": scope.prefix}


def _summary(fig: CountyFigures, name: str | None) -> CountySummaryView:
    c, a, cp, r = fig.cases, fig.alerts, fig.complaints, fig.ratings
    by_status = {s.value: 0 for s in Status} | c.by_status
    by_light = {lt.value: 0 for lt in Light} | c.by_light
    by_level = {str(level): r.by_level.get(level, 0) for level in sorted(RATING_LABELS, reverse=True)}
    return {
        "county": fig.county,
        "name": name,
        "cases": {
            "total": c.total,
            "by_status": by_status,
            "by_light": by_light,
            "decided": c.decided,
            "on_time": c.on_time,
            "late": c.late,
            "on_time_rate": rate(c.on_time, c.decided),
        },
        "alerts": {
            "active": a.active,
            "by_light": {"yellow": 0, "red": 0} | a.by_light,
            "by_rule": dict(sorted(a.by_rule.items())),
        },
        "complaints": {
            "total": cp.total,
            "open": cp.open,
            "overdue": cp.overdue,
            "answered": cp.answered,
            "answered_on_time": cp.answered_on_time,
            "answered_on_time_rate": rate(cp.answered_on_time, cp.answered),
        },
        "ratings": {
            "total": r.total,
            "by_level": by_level,
            "negative": r.negative,
            "satisfaction": rate(r.total - r.negative, r.total),
        },
    }


def county_list_view(found: CountyList, scope_name: str | None) -> CountyListView:
    return {
        "as_of": iso(found.as_of),
        "scope": scope_view(found.scope),
        "items": [_summary(fig, name) for fig, name in found.items],
        "total": _summary(found.total, scope_name),
        "status_labels": {s.value: label for s, label in STATUS_LABELS.items()},
        "light_labels": dict(LIGHT_LABELS),
        "rating_labels": {str(k): v for k, v in sorted(RATING_LABELS.items(), reverse=True)},
    }


def county_detail_view(scope: Scope, fig: CountyFigures, name: str | None, as_of: Any) -> CountyDetailView:
    return {"as_of": iso(as_of), "scope": scope_view(scope), "summary": _summary(fig, name)}


def alert_list_view(scope: Scope, found: AlertList) -> AlertListView:
    return {
        "scope": scope_view(scope),
        "items": [alert_view(a) for a in found.items],
        "total": found.total,
        "page": found.page,
        "page_size": found.page_size,
    }


def clip_view(clip: Clip) -> ClipView:
    t = clip.timeline
    return {
        "subject": clip.subject,
        "window": clip.window,
        "at": iso(clip.at),
        "camera_id": t.camera_id,
        "start": iso(t.start),
        "end": iso(t.end),
        "complete": t.complete,
        "note": clip.note,
        "segments": [
            {"start": iso(s.start), "end": iso(s.end), "uri": s.uri, "size": s.size, "checksum": s.checksum}
            for s in t.segments
        ],
        "gaps": [{"start": iso(g.start), "end": iso(g.end)} for g in t.gaps],
    }


def inspector_alert_view(alert: Alert, clip: Clip | None) -> InspectorAlertView:
    return {**alert_view(alert), "clip": None if clip is None else clip_view(clip)}


def inspector_case_view(found: CaseDrillDown) -> InspectorCaseView:
    detail = case_detail_view(found.detail)
    return {
        "case": detail["case"],
        "clock": detail["clock"],
        "timeline": detail["timeline"],
        "as_of": detail["as_of"],
        "alerts": [alert_view(a) for a in found.alerts],
        "complaints": [complaint_view(c) for c in found.complaints],
        "ratings": [rating_view(r) for r in found.ratings],
        "clips": [clip_view(c) for c in found.clips],
    }


def _score(row: Mapping[Any, Any], names: Mapping[str, str | None]) -> ScoreView:
    return {
        "subject": str(row["subject"]),
        "county": str(row["county"]),
        "county_name": names.get(str(row["county"])),
        "cases": int(row["cases"]),
        "score": float(row["score"]),
        "small_sample": bool(row["small_sample"]),
        "rank": None if row["rank"] is None else int(row["rank"]),
        "ranked_of": int(row["ranked_of"]),
        "breakdown": row["breakdown"],
        "input_digest": str(row["input_digest"]),
        "computed_at": iso(row["computed_at"]),
    }


def ranking_view(scope: Scope, found: Ranking, names: Mapping[str, str | None]) -> RankingView:
    choice = found.choice
    return {
        "scope": scope_view(scope),
        "period": None if choice is None else choice.period,
        "level": found.level,
        "computed_by": None if choice is None else choice.computed_by,
        "rules_version": None if choice is None else choice.rules_version,
        "versions": [] if choice is None else list(choice.versions),
        "items": [_score(r, names) for r in found.rows],
        "total": found.total,
        "page": found.page,
        "page_size": found.page_size,
    }


def _month(m: MonthFigures) -> MonthView:
    return {
        "month": m.month,
        "accepted": m.accepted,
        "decided": m.decided,
        "on_time": m.on_time,
        "late": m.late,
        "on_time_rate": rate(m.on_time, m.decided),
        "concluded": m.concluded,
        "alerts_raised": m.alerts_raised,
        "alerts_yellow": m.alerts_yellow,
        "alerts_red": m.alerts_red,
        "complaints": m.complaints,
    }


def trend_view(scope: Scope, found: Trend) -> TrendView:
    return {"scope": scope_view(scope), "county": found.county, "months": [_month(m) for m in found.months]}
