"""``sunshine camera …`` and ``sunshine video …`` as real processes on a SQLite county, and the ingestion sink that
connects the scanner and the poller to the index (on SQLite and PostgreSQL): a refused batch is split so that good
segments are indexed and exactly the bad ones are reported. The commands run as the node admin logged in with
``sunshine user login``; a clerk may look but not register."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from county_node.unit_of_work import SqlCountyUnits
from county_node.video.adapters.ingest_model import FoundSegment
from county_node.video.ingest import UNVERIFIED, IndexSink
from county_node.video.services import VideoIndexService
from federation.config import load_config
from federation.errors import ConfigError
from federation.storage.engine import make_engine
from federation.timeutil import CST
from migrations.runner import upgrade
from tests.conftest import FakeClock
from tests.integration.test_cli import error_line, login, ok, sunshine
from tests.integration.video_fixtures import CAM1, CAM2, COUNTY
from tests.people import add_staff_at

DAY = datetime(2026, 9, 21, tzinfo=CST)


def _county(tmp_path: Path) -> list[str]:
    db = tmp_path / "node.db"
    engine = make_engine(f"sqlite:///{db}")
    upgrade(engine)
    engine.dispose()
    config = tmp_path / "sunshine.toml"
    config.write_text(
        f'[node]\ndivision = "{COUNTY}"\ndata_dir = "{tmp_path}"\n\n[database]\nurl = "sqlite:///{db}"\n',
        encoding="utf-8",
    )
    add_staff_at(f"sqlite:///{db}", COUNTY)
    return ["--config", str(config)]


def _file(root: Path, camera: str, start: str, end: str) -> None:
    (root / f"{camera}_{start}_{end}.mp4").write_bytes(b"video")


def test_camera_and_ingest_folder_commands(tmp_path: Path) -> None:
    config = _county(tmp_path)
    login(config, "clerk")
    assert "forbidden" in error_line(sunshine("camera", "register", CAM1, "--name", "甲", "--hall", "大厅", *config))
    assert "共 0 台摄像机" in ok(sunshine("camera", "list", *config))
    assert "forbidden" in error_line(sunshine("video", "purge", *config))
    login(config, "admin")
    line = error_line(sunshine("camera", "register", "12345", "--name", "甲", "--hall", "大厅", *config))
    assert "错误[validation_error]" in line
    assert "Traceback" not in line
    out = ok(
        sunshine(
            "camera", "register", CAM1, "--name", "一号窗口", "--hall", "政务服务中心", "--window", "W01",
            "--since", "2026-09-01T00:00:00", *config,
        )
    )  # fmt: skip
    assert f"已登记摄像机 {CAM1}" in out
    assert "当前窗口：W01" in out

    root = tmp_path / "export"
    root.mkdir()
    _file(root, CAM1, "20260921T090000", "20260921T090500")
    _file(root, CAM1, "20260921T090200", "20260921T090700")  # overlaps the first: refused alone
    _file(root, CAM1, "20260921T091000", "20260921T091500")
    _file(root, CAM2, "20260921T090000", "20260921T090500")  # a camera not registered: refused alone
    (root / "readme.txt").write_text("not a recording", encoding="utf-8")
    report = json.loads(ok(sunshine("video", "ingest-folder", str(root), "--json", *config)))
    assert (report["found"], report["accepted"], report["indexed"]) == (5, 4, 2)
    assert [s["source"] for s in report["skipped"]] == ["readme.txt"]
    refused = {(r["camera_id"], r["start"][11:16]): r["reason"] for r in report["refused"]}
    assert set(refused) == {(CAM1, "09:02"), (CAM2, "09:00")}
    assert "重叠" in refused[(CAM1, "09:02")]
    assert "未登记" in refused[(CAM2, "09:00")]

    again = ok(sunshine("video", "ingest-folder", str(root), *config))  # re-run: nothing new, same refusals
    assert "入库 0 条，已在索引中 2 条，拒绝 2 条" in again

    args = ["--camera", CAM1, "--from", "2026-09-21T09:00:00", "--to", "2026-09-21T09:15:00"]
    view = json.loads(ok(sunshine("video", "segments", *args, "--json", *config)))
    assert [s["start"] for s in view["segments"]] == ["2026-09-21T09:00:00+08:00", "2026-09-21T09:10:00+08:00"]
    assert view["gaps"] == [{"from": "2026-09-21T09:05:00+08:00", "to": "2026-09-21T09:10:00+08:00"}]
    assert {s["checksum"] for s in view["segments"]} == {UNVERIFIED}  # scanned without --checksum
    listed = ok(sunshine("camera", "list", *config))
    assert "共 1 台摄像机" in listed
    assert CAM1 in listed


def _found(camera: str, start: datetime, minutes: int = 5, checksum: str | None = "ab") -> FoundSegment:
    return FoundSegment(camera, start, start + timedelta(minutes=minutes), f"file:///v/{start:%H%M}.mp4", 9, checksum)


def test_index_sink_splits_refused_batches(engine: Engine) -> None:
    video = VideoIndexService(SqlCountyUnits(engine, COUNTY), FakeClock(DAY + timedelta(hours=12)))
    video.register_camera(CAM1, name="一号窗口", hall="大厅", window="W01", since=DAY)
    sink = IndexSink(video)
    t = DAY + timedelta(hours=9)
    good = [_found(CAM1, t + timedelta(minutes=5 * i)) for i in range(8)]
    bad = _found(CAM1, t + timedelta(minutes=11), minutes=2)  # inside the third segment
    sink([*good[:4], bad, *good[4:]])
    assert (sink.offered, sink.indexed, len(sink.refused)) == (9, 8, 1)
    assert sink.refused[0].segment.start == bad.start.astimezone(bad.start.tzinfo)
    assert "重叠" in sink.refused[0].reason
    sink([_found(CAM1, t, checksum=None)])  # same moment, no checksum: not the same segment, refused
    assert len(sink.refused) == 2
    assert [s.start for s in video.segments(CAM1, t, t + timedelta(minutes=40)).segments] == [g.start for g in good]


def test_index_sink_refuses_unknown_cameras_and_invalid_segments_without_splitting(engine: Engine) -> None:
    """A batch mixing a folder of an unregistered camera and an over-long segment with good ones: the bad ones are
    refused up front, one by one, and the good ones go in with one ``add_segments`` call."""
    video = VideoIndexService(SqlCountyUnits(engine, COUNTY), FakeClock(DAY + timedelta(hours=12)))
    video.register_camera(CAM1, name="一号窗口", hall="大厅", window="W01", since=DAY)
    calls: list[int] = []
    add = video.add_segments
    video.add_segments = lambda segments: calls.append(len(segments)) or add(segments)  # type: ignore[method-assign]
    sink = IndexSink(video)
    t = DAY + timedelta(hours=9)
    good = [_found(CAM1, t + timedelta(minutes=5 * i)) for i in range(6)]
    stranger = [_found(CAM2, t + timedelta(minutes=5 * i)) for i in range(50)]  # CAM2 is not registered
    too_long = _found(CAM1, t + timedelta(hours=1), minutes=61)
    sink([*good[:3], *stranger, too_long, *good[3:]])
    assert calls == [6]
    assert (sink.offered, sink.indexed, len(sink.refused)) == (57, 6, 51)
    reasons = {r.segment.camera_id: r.reason for r in sink.refused if r.segment.camera_id == CAM2}
    assert reasons == {CAM2: f"摄像机 {CAM2} 未登记"}
    assert "最长片段时长" in next(r.reason for r in sink.refused if r.segment.camera_id == CAM1)


def test_video_config_is_validated(tmp_path: Path) -> None:
    config = tmp_path / "sunshine.toml"
    config.write_text('[video]\nretention_days = 7\nstorage_root = "nvr"\n', encoding="utf-8")
    assert load_config(config, environ={}).video.retention_days == 7
    for bad in ("retention_days = 0", "max_purge_share = 1.5", "margin_before_s = -1", "unknown = 1"):
        config.write_text(f"[video]\n{bad}\n", encoding="utf-8")
        with pytest.raises(ConfigError, match="video"):
            load_config(config, environ={})
