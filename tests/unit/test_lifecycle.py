"""The case lifecycle, domain only (no database): legal and illegal transitions, parameter checks, clocks."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from county_node.approval.domain import (
    ALLOWED,
    OPEN_STATUSES,
    Action,
    Case,
    Status,
    apply_action,
    case_clocks,
    index_values,
    new_case,
)
from federation.calendar import WorkingCalendar
from federation.clock import Light, LightPolicy, PauseKind, compute_deadline
from federation.errors import (
    Conflict,
    ExtensionAlreadyUsed,
    InvalidTransition,
    JointTasksPending,
    KeyDataMissing,
    ValidationError,
)
from federation.standards import Item, StandardsBundle
from federation.timeutil import CST

T0 = datetime(2026, 9, 21, 9, 0, tzinfo=CST)  # Monday
PROMISED = "XK00003000"  # 食品经营许可: promised 5, legal 10, key fields 统一社会信用代码;经营场所
JOINT = "XK00036000"  # 建设项目联合审批: joint, three departments
JOINT_DEPARTMENTS = ("自然资源局", "住房和城乡建设局", "消防救援大队")
FULL_DATA = {"统一社会信用代码": "91371122MA3C000001", "经营场所": "莒县城阳街道 1 号"}
JOINT_DATA = {"项目代码": "2026-371122-47-01-000001", "建设单位": "莒县城投公司"}

# valid parameters for every action (COMPLETE_TASK needs a joint case)
VALID_PARAMS: Mapping[Action, dict[str, Any]] = {
    Action.ACCEPT: {"note": "材料齐全"},
    Action.REFUSE_ACCEPTANCE: {"reason": "不属于本机关职权范围"},
    Action.REVIEW: {"opinion": "同意"},
    Action.DECIDE: {"outcome": "approve"},
    Action.CONCLUDE: {},
    Action.REQUEST_CORRECTION: {"reason": "缺少营业执照复印件"},
    Action.RECEIVE_CORRECTION: {"note": "已补齐"},
    Action.SUSPEND: {"reason": "申请人申请暂停"},
    Action.RESUME: {},
    Action.START_SPECIAL_PROCEDURE: {"reason": "需现场核查", "procedure": "现场核查"},
    Action.END_SPECIAL_PROCEDURE: {},
    Action.EXTEND: {"days": 5, "reason": "情况复杂", "approver": "局长 李四"},
    Action.RETURN: {"reason": "申请材料不符合要求"},
    Action.RESUBMIT: {"note": "重新提交"},
    Action.COMPLETE_TASK: {"department": "自然资源局", "outcome": "agree"},
    Action.RECORD_DATA: {"data": {"备注": "补录"}},
}

# how to reach each status from SUBMITTED
PATHS: Mapping[Status, tuple[Action, ...]] = {
    Status.SUBMITTED: (),
    Status.ACCEPTED: (Action.ACCEPT,),
    Status.IN_REVIEW: (Action.ACCEPT, Action.REVIEW),
    Status.CORRECTION: (Action.ACCEPT, Action.REQUEST_CORRECTION),
    Status.SUSPENDED: (Action.ACCEPT, Action.SUSPEND),
    Status.SPECIAL_PROCEDURE: (Action.ACCEPT, Action.START_SPECIAL_PROCEDURE),
    Status.APPROVED: (Action.ACCEPT, Action.REVIEW, Action.DECIDE),
    Status.DENIED: (Action.ACCEPT, Action.REVIEW, Action.DECIDE),
    Status.CONCLUDED: (Action.ACCEPT, Action.REVIEW, Action.DECIDE, Action.CONCLUDE),
    Status.REFUSED: (Action.REFUSE_ACCEPTANCE,),
    Status.RETURNED: (Action.RETURN,),
}

ALL_PAIRS = list(itertools.product(Status, Action))
ILLEGAL_PAIRS = [(s, a) for s, a in ALL_PAIRS if a is Action.SUBMIT or s not in ALLOWED[a]]
LEGAL_PAIRS = [(s, a) for s, a in ALL_PAIRS if a is not Action.SUBMIT and s in ALLOWED[a]]


def submit(item: Item, data: Mapping[str, Any] | None = None, *, version: str = "2026.09.1") -> Case:
    return new_case(
        case_no="371122-20260921-000001",
        origin="371122",
        item=item,
        standards_version=version,
        applicant="张三",
        data=data or {},
        actor="窗口 1",
        now=T0,
    ).case


def act(case: Case, action: Action, params: Mapping[str, Any] | None = None, *, minutes: int = 60, **kw: Any) -> Case:
    """Apply ``action`` ``minutes`` after the case's last change."""
    assert case.updated_at is not None
    return apply_action(
        case, action, actor="审批员 王五", now=case.updated_at + timedelta(minutes=minutes), params=params, **kw
    ).case


