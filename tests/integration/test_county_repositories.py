"""One contract for the county's repositories, run against the in-memory fakes (``tests.fakes``) and the SQL
adapters on SQLite and PostgreSQL: what a service test on the fakes shows holds on a real database too."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from county_node.ports import AlertFilter, OrderFilter
from county_node.supervision.domain.alerts import Alert
from county_node.supervision.domain.complaints import Complaint, ComplaintStatus, ComplaintTarget
from county_node.supervision.domain.orders import answer_reply, new_order, receive_order, withdraw_order
from county_node.supervision.domain.ratings import Rating
from county_node.unit_of_work import CountyUnits, SqlCountyUnits
from county_node.video.domain import Binding, Segment
from federation.errors import AlertNotFound, ComplaintNotFound, NotFound, RatingNotFound
from federation.storage.engine import make_engine
from federation.timeutil import CST
from migrations.runner import upgrade
from tests import records
from tests.conftest import create_pg_database
from tests.fakes import FakeCountyDatabase, FakeCountyUnits

DIV = "371122"
CITY = "371100"
CASE_NO = f"{DIV}-20260921-000001"
CAM1 = "37112200001311000001"
CAM2 = "37112200001321000002"
T0 = datetime(2026, 9, 21, 9, tzinfo=CST)
HOUR = timedelta(hours=1)


def _keep() -> None:
    """A SQLite file goes with the test's temporary directory."""


