"""The storage contract, on SQLite and PostgreSQL alike, through the approval service with a fake clock.

Every transition is one transaction: the case change, one ``case_events`` row and two outbox rows (the case
snapshot and the event), with a gap-free outbox ``seq`` per origin. A refused transition writes nothing.
"""

from __future__ import annotations

import dataclasses
import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from county_node.approval.adapters.repository import CaseFilter
from county_node.approval.domain import Action, Case, Status
from county_node.approval.services import ApprovalService
from federation.calendar import YearCalendar
from federation.clock import Light
from federation.errors import (
    CaseNotFound,
    ExtensionAlreadyUsed,
    InvalidTransition,
    ItemNotFound,
    JointTasksPending,
    KeyDataMissing,
    StandardsError,
    SunshineError,
    ValidationError,
)
from federation.identities import parse_case_number
from federation.standards import StandardsBundle
from federation.storage import outbox as outbox_module
from federation.storage.outbox import high_water
from federation.storage.standards_store import current_bundle
from federation.storage.tables import (
    calendar_years,
    case_events,
    case_pauses,
    case_tasks,
    cases,
    catalogue_items,
    counters,
    outbox,
    standards_bundles,
)
from federation.timeutil import CST
from tests.conftest import FakeClock

DIV = "371122"
PROMISED = "XK00003000"  # promised 5 working days, key fields 统一社会信用代码;经营场所
JOINT = "XK00036000"
FULL_DATA = {"统一社会信用代码": "91371122MA3C000001", "经营场所": "莒县城阳街道 1 号"}
JOINT_DATA = {"项目代码": "2026-371122-47-01-000001", "建设单位": "莒县城投公司"}
WATCHED = (cases, case_events, case_pauses, case_tasks, outbox, counters)


@pytest.fixture
def service(engine: Engine, bundle: StandardsBundle, clock: FakeClock) -> ApprovalService:
    svc = ApprovalService(engine, DIV, clock)
    assert svc.apply_standards(bundle).applied
    return svc


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=CST)  # type: ignore[misc]


def tick(clock: FakeClock, minutes: int = 10) -> None:
    clock.now += timedelta(minutes=minutes)


def submit(svc: ApprovalService, item: str = PROMISED, data: dict[str, str] | None = None) -> Case:
    return svc.submit(item_code=item, applicant="张三", data=FULL_DATA if data is None else data, actor="窗口 1")


def act(svc: ApprovalService, clock: FakeClock, case_no: str, action: Action, **params: Any) -> Case:
    tick(clock)
    return svc.act(case_no, action, actor="审批员", params=params)


def counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t.name: int(conn.execute(select(func.count()).select_from(t)).scalar_one()) for t in WATCHED}


def snapshot(engine: Engine) -> dict[str, Any]:
    """Every row of every watched table (small databases only)."""
    with engine.connect() as conn:
        return {t.name: sorted(map(tuple, conn.execute(select(t)).all()), key=repr) for t in WATCHED}


def outbox_rows(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(outbox).order_by(outbox.c.origin, outbox.c.seq)).mappings())


def assert_gap_free(engine: Engine, expected: int | None = None) -> None:
    rows = outbox_rows(engine)
    seqs = [r["seq"] for r in rows if r["origin"] == DIV]
    assert seqs == list(range(1, len(seqs) + 1))
    if expected is not None:
        assert len(seqs) == expected
    with engine.connect() as conn:
        assert high_water(conn, DIV) == len(seqs)


# -- one transaction per transition ----------------------------------------------------------------


