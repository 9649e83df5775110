"""The video index on SQLite and PostgreSQL: cameras and bindings, segments with overlap and gap queries at the
edges, events, clips for a case step / alert / complaint, and the outbox rows written with every change."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select

from county_node.unit_of_work import SqlCountyUnits
from county_node.video.domain import Segment
from county_node.video.services import VideoIndexService
from federation.errors import Conflict, NotFound, ValidationError
from federation.storage.tables import camera_bindings, cameras, outbox, video_events, video_segments
from federation.timeutil import CST
from tests.conftest import FakeClock
from tests.integration.video_fixtures import CAM1, CAM2, COUNTY, add_alert, add_case, add_complaint

DAY = datetime(2026, 11, 25, tzinfo=CST)  # local midnight of 26 Nov is DAY + 24 h
MIDNIGHT = DAY + timedelta(days=1)


def seg(camera: str, start: datetime, minutes: int = 5, uri: str | None = None) -> Segment:
    end = start + timedelta(minutes=minutes)
    return Segment(camera, start, end, uri or f"{camera}/{start:%Y%m%d%H%M%S}.mp4", 1024, "sha256:ab")


def count(engine: Engine, table: object, **where: str) -> int:
    q = select(func.count()).select_from(table)  # type: ignore[arg-type]
    for k, v in where.items():
        q = q.where(getattr(outbox.c, k) == v)
    with engine.connect() as conn:
        return int(conn.execute(q).scalar_one())


@pytest.fixture
def video(engine: Engine) -> VideoIndexService:
    clock = FakeClock(DAY + timedelta(hours=8))
    svc = VideoIndexService(SqlCountyUnits(engine, COUNTY), clock)
    svc.register_camera(CAM1, name="一号窗口摄像机", hall="政务服务中心", window="W01", since=DAY)
    svc.register_camera(CAM2, name="二号窗口摄像机", hall="政务服务中心", window="W02", since=DAY)
    return svc


def test_invalid_camera_id_refused_nothing_written(engine: Engine) -> None:
    svc = VideoIndexService(SqlCountyUnits(engine, COUNTY), FakeClock(DAY))
    with pytest.raises(ValidationError, match="中心编码"):
        svc.register_camera("37010200001311000001", name="x", hall="y")
    with pytest.raises(ValidationError, match="20 位"):
        svc.register_camera("123", name="x", hall="y")
    assert count(engine, cameras) == 0
    assert count(engine, outbox) == 0


def test_moving_a_camera_closes_the_old_binding(video: VideoIndexService, engine: Engine) -> None:
    moved = DAY + timedelta(hours=12)
    video.bind(CAM1, "W03", moved)
    got = video.bindings(CAM1)
    assert [(b.window, b.valid_from, b.valid_to) for b in got] == [("W01", DAY, moved), ("W03", moved, None)]
    assert video.camera_at("W01", moved - timedelta(seconds=1)) == CAM1
    assert video.camera_at("W01", moved) is None
    assert video.camera_at("W03", moved) == CAM1
    with pytest.raises(Conflict, match="只能绑定一台摄像机"):  # W02 already watched by CAM2
        video.bind(CAM1, "W02", moved + timedelta(hours=1))
    with pytest.raises(Conflict, match="时段不能重叠"):  # back in time into the W01 period
        video.bind(CAM1, "W04", DAY + timedelta(hours=1), DAY + timedelta(hours=2))
    assert count(engine, camera_bindings) == 3
    assert count(engine, outbox, record_type="camera") == 3  # two registrations and one move


def test_segments_touching_the_edges_and_across_midnight(video: VideoIndexService, engine: Engine) -> None:
    start = MIDNIGHT - timedelta(minutes=10)
    batch = [seg(CAM1, start + timedelta(minutes=5 * i)) for i in range(4)]  # 23:50 … 00:10, across midnight
    del batch[2]  # a gap 00:00–00:05
    assert video.add_segments(batch) == 3
    assert count(engine, outbox, record_type="video_segment") == 3
    t = video.segments(CAM1, start + timedelta(minutes=5), start + timedelta(minutes=20))  # T1 = a segment's start
    assert [s.start for s in t.segments] == [start + timedelta(minutes=5), start + timedelta(minutes=15)]
    assert [(g.start, g.end) for g in t.gaps] == [(MIDNIGHT, MIDNIGHT + timedelta(minutes=5))]
    t = video.segments(CAM1, MIDNIGHT - timedelta(minutes=5), MIDNIGHT - timedelta(minutes=5) + timedelta(seconds=1))
    assert len(t.segments) == 1
    assert t.complete
    t = video.segments(CAM1, start - timedelta(minutes=5), start)  # one ending exactly at T2's start: none
    assert t.segments == []
    assert len(t.gaps) == 1
    t = video.segments(CAM1, start + timedelta(minutes=2), start + timedelta(minutes=3))  # inside one segment
    assert [s.start for s in t.segments] == [start]
    assert t.gaps == []


def test_overlapping_segment_refuses_the_whole_batch(video: VideoIndexService, engine: Engine) -> None:
    at = DAY + timedelta(hours=9)
    video.add_segments([seg(CAM1, at), seg(CAM1, at + timedelta(minutes=5))])
    assert video.add_segments([seg(CAM1, at)]) == 0  # exact re-send: idempotent
    with pytest.raises(Conflict, match="重叠，整批未入库"):
        video.add_segments([seg(CAM2, at), seg(CAM1, at + timedelta(minutes=7))])
    with pytest.raises(Conflict):
        video.add_segments([seg(CAM1, at, uri="other.mp4")])
    with pytest.raises(ValidationError, match="最长片段时长"):
        video.add_segments([seg(CAM2, at, minutes=61)])
    with pytest.raises(NotFound, match="未登记"):
        video.add_segments([seg("37112200001311000009", at)])
    assert count(engine, video_segments) == 2
    assert count(engine, outbox, record_type="video_segment") == 2


def test_events_by_type_camera_window_and_time(video: VideoIndexService, engine: Engine) -> None:
    at = DAY + timedelta(hours=10)
    ids = video.record_events(
        [
            {"event_id": "e1", "camera_id": CAM1, "kind": "alarm", "at": at},
            {"event_id": "e2", "camera_id": CAM1, "kind": "motion", "at": at + timedelta(minutes=1)},
            {"event_id": "e3", "camera_id": CAM2, "kind": "window_unattended", "at": at, "details": {"s": 300}},
        ]
    )
    assert ids == [f"{COUNTY}-e1", f"{COUNTY}-e2", f"{COUNTY}-e3"]  # qualified with the county's code
    video.record_events([{"event_id": "e1", "camera_id": CAM1, "kind": "alarm", "at": at}])  # re-sent
    assert count(engine, video_events) == 3
    assert count(engine, outbox, record_type="video_event") == 3
    end = at + timedelta(hours=1)
    assert [e["event_id"] for e in video.events(at, end, window="W01")] == [f"{COUNTY}-e1", f"{COUNTY}-e2"]
    assert [e["event_id"] for e in video.events(at, end, kind="window_unattended")] == [f"{COUNTY}-e3"]
    assert [e["event_id"] for e in video.events(at, end, camera_id=CAM1, kind="motion")] == [f"{COUNTY}-e2"]
    assert video.events(at + timedelta(minutes=1), end, window="W01")[0]["event_id"] == f"{COUNTY}-e2"
    with pytest.raises(ValidationError, match="未知的视频事件类型"):
        video.record_events([{"camera_id": CAM1, "kind": "explosion", "at": at}])


def test_clips_resolve_the_camera_bound_at_that_moment(video: VideoIndexService, engine: Engine) -> None:
    # CAM1 watches W01 until noon, then CAM2 is moved from W02 to W01
    noon = DAY + timedelta(hours=12)
    video.bind(CAM1, "W05", noon)
    video.bind(CAM2, "W01", noon)
    morning, afternoon = DAY + timedelta(hours=10), DAY + timedelta(hours=15)
    video.add_segments(
        [seg(c, t + timedelta(minutes=5 * i)) for c in (CAM1, CAM2) for t in (morning, afternoon) for i in range(-2, 3)]
    )
    add_case(engine, "C1", "W01", [morning + timedelta(minutes=1), afternoon + timedelta(minutes=1)])
    step1, step2 = video.clip_for_case_step("C1", 1), video.clip_for_case_step("C1", 2)
    assert (step1.camera_id, step2.camera_id) == (CAM1, CAM2)
    assert step1.timeline.start == morning + timedelta(minutes=1) - timedelta(minutes=2)
    assert [s.start for s in step1.timeline.segments] == [
        morning - timedelta(minutes=5) + timedelta(minutes=5 * i) for i in range(3)
    ]
    assert step1.timeline.gaps == []
    add_alert(engine, "A1", "C1", afternoon + timedelta(hours=1), None)
    assert video.clip_for_alert("A1").at == afternoon + timedelta(minutes=1)  # the last step before it opened
    add_complaint(engine, "P1", "W01", morning)
    clip = video.clip_for_complaint("P1")
    assert clip.camera_id == CAM1
    assert clip.window == "W01"
    add_case(engine, "C2", "W09", [morning])
    assert video.clip_for_case_step("C2", 1).camera_id is None  # no camera at that window: said, not an error
    with pytest.raises(NotFound):
        video.clip_for_case_step("C1", 9)


def test_the_clip_of_a_complaints_alert_is_at_the_complaint_and_its_video_is_held(
    video: VideoIndexService, engine: Engine
) -> None:
    """Review finding: an alert on a complaint (SUP-101, no case) had no clip, and its video was not held."""
    from sqlalchemy import update

    from federation.storage.tables import alerts

    filed = DAY + timedelta(hours=11)
    add_complaint(engine, "P9", "W01", filed)
    add_alert(engine, "A9", "C-none", filed + timedelta(days=2), None)
    with engine.begin() as conn:  # the alert is about the complaint, not a case
        conn.execute(
            update(alerts)
            .where(alerts.c.alert_id == "A9")
            .values(subject_kind="complaint", subject_id="P9", case_no=None, rule_id="SUP-101")
        )
    clip = video.clip_for_alert("A9")
    assert (clip.window, clip.at, clip.camera_id) == ("W01", filed, CAM1)


def test_a_move_for_a_period_returns_the_camera_to_its_window_afterwards(video: VideoIndexService) -> None:
    """Review finding: a temporary move closed the camera's open binding for good — its window had no camera
    afterwards, so clips said "no camera" and retention held nothing there."""
    start, end = DAY + timedelta(days=1), DAY + timedelta(days=3)
    video.bind(CAM1, "W09", start, end)
    assert video.camera_at("W01", DAY + timedelta(hours=12)) == CAM1
    assert video.camera_at("W09", DAY + timedelta(days=2)) == CAM1
    assert video.camera_at("W01", DAY + timedelta(days=2)) is None
    assert video.camera_at("W01", DAY + timedelta(days=4)) == CAM1  # back at W01


def test_over_long_text_refused_with_its_limit_nothing_written(video: VideoIndexService, engine: Engine) -> None:
    """Names, halls, windows and checksums longer than their columns get a clear error on both backends (PostgreSQL
    would otherwise answer with an internal error, SQLite would store them), and nothing is written."""
    before = {t.name: count(engine, t) for t in (cameras, camera_bindings, video_segments, video_events, outbox)}
    cam3 = CAM1[:-6] + "000003"
    with pytest.raises(ValidationError, match=r"摄像机名称.*至多 100 个字符"):
        video.register_camera(cam3, name="长" * 101, hall="大厅")
    with pytest.raises(ValidationError, match=r"所在大厅.*至多 100 个字符"):
        video.register_camera(cam3, name="三号", hall="厅" * 101)
    with pytest.raises(ValidationError, match=r"窗口编号.*至多 16 个字符"):
        video.register_camera(cam3, name="三号", hall="大厅", window="W" * 17)
    with pytest.raises(ValidationError, match=r"窗口编号.*至多 16 个字符"):
        video.bind(CAM1, "W" * 17, DAY + timedelta(hours=9))
    with pytest.raises(ValidationError, match="不可见字符"):
        video.register_camera(cam3, name="三号\x00", hall="大厅")
    with pytest.raises(ValidationError, match="校验值过长：至多 80 个字符"):
        video.add_segments([Segment(CAM1, DAY, DAY + timedelta(minutes=5), "a.mp4", 1, "x" * 81)])
    with pytest.raises(ValidationError, match=r"大小 .* 超出范围"):
        video.add_segments([Segment(CAM1, DAY, DAY + timedelta(minutes=5), "a.mp4", 2**63, "sha256:ab")])
    with pytest.raises(ValidationError, match=r"窗口编号.*至多 16 个字符"):
        video.record_events([{"camera_id": CAM1, "kind": "alarm", "at": DAY, "window": "W" * 17}])
    after = {t.name: count(engine, t) for t in (cameras, camera_bindings, video_segments, video_events, outbox)}
    assert after == before


def test_spaces_are_text_and_a_blank_event_window_means_the_cameras(video: VideoIndexService) -> None:
    cam3 = CAM1[:-6] + "000003"
    row = video.register_camera(cam3, name="三号\u00a0摄像机", hall="政务服务中心\u3000一楼", window="W03", since=DAY)
    assert row["hall"] == "政务服务中心\u3000一楼"
    (event,) = video.record_events(
        [{"camera_id": cam3, "kind": "motion", "at": DAY + timedelta(hours=1), "window": " "}]
    )
    (found,) = video.events(DAY, MIDNIGHT, camera_id=cam3)
    assert (found["event_id"], found["window"]) == (event, "W03")