def build(item: Item, status: Status, data: Mapping[str, Any] | None = None) -> Case:
    case = submit(item, data)
    for action in PATHS[status]:
        if action is Action.DECIDE:  # a joint case is decided once every department is done
            for task in case.tasks:
                case = act(case, Action.COMPLETE_TASK, {"department": task.department})
        params = dict(VALID_PARAMS[action])
        if action is Action.DECIDE and status is Status.DENIED:
            params = {"outcome": "deny", "reason": "不符合法定条件"}
        case = act(case, action, params)
    assert case.status is status
    return case


@pytest.fixture(scope="module")
def promised(bundle: StandardsBundle) -> Item:
    return bundle.item(PROMISED)


@pytest.fixture(scope="module")
def joint(bundle: StandardsBundle) -> Item:
    return bundle.item(JOINT)


# -- the happy path --------------------------------------------------------------------------------


def test_the_happy_path(promised: Item, calendar: WorkingCalendar) -> None:
    created = new_case(
        case_no="371122-20260921-000001",
        origin="371122",
        item=promised,
        standards_version="2026.09.1",
        applicant=" 张三 ",
        data=FULL_DATA,
        actor="窗口 1",
        now=T0,
    )
    case, ev = created.case, created.event
    assert case.status is Status.SUBMITTED
    assert case.applicant == "张三"
    assert (case.promised_budget, case.legal_budget) == (5, 10)
    assert case.key_fields == ("统一社会信用代码", "经营场所")
    assert ev.event_id == "371122-20260921-000001#0001"
    assert (ev.action, ev.from_status, ev.to_status) == (Action.SUBMIT, None, Status.SUBMITTED)
    assert case_clocks(case, calendar, T0, LightPolicy()) is None  # no clock before acceptance

    accepted_at = T0 + timedelta(hours=1)
    r = apply_action(case, Action.ACCEPT, actor="窗口 1", now=accepted_at)
    case = r.case
    assert case.status is Status.ACCEPTED
    assert case.accepted_at == accepted_at
    assert (r.event.n, r.event.from_status, r.event.to_status) == (2, Status.SUBMITTED, Status.ACCEPTED)

    case = act(case, Action.REVIEW, {"opinion": "材料齐全", "data": {"经营场所": "莒县城阳街道 2 号"}})
    assert case.status is Status.IN_REVIEW
    assert case.data["经营场所"] == "莒县城阳街道 2 号"
    assert case.data["统一社会信用代码"] == FULL_DATA["统一社会信用代码"]

    r = apply_action(
        case,
        Action.DECIDE,
        actor="科长",
        now=T0 + timedelta(days=1),
        params={"outcome": "approve", "fee_charged": "12.5"},
    )
    case = r.case
    assert case.status is Status.APPROVED
    assert case.decision == "approved"
    assert case.decided_at == T0 + timedelta(days=1)
    assert case.fee_charged == Decimal("12.50")
    assert r.event.payload["outcome"] == "approve"

    clocks = case_clocks(case, calendar, T0 + timedelta(days=60), LightPolicy())
    assert clocks is not None
    assert clocks.promised.light is Light.WHITE  # read at the decision, not at "now"
    assert clocks.promised.deadline.due_date == date(2026, 9, 29)
    assert clocks.legal.deadline.due_date == date(2026, 10, 12)  # via the make-up Saturday 10-10

    case = act(case, Action.CONCLUDE)
    assert case.status is Status.CONCLUDED
    assert case.status not in OPEN_STATUSES
    assert case.fee_charged == Decimal("12.50")
    assert case.event_count == 5
    assert index_values(case, calendar, LightPolicy()).due_at is None