def test_each_transition_writes_the_case_one_event_and_two_outbox_rows(
    engine: Engine, service: ApprovalService, clock: FakeClock
) -> None:
    case = submit(service)
    assert counts(engine)["cases"] == 1
    assert counts(engine)["case_events"] == 1
    assert counts(engine)["outbox"] == 2
    steps: list[tuple[Action, dict[str, Any]]] = [
        (Action.ACCEPT, {}),
        (Action.REVIEW, {"opinion": "同意"}),
        (Action.REQUEST_CORRECTION, {"reason": "补材料"}),
        (Action.RECEIVE_CORRECTION, {}),
        (Action.EXTEND, {"days": 3, "reason": "复杂", "approver": "局长"}),
        (Action.DECIDE, {"outcome": "approve", "fee_charged": "0"}),
        (Action.CONCLUDE, {}),
    ]
    for i, (action, params) in enumerate(steps, start=2):
        before = counts(engine)
        after_case = act(service, clock, case.case_no, action, **params)
        after = counts(engine)
        assert after["case_events"] == before["case_events"] + 1
        assert after["outbox"] == before["outbox"] + 2
        assert after["cases"] == 1
        rows = outbox_rows(engine)[-2:]
        assert [r["record_type"] for r in rows] == ["case", "case_event"]
        assert [r["record_id"] for r in rows] == [case.case_no, f"{case.case_no}#{i:04d}"]
        assert [r["op"] for r in rows] == ["upsert", "insert"]
        assert [r["seq"] for r in rows] == [2 * i - 1, 2 * i]
        assert all(r["created_at"] == clock.now for r in rows)
        snapshot_payload = json.loads(rows[0]["payload"])
        event_payload = json.loads(rows[1]["payload"])
        assert snapshot_payload["status"] == after_case.status.value
        assert snapshot_payload["event_count"] == i
        assert event_payload["event_id"] == f"{case.case_no}#{i:04d}"
        assert event_payload["action"] == action.value
        with engine.connect() as conn:
            stored = conn.execute(select(cases.c.status, cases.c.event_count)).one()
            last_event = conn.execute(
                select(case_events.c.n, case_events.c.action, case_events.c.to_status).order_by(case_events.c.n.desc())
            ).first()
        assert tuple(stored) == (after_case.status.value, i)
        assert last_event is not None
        assert tuple(last_event) == (i, action.value, after_case.status.value)
    assert_gap_free(engine, 2 * (len(steps) + 1))
    detail = service.get(case.case_no)
    assert [e["action"] for e in detail.events] == ["submit"] + [a.value for a, _ in steps]


