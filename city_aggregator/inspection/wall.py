"""The lights wall (实时监控) of a city or the province: open cases by light and open alerts, per county (or per
department of one county), and the newest red and video alerts.

Two aggregate queries and one short list, whatever the scope's size: the open cases under the clock grouped by
county (or department) with one conditional count per light — over the ``status`` index, the light derived at
"now" from the indexed due and yellow moments exactly as the county's queue derives it
(:func:`~county_node.approval.adapters.repository.light_condition`) — and the alerts not closed grouped by county
(or department) and light, over the ``status`` index. The scope is a range of division codes (``origin >= '3711'
AND origin < '3712'``), which an index can serve on both dialects, unlike ``LIKE``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, literal_column, or_, select
from sqlalchemy.engine import Connection, RowMapping
from sqlalchemy.sql import ColumnElement

from county_node.approval.adapters.repository import light_condition
from county_node.approval.domain import PAUSED_STATUSES, RUNNING_STATUSES
from county_node.supervision.domain.alerts import AlertStatus
from federation.clock import Light
from federation.storage.tables import alerts, cases

__all__ = ["VIDEO_RULES", "Wall", "WallRow", "newest_alerts", "prefix_range", "wall_rows"]

VIDEO_RULES = ("SUP-301", "SUP-302")
"""The rules raised by the hall's cameras (窗口视频报警, 窗口无人值守): shown on the wall whatever their light."""

# the terms of the partial indexes ix_cases_open and ix_alerts_open*, with the same literals (a bound parameter
# would hide from the planner that the query's rows are the index's)
_UNDER_CLOCK = cases.c.status.in_(
    [literal_column(f"'{s}'") for s in sorted(s.value for s in RUNNING_STATUSES | PAUSED_STATUSES)]
)
_NOT_CLOSED = alerts.c.status != literal_column(f"'{AlertStatus.CLOSED.value}'")


@dataclass
class WallRow:
    """One tile of the wall: a county (or a department of one county)."""

    key: str  # the county's code, or the department's name
    name: str | None = None
    lights: dict[str, int] = field(default_factory=lambda: {lt.value: 0 for lt in Light})
    alerts: dict[str, int] = field(default_factory=lambda: {"yellow": 0, "red": 0, "other": 0})

    @property
    def open_cases(self) -> int:
        return sum(self.lights.values())

    @property
    def open_alerts(self) -> int:
        return sum(self.alerts.values())

    @property
    def worst(self) -> str:
        """The tile's colour: red when a case is red or a red alert stands, yellow likewise, else white."""
        if self.lights["red"] or self.alerts["red"]:
            return "red"
        if self.lights["yellow"] or self.alerts["yellow"]:
            return "yellow"
        return "white"

    def add(self, other: WallRow) -> None:
        for mine, theirs in ((self.lights, other.lights), (self.alerts, other.alerts)):
            for k, v in theirs.items():
                mine[k] = mine.get(k, 0) + v


@dataclass(frozen=True, slots=True)
class Wall:
    """The whole wall at ``as_of``: the tiles (counties, or the departments of ``county``), their total, and the
    newest red and video alerts (rows of ``alerts``)."""

    as_of: datetime
    county: str | None
    rows: list[WallRow]
    total: WallRow
    newest: list[Any]  # county_node.supervision.domain.alerts.Alert


def prefix_range(column: Any, prefix: str) -> ColumnElement[bool]:
    """``column`` starts with the digits ``prefix`` — as a range an index serves (``'3711' <= c < '3712'``)."""
    if not prefix:
        return column.is_not(None)  # type: ignore[no-any-return]
    upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    return (column >= prefix) & (column < upper)  # type: ignore[no-any-return]


def _where(table: Any, prefix: str, county: str | None) -> ColumnElement[bool]:
    return table.c.origin == county if county is not None else prefix_range(table.c.origin, prefix)


def wall_rows(conn: Connection, prefix: str, now: datetime, county: str | None = None) -> dict[str, WallRow]:
    """The tiles of the scope ``prefix`` at ``now``: per county, or per department of ``county`` when given."""
    out: dict[str, WallRow] = {}

    def row(key: str) -> WallRow:
        found = out.get(key)
        if found is None:
            found = out[key] = WallRow(key)
        return found

    lights = list(Light)
    key: Any = cases.c.department if county is not None else cases.c.origin
    stmt = (
        select(key, *(func.coalesce(func.sum(case((light_condition(lt, now), 1), else_=0)), 0) for lt in lights))
        .where(_UNDER_CLOCK, _where(cases, prefix, county))
        .group_by(key)
    )
    for r in conn.execute(stmt):
        row(str(r[0])).lights.update({lt.value: int(n) for lt, n in zip(lights, r[1:], strict=True)})

    key = func.coalesce(alerts.c.department, "") if county is not None else alerts.c.origin
    stmt = (
        select(key, alerts.c.light, func.count())
        .where(_NOT_CLOSED, _where(alerts, prefix, county))
        .group_by(key, alerts.c.light)
    )
    for r in conn.execute(stmt):
        light = r[1] if r[1] in ("yellow", "red") else "other"
        tile = row(str(r[0]))
        tile.alerts[light] += int(r[2])
    return out


def newest_alerts(conn: Connection, prefix: str, county: str | None = None, limit: int = 8) -> list[RowMapping]:
    """The newest alerts not closed that are red, or raised by a camera (SUP-301, SUP-302), newest first.

    Read newest first along ``ix_alerts_open_opened_at`` until enough match: the scope is tested on ``origin || ''``
    so that the planner does not prefer the (much larger) range of the scope's alerts and sort them all."""
    origin = alerts.c.origin.concat("")
    in_scope = origin == county if county is not None else prefix_range(origin, prefix)
    stmt = (
        select(alerts)
        .where(
            _NOT_CLOSED,
            in_scope,
            or_(alerts.c.light == Light.RED.value, alerts.c.rule_id.in_(VIDEO_RULES)),
        )
        .order_by(alerts.c.opened_at.desc(), alerts.c.alert_id.desc())
        .limit(limit)
    )
    return list(conn.execute(stmt).mappings())
