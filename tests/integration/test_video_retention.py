"""Retention on SQLite and PostgreSQL: expiry, legal holds, refusal of an unsafe purge, the share cap, the purge
log, and file deletion through the real-directory adapter on a real directory."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete, select
from structlog.testing import capture_logs

from county_node.unit_of_work import SqlCountyUnits
from county_node.video.adapters.files import DirectoryFiles, FileResult
from county_node.video.adapters.segments import SegmentStore
from county_node.video.domain import RetentionPolicy, Segment
from county_node.video.services import VideoIndexService
from federation.storage.tables import outbox, video_purges, video_segments
from federation.timeutil import CST
from tests.conftest import FakeClock
from tests.integration.video_fixtures import CAM1, CAM2, COUNTY, add_alert, add_case, add_complaint

DAY = datetime(2026, 10, 1, tzinfo=CST)


def fill(svc: VideoIndexService, root: Path, days: int) -> list[Segment]:
    """Hourly segments for both cameras over ``days`` days, each with a real file under ``root``."""
    segs = []
    for camera in (CAM1, CAM2):
        for h in range(days * 24):
            start = DAY + timedelta(hours=h)
            rel = f"{camera}/{start:%Y%m%d%H}.mp4"
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(b"v")
            segs.append(Segment(camera, start, start + timedelta(hours=1), rel, 1, "sha256:x"))
    svc.add_segments(segs)
    return segs


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "nvr"
    path.mkdir()
    return path


def service(engine: Engine, root: Path, now: datetime, max_share: float) -> VideoIndexService:
    return VideoIndexService(
        SqlCountyUnits(engine, COUNTY),
        FakeClock(now),
        retention=RetentionPolicy(days=30, max_share=max_share),
        files=DirectoryFiles(root),
    )


def test_purge_keeps_held_segments_and_logs_what_it_removed(engine: Engine, root: Path) -> None:
    now = DAY + timedelta(days=33)  # days 1–3 (72 h per camera) have expired
    svc = service(engine, root, now, max_share=0.8)
    svc.register_camera(CAM1, name="一号", hall="大厅", window="W01", since=DAY)
    svc.register_camera(CAM2, name="二号", hall="大厅", window="W02", since=DAY)
    fill(svc, root, 4)
    held_at = DAY + timedelta(hours=10, minutes=30)  # W01 → CAM1 10:00 segment
    add_case(engine, "C1", "W01", [held_at])
    add_alert(engine, "A1", "C1", held_at + timedelta(hours=1), None)  # open
    add_complaint(engine, "P1", "W02", DAY + timedelta(hours=20, minutes=59))  # open → CAM2 20:00 and 21:00
    add_case(engine, "C2", "W01", [DAY + timedelta(hours=30, minutes=30)])
    add_alert(engine, "A2", "C2", DAY + timedelta(hours=31), now - timedelta(days=1))  # closed 1 day ago: held
    add_case(engine, "C3", "W01", [DAY + timedelta(hours=40, minutes=30)])
    add_alert(engine, "A3", "C3", DAY + timedelta(hours=41), now - timedelta(days=31))  # hold period over: released
    report = svc.purge()
    assert report.status == "done"
    assert report.expired == 144
    assert report.held == 4  # CAM1 10:00, CAM1 06:00 next day (A2 within hold period), CAM2 20:00 + 21:00
    assert report.removed == 140
    assert not report.capped
    assert report.files == {"removed": 140, "missing": 0, "refused": 0, "failed": 0}
    with engine.connect() as conn:
        left = {(r.camera_id, r.start_at) for r in conn.execute(select(video_segments)).all()}
        deletes = conn.execute(select(outbox.c.record_id).where(outbox.c.op == "delete")).scalars().all()
    kept_old = sorted((c, s.astimezone(CST).strftime("%d %H")) for c, s in left if s < DAY + timedelta(days=3))
    assert kept_old == [(CAM1, "01 10"), (CAM1, "02 06"), (CAM2, "01 20"), (CAM2, "01 21")]
    assert len(deletes) == 140
    assert not (root / f"{CAM1}/2026100109.mp4").exists()
    assert (root / f"{CAM1}/2026100110.mp4").exists()
    items = svc.purge_items(report.purge_id)
    assert len(items) == 140
    assert {i["file_result"] for i in items} == {"removed"}


def test_purge_refuses_an_untrustworthy_index_and_caps_its_share(engine: Engine, root: Path) -> None:
    now = DAY + timedelta(days=32)
    svc = service(engine, root, now, max_share=0.1)
    assert svc.purge().status == "refused"  # empty index
    svc.register_camera(CAM1, name="一号", hall="大厅", window="W01", since=DAY)
    svc.register_camera(CAM2, name="二号", hall="大厅", window="W02", since=DAY)
    fill(svc, root, 3)  # 144 segments, 96 expired
    report = svc.purge()
    assert report.status == "done"
    assert report.capped
    assert report.removed == 14
    # the index is then found almost empty (a lost table, a bad restore): refused, nothing deleted
    with engine.begin() as conn:
        conn.execute(delete(video_segments).where(video_segments.c.start_at > DAY + timedelta(hours=30)))
    before = len(list(root.rglob("*.mp4")))
    refused = svc.purge()
    assert refused.status == "refused"
    assert "拒绝清理" in refused.reason
    assert refused.removed == 0
    assert len(list(root.rglob("*.mp4"))) == before
    with engine.connect() as conn:
        assert conn.execute(select(video_purges.c.status).order_by(video_purges.c.purge_id)).scalars().all() == [
            "refused",
            "done",
            "refused",
        ]


def test_directory_adapter_never_leaves_its_root(tmp_path: Path) -> None:
    root = tmp_path / "nvr"
    (root / "cam").mkdir(parents=True)
    (root / "cam" / "a.mp4").write_bytes(b"v")
    (root / "cam" / "b.mp4").write_bytes(b"v")
    outside = tmp_path / "secret.txt"
    outside.write_text("keep")
    (root / "link.mp4").symlink_to(outside)
    files = DirectoryFiles(root)
    got = files.remove(
        ["cam/a.mp4", f"file://{root}/cam/b.mp4", "cam/gone.mp4", "../secret.txt", str(outside), "link.mp4", "cam"]
    )
    assert got == {
        "cam/a.mp4": FileResult.REMOVED,
        f"file://{root}/cam/b.mp4": FileResult.REMOVED,
        "cam/gone.mp4": FileResult.MISSING,
        "../secret.txt": FileResult.REFUSED,
        str(outside): FileResult.REFUSED,
        "link.mp4": FileResult.REFUSED,
        "cam": FileResult.REFUSED,
    }
    assert outside.read_text() == "keep"
    assert (root / "link.mp4").is_symlink()
    assert (root / "cam").is_dir()


def test_purge_keeps_a_file_a_kept_segment_still_points_at(engine: Engine, root: Path) -> None:
    """An NVR that writes one file per two hours indexes it as two segments: when only the first has expired, its
    row goes but the file stays (the second still points at it); a lone expired file goes."""
    now = DAY + timedelta(days=30, hours=1)  # the cutoff is DAY 01:00: only the 00:00 segments have expired
    svc = service(engine, root, now, max_share=1.0)
    svc.register_camera(CAM1, name="一号", hall="大厅", window="W01", since=DAY)
    svc.register_camera(CAM2, name="二号", hall="大厅", window="W02", since=DAY)
    for name in ("shared.mp4", "alone.mp4", "later.mp4"):
        (root / name).write_bytes(b"v")
    hour = timedelta(hours=1)
    svc.add_segments(
        [
            Segment(CAM1, DAY, DAY + hour, "shared.mp4", 1, "sha256:a"),
            Segment(CAM1, DAY + hour, DAY + 2 * hour, "shared.mp4", 1, "sha256:a"),
            Segment(CAM2, DAY, DAY + hour, "alone.mp4", 1, "sha256:b"),
            Segment(CAM2, DAY + hour, DAY + 2 * hour, "later.mp4", 1, "sha256:c"),
        ]
    )
    report = svc.purge()
    assert (report.status, report.removed) == ("done", 2)
    assert report.files == {"removed": 1, "missing": 0, "refused": 0, "failed": 0}
    assert (root / "shared.mp4").exists()
    assert not (root / "alone.mp4").exists()
    assert (root / "later.mp4").exists()
    results = {(i["camera_id"], i["uri"]): i["file_result"] for i in svc.purge_items(report.purge_id)}
    assert results == {(CAM1, "shared.mp4"): None, (CAM2, "alone.mp4"): "removed"}
    with engine.connect() as conn:  # answered chunk by chunk, one pass over the segments each
        store = SegmentStore(conn, COUNTY)
        assert store.uris_in_use(["later.mp4", "alone.mp4", "shared.mp4", "其他.mp4"], chunk=3) == {
            "later.mp4",
            "shared.mp4",
        }


def test_directory_adapter_reports_problems_in_one_line_each_and_follows_an_inner_link(tmp_path: Path) -> None:
    root = tmp_path / "nvr"
    (root / "cam").mkdir(parents=True)
    (root / "cam" / "real.mp4").write_bytes(b"v")
    (root / "cam" / "alias.mp4").symlink_to(root / "cam" / "real.mp4")  # a link inside the root, to a file in it
    too_long = "cam/" + "x" * 300 + ".mp4"  # the system refuses the name itself (even to root)
    many = [f"rtsp://nvr/{i}" for i in range(100)]
    with capture_logs() as logs:
        got = DirectoryFiles(root).remove(["cam/alias.mp4", too_long, *many])
    assert got["cam/alias.mp4"] == FileResult.REMOVED
    assert not (root / "cam" / "real.mp4").exists()  # the target goes; the link is left dangling
    assert got[too_long] == FileResult.FAILED
    assert {got[u] for u in many} == {FileResult.REFUSED}
    lines = {entry["event"]: entry for entry in logs}
    assert sorted(lines) == ["video.file_failed", "video.file_refused"]
    assert (lines["video.file_refused"]["count"], lines["video.file_refused"]["first"]) == (100, many[:5])
    assert lines["video.file_failed"]["count"] == 1
    assert "File name too long" in lines["video.file_failed"]["first"][0]


def test_directory_adapter_is_not_led_out_by_a_directory_swapped_for_a_link_mid_purge(tmp_path: Path) -> None:
    root, outside = tmp_path / "nvr", tmp_path / "outside"
    (root / "cam").mkdir(parents=True)
    outside.mkdir()
    (root / "cam" / "1.mp4").write_bytes(b"v")
    (outside / "2.mp4").write_bytes(b"precious")

    def uris() -> Iterator[str]:
        yield "cam/1.mp4"
        # meanwhile someone with write access to the share swaps the directory for a link pointing out
        shutil.rmtree(root / "cam")
        (root / "cam").symlink_to(outside)
        yield "cam/2.mp4"

    got = DirectoryFiles(root).remove(uris())
    assert got == {"cam/1.mp4": FileResult.REMOVED, "cam/2.mp4": FileResult.MISSING}
    assert (outside / "2.mp4").read_bytes() == b"precious"
    # a fresh run sees the link for what it is
    assert DirectoryFiles(root).remove(["cam/2.mp4"]) == {"cam/2.mp4": FileResult.REFUSED}
    assert (outside / "2.mp4").exists()


def test_directory_adapter_reads_paths_and_uris_as_written(tmp_path: Path) -> None:
    root = tmp_path / "nvr"
    (root / "cam" / "a:").mkdir(parents=True)
    (root / "cam" / "a:" / "b.mp4").write_bytes(b"v")  # a plain path with a colon: no URI scheme
    (root / "cam" / "大厅 1.mp4").write_bytes(b"v")
    (root / "x").mkdir()
    (root / "x" / "y.mp4").write_bytes(b"v")
    got = DirectoryFiles(root).remove(
        ["cam/a://b.mp4", "file://" + str(root / "cam" / "%E5%A4%A7%E5%8E%85%201.mp4"), "x/../x/./y.mp4", "a\x00b"]
    )
    assert got == {
        "cam/a://b.mp4": FileResult.REMOVED,
        "file://" + str(root / "cam" / "%E5%A4%A7%E5%8E%85%201.mp4"): FileResult.REMOVED,
        "x/../x/./y.mp4": FileResult.REMOVED,
        "a\x00b": FileResult.REFUSED,  # a NUL: no file has that name; the rest of the purge goes on
    }
    assert DirectoryFiles(root).remove(["nvr:cam/x.mp4", ".", ""]) == {
        "nvr:cam/x.mp4": FileResult.REFUSED,
        ".": FileResult.REFUSED,
        "": FileResult.REFUSED,
    }


def test_directory_adapter_with_its_root_swapped_missing_or_deep_paths(tmp_path: Path) -> None:
    root, outside = tmp_path / "nvr", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "x.mp4").write_bytes(b"precious")
    files = DirectoryFiles(root)  # built at start-up; the root is replaced by a link before the purge
    root.rmdir()
    root.symlink_to(outside)
    with capture_logs() as logs:
        got = files.remove(["x.mp4", str(root / "x.mp4")])
    assert set(got.values()) == {FileResult.REFUSED}
    assert (outside / "x.mp4").read_bytes() == b"precious"
    assert [e["event"] for e in logs if e["event"] == "video.root_unusable"] == ["video.root_unusable"]

    (tmp_path / "gone").mkdir()
    gone = DirectoryFiles(tmp_path / "gone")
    (tmp_path / "gone").rmdir()  # the configured root was removed: every file is missing, nothing raises
    assert gone.remove(["a.mp4", "rtsp://x/y"]) == {"a.mp4": FileResult.MISSING, "rtsp://x/y": FileResult.REFUSED}

    real = tmp_path / "real"
    (real / "f.mp4").mkdir(parents=True)
    (real / "plain.mp4").write_bytes(b"v")
    deep = "a/" * 1200 + "x.mp4"  # a URI of any depth: walked iteratively
    long_dir = "d" * 300 + "/x.mp4"  # the system refuses the directory's name: a failure with its reason
    got = DirectoryFiles(real).remove([deep, long_dir, "plain.mp4/x.mp4", "plain.mp4"])
    assert got == {
        deep: FileResult.MISSING,
        long_dir: FileResult.FAILED,
        "plain.mp4/x.mp4": FileResult.MISSING,  # a file on the way: no such recording
        "plain.mp4": FileResult.REMOVED,
    }