def test_a_failure_while_writing_the_outbox_rolls_back_the_case_change(
    engine: Engine, service: ApprovalService, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = submit(service)
    before = snapshot(engine)

    def broken_append(*_args: Any, **_kwargs: Any) -> list[int]:
        raise RuntimeError("outbox unavailable")

    monkeypatch.setattr(outbox_module, "append", broken_append)
    with pytest.raises(RuntimeError, match="outbox unavailable"):
        act(service, clock, case.case_no, Action.ACCEPT)
    with pytest.raises(RuntimeError, match="outbox unavailable"):
        submit(service)
    assert snapshot(engine) == before


# -- a refused transition writes nothing -----------------------------------------------------------


def _prepare(svc: ApprovalService, clock: FakeClock, kind: str) -> tuple[str, Any, dict[str, Any], type[Exception]]:
    """A case and a request that must be refused: (case_no, action, params, expected error)."""
    if kind == "invalid_transition":
        case = submit(svc)
        return case.case_no, Action.DECIDE, {"outcome": "approve"}, InvalidTransition
    if kind == "validation_error":
        case = submit(svc)
        return case.case_no, Action.REFUSE_ACCEPTANCE, {}, ValidationError
    if kind == "unknown_parameter":
        case = submit(svc)
        return case.case_no, Action.ACCEPT, {"colour": "red"}, ValidationError
    if kind == "unknown_action":
        case = submit(svc)
        return case.case_no, "approve_everything", {}, ValidationError
    if kind == "key_data_missing":
        case = submit(svc, data={})
        act(svc, clock, case.case_no, Action.ACCEPT)
        act(svc, clock, case.case_no, Action.REVIEW)
        return case.case_no, Action.DECIDE, {"outcome": "approve"}, KeyDataMissing
    if kind == "joint_tasks_pending":
        case = submit(svc, JOINT, JOINT_DATA)
        act(svc, clock, case.case_no, Action.ACCEPT)
        act(svc, clock, case.case_no, Action.REVIEW)
        act(svc, clock, case.case_no, Action.COMPLETE_TASK, department="自然资源局")
        return case.case_no, Action.DECIDE, {"outcome": "approve"}, JointTasksPending
    if kind == "extension_already_used":
        case = submit(svc)
        act(svc, clock, case.case_no, Action.ACCEPT)
        act(svc, clock, case.case_no, Action.SUSPEND, reason="等待")
        act(svc, clock, case.case_no, Action.EXTEND, days=2, reason="复杂", approver="局长")
        return case.case_no, Action.EXTEND, {"days": 1, "reason": "再延", "approver": "局长"}, ExtensionAlreadyUsed
    if kind == "case_not_found":
        submit(svc)
        return f"{DIV}-20260921-000099", Action.ACCEPT, {}, CaseNotFound
    raise AssertionError(kind)


REFUSALS = [
    "invalid_transition",
    "validation_error",
    "unknown_parameter",
    "unknown_action",
    "key_data_missing",
    "joint_tasks_pending",
    "extension_already_used",
    "case_not_found",
]


@pytest.mark.parametrize("kind", REFUSALS)
def test_a_refused_transition_writes_nothing(
    engine: Engine, service: ApprovalService, clock: FakeClock, kind: str
) -> None:
    case_no, action, params, error = _prepare(service, clock, kind)
    before_counts = counts(engine)
    before = snapshot(engine)
    with engine.connect() as conn:
        row_before = conn.execute(select(cases).where(cases.c.case_no == case_no)).first()
    tick(clock)
    with pytest.raises(error):
        service.act(case_no, action, actor="审批员", params=params)
    assert counts(engine) == before_counts
    assert snapshot(engine) == before
    with engine.connect() as conn:
        assert conn.execute(select(cases).where(cases.c.case_no == case_no)).first() == row_before
    assert_gap_free(engine)


def test_a_refused_submission_writes_nothing(engine: Engine, service: ApprovalService) -> None:
    submit(service)
    before = snapshot(engine)
    with pytest.raises(ItemNotFound):
        service.submit(item_code="XK99999000", applicant="张三", data={}, actor="窗口 1")
    with pytest.raises(ValidationError):
        service.submit(item_code=PROMISED, applicant=" ", data={}, actor="窗口 1")
    with pytest.raises(ValidationError):
        service.submit(item_code=PROMISED, applicant="张三", data={"k": ["not", "text"]}, actor="窗口 1")
    assert snapshot(engine) == before
    # the refused submissions did not use up case numbers either
    assert submit(service).case_no == f"{DIV}-20260921-000002"


def test_the_outbox_stays_gap_free_across_failed_transitions(
    engine: Engine, service: ApprovalService, clock: FakeClock
) -> None:
    written = 0
    for _ in range(3):
        case = submit(service, data={})
        written += 2
        for action, params, ok in [
            (Action.DECIDE, {"outcome": "approve"}, False),  # not yet accepted
            (Action.ACCEPT, {}, True),
            (Action.ACCEPT, {}, False),  # twice
            (Action.SUSPEND, {}, False),  # no reason
            (Action.REVIEW, {}, True),
            (Action.DECIDE, {"outcome": "approve"}, False),  # key data missing
            (Action.RECORD_DATA, {"data": FULL_DATA}, True),
            (Action.DECIDE, {"outcome": "approve"}, True),
        ]:
            if ok:
                act(service, clock, case.case_no, action, **params)
                written += 2
            else:
                with pytest.raises(SunshineError):
                    act(service, clock, case.case_no, action, **params)
            assert_gap_free(engine, written)


# -- case numbers ----------------------------------------------------------------------------------


def test_case_numbers_count_per_local_day(service: ApprovalService, clock: FakeClock) -> None:
    first = [submit(service).case_no for _ in range(3)]
    assert first == [f"{DIV}-20260921-00000{i}" for i in (1, 2, 3)]
    for no in first:
        parsed = parse_case_number(no)
        assert (parsed.division, parsed.day) == (DIV, date(2026, 9, 21))
    clock.set(2026, 9, 21, 23, 59)
    assert submit(service).case_no == f"{DIV}-20260921-000004"
    clock.set(2026, 9, 22, 0, 0)
    assert submit(service).case_no == f"{DIV}-20260922-000001"
    # the local (CST) day decides, whatever the time zone of the clock: 16:30 UTC is 00:30 the next day in CST
    clock.now = datetime(2026, 9, 22, 16, 30, tzinfo=UTC)
    assert submit(service).case_no == f"{DIV}-20260923-000001"
    clock.now = datetime(2026, 9, 23, 15, 59, tzinfo=UTC)
    assert submit(service).case_no == f"{DIV}-20260923-000002"


def test_concurrent_submissions_get_unique_numbers_and_a_gap_free_outbox(
    engine: Engine, service: ApprovalService
) -> None:
    threads, per_thread = 4, 25

    def worker(t: int) -> list[str]:
        return [
            service.submit(item_code=PROMISED, applicant=f"申请人 {t}-{i}", data=FULL_DATA, actor=f"窗口 {t}").case_no
            for i in range(per_thread)
        ]

    with ThreadPoolExecutor(max_workers=threads) as pool:
        numbers = [no for chunk in pool.map(worker, range(threads)) for no in chunk]
    total = threads * per_thread
    assert len(set(numbers)) == total
    assert sorted(parse_case_number(no).seq for no in numbers) == list(range(1, total + 1))
    assert_gap_free(engine, 2 * total)
    rows = outbox_rows(engine)
    assert sorted(r["record_id"] for r in rows if r["record_type"] == "case") == sorted(numbers)
    # each transaction's two rows are adjacent: case snapshot, then its event
    for snap, event in zip(rows[::2], rows[1::2], strict=True):
        assert (snap["record_type"], event["record_type"]) == ("case", "case_event")
        assert event["record_id"] == f"{snap['record_id']}#0001"
    assert counts(engine)["cases"] == total


# -- round trips -----------------------------------------------------------------------------------


def test_the_pause_ledger_round_trips(service: ApprovalService, clock: FakeClock) -> None:
    case = submit(service)
    act(service, clock, case.case_no, Action.ACCEPT)
    act(service, clock, case.case_no, Action.REQUEST_CORRECTION, reason="缺少营业执照")
    clock.set(2026, 9, 23, 10, 0)
    act(service, clock, case.case_no, Action.RECEIVE_CORRECTION, data={"经营场所": "新址"})
    act(service, clock, case.case_no, Action.REVIEW)
    act(service, clock, case.case_no, Action.START_SPECIAL_PROCEDURE, reason="现场核查", procedure="核查")
    clock.set(2026, 9, 24, 15, 0)
    act(service, clock, case.case_no, Action.END_SPECIAL_PROCEDURE)
    last = act(service, clock, case.case_no, Action.SUSPEND, reason="申请人要求")
    stored = service.get(case.case_no).case
    assert stored == last
    assert [(p.n, p.kind.value, p.ended_at is None) for p in stored.pauses] == [
        (1, "correction", False),
        (2, "special_procedure", False),
        (3, "suspension", True),
    ]
    assert stored.pauses[0].reason == "缺少营业执照"
    assert stored.pauses[0].ended_at == at(2026, 9, 23, 10, 10)
    assert stored.resume_status is Status.IN_REVIEW
    assert stored.data["经营场所"] == "新址"
    clocks = service.get(case.case_no).clocks
    assert clocks is not None
    assert clocks.promised.deadline.paused


def test_joint_tasks_round_trip(service: ApprovalService, clock: FakeClock) -> None:
    case = submit(service, JOINT, JOINT_DATA)
    assert [t.department for t in service.get(case.case_no).case.tasks] == sorted(
        ["自然资源局", "住房和城乡建设局", "消防救援大队"]
    )
    act(service, clock, case.case_no, Action.ACCEPT)
    act(service, clock, case.case_no, Action.REVIEW)
    last = act(service, clock, case.case_no, Action.COMPLETE_TASK, department="消防救援大队", opinion="符合要求")
    stored = service.get(case.case_no)
    assert stored.case == last
    done = {t.department: t for t in stored.case.tasks}
    assert done["消防救援大队"].status == "done"
    assert done["消防救援大队"].opinion == "符合要求"
    assert done["消防救援大队"].completed_at == clock.now
    assert done["自然资源局"].status == "pending"
    assert done["自然资源局"].started_at == stored.case.accepted_at
    assert stored.clocks is not None
    assert set(stored.clocks.tasks) == set(done)
    with pytest.raises(JointTasksPending):
        act(service, clock, case.case_no, Action.DECIDE, outcome="approve")
    for department in ("自然资源局", "住房和城乡建设局"):
        act(service, clock, case.case_no, Action.COMPLETE_TASK, department=department)
    assert act(service, clock, case.case_no, Action.DECIDE, outcome="approve").status is Status.APPROVED


def test_decimal_fees_and_key_data_round_trip(service: ApprovalService, clock: FakeClock) -> None:
    case = submit(service, "XK00009000", {"不动产单元号": "371122001001GB00001F00010001", "权利人": "张三"})
    act(service, clock, case.case_no, Action.ACCEPT)
    act(service, clock, case.case_no, Action.REVIEW)
    decided = act(service, clock, case.case_no, Action.DECIDE, outcome="approve", fee_charged="79.5")
    stored = service.get(case.case_no).case
    assert stored == decided
    assert str(stored.fee_charged) == "79.50"
    assert str(stored.fee_standard) == "80.00"
    assert stored.key_fields == ("不动产单元号", "权利人")


# -- the light filter ------------------------------------------------------------------------------


def _accepted(svc: ApprovalService, clock: FakeClock, when: datetime) -> str:
    clock.now = when
    case = submit(svc)
    act(svc, clock, case.case_no, Action.ACCEPT)
    return case.case_no


def _make_light_zoo(svc: ApprovalService, clock: FakeClock) -> dict[str, str]:
    """Cases that are white, yellow, red, paused white, paused yellow, … on Tuesday 2026-09-29 10:00."""
    zoo: dict[str, str] = {}
    zoo["red"] = _accepted(svc, clock, at(2026, 9, 14, 9))  # due 09-20 (the make-up Sunday)
    zoo["yellow"] = _accepted(svc, clock, at(2026, 9, 21, 9))  # due 09-29, yellow from 09-29 00:00
    zoo["white"] = _accepted(svc, clock, at(2026, 9, 28, 9))  # due 10-08
    zoo["white_reviewed"] = _accepted(svc, clock, at(2026, 9, 28, 9))
    act(svc, clock, zoo["white_reviewed"], Action.REVIEW)
    zoo["paused_white"] = _accepted(svc, clock, at(2026, 9, 21, 9))
    clock.now = at(2026, 9, 23, 10)  # 09-22 counted: 4 left
    act(svc, clock, zoo["paused_white"], Action.REQUEST_CORRECTION, reason="补材料")
    zoo["paused_yellow"] = _accepted(svc, clock, at(2026, 9, 21, 9))
    clock.now = at(2026, 9, 29, 9)  # the due day: 1 left
    act(svc, clock, zoo["paused_yellow"], Action.SUSPEND, reason="等待")
    zoo["paused_too_late"] = _accepted(svc, clock, at(2026, 9, 14, 9))  # overdue since 09-21 00:00
    clock.now = at(2026, 9, 28, 9)
    act(svc, clock, zoo["paused_too_late"], Action.START_SPECIAL_PROCEDURE, reason="专家评审")
    zoo["resumed"] = _accepted(svc, clock, at(2026, 9, 18, 9))  # due 09-24; [09-22, 09-29) paused → due 10-08
    clock.now = at(2026, 9, 22, 9)
    act(svc, clock, zoo["resumed"], Action.SUSPEND, reason="等待")
    clock.now = at(2026, 9, 29, 8)
    act(svc, clock, zoo["resumed"], Action.RESUME)
    zoo["decided"] = _accepted(svc, clock, at(2026, 9, 14, 9))
    act(svc, clock, zoo["decided"], Action.REVIEW)
    act(svc, clock, zoo["decided"], Action.DECIDE, outcome="approve")
    clock.now = at(2026, 9, 29, 9, 30)
    zoo["submitted"] = submit(svc).case_no
    clock.now = at(2026, 9, 29, 10)
    return zoo


def _python_lights(svc: ApprovalService) -> dict[str, Light]:
    """The light of every open, accepted case as the domain derives it (no index involved)."""
    page = svc.list(CaseFilter(), page_size=200)
    out = {}
    for case, clocks in page.items:
        if case.status in _LIT:
            assert clocks is not None
            out[case.case_no] = clocks.promised.light
    return out


_LIT = {
    Status.ACCEPTED,
    Status.IN_REVIEW,
    Status.CORRECTION,
    Status.SUSPENDED,
    Status.SPECIAL_PROCEDURE,
}


def _sql_lights(svc: ApprovalService) -> dict[str, Light]:
    out: dict[str, Light] = {}
    for light in Light:
        page = svc.list(CaseFilter(light=light.value), page_size=200)
        assert page.total == len(page.items)
        for case, _clocks in page.items:
            assert case.case_no not in out, f"{case.case_no} has two lights"
            out[case.case_no] = light
    return out


def test_the_light_filter_agrees_with_the_derived_light(service: ApprovalService, clock: FakeClock) -> None:
    zoo = _make_light_zoo(service, clock)
    expected = {
        "red": Light.RED,
        "yellow": Light.YELLOW,
        "white": Light.WHITE,
        "white_reviewed": Light.WHITE,
        "paused_white": Light.WHITE,
        "paused_yellow": Light.YELLOW,
        "paused_too_late": Light.RED,
        "resumed": Light.WHITE,  # 3 left on 09-29: 09-29, 09-30, 10-08
    }
    python = _python_lights(service)
    assert {name: python[zoo[name]] for name in expected} == expected
    assert _sql_lights(service) == python
    summary = service.summary()
    assert summary["by_light"] == {light.value: sum(1 for v in python.values() if v is light) for light in Light}
    # the filter combines with the others
    page = service.list(CaseFilter(light="yellow", status=Status.SUSPENDED.value))
    assert [c.case_no for c, _ in page.items] == [zoo["paused_yellow"]]
    with pytest.raises(ValidationError):
        service.list(CaseFilter(light="green"))


MOMENTS = [
    at(2026, 9, 21, 10),
    at(2026, 9, 28, 23, 59),
    at(2026, 9, 29, 0, 0),  # the yellow case turns yellow
    at(2026, 9, 29, 23, 59),
    at(2026, 9, 30, 0, 0),  # … and red
    at(2026, 10, 7, 12),
    at(2026, 10, 8, 0, 0),
    at(2026, 10, 9, 0, 0),
    at(2026, 12, 1, 9),
]


def test_the_light_filter_agrees_at_every_moment(service: ApprovalService, clock: FakeClock) -> None:
    _make_light_zoo(service, clock)
    seen: set[Light] = set()
    for now in MOMENTS:
        clock.now = now
        python = _python_lights(service)
        assert _sql_lights(service) == python, now
        seen |= set(python.values())
    assert seen == set(Light)


# -- standards -------------------------------------------------------------------------------------


def _standards_rows(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        return {
            t.name: sorted(map(tuple, conn.execute(select(t)).all()), key=repr)
            for t in (standards_bundles, catalogue_items, calendar_years)
        }


def test_apply_standards_is_idempotent(engine: Engine, service: ApprovalService, bundle: StandardsBundle) -> None:
    before = _standards_rows(engine)
    assert len(before["standards_bundles"]) == 1
    assert len(before["catalogue_items"]) == 36
    assert len(before["calendar_years"]) == len(bundle.calendar_years)
    again = service.apply_standards(bundle)
    assert not again.applied
    assert not again.calendar_changed
    assert _standards_rows(engine) == before
    with engine.connect() as conn:
        current = current_bundle(conn)
    assert current is not None
    assert current.digest == bundle.digest


def test_an_older_bundle_is_refused_and_the_current_one_kept(
    engine: Engine, service: ApprovalService, bundle: StandardsBundle
) -> None:
    before = _standards_rows(engine)
    older = dataclasses.replace(bundle, version="2026.08.1", effective_date=date(2026, 8, 1))
    with pytest.raises(StandardsError, match="早于"):
        service.apply_standards(older)
    assert _standards_rows(engine) == before
    assert service.standards.bundle is not None
    assert service.standards.bundle.version == bundle.version


def test_the_same_version_with_other_content_is_refused(
    engine: Engine, service: ApprovalService, bundle: StandardsBundle
) -> None:
    before = _standards_rows(engine)
    tampered = dataclasses.replace(bundle, items=bundle.items[:-1])
    assert tampered.version == bundle.version
    with pytest.raises(StandardsError, match="内容不同"):
        service.apply_standards(tampered)
    assert _standards_rows(engine) == before


def test_a_newer_bundle_is_applied_and_old_cases_keep_their_version(
    engine: Engine, service: ApprovalService, bundle: StandardsBundle, clock: FakeClock
) -> None:
    old_case = submit(service)
    newer = dataclasses.replace(bundle, version="2026.10.1", effective_date=date(2026, 9, 21))  # in force today
    result = service.apply_standards(newer)
    assert result.applied
    assert not result.calendar_changed
    assert service.standards.bundle is not None
    assert service.standards.bundle.version == "2026.10.1"
    new_case = submit(service)
    assert new_case.standards_version == "2026.10.1"
    assert service.get(old_case.case_no).case.standards_version == bundle.version
    # the old case still finds its key fields under the version it was accepted under
    assert service.get(old_case.case_no).case.key_fields == ("统一社会信用代码", "经营场所")
    # a version once superseded cannot come back
    with pytest.raises(StandardsError):
        service.apply_standards(bundle)


def _revised_2026(bundle: StandardsBundle, extra: date, revision: int = 2) -> tuple[YearCalendar, ...]:
    years = []
    for year in bundle.calendar_years:
        if year.year == 2026:
            year = YearCalendar(  # noqa: PLW2901 — the revised year replaces the published one
                2026,
                year.holidays | {extra},
                year.makeup_workdays,
                revision=revision,
                source="province",
                names=year.names,
            )
        years.append(year)
    return tuple(years)


def test_a_calendar_revision_recomputes_the_open_cases(
    engine: Engine, service: ApprovalService, bundle: StandardsBundle, clock: FakeClock
) -> None:
    running = _accepted(service, clock, at(2026, 9, 21, 9))  # due 09-29
    paused = _accepted(service, clock, at(2026, 9, 21, 9))
    clock.now = at(2026, 9, 23, 10)
    act(service, clock, paused, Action.SUSPEND, reason="等待")
    concluded = _accepted(service, clock, at(2026, 9, 21, 9))
    act(service, clock, concluded, Action.REVIEW)
    act(service, clock, concluded, Action.DECIDE, outcome="approve")
    act(service, clock, concluded, Action.CONCLUDE)
    old_version = service.calendar.version

    def index_of(case_no: str) -> tuple[Any, ...]:
        with engine.connect() as conn:
            return tuple(
                conn.execute(
                    select(
                        cases.c.calendar_version, cases.c.idx_due_at, cases.c.idx_yellow_at, cases.c.idx_legal_due_at
                    ).where(cases.c.case_no == case_no)
                ).one()
            )

    assert index_of(running)[:2] == (old_version, at(2026, 9, 30))
    paused_before = index_of(paused)
    concluded_before = index_of(concluded)
    assert concluded_before == (None, None, None, None)

    clock.now = at(2026, 9, 24, 9)
    revised = dataclasses.replace(
        bundle,
        version="2026.09.2",
        effective_date=date(2026, 9, 24),
        calendar_years=_revised_2026(bundle, date(2026, 9, 28)),  # Monday 09-28 declared a holiday
    )
    result = service.apply_standards(revised)
    assert result.applied
    assert result.calendar_changed
    new_version = service.calendar.version
    assert new_version != old_version
    assert not service.calendar.is_working_day(date(2026, 9, 28))

    calendar_version, due_at, yellow_at, legal_due_at = index_of(running)
    assert calendar_version == new_version
    assert due_at == at(2026, 10, 1)  # 09-22, 23, 24, [28 now off], 29, 30
    assert yellow_at == at(2026, 9, 30)
    assert legal_due_at == at(2026, 10, 14)  # 10 days: … 10-10 (make-up Saturday), 10-12, 10-13
    detail = service.get(running)
    assert detail.clocks is not None
    assert detail.clocks.promised.deadline.due_at == due_at
    assert detail.clocks.promised.deadline.calendar_version == new_version
    assert index_of(paused)[0] == new_version
    assert index_of(paused)[1:3] == paused_before[1:3] == (None, None)
    assert index_of(concluded) == concluded_before
    with engine.connect() as conn:
        rows = {r.year: r.revision for r in conn.execute(select(calendar_years.c.year, calendar_years.c.revision))}
    assert rows[2026] == 2


def test_a_calendar_change_without_a_higher_revision_is_refused(
    engine: Engine, service: ApprovalService, bundle: StandardsBundle
) -> None:
    before = _standards_rows(engine)
    sneaky = dataclasses.replace(
        bundle,
        version="2026.09.2",
        effective_date=date(2026, 9, 24),
        calendar_years=_revised_2026(bundle, date(2026, 9, 28), revision=1),
    )
    with pytest.raises(StandardsError, match="修订号"):
        service.apply_standards(sneaky)
    assert _standards_rows(engine) == before


def test_no_standards_no_submissions(engine: Engine, clock: FakeClock) -> None:
    bare = ApprovalService(engine, DIV, clock)
    with pytest.raises(StandardsError, match="尚未加载"):
        bare.submit(item_code=PROMISED, applicant="张三", data={}, actor="窗口 1")
    assert counts(engine)["cases"] == 0


def test_reapplying_a_year_with_the_same_days_but_another_source_is_not_a_revision(
    engine: Engine, bundle: StandardsBundle, clock: FakeClock
) -> None:
    """A newer chinese-calendar release relabels the seeded years' source; the days are the same."""
    svc = ApprovalService(engine, "371122", clock)
    svc.apply_standards(bundle)
    relabelled = dataclasses.replace(
        bundle,
        version="2026.09.2",
        calendar_years=tuple(dataclasses.replace(y, source="chinese-calendar 9.9.9") for y in bundle.calendar_years),
    )
    result = svc.apply_standards(relabelled)
    assert result.applied
    assert not result.calendar_changed