def test_conclude_charges_the_standard_fee_when_approved_and_nothing_when_denied(bundle: StandardsBundle) -> None:
    paid = bundle.item("XK00009000")  # 不动产首次登记: 80 yuan
    data = {"不动产单元号": "371122001001GB00001F00010001", "权利人": "张三"}
    approved = act(build(paid, Status.APPROVED, data), Action.CONCLUDE)
    assert approved.fee_charged == Decimal("80.00")
    denied = act(build(paid, Status.DENIED, data), Action.CONCLUDE)
    assert denied.fee_charged == Decimal("0.00")


# -- every (status, action) pair -------------------------------------------------------------------


def test_the_matrix_is_complete() -> None:
    assert set(ALLOWED) == set(Action) - {Action.SUBMIT}
    assert set(PATHS) == set(Status)
    assert len(ILLEGAL_PAIRS) + len(LEGAL_PAIRS) == len(Status) * len(Action)


@pytest.mark.parametrize(("status", "action"), ILLEGAL_PAIRS, ids=[f"{s.value}-{a.value}" for s, a in ILLEGAL_PAIRS])
def test_every_illegal_pair_raises_invalid_transition(
    promised: Item, joint: Item, status: Status, action: Action
) -> None:
    for item, data in ((promised, FULL_DATA), (joint, JOINT_DATA)):
        case = build(item, status, data)
        with pytest.raises(InvalidTransition) as info:
            act(case, action, VALID_PARAMS.get(action))
        assert isinstance(info.value, Conflict)
        if action is not Action.SUBMIT:
            assert info.value.details == {"case_no": case.case_no, "action": action.value, "status": status.value}


@pytest.mark.parametrize(("status", "action"), LEGAL_PAIRS, ids=[f"{s.value}-{a.value}" for s, a in LEGAL_PAIRS])
def test_every_legal_pair_succeeds(promised: Item, joint: Item, status: Status, action: Action) -> None:
    item, data = (joint, JOINT_DATA) if action is Action.COMPLETE_TASK else (promised, FULL_DATA)
    case = build(item, status, data)
    result = apply_action(case, action, actor="审批员", now=T0 + timedelta(days=2), params=VALID_PARAMS[action])
    assert result.event.from_status is status
    assert result.event.to_status is result.case.status
    assert result.event.n == case.event_count + 1
    assert result.case.event_count == case.event_count + 1
    expected = {
        Action.ACCEPT: Status.ACCEPTED,
        Action.REFUSE_ACCEPTANCE: Status.REFUSED,
        Action.REVIEW: Status.IN_REVIEW,
        Action.DECIDE: Status.APPROVED,
        Action.CONCLUDE: Status.CONCLUDED,
        Action.REQUEST_CORRECTION: Status.CORRECTION,
        Action.RECEIVE_CORRECTION: case.resume_status,
        Action.SUSPEND: Status.SUSPENDED,
        Action.RESUME: case.resume_status,
        Action.START_SPECIAL_PROCEDURE: Status.SPECIAL_PROCEDURE,
        Action.END_SPECIAL_PROCEDURE: case.resume_status,
        Action.EXTEND: status,
        Action.RETURN: Status.RETURNED,
        Action.RESUBMIT: Status.SUBMITTED,
        Action.COMPLETE_TASK: status,
        Action.RECORD_DATA: status,
    }[action]
    assert result.case.status is expected


