"""The SQL of the inspectors' API over the replicas a city or the province holds (SQLite and PostgreSQL alike).

Every query is set-based and bounded by the scope's division prefix (``origin LIKE '3711%'``): one ``GROUP BY
origin`` per table for the per-county summary, one ``GROUP BY`` month bucket per measure for a trend, one page
for an alert list or a ranking — never a query per county or per case. The replicas are the county's own tables
(``cases``, ``alerts``, ``complaints``, ``ratings``), so the figures are the ones the county itself would show.
Month buckets are computed by a ``CASE`` over bound month boundaries (China Standard Time), which needs no
date function of either dialect.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, case, exists, func, or_, select
from sqlalchemy.engine import Connection, RowMapping
from sqlalchemy.sql import ColumnElement

from city_aggregator.inspection.figures import CountyFigures, MonthFigures, month_bounds, month_label
from county_node.approval.adapters.repository import light_condition
from county_node.approval.domain import PAUSED_STATUSES, RUNNING_STATUSES
from county_node.supervision.domain.alerts import AlertStatus
from federation.clock import Light
from federation.storage.tables import alerts, cases, complaints, ratings, scores

__all__ = [
    "LATE_RULE",
    "AlertQuery",
    "RankingChoice",
    "alert_page",
    "county_figures",
    "monthly_figures",
    "origins_with_data",
    "ranking_choice",
    "ranking_page",
]

LATE_RULE = "SUP-002"
"""The overdue rule (红灯超期): its alert on a decided case is the durable record of a late decision."""

_UNDER_CLOCK = sorted(s.value for s in RUNNING_STATUSES | PAUSED_STATUSES)
_CLOSED = AlertStatus.CLOSED.value


def _flag(condition: ColumnElement[bool]) -> Any:
    """``SUM(CASE WHEN condition THEN 1 ELSE 0 END)`` — a conditional count inside one GROUP BY."""
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _within(column: ColumnElement[str], prefix: str, county: str | None) -> ColumnElement[bool]:
    return column == county if county is not None else column.like(f"{prefix}%")


def _late(case_no: Any) -> ColumnElement[bool]:
    """The case ``case_no`` carries an overdue alert (correlated; uses the index on ``alerts.case_no``)."""
    return exists().where(alerts.c.case_no == case_no, alerts.c.rule_id == LATE_RULE)


# -- per-county summary -------------------------------------------------------------------------------------------


def county_figures(conn: Connection, prefix: str, now: datetime, county: str | None = None) -> dict[str, CountyFigures]:
    """The summary figures of every county holding data under ``prefix`` (or of ``county`` alone), at ``now``."""
    out: dict[str, CountyFigures] = {}

    def of(origin: str) -> CountyFigures:
        fig = out.get(origin)
        if fig is None:
            fig = out[origin] = CountyFigures(origin)
        return fig

    in_cases = _within(cases.c.origin, prefix, county)
    for r in conn.execute(
        select(cases.c.origin, cases.c.status, func.count()).where(in_cases).group_by(cases.c.origin, cases.c.status)
    ):
        c = of(r[0]).cases
        c.by_status[r[1]] = int(r[2])
        c.total += int(r[2])
    for r in conn.execute(
        select(cases.c.origin, func.count(), _flag(_late(cases.c.case_no)))
        .where(in_cases, cases.c.decided_at.is_not(None))
        .group_by(cases.c.origin)
    ):
        c = of(r[0]).cases
        c.decided, c.late = int(r[1]), int(r[2])
    lights = list(Light)
    for r in conn.execute(
        select(cases.c.origin, *(_flag(light_condition(lt, now)) for lt in lights))
        .where(in_cases, cases.c.status.in_(_UNDER_CLOCK))
        .group_by(cases.c.origin)
    ):
        of(r[0]).cases.by_light.update({lt.value: int(n) for lt, n in zip(lights, r[1:], strict=True)})

    for r in conn.execute(
        select(alerts.c.origin, alerts.c.rule_id, alerts.c.light, func.count())
        .where(_within(alerts.c.origin, prefix, county), alerts.c.status != _CLOSED)
        .group_by(alerts.c.origin, alerts.c.rule_id, alerts.c.light)
    ):
        a, n = of(r[0]).alerts, int(r[3])
        a.active += n
        a.by_rule[r[1]] = a.by_rule.get(r[1], 0) + n
        if r[2]:
            a.by_light[r[2]] = a.by_light.get(r[2], 0) + n

    is_open, due = complaints.c.status == "open", complaints.c.idx_due_at
    answered = complaints.c.answered_at.is_not(None)
    for r in conn.execute(
        select(
            complaints.c.origin,
            func.count(),
            _flag(is_open),
            _flag(and_(is_open, due <= now)),
            _flag(answered),
            _flag(
                and_(
                    answered,
                    or_(complaints.c.idx_due_at.is_(None), complaints.c.answered_at <= complaints.c.idx_due_at),
                )
            ),
        )
        .where(_within(complaints.c.origin, prefix, county))
        .group_by(complaints.c.origin)
    ):
        cf = of(r[0]).complaints
        cf.total, cf.open, cf.overdue, cf.answered, cf.answered_on_time = (int(x) for x in r[1:])

    for r in conn.execute(
        select(ratings.c.origin, ratings.c.level, func.count(), _flag(ratings.c.negative.is_(True)))
        .where(_within(ratings.c.origin, prefix, county))
        .group_by(ratings.c.origin, ratings.c.level)
    ):
        rf = of(r[0]).ratings
        rf.by_level[int(r[1])] = int(r[2])
        rf.total += int(r[2])
        rf.negative += int(r[3])
    return out


def origins_with_data(conn: Connection, county: str) -> bool:
    """Whether this node holds any case or alert of ``county`` (a code the division table does not know)."""
    for table in (cases, alerts):
        if conn.execute(select(table.c.origin).where(table.c.origin == county).limit(1)).first() is not None:
            return True
    return False


# -- alerts -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AlertQuery:
    prefix: str
    county: str | None = None
    status: str | None = None  # a status, or "active" (any but closed)
    light: str | None = None
    rule_id: str | None = None
    level: int | None = None


def alert_page(conn: Connection, q: AlertQuery, *, offset: int, limit: int) -> tuple[list[RowMapping], int]:
    """One page of the alerts in scope matching ``q`` (newest first) and their total."""
    conds: list[ColumnElement[bool]] = [_within(alerts.c.origin, q.prefix, q.county)]
    if q.status == "active":
        conds.append(alerts.c.status != _CLOSED)
    elif q.status:
        conds.append(alerts.c.status == q.status)
    if q.light:
        conds.append(alerts.c.light == q.light)
    if q.rule_id:
        conds.append(alerts.c.rule_id == q.rule_id)
    if q.level is not None:
        conds.append(alerts.c.level == q.level)
    total = int(conn.execute(select(func.count()).select_from(alerts).where(*conds)).scalar_one())
    stmt = (
        select(alerts)
        .where(*conds)
        .order_by(alerts.c.opened_at.desc(), alerts.c.alert_id.desc())
        .offset(offset)
        .limit(limit)
    )
    return list(conn.execute(stmt).mappings()), total


# -- trends -------------------------------------------------------------------------------------------------------


def _by_month(
    conn: Connection,
    moment: Any,
    bounds: Sequence[datetime],
    where: Sequence[ColumnElement[bool]],
    extras: Sequence[ColumnElement[bool]] = (),
) -> dict[int, tuple[int, ...]]:
    """Month index → (count, *conditional counts) of the rows whose ``moment`` falls in the bucketed months."""
    bucket = case(*((moment < bounds[i + 1], i) for i in range(len(bounds) - 1)))
    inner = (
        select(bucket.label("m"), *(case((x, 1), else_=0).label(f"x{i}") for i, x in enumerate(extras)))
        .where(moment >= bounds[0], moment < bounds[-1], *where)
        .subquery()
    )
    stmt = select(inner.c.m, func.count(), *(func.sum(inner.c[f"x{i}"]) for i in range(len(extras)))).group_by(
        inner.c.m
    )
    return {int(r[0]): tuple(int(x or 0) for x in r[1:]) for r in conn.execute(stmt)}


def monthly_figures(conn: Connection, prefix: str, county: str | None, months: list[date]) -> list[MonthFigures]:
    """Per month: cases accepted, decided (and how many late), concluded; alerts raised (yellow, red); complaints."""
    bounds = month_bounds(months)
    out = [MonthFigures(month_label(m)) for m in months]
    in_cases = _within(cases.c.origin, prefix, county)
    for i, (n,) in _by_month(conn, cases.c.accepted_at, bounds, [in_cases]).items():
        out[i].accepted = n
    for i, (n, late) in _by_month(conn, cases.c.decided_at, bounds, [in_cases], [_late(cases.c.case_no)]).items():
        out[i].decided, out[i].late = n, late
    for i, (n,) in _by_month(conn, cases.c.concluded_at, bounds, [in_cases]).items():
        out[i].concluded = n
    for i, (n, yellow, red) in _by_month(
        conn,
        alerts.c.opened_at,
        bounds,
        [_within(alerts.c.origin, prefix, county)],
        [alerts.c.light == Light.YELLOW.value, alerts.c.light == Light.RED.value],
    ).items():
        out[i].alerts_raised, out[i].alerts_yellow, out[i].alerts_red = n, yellow, red
    for i, (n,) in _by_month(
        conn, complaints.c.filed_at, bounds, [_within(complaints.c.origin, prefix, county)]
    ).items():
        out[i].complaints = n
    return out


# -- rankings (scores computed by the scoring engine) -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RankingChoice:
    """Which computation a ranking shows: who computed it, under which rules version, for which period."""

    computed_by: str
    rules_version: str
    period: str
    versions: tuple[str, ...]  # every rules version computed for this period and level, newest first


def ranking_choice(
    conn: Connection,
    *,
    prefix: str,
    node: str,
    level: str,
    period: str | None,
    computed_by: str | None,
    rules_version: str | None,
) -> RankingChoice | None:
    """The computation to show: the period asked (else the latest computed), the node's own scores when it
    computed some (else the province's, else any), the rules version asked (else the latest computed)."""
    in_scope = [scores.c.level == level, scores.c.county.like(f"{prefix}%")]
    if period is None:
        row = conn.execute(
            select(scores.c.period)
            .where(*in_scope)
            .order_by(scores.c.computed_at.desc(), scores.c.period.desc())
            .limit(1)
        ).first()
        if row is None:
            return None
        period = str(row[0])
    in_scope.append(scores.c.period == period)
    if computed_by is None:
        who = {str(r[0]) for r in conn.execute(select(scores.c.computed_by).where(*in_scope).distinct())}
        if not who:
            return None
        province = node[:2] + "0000"
        computed_by = node if node in who else province if province in who else min(who)
    in_scope.append(scores.c.computed_by == computed_by)
    versions = tuple(
        str(r[0])
        for r in conn.execute(
            select(scores.c.rules_version, func.max(scores.c.computed_at).label("at"))
            .where(*in_scope)
            .group_by(scores.c.rules_version)
            .order_by(func.max(scores.c.computed_at).desc(), scores.c.rules_version.desc())
        )
    )
    if not versions:
        return None
    return RankingChoice(computed_by, rules_version or versions[0], period, versions)


def ranking_page(
    conn: Connection,
    choice: RankingChoice,
    *,
    prefix: str,
    level: str,
    county: str | None,
    offset: int,
    limit: int,
) -> tuple[list[RowMapping], int]:
    """One page of the scores of ``choice`` in scope (ranked first by rank, then the unranked by score)."""
    conds = [
        scores.c.computed_by == choice.computed_by,
        scores.c.rules_version == choice.rules_version,
        scores.c.period == choice.period,
        scores.c.level == level,
        _within(scores.c.county, prefix, county),
    ]
    total = int(conn.execute(select(func.count()).select_from(scores).where(*conds)).scalar_one())
    stmt = (
        select(scores)
        .where(*conds)
        .order_by(
            case((scores.c.rank.is_(None), 1), else_=0),
            scores.c.rank,
            scores.c.score.desc(),
            scores.c.subject,
        )
        .offset(offset)
        .limit(limit)
    )
    return list(conn.execute(stmt).mappings()), total
