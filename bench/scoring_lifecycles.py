"""The lifecycles behind the ``scoring`` benchmark's templates (see :mod:`bench.scoring_templates`), played on a
stepped clock in one temporary county: every item of the catalogue through a dozen closed profiles and four open
ones, ratings and complaints attached to the "on time" ones, the supervision sweep twice every working day.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from typing import Any

from county_node.approval.domain import Action
from county_node.bootstrap import CountyNode
from federation.calendar import WorkingCalendar
from federation.standards import Item, ItemKind, StandardsBundle
from federation.timeutil import CST

__all__ = [
    "COMPLAINT_VARIANTS",
    "NOW",
    "RATING_VARIANTS",
    "REFERENCE_DAY",
    "TEMPLATE_DIVISION",
    "TEMPLATE_WINDOW",
    "Clock",
    "Run",
    "play",
]

NOW = datetime(2026, 12, 31, 18, 0, tzinfo=CST)  # the end of the scored year
REFERENCE_DAY = date(2026, 6, 29)  # a Monday; no public holiday until 25 September
TEMPLATE_DIVISION = "371122"
TEMPLATE_WINDOW = "WTPL"

#: rating variants: (level, followed up after n working days or None)
RATING_VARIANTS: Mapping[str, tuple[int, int | None]] = {
    "r5": (5, None),
    "r4": (4, None),
    "r3": (3, None),
    "r1_followed": (1, 2),
    "r2_ignored": (2, None),  # negative, never followed up: SUP-201
}
#: complaint variants: answered after n working days (the limit is 5)
COMPLAINT_VARIANTS: Mapping[str, int] = {"c_in_time": 2, "c_late": 8}

_STAFF = {"r5": "孙丽", "r4": "马超", "r3": "胡静", "r1_followed": "郭亮", "r2_ignored": "何敏"}


Step = tuple[int, int, int, Callable[["Run"], None]]  # (working-day offset, hour, minute, action)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Run:
    """One lifecycle being played: its case number and the ids of what was attached to it."""

    def __init__(self, node: CountyNode, item: Item, profile: str) -> None:
        self.node = node
        self.item = item
        self.profile = profile
        self.case_no = ""
        self.variants: dict[str, str] = {}  # complaint / rating id → variant

    def submit(self, *, missing: bool = False) -> None:
        fields = list(self.item.key_fields)
        data = {f: f"{f}示例" for f in fields[:-1] if missing} if missing else {f: f"{f}示例" for f in fields}
        case = self.node.approval.submit(
            item_code=self.item.code, applicant="某某有限公司", data=data, actor="窗口人员", window=TEMPLATE_WINDOW
        )
        self.case_no = case.case_no

    def act(self, action: Action, **params: Any) -> None:
        self.node.approval.act(self.case_no, action, actor="审批人员", params=params)


def _act(action: Action, **params: Any) -> Callable[[Run], None]:
    return lambda r: r.act(action, **params)


def _complete_tasks(r: Run) -> None:
    for d in r.item.joint_departments:
        r.act(Action.COMPLETE_TASK, department=d.department, outcome="agree", opinion="同意")


def _steps(item: Item, profile: str) -> list[Step]:
    """The actions of ``profile`` for ``item`` as (working days after submission, hour, minute, action)."""
    b = item.promised_limit_days
    submit: Callable[[Run], None] = lambda r: r.submit(missing=profile == "record_data")  # noqa: E731
    accept = _act(Action.ACCEPT)
    review = _act(Action.REVIEW, opinion="材料齐全")
    approve = _act(Action.DECIDE, outcome="approve")
    conclude = _act(Action.CONCLUDE)
    joint = item.kind is ItemKind.JOINT
    if item.kind is ItemKind.INSTANT:
        if profile == "refused":
            return [(0, 9, 0, submit), (0, 9, 20, _act(Action.REFUSE_ACCEPTANCE, reason="不属于本机关职权范围"))]
        last = 1 if profile == "late" else 0  # an instant case finished the next day is late
        return [
            (0, 9, 0, submit),
            (0, 9, 5, accept),
            (0, 9, 15, review),
            (last, 9, 40, approve),
            (last, 9, 50, conclude),
        ]
    head = [(0, 9, 0, submit), (0, 9, 10, accept)]
    mid = max(0, b // 2)
    if profile == "refused":
        return [(0, 9, 0, submit), (0, 9, 30, _act(Action.REFUSE_ACCEPTANCE, reason="申请材料不符合法定形式"))]
    if profile == "returned":
        return [
            (0, 9, 0, submit),
            (0, 9, 30, _act(Action.RETURN, reason="申请表填写不完整")),
            (1, 10, 0, _act(Action.RESUBMIT, note="已补齐")),
            (1, 10, 20, accept),
            (1 + mid, 14, 0, review),
            *([(1 + mid, 14, 30, _complete_tasks)] if joint else []),
            (1 + mid, 15, 0, approve),
            (1 + mid, 16, 0, conclude),
        ]
    review_day, decide_day, extra = mid // 2, mid, list[Step]()
    decision = approve
    if profile == "full":
        review_day, decide_day = mid, max(0, b - 1)
    elif profile == "late":
        review_day, decide_day = mid, b + 1
    elif profile == "correction":
        extra = [
            (1, 10, 0, _act(Action.REQUEST_CORRECTION, reason="缺少营业执照副本")),
            (3, 11, 0, _act(Action.RECEIVE_CORRECTION, note="已补正")),
        ]
        review_day, decide_day = 3, 3 + mid
    elif profile == "suspended":
        extra = [
            (1, 10, 0, _act(Action.SUSPEND, reason="申请人申请暂停办理")),
            (4, 11, 0, _act(Action.RESUME, note="恢复办理")),
        ]
        review_day, decide_day = 4, 4 + max(0, b - 2)
    elif profile == "extended":
        extra = [(max(0, b - 1), 9, 30, _act(Action.EXTEND, days=5, reason="情况复杂需现场核查", approver="局长"))]
        review_day, decide_day = max(0, b - 1), b + 3
    elif profile == "record_data":
        missing = item.key_fields[-1]
        extra = [(1, 10, 0, _act(Action.RECORD_DATA, data={missing: f"{missing}补录"}))]
        review_day, decide_day = 1, max(1, mid)
    elif profile == "denied":
        decision = _act(Action.DECIDE, outcome="deny", reason="不符合许可条件")
    elif profile == "fee":
        decision = _act(Action.DECIDE, outcome="approve", fee_charged=str(item.fee_yuan + 50))
    steps = [*head, *extra, (review_day, 14, 0, review)]
    if joint:
        steps.append((review_day, 15, 0, _complete_tasks))
    steps += [(decide_day, 15, 30, decision), (decide_day, 16, 30, conclude)]
    return sorted(steps, key=lambda s: (s[0], s[1], s[2]))


def _open_steps(item: Item, profile: str) -> tuple[int, list[Step]]:
    """An open lifecycle: (working days before :data:`NOW`'s day it starts, its steps)."""
    b = item.promised_limit_days
    head: list[Step] = [(0, 9, 0, lambda r: r.submit()), (0, 9, 10, _act(Action.ACCEPT))]
    review = _act(Action.REVIEW, opinion="审核中")
    if profile == "open_running":
        return max(1, b // 3), [*head, (1, 10, 0, review)]
    if profile == "open_yellow":
        return max(1, b - 1), [*head, (1, 10, 0, review)]
    if profile == "open_red":
        return b + 2, [*head, (1, 10, 0, review)]
    # open_correction
    return 3, [*head, (1, 10, 0, _act(Action.REQUEST_CORRECTION, reason="缺少现场照片"))]


CLOSED_PROFILES: Mapping[ItemKind, tuple[str, ...]] = {
    ItemKind.INSTANT: ("fast", "late", "refused"),
    ItemKind.PROMISED: (
        "fast",
        "full",
        "late",
        "correction",
        "suspended",
        "extended",
        "refused",
        "returned",
        "denied",
        "fee",
        "record_data",
    ),
    ItemKind.JOINT: ("fast", "full", "late", "correction", "refused", "returned"),
}
OPEN_PROFILES = ("open_running", "open_yellow", "open_red", "open_correction")


def _attach(run: Run, clock: Clock, calendar: WorkingCalendar, schedule: list[tuple[datetime, int, Any]]) -> None:
    """Schedule every rating and complaint variant on ``run``'s case, after its conclusion (now)."""
    sup = run.node.supervision
    day = clock.now.date()

    def at(days: int, hour: int) -> datetime:
        d = calendar.add_working_days(day, days)
        return datetime(d.year, d.month, d.day, hour, 0, tzinfo=CST)

    for variant, (level, follow) in RATING_VARIANTS.items():

        def rate(r: Run, variant: str = variant, level: int = level) -> None:
            row = sup.rate(case_no=r.case_no, staff=f"{TEMPLATE_WINDOW} {_STAFF[variant]}", level=level)
            r.variants[row.rating_id] = variant

        schedule.append((at(1, 10), len(schedule), (run, rate)))
        if follow is not None:

            def follow_up(r: Run, variant: str = variant) -> None:
                rid = next(k for k, v in r.variants.items() if v == variant)
                sup.follow_up(rid, note="已电话回访，申请人表示理解", actor="监察员")

            schedule.append((at(1 + follow, 11), len(schedule), (run, follow_up)))
    for variant, answered in COMPLAINT_VARIANTS.items():

        def complain(r: Run, variant: str = variant) -> None:
            row = sup.file_complaint(
                target="case", target_id=r.case_no, complainant="申请人", content="办理进度慢", actor="窗口人员"
            )
            r.variants[row.complaint_id] = variant

        def answer(r: Run, variant: str = variant) -> None:
            cid = next(k for k, v in r.variants.items() if v == variant)
            sup.answer_complaint(cid, answer="已核实并督促办理", actor="监察员")

        schedule.append((at(1, 14), len(schedule), (run, complain)))
        schedule.append((at(1 + answered, 15), len(schedule), (run, answer)))


def play(node: CountyNode, clock: Clock, bundle: StandardsBundle) -> list[tuple[Run, bool]]:
    calendar = bundle.calendar()
    schedule: list[tuple[datetime, int, Any]] = []
    runs: list[tuple[Run, bool]] = []

    def plan(run: Run, start: date, steps: list[Step], attach: bool) -> None:
        shift = (len(runs) * 17) % 90  # minutes: lifecycles do not all start at 09:00
        for i, (offset, hour, minute, action) in enumerate(steps):
            d = calendar.add_working_days(start, offset) if offset else start
            moment = datetime(d.year, d.month, d.day, hour, minute, tzinfo=CST) + timedelta(minutes=shift)
            last = i == len(steps) - 1
            fn = _then_attach(action, clock, calendar, schedule) if last and attach else action
            schedule.append((moment, len(schedule), (run, fn)))

    j = 0
    for item in bundle.items:
        for profile in CLOSED_PROFILES[item.kind]:
            start = calendar.add_working_days(REFERENCE_DAY, j % 5)
            run = Run(node, item, profile)
            plan(run, start, _steps(item, profile), attach=profile == "fast")
            runs.append((run, False))
            j += 1
        if item.kind is ItemKind.INSTANT:
            continue
        for profile in OPEN_PROFILES:
            back, steps = _open_steps(item, profile)
            start = date.fromordinal(calendar.nth_working(calendar.cum(NOW.date().toordinal()) - back))
            run = Run(node, item, profile)
            plan(run, start, steps, attach=False)
            runs.append((run, True))
    sweeps = _sweep_moments(calendar, [m for m, _, _ in schedule])
    events = sorted([*schedule, *((m, -1, None) for m in sweeps)], key=lambda e: (e[0], e[1]))
    # attachments are scheduled while playing, so the queue is re-sorted as it grows
    i = 0
    while i < len(events):
        moment, _, payload = events[i]
        clock.now = moment
        if payload is None:
            node.supervision.sweep(moment)
        else:
            run, fn = payload
            before = len(schedule)
            fn(run)
            if len(schedule) > before:
                added = schedule[before:]
                events = events[: i + 1] + sorted([*events[i + 1 :], *added], key=lambda e: (e[0], e[1]))
                sweeps_needed = _sweep_moments(calendar, [m for m, _, _ in added])
                known = {e[0] for e in events if e[2] is None}
                extra = [(m, -1, None) for m in sweeps_needed if m not in known and m > moment]
                if extra:
                    events = events[: i + 1] + sorted([*events[i + 1 :], *extra], key=lambda e: (e[0], e[1]))
        i += 1
    clock.now = NOW
    node.supervision.sweep(NOW)
    return runs


def _then_attach(
    fn: Callable[[Run], None], clock: Clock, calendar: WorkingCalendar, schedule: list[tuple[datetime, int, Any]]
) -> Callable[[Run], None]:
    def both(r: Run) -> None:
        fn(r)
        _attach(r, clock, calendar, schedule)

    return both


def _sweep_moments(calendar: WorkingCalendar, moments: list[datetime]) -> list[datetime]:
    """09:00 and 18:00 of every working day from the first of ``moments`` to 20 working days after the last."""
    if not moments:
        return []
    first = min(moments).date()
    last = min(calendar.add_working_days(max(moments).date(), 20), NOW.date())
    out = []
    d = first
    while d <= last:
        if calendar.is_working_day(d):
            out += [
                datetime(d.year, d.month, d.day, 9, 0, tzinfo=CST),
                datetime(d.year, d.month, d.day, 18, 0, tzinfo=CST),
            ]
        d += timedelta(days=1)
    return [m for m in out if m <= NOW]