def test_complete_task_on_a_case_that_is_not_joint_is_an_invalid_transition(promised: Item) -> None:
    case = build(promised, Status.IN_REVIEW, FULL_DATA)
    with pytest.raises(InvalidTransition, match="不是联办件"):
        act(case, Action.COMPLETE_TASK, {"department": "自然资源局"})


# -- parameter validation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "action", "params"),
    [
        (Status.SUBMITTED, Action.REFUSE_ACCEPTANCE, {}),
        (Status.SUBMITTED, Action.REFUSE_ACCEPTANCE, {"reason": "   "}),
        (Status.SUBMITTED, Action.RETURN, {}),
        (Status.IN_REVIEW, Action.RETURN, {"reason": ""}),
        (Status.IN_REVIEW, Action.DECIDE, {"outcome": "deny"}),
        (Status.IN_REVIEW, Action.DECIDE, {"outcome": "deny", "reason": " "}),
        (Status.ACCEPTED, Action.REQUEST_CORRECTION, {}),
        (Status.IN_REVIEW, Action.REQUEST_CORRECTION, {"reason": None}),
        (Status.ACCEPTED, Action.SUSPEND, {}),
        (Status.ACCEPTED, Action.START_SPECIAL_PROCEDURE, {"procedure": "听证"}),
        (Status.ACCEPTED, Action.SUSPEND, {"reason": 42}),  # not text
        (Status.ACCEPTED, Action.SUSPEND, {"reason": "长" * 2001}),  # too long
    ],
)
def test_a_missing_or_bad_reason_is_a_validation_error(
    promised: Item, status: Status, action: Action, params: dict[str, Any]
) -> None:
    case = build(promised, status, FULL_DATA)
    with pytest.raises(ValidationError):
        act(case, action, params)


@pytest.mark.parametrize("params", [{}, {"outcome": "maybe"}, {"outcome": "approved"}, {"outcome": None}])
def test_decide_outcome_must_be_approve_or_deny(promised: Item, params: dict[str, Any]) -> None:
    case = build(promised, Status.IN_REVIEW, FULL_DATA)
    with pytest.raises(ValidationError, match="approve"):
        act(case, Action.DECIDE, params)


def test_a_second_extension_is_refused(promised: Item) -> None:
    case = act(build(promised, Status.ACCEPTED, FULL_DATA), Action.EXTEND, VALID_PARAMS[Action.EXTEND])
    assert case.extension_days == 5
    assert case.extension_reason == "情况复杂"
    assert case.extension_approver == "局长 李四"
    with pytest.raises(ExtensionAlreadyUsed):
        act(case, Action.EXTEND, {"days": 1, "reason": "再延", "approver": "局长"})
    corrected = act(case, Action.REQUEST_CORRECTION, {"reason": "补材料"})  # not even while paused
    with pytest.raises(ExtensionAlreadyUsed):
        act(corrected, Action.EXTEND, {"days": 1, "reason": "再延", "approver": "局长"})


@pytest.mark.parametrize("days", [0, -1, 11, 100, "5", 5.0, True, None])
def test_extension_days_out_of_range_are_refused(promised: Item, days: Any) -> None:
    case = build(promised, Status.ACCEPTED, FULL_DATA)
    with pytest.raises(ValidationError, match="延期天数"):
        act(case, Action.EXTEND, {"days": days, "reason": "情况复杂", "approver": "局长"})


def test_the_extension_limit_is_a_parameter(promised: Item) -> None:
    case = build(promised, Status.ACCEPTED, FULL_DATA)
    params = {"days": 15, "reason": "联办", "approver": "局长"}
    with pytest.raises(ValidationError):
        act(case, Action.EXTEND, params)
    assert act(case, Action.EXTEND, params, max_extension_days=15).extension_days == 15


