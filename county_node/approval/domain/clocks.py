"""The clocks of a case, derived: promised, legal and per-department readings, and the indexed due moments."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import cast

from county_node.approval.domain.case import OPEN_STATUSES, Case, Status
from federation.calendar import WorkingCalendar
from federation.clock import (
    ClockReading,
    ClockSpec,
    LightPolicy,
    StoppedClock,
    compute_deadline,
    read_clock,
    stopped_clock,
)
from federation.errors import StandardsError, ValidationError
from federation.standards import StandardsBundle

__all__ = ["CaseClocks", "IndexValues", "case_clocks", "index_values", "light_policy_of"]


# -- derived clocks -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CaseClocks:
    """The promised clock (drives the light), the legal clock, and one sub-clock per joint department.

    Once the case is decided (or concluded) its clocks are stopped: ``stopped`` holds, per clock (``promised``,
    ``legal``, and each department), the working days used and whether it kept its limit; a joint department's
    sub-clock stops when the department completes its task. A stopped clock has no remaining time and no light
    to show."""

    promised: ClockReading
    legal: ClockReading
    tasks: Mapping[str, ClockReading]
    stopped: Mapping[str, StoppedClock] = field(default_factory=dict)
    stopped_by: Status | None = None  # the status that stopped the case clock (approved, denied, concluded)

    @property
    def running(self) -> bool:
        return self.stopped_by is None


def case_clocks(case: Case, calendar: WorkingCalendar, now: datetime, policy: LightPolicy) -> CaseClocks | None:
    """Read every clock of ``case`` at ``now``; None before acceptance. A concluded case is read at its end."""
    if case.accepted_at is None or case.status in (Status.REFUSED, Status.RETURNED, Status.SUBMITTED):
        return None
    at, stopped_by = now, cast(Status | None, None)
    if case.status is Status.CONCLUDED and case.concluded_at is not None:
        at, stopped_by = case.concluded_at, case.status
    elif case.decided_at is not None:
        at, stopped_by = case.decided_at, case.status
    stopped: dict[str, StoppedClock] = {}
    promised_spec, legal_spec = case.clock_spec(case.promised_budget), case.clock_spec(case.legal_budget)
    promised = read_clock(calendar, promised_spec, at, policy)
    legal = read_clock(calendar, legal_spec, at, policy)
    if stopped_by is not None:
        stopped["promised"] = stopped_clock(calendar, promised_spec, promised)
        stopped["legal"] = stopped_clock(calendar, legal_spec, legal)
    tasks: dict[str, ClockReading] = {}
    for t in case.tasks:
        if t.started_at is None:
            continue
        spec = ClockSpec(t.started_at, t.limit_days, case.clock_spec(t.limit_days).pauses, case.extension_days)
        tasks[t.department] = read_clock(calendar, spec, t.completed_at or at, policy)
        if t.completed_at is not None or stopped_by is not None:
            stopped[f"task:{t.department}"] = stopped_clock(calendar, spec, tasks[t.department])
    return CaseClocks(promised, legal, tasks, stopped, stopped_by)


@dataclass(frozen=True, slots=True)
class IndexValues:
    calendar_version: str | None
    due_at: datetime | None
    yellow_at: datetime | None
    legal_due_at: datetime | None
    paused_light: str | None
    # the unpublished years the promised and legal deadlines reach (their days follow the provisional rule): for the
    # service's warning, not stored, not compared
    missing_years: tuple[int, ...] = field(default=(), compare=False)


def index_values(case: Case, calendar: WorkingCalendar, policy: LightPolicy) -> IndexValues:
    """The derived, indexed columns of a case (see ``federation.storage.tables``): due and yellow moments."""
    if case.accepted_at is None or case.status not in OPEN_STATUSES or case.status in (Status.APPROVED, Status.DENIED):
        return IndexValues(None, None, None, None, None)
    promised_spec = case.clock_spec(case.promised_budget)
    promised = compute_deadline(calendar, promised_spec)
    legal = compute_deadline(calendar, case.clock_spec(case.legal_budget))
    missing = promised.missing_years + legal.missing_years if promised.missing_years or legal.missing_years else ()
    if promised.paused:
        reading = read_clock(calendar, promised_spec, case.updated_at or case.accepted_at, policy, promised)
        return IndexValues(calendar.version, None, None, legal.due_at, reading.light.value, missing)
    reading = read_clock(calendar, promised_spec, case.accepted_at, policy, promised)
    return IndexValues(calendar.version, promised.due_at, reading.yellow_at, legal.due_at, None, missing)


def light_policy_of(bundle: StandardsBundle | None, default: LightPolicy) -> LightPolicy:
    """The light thresholds in force: the bundle's ``rule_parameters`` ``yellow_days`` / ``yellow_share`` when
    the province sets them, else the node's ``[clock]`` config — the one policy the indexed yellow moments, the
    case view and the supervision rules all use."""
    raw = bundle.rule_parameters if bundle is not None else {}
    days, share = raw.get("yellow_days", default.yellow_days), raw.get("yellow_share", default.yellow_share)
    if isinstance(days, bool) or not isinstance(days, int) or isinstance(share, bool):
        raise StandardsError("标准包的黄灯参数 yellow_days / yellow_share 类型无效", yellow_days=str(days))
    if not isinstance(share, int | float):
        raise StandardsError("标准包的黄灯参数 yellow_share 应为比例", yellow_share=str(share))
    try:
        return LightPolicy(days, float(share))
    except ValidationError as exc:
        raise StandardsError(exc.message, **exc.details) from exc
