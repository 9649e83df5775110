"""The video index use cases on the in-memory unit of work (``tests.fakes``): cameras and bindings, segments and
events, clips, the retention purge — no database. ``tests/integration/test_video_*.py`` run them on SQLite and
PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from county_node.approval.domain import Action, Case, Event, Status
from county_node.supervision.domain.alerts import Alert
from county_node.supervision.domain.complaints import Complaint
from county_node.video.adapters.files import FileResult
from county_node.video.domain import RetentionPolicy, Segment
from county_node.video.services import VideoIndexService
from federation.errors import AlertNotFound, CaseNotFound, ComplaintNotFound, Conflict, NotFound
from federation.standards import ItemKind
from federation.timeutil import CST
from tests import records
from tests.conftest import FakeClock
from tests.fakes import FakeCountyDatabase, FakeCountyUnits
from tests.fakes.supervision import FakeCases

COUNTY = "371122"
CAM1 = "37112200001311000001"
CAM2 = "37112200001321000002"
DAY = datetime(2026, 11, 2, tzinfo=CST)
CASE_NO = f"{COUNTY}-20261102-000001"


def at(hours: float) -> datetime:
    return DAY + timedelta(hours=hours)


def seg(camera: str, start: float, minutes: int = 60, uri: str | None = None) -> Segment:
    begin = at(start)
    return Segment(camera, begin, begin + timedelta(minutes=minutes), uri or f"{camera}/{start}.mp4", 1, "sha256:x")


class Files:
    """The files port, remembering what it was asked to delete."""

    def __init__(self) -> None:
        self.removed: list[str] = []

    def remove(self, uris: Iterable[str]) -> dict[str, FileResult]:
        self.removed += uris
        return dict.fromkeys(self.removed, FileResult.REMOVED)


@pytest.fixture
def db() -> FakeCountyDatabase:
    return FakeCountyDatabase(COUNTY)


@pytest.fixture
def files() -> Files:
    return Files()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(at(9))


@pytest.fixture
def video(db: FakeCountyDatabase, files: Files, clock: FakeClock) -> VideoIndexService:
    retention = RetentionPolicy(days=30, max_share=1.0)
    svc = VideoIndexService(FakeCountyUnits(db), clock, retention=retention, files=files)
    svc.register_camera(CAM1, name="一号窗口", hall="大厅", window="W01", since=DAY)
    svc.register_camera(CAM2, name="二号窗口", hall="大厅", window="W02", since=DAY)
    return svc


def test_cameras_are_registered_bound_and_moved_each_change_with_its_camera_record(
    video: VideoIndexService, db: FakeCountyDatabase
) -> None:
    assert [r for r, _ in video.cameras()] == [db.cameras[CAM1], db.cameras[CAM2]]
    video.bind(CAM1, "W03", at(12))  # moved: the binding at W01 ends at noon
    assert [(b.window, b.valid_from, b.valid_to) for b in video.bindings(CAM1)] == [
        ("W01", DAY, at(12)),
        ("W03", at(12), None),
    ]
    assert (video.camera_at("W01", at(11)), video.camera_at("W01", at(13)), video.camera_at("W03", at(13))) == (
        CAM1,
        None,
        CAM1,
    )
    assert [r[1] for r in db.outbox if r[0] == "camera"] == [CAM1, CAM2, CAM1]
    before = db.state()
    with pytest.raises(Conflict):
        video.bind(CAM2, "W03", at(14))  # a second camera on the window
    with pytest.raises(NotFound, match="未登记"):
        video.bind("37112200001311000009", "W09", at(14))
    assert db.state() == before


def test_segments_are_indexed_whole_or_not_at_all(video: VideoIndexService, db: FakeCountyDatabase) -> None:
    assert video.add_segments([seg(CAM1, 9), seg(CAM1, 10), seg(CAM2, 9)]) == 3
    assert video.add_segments([seg(CAM1, 10), seg(CAM1, 11)]) == 1  # the exact duplicate is a no-op
    before = db.state()
    with pytest.raises(Conflict):
        video.add_segments([seg(CAM2, 12), seg(CAM1, 11.5, uri="other.mp4")])
    with pytest.raises(NotFound, match="整批未入库"):
        video.add_segments([seg(CAM2, 12), seg("37112200001311000009", 12)])
    assert db.state() == before
    timeline = video.segments(CAM1, at(9.5), at(13))
    assert [s.start for s in timeline.segments] == [at(9), at(10), at(11)]
    assert [(g.start, g.end) for g in timeline.gaps] == [(at(12), at(13))]
    assert sum(1 for r in db.outbox if r[0] == "video_segment") == 4


def test_events_take_the_window_the_camera_watched_and_a_resent_one_is_a_no_op(
    video: VideoIndexService, db: FakeCountyDatabase
) -> None:
    ids = video.record_events([{"camera_id": CAM1, "kind": "motion", "at": at(10), "event_id": "e1"}])
    assert ids == [f"{COUNTY}-e1"]
    assert video.record_events([{"camera_id": CAM1, "kind": "motion", "at": at(10), "event_id": "e1"}]) == ids
    (event,) = video.events(at(0), at(24))
    assert (event["event_id"], event["window"]) == (f"{COUNTY}-e1", "W01")
    assert [r for r in db.outbox if r[0] == "video_event"] == [("video_event", f"{COUNTY}-e1", "upsert")]


def _case_with_steps(db: FakeCountyDatabase) -> None:
    case = Case(
        case_no=CASE_NO,
        origin=COUNTY,
        item_code="X",
        item_name="测试事项",
        department="测试局",
        kind=ItemKind.PROMISED,
        standards_version="t",
        status=Status.ACCEPTED,
        applicant="张三",
        data={},
        submitted_at=at(9),
        fee_standard=Decimal(0),
        legal_budget=20,
        promised_budget=10,
        window="W01",
    )
    steps = [
        Event(f"{CASE_NO}#{n:04d}", CASE_NO, n, action, "a", moment, None, Status.ACCEPTED)
        for n, (action, moment) in enumerate([(Action.SUBMIT, at(9)), (Action.ACCEPT, at(10))], start=1)
    ]
    FakeCases(db).put(case, steps)


def _complaint(complaint_id: str, window: str, filed_at: datetime) -> Complaint:
    return records.complaint(complaint_id=complaint_id, target_id=window, filed_at=filed_at)


def _alert(alert_id: str, *, subject_kind: str, subject_id: str, case_no: str | None, opened_at: datetime) -> Alert:
    rule_id = "SUP-002" if case_no else "SUP-101"
    return records.alert(
        alert_id=alert_id,
        subject_kind=subject_kind,
        subject_id=subject_id,
        case_no=case_no,
        rule_id=rule_id,
        opened_at=opened_at,
    )


def test_clips_of_a_case_step_an_alert_and_a_complaint(video: VideoIndexService, db: FakeCountyDatabase) -> None:
    _case_with_steps(db)
    complaint = _complaint(f"{COUNTY}-TS00000001", "W02", at(11))
    db.complaints[complaint.complaint_id] = complaint
    on_case = _alert(f"{COUNTY}-A000000001", subject_kind="case", subject_id=CASE_NO, case_no=CASE_NO, opened_at=at(15))
    on_complaint = _alert(
        f"{COUNTY}-A000000002",
        subject_kind="complaint",
        subject_id=complaint.complaint_id,
        case_no=None,
        opened_at=at(16),
    )
    db.alerts.update({a.alert_id: a for a in (on_case, on_complaint)})
    video.add_segments([seg(CAM1, 9), seg(CAM1, 10), seg(CAM2, 10), seg(CAM2, 11)])
    step = video.clip_for_case_step(CASE_NO, 2)
    assert (step.subject, step.window, step.at, step.camera_id) == (f"{CASE_NO}#0002", "W01", at(10), CAM1)
    assert [s.start for s in step.timeline.segments] == [at(9), at(10)]
    alert_clip = video.clip_for_alert(on_case.alert_id)  # the case's last step before the alert opened
    assert (alert_clip.window, alert_clip.at, alert_clip.camera_id) == ("W01", at(10), CAM1)
    by_complaint = video.clip_for_alert(on_complaint.alert_id)  # at the complaint: its window, when filed
    assert (by_complaint.window, by_complaint.at, by_complaint.camera_id) == ("W02", at(11), CAM2)
    assert video.clip_for_complaint(complaint.complaint_id).timeline == by_complaint.timeline
    with pytest.raises(CaseNotFound, match="不存在"):
        video.clip_for_case_step(f"{COUNTY}-20261102-000009", 1)
    with pytest.raises(NotFound, match="没有第 9 步"):
        video.clip_for_case_step(CASE_NO, 9)
    with pytest.raises(AlertNotFound, match="不存在"):
        video.clip_for_alert(f"{COUNTY}-A000000009")
    with pytest.raises(ComplaintNotFound, match="不存在"):
        video.clip_for_complaint(f"{COUNTY}-TS00000009")


def test_a_purge_removes_expired_segments_but_keeps_those_held_for_an_open_complaint(
    video: VideoIndexService, db: FakeCountyDatabase, files: Files, clock: FakeClock
) -> None:
    video.add_segments([seg(CAM1, h) for h in range(9, 13)] + [seg(CAM2, h) for h in range(9, 13)])
    complaint = _complaint(f"{COUNTY}-TS00000001", "W02", at(10.5))  # holds CAM2 10:28–10:35
    db.complaints[complaint.complaint_id] = complaint
    clock.now = at(24 * 31 + 12)  # every segment has expired
    report = video.purge()
    assert (report.status, report.expired, report.held, report.removed) == ("done", 8, 1, 7)
    assert [(s.camera_id, s.start) for s in db.segments.values()] == [(CAM2, at(10))]
    assert sorted(files.removed) == sorted(s.uri for s in [seg(CAM1, h) for h in range(9, 13)]) + sorted(
        seg(CAM2, h).uri for h in (9, 11, 12)
    )
    assert report.files == {"removed": 7, "missing": 0, "refused": 0, "failed": 0}
    assert {i["file_result"] for i in video.purge_items(report.purge_id)} == {"removed"}
    assert sum(1 for r in db.outbox if r[0] == "video_segment" and r[2] == "delete") == 7