@pytest.mark.parametrize(
    ("params", "missing"), [({"days": 3, "reason": "复杂"}, "approver"), ({"days": 3, "approver": "局长"}, "reason")]
)
def test_an_extension_needs_a_reason_and_an_approver(promised: Item, params: dict[str, Any], missing: str) -> None:
    with pytest.raises(ValidationError) as info:
        act(build(promised, Status.ACCEPTED, FULL_DATA), Action.EXTEND, params)
    assert info.value.details["field"] == missing


@pytest.mark.parametrize(
    ("status", "action", "params"),
    [
        (Status.SUBMITTED, Action.ACCEPT, {"reason": "x"}),
        (Status.ACCEPTED, Action.REVIEW, {"outcome": "approve"}),
        (Status.IN_REVIEW, Action.DECIDE, {"outcome": "approve", "days": 3}),
        (Status.ACCEPTED, Action.SUSPEND, {"reason": "x", "note": "y"}),
        (Status.ACCEPTED, Action.RECORD_DATA, {"data": {"a": "b"}, "extra": 1}),
    ],
)
def test_unknown_parameter_names_are_refused(
    promised: Item, status: Status, action: Action, params: dict[str, Any]
) -> None:
    with pytest.raises(ValidationError, match="不接受参数"):
        act(build(promised, status, FULL_DATA), action, params)


@pytest.mark.parametrize("fee", ["abc", -1, "-0.01", "NaN", "Infinity", "1e11", "12,5"])
def test_a_bad_fee_is_refused(promised: Item, fee: Any) -> None:
    case = build(promised, Status.IN_REVIEW, FULL_DATA)
    with pytest.raises(ValidationError):
        act(case, Action.DECIDE, {"outcome": "approve", "fee_charged": fee})
    approved = build(promised, Status.APPROVED, FULL_DATA)
    with pytest.raises(ValidationError):
        act(approved, Action.CONCLUDE, {"fee_charged": fee})


@pytest.mark.parametrize(
    "data",
    [["统一社会信用代码"], "text", {"": "x"}, {"k": ["list"]}, {"k": True}, {"k": "长" * 501}],
)
def test_bad_key_data_is_refused(promised: Item, data: Any) -> None:
    with pytest.raises(ValidationError):
        act(build(promised, Status.ACCEPTED, FULL_DATA), Action.RECORD_DATA, {"data": data})


def test_record_data_needs_something_to_record(promised: Item) -> None:
    with pytest.raises(ValidationError):
        act(build(promised, Status.ACCEPTED, FULL_DATA), Action.RECORD_DATA, {"data": {}})


def test_an_action_before_the_last_change_is_refused(promised: Item) -> None:
    case = build(promised, Status.ACCEPTED, FULL_DATA)
    with pytest.raises(ValidationError, match="早于"):
        act(case, Action.REVIEW, minutes=-1)


def test_an_action_needs_an_actor(promised: Item) -> None:
    case = build(promised, Status.ACCEPTED, FULL_DATA)
    with pytest.raises(ValidationError):
        apply_action(case, Action.REVIEW, actor=" ", now=T0 + timedelta(days=1))


def test_a_submission_needs_an_applicant(promised: Item) -> None:
    with pytest.raises(ValidationError):
        new_case(
            case_no="371122-20260921-000001",
            origin="371122",
            item=promised,
            standards_version="2026.09.1",
            applicant="",
            data={},
            actor="窗口 1",
            now=T0,
        )


def test_the_window_that_takes_a_case_in_is_recorded_and_replicated(promised: Item) -> None:
    created = new_case(
        case_no="371122-20260921-000001",
        origin="371122",
        item=promised,
        standards_version="2026.09.1",
        applicant="张三",
        data={},
        actor="窗口03 胡静",
        now=T0,
        window="W03",
    )
    assert created.case.window == "W03"
    assert created.case.to_snapshot()["window"] == "W03"
    assert created.event.payload["window"] == "W03"
    assert submit(promised).window is None  # not known: no window, and none in the event
    assert (
        "window"
        not in new_case(
            case_no="371122-20260921-000002",
            origin="371122",
            item=promised,
            standards_version="2026.09.1",
            applicant="张三",
            data={},
            actor="窗口 1",
            now=T0,
        ).event.payload
    )