@pytest.fixture(params=["fake", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def units(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CountyUnits]:
    if request.param == "fake":
        yield FakeCountyUnits(FakeCountyDatabase(DIV))
        return
    drop: Callable[[], None] = _keep
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'node.db'}"
    else:
        url, drop = create_pg_database()
    engine = make_engine(url)
    try:
        upgrade(engine)
        yield SqlCountyUnits(engine, DIV)
    finally:
        engine.dispose()
        drop()


def complaint(complaint_id: str, filed_at: datetime, *, due_at: datetime, case_no: str | None = None) -> Complaint:
    history = ({"action": "file", "actor": "受理员", "at": filed_at.isoformat(), "reason": ""},)
    target = ComplaintTarget.CASE if case_no else ComplaintTarget.WINDOW
    return records.complaint(
        complaint_id=complaint_id,
        target=target,
        target_id=case_no or "W01",
        case_no=case_no,
        filed_at=filed_at,
        due_at=due_at,
        standards_version="2026.09.1",
        history=history,
    )


def rating(rating_id: str, staff: str, level: int, at: datetime) -> Rating:
    return records.rating(rating_id=rating_id, staff=staff, level=level, at=at)


def alert(alert_id: str, subject_id: str, rule_id: str, opened_at: datetime, *, kind: str = "case") -> Alert:
    case_no = subject_id if kind == "case" else None
    return records.alert(
        alert_id=alert_id,
        subject_kind=kind,
        subject_id=subject_id,
        case_no=case_no,
        rule_id=rule_id,
        opened_at=opened_at,
    )


def test_complaints_and_ratings(units: CountyUnits) -> None:
    with units() as uow:
        ids = [uow.complaints.new_id(), uow.complaints.new_id()]
        assert ids == [f"{DIV}-TS00000001", f"{DIV}-TS00000002"]
        late = complaint(ids[0], T0, due_at=T0 + 2 * HOUR, case_no=CASE_NO)
        alerted = complaint(ids[1], T0 + HOUR, due_at=T0 + 2 * HOUR)
        for c in (late, alerted):
            uow.complaints.add(c, T0)
        uow.alerts.insert([alert(f"{DIV}-A000000001", alerted.complaint_id, "SUP-101", T0, kind="complaint")], T0)
        good, bad = rating(uow.ratings.new_id(), "窗口 1", 5, T0), rating(uow.ratings.new_id(), "审批员", 1, T0 + HOUR)
        uow.ratings.add(good, T0)
        uow.ratings.add(bad, T0)
        uow.commit()
    with units(readonly=True) as uow:
        assert (uow.complaints.get(late.complaint_id), uow.complaints.find("x")) == (late, None)
        with pytest.raises(ComplaintNotFound):
            uow.complaints.get("x")
        assert uow.complaints.page(status=None, case_no=None, offset=0, limit=10) == ([alerted, late], 2)
        assert uow.complaints.page(status="open", case_no=CASE_NO, offset=0, limit=10) == ([late], 1)
        assert uow.complaints.overdue(T0 + 2 * HOUR, limit=10) == [late]  # the other has its standing alert
        assert uow.complaints.overdue(T0 + HOUR, limit=10) == []
        assert uow.complaints.counts_by_status() == {"open": 2}
        assert sorted(uow.complaints.holding_video(T0), key=lambda c: c.complaint_id) == [late, alerted]
        assert uow.ratings.get(bad.rating_id) == bad
        with pytest.raises(RatingNotFound):
            uow.ratings.get("x")
        assert uow.ratings.page(case_no=CASE_NO, staff=None, negative=None, offset=0, limit=10) == ([bad, good], 2)
        assert uow.ratings.page(case_no=None, staff="窗口 1", negative=False, offset=0, limit=1) == ([good], 1)
        assert uow.ratings.counts_by_level() == {5: 1, 1: 1}
        assert uow.ratings.overdue(T0 + 25 * HOUR, limit=10) == [bad]
    with units() as uow:  # left without committing: nothing written
        uow.complaints.save(replace(late, status=ComplaintStatus.CLOSED, closed_at=T0), T0)
    with units(readonly=True) as uow:
        assert uow.complaints.get(late.complaint_id) == late


def test_alerts(units: CountyUnits) -> None:
    with units() as uow:
        first, second, third = uow.alerts.new_ids(3)
        assert (first, third) == (f"{DIV}-A000000001", f"{DIV}-A000000003")
        red = alert(first, CASE_NO, "SUP-002", T0)
        other = alert(second, f"{DIV}-20260921-000002", "SUP-002", T0 + HOUR)
        uow.alerts.insert([red, other], T0)
        uow.commit()
    with units() as uow:
        acked = red.act("acknowledge", actor="监察员", at=T0 + HOUR)
        uow.alerts.update([acked], T0 + HOUR)
        uow.commit()
    with units(readonly=True) as uow:
        assert (uow.alerts.get(first), uow.alerts.find(third)) == (acked, None)
        with pytest.raises(AlertNotFound):
            uow.alerts.get(third)
        assert uow.alerts.standing_of("case", [CASE_NO, "x"]) == {CASE_NO: {"SUP-002": acked}}
        assert uow.alerts.of_case(CASE_NO) == [acked]
        assert uow.alerts.in_range(first, second) == [acked, other]
        assert uow.alerts.page(AlertFilter(status="active"), offset=0, limit=10) == ([other, acked], 2)
        assert uow.alerts.page(AlertFilter(status="open", case_no=other.case_no), offset=0, limit=10) == ([other], 1)
        assert uow.alerts.counts() == [
            {"rule_id": "SUP-002", "light": "red", "status": "acknowledged", "n": 1},
            {"rule_id": "SUP-002", "light": "red", "status": "open", "n": 1},
        ]
        assert uow.alerts.awaiting_escalation(T0 + 48 * HOUR, disabled_rules=(), limit=10) == [other]
        assert uow.alerts.awaiting_escalation(T0 + 48 * HOUR, disabled_rules={"SUP-002"}, limit=10) == []
        assert len(uow.alerts.holding_video(T0)) == 2


def test_orders_and_replies(units: CountyUnits) -> None:
    order = new_order(
        order_id=f"{CITY}-OD00000001",
        issuer=CITY,
        county=DIV,
        kind="urge",
        subject_kind="case",
        subject_id=CASE_NO,
        case_no=CASE_NO,
        reason="请尽快办结",
        issued_by="王处长",
        reply_due_at=None,
        now=T0,
    )
    withdrawn = withdraw_order(order, actor="王处长", reason="已办结", now=T0 + HOUR)
    with units() as uow:
        uow.orders.upsert_orders([(withdrawn, 5)])
        uow.orders.upsert_orders([(order, 4)])  # older: the withdrawn snapshot stays
        assert uow.orders.order_seqs([order.order_id, "x"]) == {order.order_id: (5, DIV)}
        received = receive_order(order, by="王海燕", now=T0)
        uow.orders.save_reply(received, T0, new=True)
        uow.commit()
    with units(readonly=True) as uow:
        assert (uow.orders.order(order.order_id), uow.orders.find_order("x")) == (withdrawn, None)
        with pytest.raises(NotFound):
            uow.orders.order("x")
        assert (uow.orders.reply(order.order_id, DIV), uow.orders.reply(order.order_id, "371121")) == (received, None)
        assert uow.orders.page(OrderFilter(scope="3711", reply="received"), offset=0, limit=10) == (
            [(withdrawn, received)],
            1,
        )
        assert uow.orders.page(OrderFilter(reply="pending"), offset=0, limit=10) == ([], 0)
    answered = answer_reply(received, order, by="李科长", answer="已办结", now=T0 + HOUR)
    with units() as uow:
        uow.orders.save_reply(answered, T0 + HOUR, new=False)
        uow.commit()
    with units(readonly=True) as uow:
        assert uow.orders.reply(order.order_id, DIV) == answered
        assert set(uow.orders.reply_seqs([order.order_id])) == {order.order_id}


def test_cameras_segments_and_events(units: CountyUnits) -> None:
    reach = HOUR
    segments = [
        Segment(cam, T0 + i * HOUR, T0 + (i + 1) * HOUR, f"{cam}/{i}.mp4", 1, "c")
        for cam in (CAM1, CAM2)
        for i in range(3)
    ]
    with units() as uow:
        for cam, window in ((CAM1, "W01"), (CAM2, "W02")):
            row = {
                "camera_id": cam,
                "origin": DIV,
                "name": "摄像机",
                "hall": "大厅",
                "created_at": T0,
                "updated_at": T0,
            }
            uow.cameras.save(row, new=True)
            uow.cameras.add_binding(Binding(cam, window, T0, None))
        uow.cameras.close_binding(Binding(CAM1, "W01", T0, None), T0 + 2 * HOUR)
        uow.cameras.publish(row, T0)
        uow.segments.add(segments, T0)
        event = {
            "event_id": f"{DIV}-e1",
            "origin": DIV,
            "camera_id": CAM1,
            "window": "W01",
            "kind": "motion",
            "at": T0,
            "details": {},
            "indexed_at": T0,
        }
        uow.video_events.add([event], T0)
        uow.commit()
    with units() as uow:
        assert uow.cameras.registered([CAM1, "x"]) == {CAM1}
        assert [b.valid_to for b in uow.cameras.bindings_of_camera(CAM1)] == [T0 + 2 * HOUR]
        assert (uow.cameras.camera_at("W01", T0 + HOUR), uow.cameras.camera_at("W01", T0 + 3 * HOUR)) == (CAM1, None)
        assert uow.cameras.camera_at("W02", T0, county="371121") is None
        assert uow.cameras.window_at(CAM2, T0 + HOUR) == "W02"
        assert [c["camera_id"] for c, _ in uow.cameras.with_bindings()] == [CAM1, CAM2]
        assert uow.segments.between(CAM1, T0 + HOUR / 2, T0 + 2 * HOUR, reach=reach) == segments[:2]
        assert sorted(uow.segments.near([CAM1, CAM2], T0 + 2 * HOUR, T0 + 3 * HOUR, reach=reach), key=str) == sorted(
            [segments[2], segments[5]], key=str
        )
        assert (uow.segments.count(), uow.segments.count_expired(T0 + 2 * HOUR)) == (6, 4)
        expired = [s for page in uow.segments.expired_batches(T0 + 2 * HOUR) for s in page]
        assert expired == [segments[0], segments[3], segments[1], segments[4]]
        uow.segments.remove(expired, T0)
        assert uow.segments.uris_in_use([s.uri for s in segments]) == {segments[2].uri, segments[5].uri}
        assert uow.video_events.existing([f"{DIV}-e1", "x"]) == {f"{DIV}-e1"}
        assert [e["event_id"] for e in uow.video_events.between(T0, T0 + HOUR, camera_id=CAM1)] == [f"{DIV}-e1"]
        assert uow.video_events.between(T0, T0 + HOUR, kind="alarm") == []
        uow.commit()
    with units(readonly=True) as uow:
        assert uow.segments.count() == 2
