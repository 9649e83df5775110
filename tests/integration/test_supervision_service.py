"""The supervision service on SQLite and PostgreSQL: alerts raised in the approval transaction and by the sweep,
their lifecycle and escalation, complaints and ratings — and bad actions refused with nothing written."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from county_node.approval.domain import Action, Case
from county_node.bootstrap import CountyNode, assemble_county_node
from county_node.supervision.adapters.store import AlertFilter
from county_node.supervision.domain.alerts import Alert, AlertStatus
from federation.config import ClockConfig, Config, NodeConfig
from federation.errors import (
    AlertNotFound,
    CaseNotFound,
    ComplaintNotFound,
    Conflict,
    InvalidTransition,
    ValidationError,
)
from federation.standards import StandardsBundle
from federation.storage.outbox import canonical_json
from federation.storage.tables import alerts, cases, complaints, outbox, ratings
from federation.timeutil import CST
from tests.conftest import FakeClock

DIV = "371122"
FOOD = "XK00003000"  # promised 5 working days, key fields below
FOOD_DATA = {"统一社会信用代码": "91371122MA3C000001", "经营场所": "莒县城阳街道 1 号"}
WATCHED = (alerts, complaints, ratings, outbox, cases)


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=CST)  # type: ignore[misc]


@pytest.fixture
def node(engine: Engine, bundle: StandardsBundle, clock: FakeClock) -> CountyNode:
    county = assemble_county_node(Config(node=NodeConfig(division=DIV, name="莒县")), engine, clock)
    county.approval.apply_standards(bundle)
    return county


def accepted_case(node: CountyNode, clock: FakeClock, when: datetime) -> Case:
    clock.now = when
    case = node.approval.submit(item_code=FOOD, applicant="张三", data=FOOD_DATA, actor="窗口 1")
    clock.now = when + timedelta(minutes=10)
    return node.approval.act(case.case_no, Action.ACCEPT, actor="窗口 1")


def alerts_of(engine: Engine, case_no: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        stmt = select(alerts).where(alerts.c.subject_id == case_no).order_by(alerts.c.alert_id)
        return [dict(r) for r in conn.execute(stmt).mappings()]


def moments(value: Any) -> Any:
    """``value`` with every ISO moment parsed (the same instant may be written in another time zone)."""
    if isinstance(value, dict):
        return {k: moments(v) for k, v in value.items()}
    if isinstance(value, list):
        return [moments(v) for v in value]
    if isinstance(value, str) and len(value) >= 19 and value[4] == "-" and value[10] == "T":
        return datetime.fromisoformat(value)
    return value


def lights(report: Any) -> dict[str, int]:
    """What the sweep raised of the light rules (SUP-001 yellow, SUP-002 red); SUP-003 runs beside them."""
    return {k: v for k, v in report.raised.items() if k in ("SUP-001", "SUP-002") and v}


def snapshot(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        return {t.name: sorted(map(repr, conn.execute(select(t)).all())) for t in WATCHED}


def stored_moments(engine: Engine, case_no: str) -> tuple[datetime, datetime]:
    with engine.connect() as conn:
        row = conn.execute(select(cases.c.idx_yellow_at, cases.c.idx_due_at).where(cases.c.case_no == case_no)).one()
    return row.idx_yellow_at, row.idx_due_at


# -- lights at the exact working-day moment, across the National Day holiday --------------------------------------


def test_lights_change_at_the_exact_moment_across_a_holiday(engine: Engine, node: CountyNode, clock: FakeClock) -> None:
    # accepted Tue 29 Sep 2026: 5 working days are 30 Sep, 8, 9, 10 (make-up Saturday) and 12 Oct — Oct 1–7 is the
    # National Day holiday. Due at the end of 12 Oct; yellow once 80 % is used (end of 10 Oct) — a Sunday start.
    case = accepted_case(node, clock, at(2026, 9, 29, 10))
    yellow_at, due_at = stored_moments(engine, case.case_no)
    assert due_at == at(2026, 10, 13)
    assert yellow_at == at(2026, 10, 11)
    sup = node.supervision

    one = timedelta(seconds=1)
    assert lights(sup.sweep(at(2026, 10, 7, 23, 59))) == {}  # holiday: nothing moves
    assert lights(sup.sweep(yellow_at - one)) == {}
    assert lights(sup.sweep(yellow_at)) == {"SUP-001": 1}
    assert lights(sup.sweep(yellow_at + timedelta(hours=5))) == {}  # nothing alerted twice
    assert lights(sup.sweep(due_at - one)) == {}
    report = sup.sweep(due_at)
    assert lights(report) == {"SUP-002": 1}
    assert report.cleared == {"SUP-001": 1}

    found = {a["rule_id"]: a for a in alerts_of(engine, case.case_no)}
    yellow, red = found["SUP-001"], found["SUP-002"]
    assert yellow["status"] == "closed"
    assert not yellow["standing"]
    assert "红灯" in yellow["close_reason"]
    assert red["status"] == "open"
    assert red["standing"]
    assert red["light"] == "red"
    assert datetime.fromisoformat(red["clock"]["due_at"]) == due_at
    assert red["evidence"]
    assert red["evidence"][0].startswith(case.case_no)
    assert red["rule_version"] == 1
    assert red["standards_version"] == "2026.09.1"
    assert red["parameters"] == {"yellow_days": 1, "yellow_share": 0.8}
    # every alert write went up the outbox in its transaction
    with engine.connect() as conn:
        n = conn.execute(select(func.count()).select_from(outbox).where(outbox.c.record_type == "alert")).scalar_one()
    # raise SUP-003 (never reviewed), its escalation (not acknowledged in a working day), raise yellow, raise red,
    # clear yellow
    assert n == 5


def test_a_paused_case_does_not_turn_red_while_paused(engine: Engine, node: CountyNode, clock: FakeClock) -> None:
    case = accepted_case(node, clock, at(2026, 9, 29, 10))
    clock.now = at(2026, 9, 30, 9)
    node.approval.act(case.case_no, Action.REQUEST_CORRECTION, actor="审批员", params={"reason": "补材料"})
    report = node.supervision.sweep(at(2026, 10, 20, 12))  # long past the original due moment
    assert sum(report.raised.values()) == 0
    assert alerts_of(engine, case.case_no) == []  # nor is any step overdue: the correction stops its clock too
    clock.now = at(2026, 10, 20, 12)
    node.approval.act(case.case_no, Action.RECEIVE_CORRECTION, actor="审批员")
    assert alerts_of(engine, case.case_no) == []  # the clock restarted: 30 Sep used, four days left


def test_a_decision_in_the_transaction_clears_the_light_alert(
    engine: Engine, node: CountyNode, clock: FakeClock
) -> None:
    case = accepted_case(node, clock, at(2026, 9, 29, 10))
    node.supervision.sweep(at(2026, 10, 11, 9))
    assert sorted(a["rule_id"] for a in alerts_of(engine, case.case_no)) == ["SUP-001", "SUP-003"]
    clock.now = at(2026, 10, 12, 9)
    node.approval.act(case.case_no, Action.REVIEW, actor="审批员", params={"opinion": "同意"})
    clock.now = at(2026, 10, 12, 10)
    node.approval.act(case.case_no, Action.DECIDE, actor="科长", params={"outcome": "approve", "fee_charged": "0"})
    yellow = next(a for a in alerts_of(engine, case.case_no) if a["rule_id"] == "SUP-001")
    assert yellow["status"] == "closed"
    assert "准予许可" in yellow["close_reason"]
    assert lights(node.supervision.sweep(at(2026, 10, 20))) == {}  # decided in time: never red


def test_a_process_rule_fires_inside_the_transition(engine: Engine, node: CountyNode, clock: FakeClock) -> None:
    case = accepted_case(node, clock, at(2026, 9, 21, 10))
    for hour in (11, 13):
        clock.now = at(2026, 9, 21, hour)
        node.approval.act(case.case_no, Action.REQUEST_CORRECTION, actor="审批员", params={"reason": "补材料"})
        clock.now = at(2026, 9, 21, hour + 1)
        node.approval.act(case.case_no, Action.RECEIVE_CORRECTION, actor="审批员")
    fired = [a for a in alerts_of(engine, case.case_no) if a["rule_id"] == "SUP-004"]
    assert len(fired) == 1
    assert len(fired[0]["evidence"]) == 2  # the two correction requests
    # more corrections do not raise it again
    clock.now = at(2026, 9, 21, 16)
    node.approval.act(case.case_no, Action.REQUEST_CORRECTION, actor="审批员", params={"reason": "再补"})
    assert len([a for a in alerts_of(engine, case.case_no) if a["rule_id"] == "SUP-004"]) == 1


# -- the alert lifecycle -------------------------------------------------------------------------------------------


def red_alert(engine: Engine, node: CountyNode, clock: FakeClock) -> str:
    case = accepted_case(node, clock, at(2026, 9, 21, 10))
    _, due_at = stored_moments(engine, case.case_no)
    node.supervision.sweep(due_at)
    clock.now = due_at + timedelta(hours=1)
    return next(a["alert_id"] for a in alerts_of(engine, case.case_no) if a["rule_id"] == "SUP-002")


def test_alert_lifecycle_records_who_when_why(engine: Engine, node: CountyNode, clock: FakeClock) -> None:
    alert_id = red_alert(engine, node, clock)
    sup = node.supervision
    assert sup.act(alert_id, "acknowledge", actor="李科长").status is AlertStatus.ACKNOWLEDGED
    clock.now += timedelta(hours=1)
    assert sup.act(alert_id, "urge", actor="县监察室", reason="请今日内办结").status is AlertStatus.URGED
    clock.now += timedelta(hours=1)
    assert sup.act(alert_id, "supervise", actor="县监察室", reason="挂牌督办").status is AlertStatus.SUPERVISED
    clock.now += timedelta(hours=1)
    closed = sup.act(alert_id, "close", actor="县监察室", reason="已办结，约谈经办人")
    assert closed.status is AlertStatus.CLOSED
    assert closed.close_reason == "已办结，约谈经办人"
    assert [h["action"] for h in closed.history] == ["raise", "acknowledge", "urge", "supervise", "close"]
    assert closed.history[2]["actor"] == "县监察室"
    assert closed.history[2]["reason"] == "请今日内办结"
    # closed by a person while the case is still overdue: it keeps standing, the sweep does not raise it again
    assert closed.standing
    assert sum(sup.sweep(clock.now + timedelta(days=2)).raised.values()) == 0


def test_bad_alert_actions_are_refused_and_change_nothing(engine: Engine, node: CountyNode, clock: FakeClock) -> None:
    alert_id = red_alert(engine, node, clock)
    sup = node.supervision
    sup.act(alert_id, "close", actor="县监察室", reason="已处理")
    before = snapshot(engine)
    with pytest.raises(InvalidTransition, match="已关闭"):
        sup.act(alert_id, "close", actor="县监察室", reason="再关一次")
    with pytest.raises(InvalidTransition):
        sup.act(alert_id, "acknowledge", actor="李科长")
    with pytest.raises(ValidationError, match="未知的预警操作"):
        sup.act(alert_id, "reopen", actor="李科长")
    with pytest.raises(ValidationError, match="系统执行"):
        sup.act(alert_id, "escalate", actor="李科长")
    with pytest.raises(AlertNotFound):
        sup.act("371122-A000009999", "acknowledge", actor="李科长")
    assert snapshot(engine) == before


def test_an_order_needs_a_reason(engine: Engine, node: CountyNode, clock: FakeClock) -> None:
    alert_id = red_alert(engine, node, clock)
    before = snapshot(engine)
    with pytest.raises(ValidationError, match="原因"):
        node.supervision.act(alert_id, "urge", actor="县监察室", reason="  ")
    assert snapshot(engine) == before


def test_an_unacknowledged_alert_escalates_to_city_then_province(
    engine: Engine, node: CountyNode, clock: FakeClock
) -> None:
    alert_id = red_alert(engine, node, clock)
    first = node.supervision.get_alert(alert_id)
    assert first.level == 0
    assert first.ack_due_at is not None
    node.supervision.sweep(first.ack_due_at - timedelta(seconds=1))
    assert node.supervision.get_alert(alert_id).level == 0
    node.supervision.sweep(first.ack_due_at)
    second = node.supervision.get_alert(alert_id)
    assert second.level == 1
    assert second.history[-1]["action"] == "escalate"
    assert "市级" in second.history[-1]["reason"]
    assert second.ack_due_at is not None
    assert second.ack_due_at > first.ack_due_at
    node.supervision.sweep(second.ack_due_at)
    third = node.supervision.get_alert(alert_id)
    assert third.level == 2
    assert third.ack_due_at is None
    node.supervision.sweep(second.ack_due_at + timedelta(days=30))
    assert node.supervision.get_alert(alert_id).level == 2  # the province is the top
    assert [h["action"] for h in node.supervision.get_alert(alert_id).history] == ["raise", "escalate", "escalate"]


def test_an_acknowledged_alert_does_not_escalate(engine: Engine, node: CountyNode, clock: FakeClock) -> None:
    alert_id = red_alert(engine, node, clock)
    node.supervision.act(alert_id, "acknowledge", actor="李科长")
    node.supervision.sweep(clock.now + timedelta(days=30))
    assert node.supervision.get_alert(alert_id).level == 0


def test_alert_list_filters(engine: Engine, node: CountyNode, clock: FakeClock) -> None:
    red_alert(engine, node, clock)
    sup = node.supervision
    assert sup.list_alerts(AlertFilter(light="red")).total == 1
    assert sup.list_alerts(AlertFilter(rule_id="SUP-002")).total == 1
    assert sup.list_alerts(AlertFilter(rule_id="SUP-001")).total == 0  # swept only once it was red: no yellow
    assert sup.list_alerts(AlertFilter(status="active", light="red")).total == 1
    assert sup.list_alerts(AlertFilter(status="closed")).total == 0
    with pytest.raises(ValidationError):
        sup.list_alerts(AlertFilter(light="green"))
    with pytest.raises(ValidationError):
        sup.list_alerts(AlertFilter(rule_id="SUP-999"))


# -- complaints and ratings ----------------------------------------------------------------------------------------


def test_a_complaint_not_answered_in_time_raises_a_red_alert(
    engine: Engine, node: CountyNode, clock: FakeClock
) -> None:
    case = accepted_case(node, clock, at(2026, 9, 21, 10))
    clock.now = at(2026, 9, 22, 9)
    comp = node.supervision.file_complaint(
        target="case", target_id=case.case_no, complainant="张三", content="办理太慢", channel="12345", actor="受理员"
    )
    assert comp.status == "open"
    assert comp.limit_days == 5
    due = comp.due_at
    assert due == at(2026, 10, 1)  # 23, 24, 28, 29, 30 Sep (25 Sep is the Mid-Autumn day off)
    assert node.supervision.sweep(due - timedelta(seconds=1)).raised["SUP-101"] == 0
    assert node.supervision.sweep(due).raised["SUP-101"] == 1
    assert node.supervision.sweep(due + timedelta(days=1)).raised["SUP-101"] == 0
    clock.now = due + timedelta(days=1)
    answered = node.supervision.answer_complaint(comp.complaint_id, answer="已督促办理", actor="科长")
    assert answered.status == "answered"
    (alert,) = [a for a in alerts_of(engine, comp.complaint_id) if a["rule_id"] == "SUP-101"]
    assert alert["status"] == "open"  # answered late: the alert stands
    closed = node.supervision.close_complaint(comp.complaint_id, actor="科长", reason="申请人满意")
    assert closed.status == "closed"
    assert [h["action"] for h in closed.history] == ["file", "answer", "close"]


def test_a_complaint_answered_in_time_raises_nothing(engine: Engine, node: CountyNode, clock: FakeClock) -> None:
    clock.now = at(2026, 9, 22, 9)
    comp = node.supervision.file_complaint(
        target="window", target_id="3 号窗口", complainant="李四", content="态度差", actor="受理员"
    )
    clock.now = at(2026, 9, 23, 9)
    node.supervision.answer_complaint(comp.complaint_id, answer="已批评教育", actor="科长")
    assert sum(node.supervision.sweep(at(2026, 12, 1)).raised.values()) == 0


def test_bad_complaints_are_refused_and_change_nothing(engine: Engine, node: CountyNode, clock: FakeClock) -> None:
    before = snapshot(engine)
    with pytest.raises(CaseNotFound):
        node.supervision.file_complaint(
            target="case", target_id="371122-20260921-9999", complainant="张三", content="x", actor="受理员"
        )
    with pytest.raises(ValidationError, match="投诉对象类型"):
        node.supervision.file_complaint(
            target="building", target_id="1", complainant="张三", content="x", actor="受理员"
        )
    with pytest.raises(ValidationError, match="投诉内容"):
        node.supervision.file_complaint(target="window", target_id="1", complainant="张三", content=" ", actor="受理员")
    with pytest.raises(ComplaintNotFound):
        node.supervision.answer_complaint("371122-TS00000099", answer="x", actor="科长")
    assert snapshot(engine) == before
    comp = node.supervision.file_complaint(
        target="staff", target_id="王五", complainant="张三", content="推诿", actor="受理员"
    )
    before = snapshot(engine)
    with pytest.raises(InvalidTransition, match="请先答复"):
        node.supervision.close_complaint(comp.complaint_id, actor="科长")
    assert snapshot(engine) == before


def test_ratings_and_negative_follow_up(engine: Engine, node: CountyNode, clock: FakeClock) -> None:
    case = accepted_case(node, clock, at(2026, 9, 21, 10))
    clock.now = at(2026, 9, 21, 15)
    good = node.supervision.rate(case_no=case.case_no, staff="窗口 1", level=5, comment="很快")
    assert good.status == "recorded"
    assert not good.negative
    bad = node.supervision.rate(case_no=case.case_no, staff="审批员", level=2, comment="反复补正")
    assert bad.status == "follow_up_pending"
    assert bad.negative
    due = bad.due_at
    assert node.supervision.sweep(due - timedelta(seconds=1)).raised["SUP-201"] == 0
    assert node.supervision.sweep(due).raised["SUP-201"] == 1
    before = snapshot(engine)
    with pytest.raises(InvalidTransition, match="不需要回访"):
        node.supervision.follow_up(good.rating_id, note="x", actor="科长")
    for level in (0, 6, "5", 2.5, None):
        with pytest.raises(ValidationError, match="评价等级"):
            node.supervision.rate(case_no=case.case_no, staff=f"其他 {level}", level=level)
    with pytest.raises(CaseNotFound):
        node.supervision.rate(case_no="371122-20260921-9999", staff="窗口 1", level=5)
    with pytest.raises(Conflict, match="已对工作人员"):
        node.supervision.rate(case_no=case.case_no, staff="窗口 1", level=4)
    assert snapshot(engine) == before
    clock.now = due + timedelta(days=1)
    done = node.supervision.follow_up(bad.rating_id, note="已回访，申请人表示理解", actor="科长")
    assert done.status == "followed_up"


def test_case_view(engine: Engine, node: CountyNode, clock: FakeClock) -> None:
    case = accepted_case(node, clock, at(2026, 9, 29, 10))
    node.supervision.sweep(at(2026, 10, 11, 9))
    clock.now = at(2026, 10, 11, 9)
    view = node.supervision.case_view(case.case_no)
    fired = {r.rule_id for r in view.results if r.fired}
    assert fired == {"SUP-001", "SUP-003"}
    assert sorted(a.rule_id for a in view.alerts) == ["SUP-001", "SUP-003"]


def test_a_swept_alert_travels_as_the_canonical_json_of_its_row(
    engine: Engine, node: CountyNode, clock: FakeClock
) -> None:
    """The sweep encodes its alerts from a template (speed); the payload must be exactly what the generic path
    would send: the canonical JSON of the stored row."""
    case = accepted_case(node, clock, at(2026, 9, 29, 10))
    node.supervision.sweep(at(2026, 10, 11, 9))
    (yellow,) = [a for a in alerts_of(engine, case.case_no) if a["rule_id"] == "SUP-001"]
    with engine.connect() as conn:
        payload = conn.execute(
            select(outbox.c.payload).where(outbox.c.record_type == "alert", outbox.c.record_id == yellow["alert_id"])
        ).scalar_one()
    stored = Alert.from_row(yellow).to_row()
    assert moments(json.loads(payload)) == moments(json.loads(canonical_json(stored)))
    assert list(json.loads(payload)) == sorted(json.loads(payload))  # canonical: sorted keys
    assert json.loads(payload)["clock"]["due_at"] == yellow["clock"]["due_at"]


def test_every_alert_travels_as_its_stored_row(engine: Engine, node: CountyNode, clock: FakeClock) -> None:
    """Raised and cleared by the sweep's SQL, by a transition or by a person: the newest outbox record of every
    alert carries exactly the stored row (what the city and the province will hold)."""
    yellow_then_red = accepted_case(node, clock, at(2026, 9, 29, 10))
    decided = accepted_case(node, clock, at(2026, 9, 29, 11))
    node.supervision.sweep(at(2026, 10, 11, 9))  # both yellow (and SUP-003)
    clock.now = at(2026, 10, 12, 9)
    node.approval.act(decided.case_no, Action.REVIEW, actor="审批员", params={"opinion": "同意"})
    clock.now = at(2026, 10, 12, 10)
    node.approval.act(decided.case_no, Action.DECIDE, actor="科长", params={"outcome": "approve", "fee_charged": "0"})
    # the other turns red (its yellow cleared in SQL), at a moment with microseconds: they travel too
    node.supervision.sweep(at(2026, 10, 13, 9) + timedelta(microseconds=123456))
    red = next(a for a in alerts_of(engine, yellow_then_red.case_no) if a["rule_id"] == "SUP-002")
    clock.now = at(2026, 10, 13, 10)
    node.supervision.act(red["alert_id"], "acknowledge", actor="李科长")
    with engine.connect() as conn:
        rows = {r["alert_id"]: dict(r) for r in conn.execute(select(alerts)).mappings()}
        newest: dict[str, str] = {}
        for record_id, payload in conn.execute(
            select(outbox.c.record_id, outbox.c.payload).where(outbox.c.record_type == "alert").order_by(outbox.c.seq)
        ):
            newest[record_id] = payload
    assert set(newest) == set(rows)
    for alert_id, row in rows.items():
        assert moments(json.loads(newest[alert_id])) == moments(
            json.loads(canonical_json(Alert.from_row(row).to_row()))
        )
    cleared = next(a for a in alerts_of(engine, yellow_then_red.case_no) if a["rule_id"] == "SUP-001")
    assert [h["action"] for h in cleared["history"]] == ["raise", "clear"]
    assert cleared["history"][-1]["reason"] == cleared["close_reason"]
    assert not cleared["standing"]
    assert cleared["status"] == "closed"


def test_an_urged_alert_nobody_signed_for_still_escalates(engine: Engine, node: CountyNode, clock: FakeClock) -> None:
    alert_id = red_alert(engine, node, clock)
    urged = node.supervision.act(alert_id, "urge", actor="县监察室", reason="请尽快办理")
    assert urged.ack_due_at is not None
    node.supervision.sweep(urged.ack_due_at)
    escalated = node.supervision.get_alert(alert_id)
    assert escalated.level == 1
    assert escalated.status is AlertStatus.URGED
    clock.now = escalated.updated_at + timedelta(minutes=5)
    signed = node.supervision.act(alert_id, "acknowledge", actor="李科长")
    assert signed.status is AlertStatus.URGED  # the order stands; the alert is now signed for
    assert signed.acknowledged_at is not None
    with pytest.raises(InvalidTransition):
        node.supervision.act(alert_id, "acknowledge", actor="李科长")
    node.supervision.sweep(clock.now + timedelta(days=30))
    assert node.supervision.get_alert(alert_id).level == 1


def test_the_sweep_and_the_rule_agree_on_the_yellow_moment(engine: Engine, bundle: StandardsBundle) -> None:
    """The node's [clock] thresholds (3 days / half the budget) index the yellow moment and drive SUP-001 alike:
    a yellow alert the sweep raised is not cleared by the next transition, and never raised twice."""
    clock = FakeClock(at(2026, 9, 21, 9))
    config = Config(node=NodeConfig(division=DIV, name="莒县"), clock=ClockConfig(yellow_days=3, yellow_share=0.5))
    county = assemble_county_node(config, engine, clock)
    county.approval.apply_standards(bundle)
    case = accepted_case(county, clock, at(2026, 9, 29, 10))
    yellow_at, _ = stored_moments(engine, case.case_no)
    assert lights(county.supervision.sweep(yellow_at - timedelta(seconds=1))) == {}
    assert lights(county.supervision.sweep(yellow_at)) == {"SUP-001": 1}
    clock.now = yellow_at + timedelta(hours=9)
    county.approval.act(case.case_no, Action.REVIEW, actor="审批员", params={"opinion": "同意"})
    (yellow,) = [a for a in alerts_of(engine, case.case_no) if a["rule_id"] == "SUP-001"]
    assert yellow["standing"]
    assert yellow["status"] == "open"
    assert lights(county.supervision.sweep(yellow_at + timedelta(hours=10))) == {}


def test_a_sweep_in_chunks_raises_every_due_alert_once_in_case_number_order(
    node: CountyNode, engine: Engine, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunks of two: full chunks are limited, the last (fewer than a chunk) takes every due case left; the alerts
    are numbered in case-number order and their outbox rows are gap-free, on the first sweep and on the next."""
    from county_node.supervision import sweep_service

    monkeypatch.setattr(sweep_service, "_CHUNK", 2)
    numbers = [accepted_case(node, clock, at(2026, 9, 21, 9) + timedelta(minutes=30 * i)).case_no for i in range(5)]
    first = node.supervision.sweep(at(2026, 12, 1, 9))  # long overdue: five red alerts, three chunks
    assert first.raised["SUP-002"] == 5
    with engine.connect() as conn:
        red = conn.execute(
            select(alerts.c.alert_id, alerts.c.subject_id, alerts.c.origin_seq)
            .where(alerts.c.rule_id == "SUP-002")
            .order_by(alerts.c.alert_id)
        ).all()
        seqs = list(conn.execute(select(outbox.c.seq).where(outbox.c.origin == DIV).order_by(outbox.c.seq)).scalars())
    assert [r.subject_id for r in red] == sorted(numbers)
    assert seqs == list(range(1, len(seqs) + 1))
    assert {r.origin_seq for r in red} <= set(seqs)
    assert lights(node.supervision.sweep(at(2026, 12, 2, 9))) == {}  # nothing raised twice