@pytest.mark.parametrize("window", ["", "窗口3", "W 03", "W" * 17])
def test_a_malformed_window_is_refused(promised: Item, window: str) -> None:
    with pytest.raises(ValidationError, match="窗口编号"):
        new_case(
            case_no="371122-20260921-000001",
            origin="371122",
            item=promised,
            standards_version="2026.09.1",
            applicant="张三",
            data={},
            actor="窗口 1",
            now=T0,
            window=window,
        )


def test_validation_errors_are_not_conflicts() -> None:
    assert not issubclass(ValidationError, Conflict)
    for conflict in (InvalidTransition, ExtensionAlreadyUsed, KeyDataMissing, JointTasksPending):
        assert issubclass(conflict, Conflict)


# -- key data and joint tasks ----------------------------------------------------------------------


def test_decide_needs_every_key_field(promised: Item) -> None:
    case = build(promised, Status.IN_REVIEW, {"统一社会信用代码": "91371122MA3C000001", "经营场所": "  "})
    with pytest.raises(KeyDataMissing) as info:
        act(case, Action.DECIDE, {"outcome": "approve"})
    assert info.value.details["missing"] == ["经营场所"]
    with pytest.raises(KeyDataMissing):  # a denial needs the key data too
        act(case, Action.DECIDE, {"outcome": "deny", "reason": "不符合条件"})
    filled = act(case, Action.RECORD_DATA, {"data": {"经营场所": "莒县城阳街道 1 号"}})
    assert act(filled, Action.DECIDE, {"outcome": "approve"}).status is Status.APPROVED


def test_key_data_can_arrive_with_the_correction(promised: Item) -> None:
    case = build(promised, Status.IN_REVIEW, {})
    with pytest.raises(KeyDataMissing) as info:
        act(case, Action.DECIDE, {"outcome": "approve"})
    assert info.value.details["missing"] == ["统一社会信用代码", "经营场所"]
    case = act(case, Action.REQUEST_CORRECTION, {"reason": "缺少关键数据"})
    case = act(case, Action.RECEIVE_CORRECTION, {"data": FULL_DATA})
    assert case.status is Status.IN_REVIEW
    assert act(case, Action.DECIDE, {"outcome": "approve"}).status is Status.APPROVED


def test_a_joint_case_waits_for_every_department(joint: Item, calendar: WorkingCalendar) -> None:
    assert tuple(d.department for d in joint.joint_departments) == JOINT_DEPARTMENTS
    case = submit(joint, JOINT_DATA)
    assert [t.started_at for t in case.tasks] == [None, None, None]
    case = act(case, Action.ACCEPT)
    assert all(t.started_at == case.accepted_at and t.status == "pending" for t in case.tasks)
    case = act(case, Action.REVIEW)
    with pytest.raises(JointTasksPending) as info:
        act(case, Action.DECIDE, {"outcome": "approve"})
    assert info.value.details["pending"] == list(JOINT_DEPARTMENTS)

    for i, department in enumerate(JOINT_DEPARTMENTS):
        case = act(case, Action.COMPLETE_TASK, {"department": department, "opinion": "同意"})
        assert case.status is Status.IN_REVIEW
        done = [t for t in case.tasks if t.status == "done"]
        assert len(done) == i + 1
        if i < len(JOINT_DEPARTMENTS) - 1:
            with pytest.raises(JointTasksPending) as info:
                act(case, Action.DECIDE, {"outcome": "approve"})
            assert info.value.details["pending"] == list(JOINT_DEPARTMENTS[i + 1 :])
    task = next(t for t in case.tasks if t.department == "自然资源局")
    assert (task.outcome, task.opinion) == ("agree", "同意")
    clocks = case_clocks(case, calendar, case.updated_at or T0, LightPolicy())
    assert clocks is not None
    assert set(clocks.tasks) == set(JOINT_DEPARTMENTS)
    assert act(case, Action.DECIDE, {"outcome": "approve"}).status is Status.APPROVED


