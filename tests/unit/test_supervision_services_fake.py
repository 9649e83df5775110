"""The supervision use cases on the in-memory unit of work (``tests.fakes``): complaints, ratings, alert actions,
a case's view, the summary, county orders — no database. The real-database behaviour, the sweep and the
approval observer are in ``tests/integration/test_supervision_service.py`` and ``test_orders.py``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest

from county_node.approval.domain import Action, Case, apply_action, new_case
from county_node.ports import AlertFilter
from county_node.supervision.domain.alerts import AlertStatus
from county_node.supervision.domain.complaints import ComplaintStatus, ComplaintTarget
from county_node.supervision.domain.orders import new_order
from county_node.supervision.domain.ratings import RatingStatus
from county_node.supervision.orders import CountyOrders
from county_node.supervision.runner import alert_message, sms_hook
from county_node.supervision.services import SupervisionService
from federation.calendar import WorkingCalendar
from federation.errors import (
    AlertNotFound,
    CaseNotFound,
    Conflict,
    InvalidTransition,
    NotFound,
    ValidationError,
)
from federation.standards import StandardsBundle
from federation.timeutil import CST
from tests.conftest import FakeClock
from tests.fakes import FakeCountyDatabase, FakeCountyUnits
from tests.fakes.supervision import FakeCases

DIV = "371122"
CITY = "371100"
FOOD = "XK00003000"  # promised 5 working days
PHONE = "13800000000"


def at(year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=CST)


@dataclass(frozen=True)
class Standards:
    """The standards in force, as the approval service hands them to supervision."""

    bundle: StandardsBundle | None
    calendar: WorkingCalendar
    key_fields: Mapping[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)


@pytest.fixture
def db() -> FakeCountyDatabase:
    return FakeCountyDatabase(DIV)


@pytest.fixture
def units(db: FakeCountyDatabase) -> FakeCountyUnits:
    return FakeCountyUnits(db)


@pytest.fixture
def sup(
    units: FakeCountyUnits, bundle: StandardsBundle, calendar: WorkingCalendar, clock: FakeClock
) -> SupervisionService:
    standards = Standards(bundle, calendar)
    return SupervisionService(units, clock, lambda: standards, notify=sms_hook((PHONE,)))


def accepted_case(db: FakeCountyDatabase, bundle: StandardsBundle, when: datetime) -> Case:
    item = bundle.item(FOOD)
    created = new_case(
        case_no=f"{DIV}-20260921-000001",
        origin=DIV,
        item=item,
        standards_version=bundle.version,
        applicant="张三",
        data=dict.fromkeys(item.key_fields, "x"),
        actor="窗口 1",
        now=when,
        window="W01",
    )
    accepted = apply_action(created.case, Action.ACCEPT, actor="窗口 1", now=when + timedelta(minutes=10))
    FakeCases(db).put(accepted.case, [created.event, accepted.event])
    return accepted.case


# -- complaints -----------------------------------------------------------------------------------------------------


def test_a_complaint_is_filed_answered_and_closed_each_step_with_its_outbox_record(
    sup: SupervisionService, db: FakeCountyDatabase, clock: FakeClock
) -> None:
    clock.now = at(2026, 9, 22, 9)
    filed = sup.file_complaint(
        target="window", target_id=" 3 号窗口 ", complainant="李四", content="态度差", actor="受理员"
    )
    assert (filed.complaint_id, filed.status, filed.target, filed.target_id) == (
        f"{DIV}-TS00000001",
        ComplaintStatus.OPEN,
        ComplaintTarget.WINDOW,
        "3 号窗口",
    )
    assert (filed.limit_days, filed.due_at) == (5, at(2026, 10, 1))  # 23, 24, 28, 29, 30 Sep (25: Mid-Autumn)
    assert db.complaints[filed.complaint_id] == filed
    clock.now = at(2026, 9, 23, 9)
    answered = sup.answer_complaint(filed.complaint_id, answer="已批评教育", actor="科长")
    closed = sup.close_complaint(filed.complaint_id, actor="科长", reason="申请人满意")
    assert (answered.status, closed.status) == (ComplaintStatus.ANSWERED, ComplaintStatus.CLOSED)
    assert [h["action"] for h in closed.history] == ["file", "answer", "close"]
    assert sup.get_complaint(filed.complaint_id) == closed
    assert db.outbox == [("complaint", filed.complaint_id, "upsert")] * 3
    assert db.alerts == {}  # answered in time


def test_a_late_answer_raises_its_red_alert_with_an_sms_and_people_handle_it(
    sup: SupervisionService, db: FakeCountyDatabase, clock: FakeClock
) -> None:
    clock.now = at(2026, 9, 22, 9)
    filed = sup.file_complaint(target="staff", target_id="王五", complainant="李四", content="推诿", actor="受理员")
    clock.now = at(2026, 10, 9, 9)  # past its limit
    sup.answer_complaint(filed.complaint_id, answer="已约谈", actor="科长")
    (alert,) = db.alerts.values()
    assert (alert.rule_id, alert.light, alert.subject_id, alert.status) == (
        "SUP-101",
        "red",
        filed.complaint_id,
        "open",
    )
    assert db.notifications == [(PHONE, "alert", alert.alert_id, alert_message(alert, "raised"))]
    acked = sup.act(alert.alert_id, "acknowledge", actor="监察员")
    assert (acked.status, acked.acknowledged_at) == (AlertStatus.ACKNOWLEDGED, clock.now)
    before = db.state()
    with pytest.raises(InvalidTransition):
        sup.act(alert.alert_id, "acknowledge", actor="监察员")
    with pytest.raises(ValidationError, match="原因"):
        sup.act(alert.alert_id, "urge", actor="监察员")
    with pytest.raises(AlertNotFound):
        sup.get_alert(f"{DIV}-A000000099")
    assert db.state() == before
    page = sup.list_alerts(AlertFilter(status="active", rule_id="SUP-101"))
    assert ([a.alert_id for a in page.items], page.total) == ([alert.alert_id], 1)
    assert sup.list_alerts(AlertFilter(status="closed")).total == 0
    with pytest.raises(ValidationError, match="预警灯色"):
        sup.list_alerts(AlertFilter(light="green"))


def test_refused_complaints_write_nothing(sup: SupervisionService, db: FakeCountyDatabase) -> None:
    before = db.state()
    with pytest.raises(CaseNotFound):
        sup.file_complaint(target="case", target_id=f"{DIV}-20260921-999999", complainant="张", content="x", actor="a")
    with pytest.raises(ValidationError, match="投诉对象类型"):
        sup.file_complaint(target="building", target_id="1", complainant="张", content="x", actor="a")
    with pytest.raises(ValidationError, match="渠道"):
        sup.file_complaint(target="window", target_id="1", complainant="张", content="x", channel="fax", actor="a")
    with pytest.raises(ValidationError, match="答复时限"):
        sup.file_complaint(target="window", target_id="1", complainant="张", content="x", limit_days=-1, actor="a")
    assert db.state() == before  # the ids a refused complaint drew are given back with it
    filed = sup.file_complaint(target="window", target_id="1", complainant="张", content="x", actor="a")
    assert filed.complaint_id == f"{DIV}-TS00000001"
    before = db.state()
    with pytest.raises(InvalidTransition, match="请先答复"):
        sup.close_complaint(filed.complaint_id, actor="科长")
    with pytest.raises(ValidationError, match="答复内容"):
        sup.answer_complaint(filed.complaint_id, answer="  ", actor="科长")
    assert db.state() == before


# -- ratings, a case's view, the summary ----------------------------------------------------------------------------


def test_ratings_one_per_staff_member_and_a_negative_one_followed_up(
    sup: SupervisionService, db: FakeCountyDatabase, bundle: StandardsBundle, clock: FakeClock
) -> None:
    case = accepted_case(db, bundle, at(2026, 9, 21, 10))
    clock.now = at(2026, 9, 21, 15)
    good = sup.rate(case_no=case.case_no, staff="窗口 1", level=5, comment="很快")
    bad = sup.rate(case_no=case.case_no, staff=" 审批员 ", level=2, comment=" 反复补正 ")
    assert (good.status, good.negative, good.due_at) == (RatingStatus.RECORDED, False, None)
    assert (bad.status, bad.negative, bad.staff, bad.comment) == (
        RatingStatus.FOLLOW_UP_PENDING,
        True,
        "审批员",
        "反复补正",
    )
    before = db.state()
    with pytest.raises(Conflict, match="已对工作人员"):
        sup.rate(case_no=case.case_no, staff="窗口 1", level=4)
    for level in (0, 6, "5", True):
        with pytest.raises(ValidationError, match="评价等级"):
            sup.rate(case_no=case.case_no, staff=f"其他 {level}", level=level)
    with pytest.raises(InvalidTransition, match="不需要回访"):
        sup.follow_up(good.rating_id, note="x", actor="科长")
    assert db.state() == before
    done = sup.follow_up(bad.rating_id, note="已回访，申请人表示理解", actor="科长")
    assert (done.status, done.followed_up_by) == (RatingStatus.FOLLOWED_UP, "科长")
    items, total = sup.list_ratings(negative=True)
    assert ([r.rating_id for r in items], total) == ([bad.rating_id], 1)
    assert db.alerts == {}  # followed up in time


def test_a_cases_view_and_the_summary(
    sup: SupervisionService, db: FakeCountyDatabase, bundle: StandardsBundle, clock: FakeClock
) -> None:
    case = accepted_case(db, bundle, at(2026, 9, 21, 10))
    clock.now = at(2026, 9, 22, 9)
    sup.file_complaint(target="case", target_id=case.case_no, complainant="张三", content="慢", actor="受理员")
    sup.rate(case_no=case.case_no, staff="窗口 1", level=1)
    clock.now = at(2026, 9, 30, 9)
    view = sup.case_view(case.case_no)
    assert {r.rule_id for r in view.results if r.fired} == {"SUP-002", "SUP-003"}  # red (due 09-30 00:00), unreviewed
    assert ([c.case_no for c in view.complaints], [r.level for r in view.ratings]) == ([case.case_no], [1])
    assert sup.summary() == {"alerts": [], "complaints": {"open": 1}, "ratings": {1: 1}}
    with pytest.raises(CaseNotFound):
        sup.case_view(f"{DIV}-20260921-999999")


# -- county orders --------------------------------------------------------------------------------------------------


def test_a_county_answers_an_order_and_signs_for_its_alert_in_one_unit_of_work(
    sup: SupervisionService, units: FakeCountyUnits, db: FakeCountyDatabase, clock: FakeClock
) -> None:
    clock.now = at(2026, 9, 22, 9)
    filed = sup.file_complaint(target="window", target_id="W01", complainant="李四", content="慢", actor="受理员")
    clock.now = at(2026, 10, 9, 9)
    sup.answer_complaint(filed.complaint_id, answer="已约谈", actor="科长")  # late: a red alert
    (alert,) = db.alerts.values()
    order = new_order(
        order_id=f"{CITY}-OD00000001",
        issuer=CITY,
        county=DIV,
        kind="supervise",
        subject_kind="alert",
        subject_id=alert.alert_id,
        case_no=None,
        reason="请今日内整改",
        issued_by="王处长",
        reply_due_at=None,
        now=clock.now,
    )
    with units() as uow:
        uow.orders.upsert_orders([(order, 7)])  # arrived, not yet signed for (待签收)
        uow.commit()
    orders = CountyOrders(units, clock)
    clock.now += timedelta(hours=1)
    view = orders.answer(order.order_id, by="李科长", answer="已整改", acknowledge=True)
    assert (view["reply_status"], view["reply"] and view["reply"]["answered_by"]) == ("answered", "李科长")
    assert view["reply"] is not None
    assert [(h["action"], h["actor"]) for h in view["reply"]["history"]] == [
        ("receive", "李科长"),
        ("answer", "李科长"),
    ]
    assert db.alerts[alert.alert_id].acknowledged_at == clock.now
    assert db.outbox[-2:] == [("alert", alert.alert_id, "upsert"), ("order_reply", order.order_id, "upsert")]
    before = db.state()
    with pytest.raises(InvalidTransition, match="不能重复办复"):
        orders.answer(order.order_id, by="李科长", answer="再次办复")
    with pytest.raises(NotFound):
        orders.get(f"{CITY}-OD00000099")
    assert db.state() == before
    assert orders.list(reply="answered")["total"] == 1
    assert orders.list(reply="pending")["total"] == 0
