"""The plan of the hall's cases (demo workload), deterministic for a seed and free of I/O.

Arrivals are a Poisson process in office hours, 08:30–17:30 on the province's working days (so holidays show up
in the traffic); each arriving case gets a profile and the timed steps of its lifecycle. Case profiles, by share:
on time (most), corrections (补正), suspensions and special procedures, an extension (延期), late decisions, cases
nobody touches after review (they turn yellow, then red), refusals (不予受理), returns and resubmissions (退回),
missing key data filled in before the decision, joint items (并联) with one sub-task per department, and instant
items (即办件) finished the same day. :class:`~county_node.entrypoints.workload_simulator.HallSimulator` runs the
plan against a node.
"""

from __future__ import annotations

import itertools
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from federation.calendar import WorkingCalendar
from federation.calendar_seed import seed_years
from federation.timeutil import CST

__all__ = ["STAFF", "CaseState", "HallPlanner", "Step"]

STAFF = ["窗口01 孙丽", "窗口02 马超", "窗口03 胡静", "窗口05 郭亮", "窗口07 何敏", "窗口09 高峰"]
_CORRECTIONS = ["营业执照副本不清晰", "缺少法定代表人身份证明", "场所平面图未盖章", "申请表签字缺失"]
_SUSPEND = ["申请人申请暂停办理", "等待上级部门意见"]
_SPECIAL = [("听证", "依申请举行听证"), ("检验检测", "现场检验检测"), ("专家评审", "组织专家评审")]


@dataclass(order=True)
class Step:
    """One planned action on one case, at a simulated moment."""

    at: datetime
    order: int
    case_key: int = field(compare=False)
    action: str = field(compare=False)
    params: dict[str, Any] = field(compare=False, default_factory=dict)


@dataclass
class CaseState:
    item: dict[str, Any]
    case_no: str | None = None
    failed: bool = False
    steps: list[Step] = field(default_factory=list)  # the plan, in order; only the head is ever queued