def test_complete_task_checks_its_department_and_outcome(joint: Item) -> None:
    case = build(joint, Status.IN_REVIEW, JOINT_DATA)
    with pytest.raises(ValidationError, match="不是本办件的联办部门"):
        act(case, Action.COMPLETE_TASK, {"department": "公安局"})
    with pytest.raises(ValidationError):
        act(case, Action.COMPLETE_TASK, {"department": "自然资源局", "outcome": "maybe"})
    with pytest.raises(ValidationError):
        act(case, Action.COMPLETE_TASK, {})
    once = act(case, Action.COMPLETE_TASK, {"department": "自然资源局", "outcome": "disagree"})
    with pytest.raises(InvalidTransition, match="已办结"):
        act(once, Action.COMPLETE_TASK, {"department": "自然资源局"})


# -- pauses go back to where they paused from ------------------------------------------------------

PAUSES = [
    (Action.REQUEST_CORRECTION, Status.CORRECTION, Action.RECEIVE_CORRECTION, PauseKind.CORRECTION),
    (Action.SUSPEND, Status.SUSPENDED, Action.RESUME, PauseKind.SUSPENSION),
    (
        Action.START_SPECIAL_PROCEDURE,
        Status.SPECIAL_PROCEDURE,
        Action.END_SPECIAL_PROCEDURE,
        PauseKind.SPECIAL_PROCEDURE,
    ),
]


@pytest.mark.parametrize("from_status", [Status.ACCEPTED, Status.IN_REVIEW])
@pytest.mark.parametrize(("start", "paused", "end", "kind"), PAUSES, ids=[p[0].value for p in PAUSES])
def test_a_pause_goes_back_to_the_status_it_paused_from(
    promised: Item, *, from_status: Status, start: Action, paused: Status, end: Action, kind: PauseKind
) -> None:
    case = build(promised, from_status, FULL_DATA)
    stopped = act(case, start, VALID_PARAMS[start])
    assert stopped.status is paused
    assert stopped.resume_status is from_status
    assert stopped.open_pause is not None
    assert stopped.open_pause.kind is kind
    assert stopped.open_pause.n == 1
    resumed = act(stopped, end, VALID_PARAMS[end], minutes=24 * 60)
    assert resumed.status is from_status
    assert resumed.resume_status is None
    assert resumed.open_pause is None
    assert len(resumed.pauses) == 1
    assert resumed.pauses[0].ended_at == resumed.updated_at
    # and the ledger keeps growing with each pause
    again = act(resumed, start, VALID_PARAMS[start])
    assert [p.n for p in again.pauses] == [1, 2]


def test_the_pause_ledger_drives_the_clock(promised: Item, calendar: WorkingCalendar) -> None:
    case = act(build(promised, Status.ACCEPTED, FULL_DATA), Action.REVIEW)  # accepted Monday 09-21
    policy = LightPolicy()
    stopped = apply_action(
        case,
        Action.REQUEST_CORRECTION,
        actor="审批员",
        now=datetime(2026, 9, 23, 10, tzinfo=CST),
        params={"reason": "补材料"},
    ).case
    frozen = compute_deadline(calendar, stopped.clock_spec(stopped.promised_budget))
    assert frozen.paused
    assert frozen.remaining_at_pause == 4  # only 09-22 counted
    assert index_values(stopped, calendar, policy).due_at is None
    assert index_values(stopped, calendar, policy).paused_light == Light.WHITE.value
    resumed = apply_action(
        stopped, Action.RECEIVE_CORRECTION, actor="审批员", now=datetime(2026, 9, 24, 10, tzinfo=CST)
    ).case
    # [09-23, 09-24) removed one working day: 09-29 → 09-30
    assert compute_deadline(calendar, resumed.clock_spec(resumed.promised_budget)).due_date == date(2026, 9, 30)
    assert index_values(resumed, calendar, policy).due_at == datetime(2026, 10, 1, tzinfo=CST)


