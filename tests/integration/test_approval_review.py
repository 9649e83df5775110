"""Review items of the approval service, on SQLite and PostgreSQL: concurrent actions on one case, the standards
cache's TTL, the missing-calendar-year warning, and set-based loading of a page (and of the open cases)."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, event, func, select
from structlog.testing import capture_logs

from county_node.approval.adapters.repository import CaseFilter, CaseRepository
from county_node.approval.domain import OPEN_STATUSES, Action, Case
from county_node.approval.services import ApprovalService
from federation.errors import Conflict, ExtensionAlreadyUsed, SunshineError
from federation.identities import parse_case_number
from federation.standards import StandardsBundle
from federation.storage.tables import case_events, cases, outbox
from federation.storage.uow import UnitOfWork
from federation.timeutil import CST
from tests.conftest import FakeClock

DIV = "371122"
PROMISED = "XK00003000"  # promised 5 working days
JOINT = "XK00036000"
FULL_DATA = {"统一社会信用代码": "91371122MA3C000001", "经营场所": "莒县城阳街道 1 号"}
JOINT_DATA = {"项目代码": "2026-371122-47-01-000001", "建设单位": "莒县城投公司"}


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=CST)  # type: ignore[misc]


class SteppingClock:
    """A thread-safe clock that moves one second per reading. ``hold_next`` makes the next reading stall (after it
    is taken) so that another thread can run in between — the window in which a reading taken *before* the
    case's lock would go stale."""

    def __init__(self, start: datetime) -> None:
        self._next = start
        self._mutex = threading.Lock()
        self._hold = 0.0

    def hold_next(self, seconds: float) -> None:
        self._hold = seconds

    def __call__(self) -> datetime:
        with self._mutex:
            now = self._next
            self._next += timedelta(seconds=1)
            hold, self._hold = self._hold, 0.0
        if hold:
            time.sleep(hold)
        return now


