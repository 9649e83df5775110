"""The inspectors' use cases (监察人员查询) on a city or province node: read-only, each one unit of work.

Every call takes the request's :class:`~city_aggregator.inspection.scope.Scope`; nothing outside it is read or
shown. A case drill-down reuses the county's own approval service: the replica rows are the same tables, and its
clock is read on the calendar and light policy in force on this node.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.engine import RowMapping

from city_aggregator.inspection import queries
from city_aggregator.inspection.figures import CountyFigures, MonthFigures, month_label, month_range
from city_aggregator.inspection.scope import Scope
from city_aggregator.inspection.trend_store import stored_months
from city_aggregator.inspection.wall import Wall, WallRow, newest_alerts, wall_rows
from county_node.approval.services import ApprovalService, CaseDetail
from county_node.supervision.adapters.feedback_store import ComplaintStore, RatingStore
from county_node.supervision.adapters.store import AlertStore
from county_node.supervision.domain.alerts import Alert, AlertStatus
from county_node.supervision.domain.complaints import Complaint
from county_node.supervision.domain.ratings import Rating
from county_node.supervision.domain.registry import REGISTRY
from county_node.unit_of_work import SqlCountyUnits
from county_node.video.adapters.replica import REPLICA_MAX_SEGMENT
from county_node.video.domain import ClipMargin
from county_node.video.services import Clip, VideoIndexService
from federation.errors import NotFound, ValidationError
from federation.identities import DivisionLevel, DivisionRegistry, level_of, validate_division_code
from federation.paging import page_offset
from federation.storage.uow import UnitOfWork

__all__ = [
    "LEVELS",
    "AlertList",
    "CaseDrillDown",
    "CountyList",
    "InspectionService",
    "Ranking",
    "Trend",
]

LEVELS = ("county", "department", "window")
"""The subjects scores are computed for (the ``scores.level`` column)."""

_PERIOD_HINT = "考核周期应为 年-月（2026-10）、年-季度（2026-Q4）或 年（2026）"


@dataclass(frozen=True, slots=True)
class CountyList:
    as_of: datetime
    scope: Scope
    items: list[tuple[CountyFigures, str | None]]  # figures and the county's name (None: not in the division table)
    total: CountyFigures


@dataclass(frozen=True, slots=True)
class AlertList:
    items: list[Alert]
    total: int
    page: int
    page_size: int


@dataclass(frozen=True, slots=True)
class CaseDrillDown:
    detail: CaseDetail
    alerts: list[Alert]
    complaints: list[Complaint]
    ratings: list[Rating]
    clips: list[Clip] = field(default_factory=list)  # the video to ask the county for, one per alert


@dataclass(frozen=True, slots=True)
class Ranking:
    choice: queries.RankingChoice | None
    level: str
    rows: list[RowMapping]
    total: int
    page: int
    page_size: int


@dataclass(frozen=True, slots=True)
class Trend:
    county: str | None
    months: list[MonthFigures]
    stored: tuple[str, ...] = ()  # the months read from the scoring run's counts (``trend_months``)
    stored_at: datetime | None = None  # when the oldest of those was counted


_PERIOD_RE = re.compile(r"\d{4}(-(0[1-9]|1[0-2])|-Q[1-4])?", re.ASCII)


def _check_period(period: str) -> None:
    if not _PERIOD_RE.fullmatch(period):
        raise ValidationError(f"考核周期“{period}”格式错误：{_PERIOD_HINT}", field="period")


class InspectionService:
    """Read-only queries of one inspector node (``division``) over ``engine``; ``clock`` gives "now"."""

    def __init__(
        self,
        engine: Engine,
        division: str,
        clock: Callable[[], datetime],
        registry: DivisionRegistry,
        approval: ApprovalService,
        *,
        clip_margin: ClipMargin | None = None,
    ) -> None:
        self._engine = engine
        self.division = division
        self._now = clock
        self.registry = registry
        self.approval = approval
        self.clip_margin = clip_margin or ClipMargin()

    def now(self) -> datetime:
        return self._now()

    def _video(self, county: str) -> VideoIndexService:
        """The replica of ``county``'s video index, read with the county's own clip logic and this node's margin
        (``[video] margin_before_s`` / ``margin_after_s``); range queries reach back as far as a replica accepts."""
        return VideoIndexService(
            SqlCountyUnits(self._engine, county), self._now, margin=self.clip_margin, max_segment=REPLICA_MAX_SEGMENT
        )

    def name_of(self, code: str) -> str | None:
        return self.registry.get(code).name if code in self.registry else None

    def counties_in(self, scope: Scope) -> list[str]:
        return [d.code for d in self.registry.of_level(DivisionLevel.COUNTY) if scope.covers(d.code)]

    # -- summaries ----------------------------------------------------------------------------------------------
    def counties(self, scope: Scope) -> CountyList:
        """Every county of the scope (those of the division table, with zeros when they sent nothing yet, and any
        other county this node holds data of), with its figures, and the scope's totals."""
        now = self.now()
        with UnitOfWork(self._engine, readonly=True) as uow:
            found = queries.county_figures(uow.conn, scope.prefix, now)
        codes = sorted(set(self.counties_in(scope)) | set(found))
        items = [(found.get(code) or CountyFigures(code), self.name_of(code)) for code in codes]
        total = CountyFigures(scope.prefix)
        for fig, _name in items:
            total.add(fig)
        return CountyList(now, scope, items, total)

    def county(self, scope: Scope, code: str) -> tuple[CountyFigures, str | None, datetime]:
        """One county's figures: 403 outside the scope, 404 for a code that is no county this node knows."""
        scope.require_division(code)
        now = self.now()
        with UnitOfWork(self._engine, readonly=True) as uow:
            found = queries.county_figures(uow.conn, scope.prefix, now, county=code)
            known = code in found or queries.origins_with_data(uow.conn, code)
        in_table = code in self.registry and self.registry.get(code).level is DivisionLevel.COUNTY
        if not (in_table or known):
            raise NotFound(f"区划 {code} 不是本节点所辖的县级区划，或本节点没有它的数据", county=code)
        return found.get(code) or CountyFigures(code), self.name_of(code), now

    def wall(self, scope: Scope, county: str | None = None) -> Wall:
        """The lights wall (实时监控) of the scope — every county of it (zeros for those without data), or the
        departments of ``county`` — with the newest red and video alerts: two aggregate queries and one list."""
        if county is not None:
            scope.require_division(county)
        now = self.now()
        with UnitOfWork(self._engine, readonly=True) as uow:
            found = wall_rows(uow.conn, scope.prefix, now, county)
            newest = newest_alerts(uow.conn, scope.prefix, county)
        keys = sorted(found) if county is not None else sorted(set(self.counties_in(scope)) | set(found))
        rows = [found.get(k) or WallRow(k) for k in keys]
        if county is None:
            for r in rows:
                r.name = self.name_of(r.key)
        total = WallRow(county or scope.prefix, self.name_of(county or scope.division))
        for r in rows:
            total.add(r)
        return Wall(now, county, rows, total, [Alert.from_row(r) for r in newest])

    # -- alerts -------------------------------------------------------------------------------------------------
    def alerts(
        self,
        scope: Scope,
        *,
        county: str | None = None,
        status: str | None = None,
        light: str | None = None,
        rule_id: str | None = None,
        level: int | None = None,
        page: int = 1,
        page_size: int = 20,
    ) -> AlertList:
        offset = page_offset(page, page_size)
        if county is not None:
            scope.require_division(county)
        if status and status != "active" and status not in {s.value for s in AlertStatus}:
            raise ValidationError(f"未知的预警状态“{status}”", field="status")
        if light and light not in ("yellow", "red"):
            raise ValidationError(f"未知的预警灯色“{light}”（yellow、red）", field="light")
        if rule_id and rule_id not in REGISTRY:
            raise ValidationError(f"未知的监察规则“{rule_id}”", field="rule_id")
        q = queries.AlertQuery(scope.prefix, county, status, light, rule_id, level)
        with UnitOfWork(self._engine, readonly=True) as uow:
            rows, total = queries.alert_page(uow.conn, q, offset=offset, limit=page_size)
        return AlertList([Alert.from_row(r) for r in rows], total, page, page_size)

    def alert(self, scope: Scope, alert_id: str) -> Alert:
        origin = scope.require_alert(alert_id)
        with UnitOfWork(self._engine, readonly=True) as uow:
            return AlertStore(uow.conn, origin).get(alert_id)

    def alert_clip(self, scope: Scope, alert_id: str) -> Clip | None:
        """The clip of an alert, read on the replica of its county's video index with the county's own logic:
        the camera of the case's window at its last step before the alert, the margin around it, the segments and
        the gaps — what to ask the county for. None when this node lacks the alert's case."""
        origin = scope.require_alert(alert_id)
        video = self._video(origin)
        try:
            return video.clip_for_alert(alert_id)
        except NotFound:
            return None

    # -- case drill-down ----------------------------------------------------------------------------------------
    def case(self, scope: Scope, case_no: str) -> CaseDrillDown:
        """A case with its clocks (read now, on this node's calendar), timeline, alerts, complaints and ratings."""
        county = scope.require_case(case_no)
        detail = self.approval.get(case_no)  # CaseNotFound (404) when this node does not hold it
        with UnitOfWork(self._engine, readonly=True) as uow:
            found = AlertStore(uow.conn, county).of_case(case_no)
            comps, _ = ComplaintStore(uow.conn, county).page(status=None, case_no=case_no, offset=0, limit=200)
            rates, _ = RatingStore(uow.conn, county).page(
                case_no=case_no, staff=None, negative=None, offset=0, limit=200
            )
        video = self._video(county)
        clips = [video.clip_for_alert(a.alert_id) for a in found]
        return CaseDrillDown(detail, found, comps, rates, clips)

    # -- rankings -----------------------------------------------------------------------------------------------
    def rankings(
        self,
        scope: Scope,
        *,
        period: str | None = None,
        level: str = "county",
        county: str | None = None,
        computed_by: str | None = None,
        rules_version: str | None = None,
        page: int = 1,
        page_size: int = 200,
    ) -> Ranking:
        """The scores of one computation (see :func:`queries.ranking_choice`), the subjects in scope only; the
        rank is the one computed over the whole computation (a city's inspector sees its counties' province rank)."""
        offset = page_offset(page, page_size)
        if level not in LEVELS:
            raise ValidationError(f"未知的考核对象层级“{level}”（county、department、window）", field="level")
        if period is not None:
            _check_period(period)
        if county is not None:
            scope.require_division(county)
        if computed_by is not None:
            validate_division_code(computed_by)
            if level_of(computed_by) is DivisionLevel.COUNTY:
                raise ValidationError("评分只由市级或省级节点计算", field="computed_by")
        with UnitOfWork(self._engine, readonly=True) as uow:
            choice = queries.ranking_choice(
                uow.conn,
                prefix=scope.prefix,
                node=self.division,
                level=level,
                period=period,
                computed_by=computed_by,
                rules_version=rules_version,
            )
            if choice is None:
                return Ranking(None, level, [], 0, page, page_size)
            if rules_version is not None and rules_version not in choice.versions:
                raise NotFound(
                    f"没有规则版本 {rules_version} 在 {choice.period} 的评分（已有：{'、'.join(choice.versions)}）",
                    rules_version=rules_version,
                    period=choice.period,
                )
            rows, total = queries.ranking_page(
                uow.conn,
                choice,
                prefix=scope.prefix,
                level=level,
                county=county,
                offset=offset,
                limit=page_size,
            )
        return Ranking(choice, level, rows, total, page, page_size)

    # -- trends -------------------------------------------------------------------------------------------------
    def trends(
        self, scope: Scope, *, county: str | None, start: str | None, end: str | None, stored: bool = False
    ) -> Trend:
        """Per month (China Standard Time) for ``county`` or the whole scope; defaults to the last 12 months.

        ``stored``: the months the scoring run counted (:mod:`~city_aggregator.inspection.trend_store`) are read
        from its counts, as of its run — the pages' choice at province scale; the others are counted live."""
        if county is not None:
            scope.require_division(county)
        months = month_range(start, end, self.now())
        with UnitOfWork(self._engine, readonly=True) as uow:
            have, stored_at = stored_months(uow.conn, scope.prefix, county, months) if stored else ({}, None)
            missing = [i for i, m in enumerate(months) if month_label(m) not in have]
            live = (
                queries.monthly_figures(uow.conn, scope.prefix, county, months[missing[0] : missing[-1] + 1])
                if missing
                else []
            )
        by_label = {f.month: f for f in live} | have
        figures = [by_label[month_label(m)] for m in months]
        return Trend(county, figures, tuple(sorted(have)), stored_at)