class HallPlanner:
    """Plans the cases that arrive, each as a list of timed steps (who performs them, and when, is up to the
    runner: :class:`~county_node.entrypoints.workload_simulator.HallSimulator`)."""

    def __init__(self, *, seed: int = 7, rate_per_hour: float = 10.0, start: datetime | None = None) -> None:
        # planning draws from one generator in arrival order only, so the plan depends on the seed alone; who
        # performs a step and when postponed steps resume (both decided while running) must not touch it
        self._rng = random.Random(seed)
        self._rate = rate_per_hour
        self._calendar = WorkingCalendar(seed_years())
        self._order = itertools.count()
        self._cases: dict[int, CaseState] = {}
        self._next_arrival: datetime | None = start  # the first arrival; default: the node's clock at first tick
        self.stats: Counter[str] = Counter()

    # -- working-time helpers -----------------------------------------------------------------------------------
    def _work_moment(self, day: date) -> datetime:
        minutes = self._rng.randrange(0, 9 * 60)
        return datetime(day.year, day.month, day.day, 8, 30, tzinfo=CST) + timedelta(minutes=minutes)

    def _after_working_days(self, start: datetime, days: float) -> datetime:
        """A moment in office hours about ``days`` working days after ``start`` (0 → later the same day)."""
        whole = int(days)
        local = start.astimezone(CST)
        if whole <= 0:
            return local + timedelta(minutes=self._rng.randrange(5, 120))
        day = self._calendar.add_working_days(local.date(), whole)
        return self._work_moment(day)

    def _in_office(self, moment: datetime) -> bool:
        local = moment.astimezone(CST)
        minutes = local.hour * 60 + local.minute
        return self._calendar.is_working_day(local.date()) and 8 * 60 + 30 <= minutes < 17 * 60 + 30

    # -- planning ---------------------------------------------------------------------------------------------
    def _schedule(self, key: int, at: datetime, action: str, **params: Any) -> None:
        """Add a step to the case's plan (queued when every earlier step of the case has run)."""
        self._cases[key].steps.append(Step(at, next(self._order), key, action, params))

    def _plan_interruptions(
        self, key: int, item: dict[str, Any], t: datetime, budget: int, roll: float
    ) -> tuple[datetime, int, bool]:
        """Corrections, suspensions, special procedures, an extension — or a case left untouched (stuck)."""
        rng = self._rng
        if roll < 0.18:
            self._schedule(key, t + timedelta(minutes=30), "request_correction", reason=rng.choice(_CORRECTIONS))
            t = self._after_working_days(t, rng.randint(1, 4))
            self._schedule(key, t, "receive_correction", note="补正材料已收到")
            self.stats["planned_correction"] += 1
        elif roll < 0.22:
            self._schedule(key, t + timedelta(minutes=30), "suspend", reason=rng.choice(_SUSPEND))
            t = self._after_working_days(t, rng.randint(2, 5))
            self._schedule(key, t, "resume", note="恢复办理")
            self.stats["planned_suspended"] += 1
        elif roll < 0.25:
            procedure, reason = rng.choice(_SPECIAL)
            self._schedule(
                key, t + timedelta(minutes=30), "start_special_procedure", procedure=procedure, reason=reason
            )
            t = self._after_working_days(t, rng.randint(2, 6))
            self._schedule(key, t, "end_special_procedure", note=f"{procedure}结束")
            self.stats["planned_special"] += 1
        elif roll < 0.31:
            days = max(1, min(5, int(item["legal_limit_days"]) - budget))
            extend_at = self._after_working_days(t, max(1, int(budget * 0.7)))
            self._schedule(
                key, extend_at, "extend", days=days, reason="需现场核查，申请延期", approver="分管局长 王建国"
            )
            # the decision comes after the extension, within the days it added
            t, budget = extend_at, days
            self.stats["planned_extended"] += 1
        elif roll < 0.37:
            # nobody touches it again: it turns yellow, then red, and stays open
            self.stats["planned_stuck"] += 1
            return t, budget, True
        return t, budget, False

    def _plan_case(self, key: int, item: dict[str, Any], created: datetime) -> dict[str, str]:
        """Pick a profile and schedule the case's steps; return the key data given at submission."""
        rng = self._rng
        staff = rng.choice(STAFF)
        key_fields: list[str] = list(item.get("key_fields", []))
        data = {k: f"{k}-{rng.randrange(10**5, 10**6)}" for k in key_fields}
        missing_later = bool(key_fields) and rng.random() < 0.15
        if missing_later:
            data.pop(key_fields[-1])
        budget = int(item["promised_limit_days"])
        instant = item["kind"] == "instant"
        roll = rng.random()
        t = created + timedelta(minutes=rng.randrange(3, 90))

        if roll < 0.04:
            self._schedule(key, t, "refuse_acceptance", reason="申请事项不属于本机关职权范围")
            self.stats["planned_refused"] += 1
            return data
        if roll < 0.08:
            self._schedule(key, t, "return", reason="申请材料与事项不符，退回修改")
            t = self._after_working_days(t, rng.randint(1, 2))
            self._schedule(key, t, "resubmit", note="申请人已修改材料")
            t += timedelta(minutes=rng.randrange(10, 60))
            self.stats["planned_returned"] += 1
        self._schedule(key, t, "accept", note=f"{staff} 受理")
        t = self._after_working_days(t, 0 if instant else rng.choice([0, 1]))
        self._schedule(key, t, "review", opinion="材料齐全，进入审核")

        if instant:
            t += timedelta(minutes=rng.randrange(10, 90))
        else:
            t, budget, stuck = self._plan_interruptions(key, item, t, budget, roll)
            if stuck:
                return data

        late = 0.37 <= roll < 0.47
        share = rng.uniform(1.1, 1.6) if late else rng.uniform(0.2, 0.9)
        if late:
            self.stats["planned_late"] += 1
        decide_at = self._after_working_days(t, 0 if instant else max(1.0, budget * share))
        for task in item.get("joint_departments", []):
            done = self._after_working_days(t, max(1, int(task["limit_days"] * rng.uniform(0.3, 0.9))))
            self._schedule(
                key,
                min(done, decide_at - timedelta(minutes=1)),
                "complete_task",
                department=task["department"],
                outcome="agree",
                opinion="同意",
            )
        if missing_later:
            self._schedule(
                key, decide_at - timedelta(minutes=5), "record_data", data={key_fields[-1]: f"{key_fields[-1]}-补录"}
            )
        denied = rng.random() < 0.05
        if denied:
            self._schedule(key, decide_at, "decide", outcome="deny", reason="不符合法定条件")
        else:
            self._schedule(key, decide_at, "decide", outcome="approve", fee_charged=item.get("fee_yuan", "0"))
        self._schedule(key, decide_at + timedelta(minutes=rng.randrange(5, 240)), "conclude")
        return data

    def _arrivals(self, now: datetime) -> Iterator[datetime]:
        """Arrival moments up to ``now`` (Poisson process in office hours)."""
        if self._next_arrival is None:
            self._next_arrival = now
        while self._next_arrival <= now:
            at = self._next_arrival
            self._next_arrival = at + timedelta(hours=self._rng.expovariate(self._rate))
            if self._in_office(at):
                yield at