class FakeMonotonic:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def _race(*calls: Callable[[], Case]) -> list[Case | SunshineError]:
    """Start ``calls`` together on their own threads; each one's result or typed error."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], Case]) -> Case | SunshineError:
        barrier.wait()
        try:
            return call()
        except SunshineError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def _accepted_case(svc: ApprovalService) -> str:
    case = svc.submit(item_code=PROMISED, applicant="张三", data=FULL_DATA, actor="窗口 1")
    svc.act(case.case_no, Action.ACCEPT, actor="审批员")
    return case.case_no


def _timeline(engine: Engine, case_no: str) -> list[tuple[int, str, datetime]]:
    with engine.connect() as conn:
        return [
            (r.n, r.action, r.at)
            for r in conn.execute(
                select(case_events.c.n, case_events.c.action, case_events.c.at)
                .where(case_events.c.case_no == case_no)
                .order_by(case_events.c.n)
            )
        ]


def _assert_whole(engine: Engine, svc: ApprovalService, case_no: str, transitions: int) -> None:
    """The case, its timeline and the outbox agree: no transition was half written."""
    case = svc.get(case_no).case
    timeline = _timeline(engine, case_no)
    assert [n for n, _, _ in timeline] == list(range(1, transitions + 1))
    assert case.event_count == transitions
    assert case.updated_at == timeline[-1][2]
    moments = [moment for _, _, moment in timeline]
    assert moments == sorted(moments)
    with engine.connect() as conn:
        seqs = [r[0] for r in conn.execute(select(outbox.c.seq).where(outbox.c.origin == DIV).order_by(outbox.c.seq))]
        snapshots = conn.execute(
            select(func.count())
            .select_from(outbox)
            .where(outbox.c.record_type == "case", outbox.c.record_id == case_no)
        ).scalar_one()
    assert seqs == list(range(1, len(seqs) + 1))
    assert snapshots == transitions


# -- 1. "now" is read under the case's lock ------------------------------------------------------------------------


def test_two_compatible_actions_on_one_case_both_apply_in_commit_order(engine: Engine, bundle: StandardsBundle) -> None:
    clock = SteppingClock(at(2026, 9, 21, 9))
    svc = ApprovalService(engine, DIV, clock)
    svc.apply_standards(bundle)
    case_no = _accepted_case(svc)

    # whichever action reads the clock first stalls 0.3 s: were the reading taken before the lock, the other
    # would commit a later moment meanwhile and this one be refused as "earlier than the last change" (422)
    clock.hold_next(0.3)
    outcomes = _race(
        lambda: svc.act(case_no, Action.RECORD_DATA, actor="甲", params={"data": {"备注甲": "1"}}),
        lambda: svc.act(case_no, Action.RECORD_DATA, actor="乙", params={"data": {"备注乙": "2"}}),
    )
    assert all(isinstance(o, Case) for o in outcomes), outcomes
    assert [a for _, a, _ in _timeline(engine, case_no)] == ["submit", "accept", "record_data", "record_data"]
    final = svc.get(case_no).case
    assert {"备注甲": "1", "备注乙": "2"}.items() <= dict(final.data).items()  # neither change lost
    _assert_whole(engine, svc, case_no, 4)


def test_two_conflicting_actions_on_one_case_one_applies_the_other_gets_a_typed_conflict(
    engine: Engine, bundle: StandardsBundle
) -> None:
    clock = SteppingClock(at(2026, 9, 21, 9))
    svc = ApprovalService(engine, DIV, clock)
    svc.apply_standards(bundle)
    case_no = _accepted_case(svc)

    clock.hold_next(0.3)
    extend = {"days": 3, "reason": "情况复杂", "approver": "局长"}
    outcomes = _race(
        lambda: svc.act(case_no, Action.EXTEND, actor="甲", params=extend),
        lambda: svc.act(case_no, Action.EXTEND, actor="乙", params=extend),
    )
    applied = [o for o in outcomes if isinstance(o, Case)]
    refused = [o for o in outcomes if not isinstance(o, Case)]
    assert len(applied) == 1, outcomes
    assert len(refused) == 1
    assert isinstance(refused[0], ExtensionAlreadyUsed)  # the typed 409, not a bogus time error
    assert isinstance(refused[0], Conflict)
    assert svc.get(case_no).case.extension_days == 3
    _assert_whole(engine, svc, case_no, 3)


def test_concurrent_submissions_are_numbered_in_the_order_of_their_moments(
    engine: Engine, bundle: StandardsBundle
) -> None:
    clock = SteppingClock(at(2026, 9, 21, 9))
    svc = ApprovalService(engine, DIV, clock)
    svc.apply_standards(bundle)

    def worker(t: int) -> list[Case]:
        out = []
        for i in range(8):
            if i % 3 == 0:
                clock.hold_next(0.05)
            out.append(svc.submit(item_code=PROMISED, applicant=f"申请人 {t}-{i}", data=FULL_DATA, actor="窗口"))
        return out

    with ThreadPoolExecutor(max_workers=3) as pool:
        submitted = [c for chunk in pool.map(worker, range(3)) for c in chunk]
    by_number = sorted(submitted, key=lambda c: parse_case_number(c.case_no).seq)
    assert [parse_case_number(c.case_no).seq for c in by_number] == list(range(1, 25))
    moments = [c.submitted_at for c in by_number]
    assert moments == sorted(moments)
    assert len(set(moments)) == len(moments)


# -- 2. the standards cache is re-checked after its TTL ------------------------------------------------------------


def test_a_bundle_applied_elsewhere_is_seen_after_the_ttl(engine: Engine, bundle: StandardsBundle) -> None:
    clock = FakeClock(at(2026, 9, 21, 9))
    monotonic = FakeMonotonic()
    reader = ApprovalService(engine, DIV, clock, standards_ttl=5.0, monotonic=monotonic)
    writer = ApprovalService(engine, DIV, clock)  # another process: the CLI applying a bundle
    writer.apply_standards(bundle)
    first = reader.standards
    assert first.bundle is not None
    assert first.bundle.version == bundle.version

    monotonic.t += 5.0
    assert reader.standards is first  # unchanged in the database: the cache is kept, nothing rebuilt

    holiday = date(2026, 9, 28)
    years = tuple(
        dataclasses.replace(y, holidays=y.holidays | {holiday}, revision=2, source="province") if y.year == 2026 else y
        for y in bundle.calendar_years
    )
    # in force on the clock's date (2026-09-21): a bundle effective later is held, pending, until that date
    newer = dataclasses.replace(bundle, version="2026.09.2", effective_date=date(2026, 9, 21), calendar_years=years)
    assert writer.apply_standards(newer).calendar_changed

    monotonic.t += 4.5
    assert reader.standards.bundle is not None
    assert reader.standards.bundle.version == bundle.version  # within the TTL: still the cached one
    assert reader.calendar.is_working_day(holiday)

    monotonic.t += 0.5
    with capture_logs() as logs:
        assert reader.standards.bundle is not None
        assert reader.standards.bundle.version == "2026.09.2"
    assert not reader.calendar.is_working_day(holiday)
    assert [e["version"] for e in logs if e["event"] == "standards.reloaded"] == ["2026.09.2"]
    case = reader.submit(item_code=PROMISED, applicant="张三", data=FULL_DATA, actor="窗口 1")
    assert case.standards_version == "2026.09.2"


# -- 3. a provisional deadline warns once per missing year ---------------------------------------------------------


def test_a_deadline_in_an_unpublished_year_warns_once_per_year(engine: Engine, bundle: StandardsBundle) -> None:
    without_2027 = dataclasses.replace(bundle, calendar_years=tuple(y for y in bundle.calendar_years if y.year < 2027))
    clock = FakeClock(at(2026, 11, 2, 9))
    svc = ApprovalService(engine, DIV, clock)
    svc.apply_standards(without_2027)
    with capture_logs() as logs:
        early = _accepted_case(svc)  # promised and legal limits both end within 2026
        svc.get(early)
        assert not [e for e in logs if e["event"] == "calendar.year_missing"]

        clock.now = at(2026, 12, 28, 9)
        late = _accepted_case(svc)  # 5 working days from 12-28 reach into 2027
        assert [e["year"] for e in logs if e["event"] == "calendar.year_missing"] == [2027]  # by the acceptance
        detail = svc.get(late)
        assert detail.clocks is not None
        assert detail.clocks.promised.deadline.provisional
        assert detail.clocks.promised.deadline.missing_years == (2027,)
        another = _accepted_case(svc)
        svc.get(another)
        svc.list(CaseFilter())
    warnings = [e for e in logs if e["event"] == "calendar.year_missing"]
    assert len(warnings) == 1, warnings
    assert warnings[0]["log_level"] == "warning"
    assert warnings[0]["year"] == 2027
    assert "2027" in warnings[0]["detail"]
    assert warnings[0]["case_no"] == late


# -- 4. a page (and the open cases) load with a few set-based queries ----------------------------------------------


def _make_mixed_cases(svc: ApprovalService, clock: FakeClock) -> list[str]:
    """Plain, paused (two pauses, one open), extended and joint cases, some submitted only."""
    numbers = []
    for i in range(12):
        clock.now += timedelta(minutes=7)
        joint = i % 3 == 0
        case = svc.submit(
            item_code=JOINT if joint else PROMISED,
            applicant=f"申请人{i}",
            data=JOINT_DATA if joint else FULL_DATA,
            actor="窗口",
        )
        numbers.append(case.case_no)
        if i % 4 == 3:
            continue  # submitted only
        svc.act(case.case_no, Action.ACCEPT, actor="审批员")
        if joint:
            svc.act(case.case_no, Action.REVIEW, actor="审批员", params={"opinion": "转联办"})
            svc.act(case.case_no, Action.COMPLETE_TASK, actor="审批员", params=_first_task(svc, case.case_no))
        elif i % 2 == 1:
            svc.act(case.case_no, Action.REQUEST_CORRECTION, actor="审批员", params={"reason": "补材料"})
            clock.now += timedelta(days=1)
            svc.act(case.case_no, Action.RECEIVE_CORRECTION, actor="审批员")
            svc.act(case.case_no, Action.SUSPEND, actor="审批员", params={"reason": "等待"})
        else:
            svc.act(
                case.case_no, Action.EXTEND, actor="审批员", params={"days": 2, "reason": "复杂", "approver": "局长"}
            )
    return numbers


def _first_task(svc: ApprovalService, case_no: str) -> dict[str, Any]:
    return {"department": svc.get(case_no).case.tasks[0].department, "outcome": "agree"}


def _count_statements(engine: Engine) -> tuple[list[str], Callable[[], None]]:
    seen: list[str] = []

    def listener(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", listener)
    return seen, lambda: event.remove(engine, "before_cursor_execute", listener)


def test_a_page_loads_with_a_few_queries_and_equals_the_cases_one_by_one(
    engine: Engine, bundle: StandardsBundle
) -> None:
    clock = FakeClock(at(2026, 9, 21, 9))
    svc = ApprovalService(engine, DIV, clock, monotonic=FakeMonotonic())
    svc.apply_standards(bundle)
    numbers = _make_mixed_cases(svc, clock)
    svc.standards  # noqa: B018 — warm the cache, so only the page's queries are counted below

    seen, stop = _count_statements(engine)
    try:
        page = svc.list(CaseFilter(), page_size=200)
    finally:
        stop()
    assert page.total == len(numbers)
    assert [c.case_no for c, _ in page.items] == sorted(numbers, reverse=True)
    assert len(seen) <= 4, seen  # count, page, pauses of the page, tasks of the page
    for case, clocks in page.items:
        detail = svc.get(case.case_no)
        assert case == detail.case
        assert clocks == detail.clocks
    assert any(c.pauses for c, _ in page.items)
    assert any(c.tasks for c, _ in page.items)

    paged = [c.case_no for n in (1, 2, 3) for c, _ in svc.list(CaseFilter(), page=n, page_size=5).items]
    assert paged == sorted(numbers, reverse=True)


def test_open_cases_load_in_batches_equal_to_the_cases_one_by_one(engine: Engine, bundle: StandardsBundle) -> None:
    clock = FakeClock(at(2026, 9, 21, 9))
    svc = ApprovalService(engine, DIV, clock)
    svc.apply_standards(bundle)
    _make_mixed_cases(svc, clock)
    with engine.connect() as conn:
        open_numbers = sorted(
            r[0]
            for r in conn.execute(select(cases.c.case_no).where(cases.c.status.in_([s.value for s in OPEN_STATUSES])))
        )
    assert len(open_numbers) > 5
    with UnitOfWork(engine, readonly=True) as uow:
        repo = CaseRepository(uow.conn, svc.standards.key_fields)
        loaded = list(repo.with_status(OPEN_STATUSES, batch=2))
        one_by_one = {no: repo.get(no) for no in open_numbers}
    assert [c.case_no for c, _ in loaded] == open_numbers
    for case, idx in loaded:
        assert case == one_by_one[case.case_no]
        assert idx.calendar_version == svc.calendar.version
