"""The video index up the federation on SQLite and PostgreSQL: a county's cameras (with their bindings), segments and
events, written by the real video index service, sealed from its outbox, received by a city with its own appliers
and relayed to the province — rows equal at every tier; a newer record wins, an older one is ignored, a purge
removes the replica's segment, a forged or malformed record is refused with its reason; and the province
inspectors' API shows a red alert's clip (camera, time range, segments and gaps) computed on the replica."""

from __future__ import annotations

import dataclasses
import json
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, Table, select

from city_aggregator.bootstrap import replication_appliers as city_appliers
from county_node.approval.domain import Action
from county_node.approval.services import ApprovalService
from county_node.bootstrap import CountyNode, assemble_county_node
from county_node.unit_of_work import SqlCountyUnits
from county_node.video.adapters.replica import CameraApplier, EventApplier, SegmentApplier, video_appliers
from county_node.video.domain import Segment
from county_node.video.services import VideoIndexService, segment_record_id
from federation.config import Config, NodeConfig, VideoConfig
from federation.errors import RecordRejected
from federation.nodes import build_node
from federation.replication import Applier, Prepared, Record
from federation.standards import StandardsBundle
from federation.storage.engine import make_engine
from federation.storage.tables import alerts, camera_bindings, cameras, cases, outbox, video_events, video_segments
from federation.storage.uow import UnitOfWork
from federation.timeutil import CST, to_us
from migrations.runner import upgrade
from province_center.bootstrap import replication_appliers as province_appliers
from security.access import Role
from sync_agent.domain import Mark
from sync_agent.store import SqlBatchSink, SqlBatchSource
from tests.conftest import FakeClock, create_pg_database
from tests.people import add_user, bearer, log_in

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette.testclient` is deprecated")
    from fastapi.testclient import TestClient

COUNTY, OTHER, CITY, PROVINCE = "371122", "371121", "371100", "370000"
CAM1 = "37112200001311000001"
CAM2 = "37112200001321000002"
FOREIGN_CAM = "37112100001311000001"  # a camera of 371121
FOOD = "XK00003000"
FOOD_DATA = {"统一社会信用代码": "91371122MA3C000001", "经营场所": "莒县城阳街道 1 号"}
REPLICATED = (cameras, camera_bindings, video_segments, video_events)
ALL = 10**6


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 9, day, hour, minute, tzinfo=CST)


def seg(camera: str, start: datetime, minutes: int = 5) -> Segment:
    return Segment(camera, start, start + timedelta(minutes=minutes), f"nvr://{camera}/{start:%H%M}.mp4", 1000, "c")


@dataclasses.dataclass
class Tiers:
    county: CountyNode
    video: VideoIndexService
    clock: FakeClock
    city: Engine
    province: Engine

    def __post_init__(self) -> None:
        self.source = SqlBatchSource(self.county.engine, COUNTY, max_records=50)
        self.city_sink = SqlBatchSink(self.city, CITY, city_appliers(), relay=True)
        self.province_sink = SqlBatchSink(self.province, PROVINCE, province_appliers(), relay=False)

    def ship(self) -> None:
        """Seal the county's new outbox rows, receive them at the city and relay the city's copy to the province."""
        self.source.seal()
        (mark,) = self.city_sink.marks([COUNTY])
        for b in self.source.batches_after(COUNTY, mark.high_water, ALL):
            assert self.city_sink.receive(COUNTY, b).mark == Mark(COUNTY, b.last_seq, b.batch_hash)
        (mark,) = self.province_sink.marks([COUNTY])
        for b in SqlBatchSource(self.city, CITY).batches_after(COUNTY, mark.high_water, ALL):
            assert self.province_sink.receive(CITY, b).mark.high_water == b.last_seq


@pytest.fixture
def tiers(engine: Engine, bundle: StandardsBundle, clock: FakeClock, tmp_path: Path) -> Iterator[Tiers]:
    drops = []
    engines = []
    for name in ("city", "province"):
        if engine.dialect.name == "sqlite":
            url = f"sqlite:///{tmp_path / f'{name}.db'}"
        else:
            url, drop = create_pg_database()
            drops.append(drop)
        tier = make_engine(url)
        upgrade(tier)
        ApprovalService(tier, CITY if name == "city" else PROVINCE, clock).apply_standards(bundle)
        engines.append(tier)
    county = assemble_county_node(Config(node=NodeConfig(division=COUNTY, name="莒县")), engine, clock)
    county.approval.apply_standards(bundle)
    try:
        yield Tiers(county, VideoIndexService(SqlCountyUnits(engine, COUNTY), clock), clock, engines[0], engines[1])
    finally:
        for tier in engines:
            tier.dispose()
        for drop in drops:
            drop()


def rows(engine: Engine, table: Table) -> list[dict[str, Any]]:
    """Every row in key order, but ``origin_seq`` (only a replica carries it) and a camera's ``created_at`` and
    ``updated_at`` (a replica stamps the moments of the records it received: a binding changes no county row)."""
    with engine.connect() as conn:
        found = conn.execute(select(table).order_by(*table.primary_key.columns)).mappings()
        return [{k: v for k, v in r.items() if k not in {"origin_seq", "created_at", "updated_at"}} for r in found]


def assert_tiers_equal(t: Tiers) -> None:
    for table in REPLICATED:
        held = rows(t.county.engine, table)
        assert held, table.name
        assert rows(t.city, table) == held, table.name
        assert rows(t.province, table) == held, table.name


def outbox_records(engine: Engine, *types: str) -> list[Record]:
    with engine.connect() as conn:
        stmt = select(outbox).where(outbox.c.origin == COUNTY, outbox.c.record_type.in_(types)).order_by(outbox.c.seq)
        found = conn.execute(stmt).all()
    return [Record(r.record_type, r.record_id, r.op, r.seq, r.payload.encode(), to_us(r.created_at)) for r in found]


def apply_records(engine: Engine, applier: Applier[Any], records: list[Record]) -> None:
    with UnitOfWork(engine) as uow:
        items = [Prepared(r, applier.prepare(COUNTY, r, json.loads(r.payload))) for r in records]
        assert applier.apply(uow.conn, COUNTY, items) == []
        uow.commit()


def red_case_with_video(t: Tiers) -> dict[str, str]:
    """A case taken in at window W01 and gone red, a camera watching W01, segments around its last step (with a
    two-minute gap), an event; what the county has to send."""
    node, clock, video = t.county, t.clock, t.video
    clock.now = at(21, 9)
    video.register_camera(CAM1, name="一号窗口摄像机", hall="莒县政务服务中心", window="W01", since=at(21, 8))
    video.register_camera(CAM2, name="二号窗口摄像机", hall="莒县政务服务中心", window="W02", since=at(21, 8))
    clock.now = at(21, 10)
    case = node.approval.submit(item_code=FOOD, applicant="张三", data=FOOD_DATA, actor="窗口 1", window="W01")
    clock.now = at(21, 10, 10)
    node.approval.act(case.case_no, Action.ACCEPT, actor="窗口 1")
    clock.now = at(21, 10, 30)
    video.add_segments([seg(CAM1, at(21, 10)), seg(CAM1, at(21, 10, 5)), seg(CAM1, at(21, 10, 12))])
    video.add_segments([seg(CAM2, at(21, 10, 5))])
    (event,) = video.record_events([{"camera_id": CAM1, "kind": "window_unattended", "at": at(21, 10, 11)}])
    with node.engine.connect() as conn:
        due = conn.execute(select(cases.c.idx_due_at).where(cases.c.case_no == case.case_no)).scalar_one()
    node.supervision.sweep(due)
    clock.now = due + timedelta(hours=1)
    with node.engine.connect() as conn:
        stmt = select(alerts.c.rule_id, alerts.c.alert_id).where(alerts.c.case_no == case.case_no)
        raised: dict[str, str] = dict(conn.execute(stmt).all())
    return {"case": case.case_no, "red": raised["SUP-002"], "event": event}


# -- end to end: county → city → province, then the province inspectors' view --------------------------------------


def test_the_index_reaches_the_province_and_its_inspectors_see_the_red_alerts_clip(tiers: Tiers) -> None:
    t = tiers
    ids = red_case_with_video(t)
    t.ship()
    assert_tiers_equal(t)
    with t.province.connect() as conn:
        seqs = conn.execute(select(video_segments.c.origin_seq)).scalars().all()
    assert seqs
    assert None not in seqs  # a replica keeps the seq of the county's record

    # another county's camera on its own "W01" (window numbers are per hall): the clip stays with 莒县's camera
    foreign = {
        **GOOD_CAMERA,
        "camera_id": FOREIGN_CAM,
        "bindings": [{"window": "W01", "valid_from": "2026-09-21T09:00:00+08:00", "valid_to": None}],  # after CAM1
    }
    with UnitOfWork(t.province) as uow:
        record = Record("camera", FOREIGN_CAM, "upsert", 1, json.dumps(foreign).encode(), 0)
        prepared = Prepared(record, CameraApplier().prepare(OTHER, record, foreign))
        assert CameraApplier().apply(uow.conn, OTHER, [prepared]) == []
        uow.commit()

    county_clip = t.video.clip_for_alert(ids["red"])
    config = Config(node=NodeConfig(division=PROVINCE, name="山东省"))
    node = build_node(config, engine=t.province)
    add_user(node.accounts, "sd-jiancha", [Role.INSPECTOR], division=PROVINCE)  # type: ignore[attr-defined]
    add_user(node.accounts, "ly-jiancha", [Role.INSPECTOR], division="371300")  # type: ignore[attr-defined]
    with TestClient(node.http_app()) as client:  # type: ignore[attr-defined]
        linyi = bearer(log_in(client, "ly-jiancha"))
        log_in(client, "sd-jiancha")
        got = client.get(f"/api/v1/alerts/{ids['red']}")
        assert got.status_code == 200, got.text
        body = got.json()
        assert (body["alert_id"], body["light"]) == (ids["red"], "red")
        clip = body["clip"]
        assert (clip["camera_id"], clip["window"], clip["subject"]) == (CAM1, "W01", f"alert:{ids['red']}")
        # the last step before the alert (accepted 10:10), minus 2 and plus 5 minutes
        assert (clip["at"], clip["start"], clip["end"]) == (
            "2026-09-21T10:10:00+08:00",
            "2026-09-21T10:08:00+08:00",
            "2026-09-21T10:15:00+08:00",
        )
        assert [s["start"][11:16] for s in clip["segments"]] == ["10:05", "10:12"]
        assert clip["segments"][0]["uri"] == f"nvr://{CAM1}/1005.mp4"
        assert clip["gaps"] == [{"start": "2026-09-21T10:10:00+08:00", "end": "2026-09-21T10:12:00+08:00"}]
        assert clip["complete"] is False
        assert [s["start"] for s in clip["segments"]] == [
            s.start.astimezone(CST).isoformat() for s in county_clip.timeline.segments
        ]  # the same clip as the county's own

        case = client.get(f"/api/v1/cases/{ids['case']}").json()
        assert [c["subject"] for c in case["clips"]] == [f"alert:{a['alert_id']}" for a in case["alerts"]]
        assert any(c == clip for c in case["clips"])

        # outside the logged-in inspector's subtree: refused, like the alert itself
        refused = client.get(f"/api/v1/alerts/{ids['red']}", headers=linyi)
        assert refused.status_code == 403


# -- appliers: newer wins, older ignored, delete applied -----------------------------------------------------------


def test_newer_records_win_older_ones_are_ignored_and_a_purge_removes_the_replica_segment(tiers: Tiers) -> None:
    t = tiers
    video = t.video
    t.clock.now = at(21, 9)
    video.register_camera(CAM1, name="一号", hall="大厅", window="W01", since=at(21, 8))
    video.add_segments([seg(CAM1, at(21, 10)), seg(CAM1, at(21, 10, 5))])
    video.record_events([{"camera_id": CAM1, "kind": "motion", "at": at(21, 10, 1), "details": {"score": 0.9}}])
    t.clock.now = at(21, 12)
    video.bind(CAM1, "W03", at(21, 12))  # moved: W01 closed at 12:00, W03 from then
    video.register_camera(CAM1, name="一号（已移至三号窗口）", hall="大厅")
    t.ship()
    assert_tiers_equal(t)
    before = {table.name: rows(t.city, table) for table in REPLICATED}
    assert [(b["window"], b["valid_to"]) for b in before["camera_bindings"]] == [("W01", at(21, 12)), ("W03", None)]

    # every record again, oldest last, one at a time: nothing changes (older snapshots never overwrite)
    for record_type, applier in video_appliers().items():
        records = outbox_records(t.county.engine, record_type)
        for r in reversed(records):
            apply_records(t.city, applier, [r])
    assert {table.name: rows(t.city, table) for table in REPLICATED} == before

    # a purge's delete removes the replica's segment; an older delete (a seq below the row's) does not
    first = segment_record_id(CAM1, at(21, 10))
    second = segment_record_id(CAM1, at(21, 10, 5))
    with t.city.connect() as conn:
        stored = select(video_segments.c.camera_id, video_segments.c.start_at, video_segments.c.origin_seq)
        seq_of = {segment_record_id(r.camera_id, r.start_at): r.origin_seq for r in conn.execute(stored)}
    stale = Record("video_segment", second, "delete", seq_of[second] - 1, b"{}", 0)
    purge = Record("video_segment", first, "delete", 10_000, b"{}", to_us(at(22, 0)))
    apply_records(t.city, SegmentApplier(), [stale, purge])
    with t.city.connect() as conn:
        left = conn.execute(select(video_segments.c.start_at)).scalars().all()
    assert left == [at(21, 10, 5)]
    # the re-sent upsert older than the delete cannot resurrect it within one batch
    (upsert,) = [r for r in outbox_records(t.county.engine, "video_segment") if r.record_id == first]
    apply_records(t.city, SegmentApplier(), [upsert, Record("video_segment", first, "delete", 10_001, b"{}", 0)])
    with t.city.connect() as conn:
        assert conn.execute(select(video_segments.c.start_at)).scalars().all() == [at(21, 10, 5)]


# -- prepare: forged and malformed records, each with its reason ----------------------------------------------------

GOOD_CAMERA = {"camera_id": CAM1, "name": "一号", "hall": "大厅", "bindings": []}
START = datetime(2026, 9, 21, 2, 0, tzinfo=UTC)
GOOD_SEGMENT = {
    "camera_id": CAM1,
    "start": START.isoformat(),
    "end": (START + timedelta(minutes=5)).isoformat(),
    "uri": "nvr://a.mp4",
    "size": 10,
    "checksum": "c",
}
GOOD_EVENT = {"camera_id": CAM1, "window": "W01", "kind": "alarm", "at": START.isoformat(), "details": {}}
SEG_ID = segment_record_id(CAM1, START)


def _rec(record_type: str, record_id: str, payload: Any, op: str = "upsert") -> tuple[Record, Any]:
    return Record(record_type, record_id, op, 7, json.dumps(payload).encode(), 0), payload


@pytest.mark.parametrize(
    ("applier", "record", "reason"),
    [
        (CameraApplier(), _rec("camera", FOREIGN_CAM, {**GOOD_CAMERA, "camera_id": FOREIGN_CAM}), "不属于本县"),
        (CameraApplier(), _rec("camera", CAM1, {**GOOD_CAMERA, "camera_id": CAM2}), "与记录编号"),
        (CameraApplier(), _rec("camera", CAM1, {**GOOD_CAMERA, "name": None}), "缺少必填字段“name”"),
        (CameraApplier(), _rec("camera", CAM1, {**GOOD_CAMERA, "bindings": "W01"}), "绑定应为 JSON 数组"),
        (
            CameraApplier(),
            _rec("camera", CAM1, {**GOOD_CAMERA, "bindings": [{"window": "W01", "valid_from": "昨天"}]}),
            "valid_from",
        ),
        (CameraApplier(), _rec("camera", CAM1, GOOD_CAMERA, op="delete"), "不支持操作“delete”"),
        (
            SegmentApplier(),
            _rec("video_segment", segment_record_id(FOREIGN_CAM, START), {**GOOD_SEGMENT, "camera_id": FOREIGN_CAM}),
            "不属于本县",
        ),
        (SegmentApplier(), _rec("video_segment", "x@y", GOOD_SEGMENT), "格式错误"),
        (SegmentApplier(), _rec("video_segment", segment_record_id(CAM1, START + timedelta(1)), GOOD_SEGMENT), "不符"),
        (SegmentApplier(), _rec("video_segment", SEG_ID, {**GOOD_SEGMENT, "size": "10"}), "字段“size”应为整数"),
        (SegmentApplier(), _rec("video_segment", SEG_ID, {**GOOD_SEGMENT, "end": GOOD_SEGMENT["start"]}), "结束时间"),
        (EventApplier(), _rec("video_event", f"{COUNTY}-e1", {**GOOD_EVENT, "camera_id": FOREIGN_CAM}), "不属于本县"),
        (EventApplier(), _rec("video_event", f"{COUNTY}-e1", {**GOOD_EVENT, "kind": "dance"}), "类型“dance”未知"),
        # review finding: event ids are the county's own (a same-named event of another county never overwrites it)
        (EventApplier(), _rec("video_event", f"{OTHER}-e1", GOOD_EVENT), "不属于发送来源"),
        (EventApplier(), _rec("video_event", "e" * 41, GOOD_EVENT), "格式错误"),
        (EventApplier(), _rec("video_event", f"{COUNTY}-e1", {**GOOD_EVENT, "at": "2026-09-21T10:00:00"}), "缺少时区"),
    ],
)
def test_prepare_refuses_a_forged_or_malformed_record_with_the_reason(
    applier: Applier[Any], record: tuple[Record, Any], reason: str
) -> None:
    r, payload = record
    with pytest.raises(RecordRejected) as refused:
        applier.prepare(COUNTY, r, payload)
    assert reason in refused.value.message


def test_prepare_accepts_the_genuine_forms() -> None:
    assert CameraApplier().prepare(COUNTY, *_rec("camera", CAM1, GOOD_CAMERA)).camera_id == CAM1
    change = SegmentApplier().prepare(COUNTY, *_rec("video_segment", SEG_ID, GOOD_SEGMENT))
    assert (change.start, change.row is not None) == (START, True)
    assert SegmentApplier().prepare(COUNTY, *_rec("video_segment", SEG_ID, {}, op="delete")).row is None
    assert EventApplier().prepare(COUNTY, *_rec("video_event", f"{COUNTY}-e1", GOOD_EVENT)).row["origin"] == COUNTY


def test_the_upper_tiers_apply_the_video_record_types() -> None:
    for appliers in (city_appliers(), province_appliers()):
        names = list(appliers)
        assert {"camera", "video_segment", "video_event"} <= set(names)
        assert names.index("camera") < names.index("video_segment")


def test_an_upper_tier_clip_uses_its_own_margin_and_finds_a_county_long_segment(tiers: Tiers) -> None:
    """A county may accept segments longer than the default hour (``[video] max_segment_s``); the replica reads
    back as far as it accepts, so a two-hour segment that began long before the clip is found, and the clip's
    margin is the upper tier's own ``[video]`` setting."""
    t = tiers
    t.video = VideoIndexService(SqlCountyUnits(t.county.engine, COUNTY), t.clock, max_segment=timedelta(hours=3))
    ids = red_case_with_video(t)
    t.video.add_segments([seg(CAM1, at(21, 6), minutes=120)])  # 06:00–08:00
    t.ship()
    video = VideoConfig(margin_before_s=3 * 3600, margin_after_s=60)
    config = Config(node=NodeConfig(division=PROVINCE, name="山东省"), video=video)
    node = build_node(config, engine=t.province)
    add_user(node.accounts, "sd-jiancha", [Role.INSPECTOR], division=PROVINCE)  # type: ignore[attr-defined]
    with TestClient(node.http_app()) as client:  # type: ignore[attr-defined]
        log_in(client, "sd-jiancha")
        clip = client.get(f"/api/v1/alerts/{ids['red']}").json()["clip"]
    assert (clip["start"], clip["end"]) == ("2026-09-21T07:10:00+08:00", "2026-09-21T10:11:00+08:00")
    assert [s["start"][11:16] for s in clip["segments"]] == ["06:00", "10:00", "10:05"]