# -- return and resubmission start a new round -----------------------------------------------------


def test_resubmit_after_return_restarts_from_submitted(promised: Item, calendar: WorkingCalendar) -> None:
    case = build(promised, Status.IN_REVIEW, FULL_DATA)
    case = act(case, Action.EXTEND, VALID_PARAMS[Action.EXTEND])
    case = act(case, Action.SUSPEND, {"reason": "等待"})
    case = act(case, Action.RESUME)
    case = act(case, Action.RETURN, {"reason": "材料不符"})
    assert case.status is Status.RETURNED
    assert case.resume_status is None
    with pytest.raises(InvalidTransition):
        act(case, Action.ACCEPT)
    case = act(case, Action.RESUBMIT, {"data": {"经营场所": "新地址"}})
    assert case.status is Status.SUBMITTED
    assert case.accepted_at is None
    assert case.extension_days == 0
    assert case.extension_reason is None
    assert case.data["经营场所"] == "新地址"
    assert case_clocks(case, calendar, T0 + timedelta(days=30), LightPolicy()) is None

    reaccepted_at = datetime(2026, 10, 12, 9, tzinfo=CST)  # Monday
    case = apply_action(case, Action.ACCEPT, actor="窗口 1", now=reaccepted_at).case
    assert case.accepted_at == reaccepted_at
    spec = case.clock_spec(case.promised_budget)
    assert spec.accepted_at == reaccepted_at
    assert spec.pauses == ()  # the earlier round's pauses no longer count
    assert spec.extension_days == 0
    assert compute_deadline(calendar, spec).due_date == date(2026, 10, 19)  # 10-13 … 10-16, 10-19
    assert len(case.pauses) == 1  # … but the ledger keeps its history
    # a new round may be extended again
    assert act(case, Action.EXTEND, VALID_PARAMS[Action.EXTEND]).extension_days == 5


def test_reacceptance_restarts_the_joint_sub_clocks(joint: Item) -> None:
    case = build(joint, Status.IN_REVIEW, JOINT_DATA)
    case = act(case, Action.COMPLETE_TASK, {"department": "自然资源局"})
    case = act(case, Action.RETURN, {"reason": "材料不符"})
    case = act(case, Action.RESUBMIT)
    case = act(case, Action.ACCEPT, minutes=3 * 24 * 60)
    assert all(t.status == "pending" for t in case.tasks)
    assert all(t.started_at == case.accepted_at for t in case.tasks)
    assert all(t.completed_at is None and t.outcome is None for t in case.tasks)


def test_a_refused_or_concluded_case_is_final(promised: Item) -> None:
    for status in (Status.REFUSED, Status.CONCLUDED):
        case = build(promised, status, FULL_DATA)
        for action in Action:
            with pytest.raises(InvalidTransition):
                act(case, action, VALID_PARAMS.get(action, {}))


def test_a_same_day_correction_then_a_suspension(promised: Item, calendar: WorkingCalendar) -> None:
    case = build(promised, Status.IN_REVIEW, FULL_DATA)  # accepted Monday 09-21
    case = act(case, Action.REQUEST_CORRECTION, {"reason": "补材料"})
    case = act(case, Action.RECEIVE_CORRECTION)
    case = act(case, Action.SUSPEND, {"reason": "等待"})
    assert case.pauses[0].started_at.date() == case.pauses[1].started_at.date()
    clocks = case_clocks(case, calendar, case.updated_at or T0, LightPolicy())
    assert clocks is not None
    assert clocks.promised.deadline.paused
    assert clocks.promised.remaining_days == 5  # nothing counted yet: the acceptance day never counts
    idx = index_values(case, calendar, LightPolicy())
    assert (idx.due_at, idx.paused_light) == (None, Light.WHITE.value)
