"""The NVR export-folder scanner on a real directory tree in ``tmp_path``: both layouts, a recording that
crosses midnight, bad names, a wrong-camera file, empty folders and files, duplicates, checksums, the sink."""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from county_node.video.adapters.ingest_folder import parse_segment_name, scan_export_folder
from county_node.video.adapters.ingest_model import FoundSegment, IngestReport
from federation.errors import ValidationError

CAM_A = "37112200001320000001"
CAM_B = "37112200001320000002"
CAM_C = "37112200001320000003"


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def put(root: Path, relative: str, content: bytes = b"video") -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


@pytest.fixture
def export(tmp_path: Path) -> Path:
    root = tmp_path / "export"
    # nested layout, written out of order; the second file crosses local midnight (23:55 → 00:05 CST)
    put(root, f"{CAM_B}/20260302/{CAM_B}_20260302T080500_20260302T081000.mp4", b"b" * 20)
    put(root, f"{CAM_B}/20260301/{CAM_B}_20260301T235500_20260302T000500.mp4", b"b" * 10)
    put(root, f"{CAM_B}/20260302/{CAM_B}_20260302T080000_20260302T080500.MP4", b"b" * 30)
    # flat layout at the root, for A and for B (merged with B's folder)
    put(root, f"{CAM_A}_20260302T090000_20260302T090500.ts", b"a" * 7)
    put(root, f"{CAM_B}_20260302T000500_20260302T001000.mp4", b"b" * 5)
    # empty folders are fine
    (root / CAM_C / "20260302").mkdir(parents=True)
    (root / CAM_A / "20260303").mkdir(parents=True)
    # what is skipped
    put(root, f"{CAM_B}/20260302/{CAM_B}_20260302T081000_20260302T081000.mp4")  # end == start
    put(root, f"{CAM_B}/20260302/{CAM_B}_20260302T090000_20260302T085500.mp4")  # end before start
    put(root, f"{CAM_B}/20260302/{CAM_A}_20260302T100000_20260302T100500.mp4")  # another camera's file
    put(root, f"{CAM_B}/20260302/{CAM_B}_20260302T100000_20260302T100500.mp4.part")
    put(root, f"{CAM_B}/20260302/export.log")
    put(root, f"{CAM_B}/20260302/{CAM_B}_20261301T100000_20261301T100500.mp4")  # month 13
    put(root, "3711220000132000000_20260302T090000_20260302T090500.mp4")  # 19 digits
    put(root, "camera7_20260302T090000_20260302T090500.mp4")
    put(root, f"{CAM_A}_20260302T091000_20260302T091500.mp4", b"")  # empty file
    put(root, f"{CAM_B}/copy/{CAM_B}_20260302T080500_20260302T081000.mp4", b"b" * 20)  # duplicate elsewhere
    put(root, "misc/notes.txt")  # a folder that fits no layout
    return root


def test_scanner_yields_segments_in_camera_start_order_and_reports_every_skip(export: Path) -> None:
    result = scan_export_folder(export)
    got = [(s.camera_id, s.start, s.end, s.size_bytes, s.checksum) for s in result.segments]
    assert got == [
        (CAM_A, utc(2026, 3, 2, 1, 0), utc(2026, 3, 2, 1, 5), 7, None),
        (CAM_B, utc(2026, 3, 1, 15, 55), utc(2026, 3, 1, 16, 5), 10, None),  # across midnight CST: one segment
        (CAM_B, utc(2026, 3, 1, 16, 5), utc(2026, 3, 1, 16, 10), 5, None),  # flat file merged in order
        (CAM_B, utc(2026, 3, 2, 0, 0), utc(2026, 3, 2, 0, 5), 30, None),  # upper-case extension accepted
        (CAM_B, utc(2026, 3, 2, 0, 5), utc(2026, 3, 2, 0, 10), 20, None),
    ]
    assert all(s.start.tzinfo is UTC and s.end.tzinfo is UTC for s in result.segments)
    first = result.segments[0]
    assert first.uri == (export / f"{CAM_A}_20260302T090000_20260302T090500.ts").resolve().as_uri()
    assert Path(first.uri.removeprefix("file://")).read_bytes() == b"a" * 7

    reasons = {s.source: s.reason for s in result.report.skipped}
    assert reasons == {
        "misc/": "目录名不是 20 位摄像机编号，整个目录已忽略",
        "3711220000132000000_20260302T090000_20260302T090500.mp4": "摄像机编号“3711220000132000000”不是 20 位数字",
        "camera7_20260302T090000_20260302T090500.mp4": "摄像机编号“camera7”不是 20 位数字",
        f"{CAM_A}_20260302T091000_20260302T091500.mp4": "文件为空（0 字节）",
        f"{CAM_B}/20260302/{CAM_B}_20260302T081000_20260302T081000.mp4": "结束时间不晚于开始时间",
        f"{CAM_B}/20260302/{CAM_B}_20260302T090000_20260302T085500.mp4": "结束时间不晚于开始时间",
        f"{CAM_B}/20260302/{CAM_A}_20260302T100000_20260302T100500.mp4": (
            f"文件属于摄像机 {CAM_A}，却放在 {CAM_B} 目录下"
        ),
        f"{CAM_B}/20260302/{CAM_B}_20260302T100000_20260302T100500.mp4.part": (
            "文件名不符合“摄像机编号_开始时间_结束时间.扩展名”格式"
        ),
        f"{CAM_B}/20260302/export.log": "文件名不符合“摄像机编号_开始时间_结束时间.扩展名”格式",
        f"{CAM_B}/20260302/{CAM_B}_20261301T100000_20261301T100500.mp4": "文件名中的时间无效",
        f"{CAM_B}/copy/{CAM_B}_20260302T080500_20260302T081000.mp4": "与另一文件的摄像机和起止时间相同，重复",
    }
    report = result.report
    assert (report.found, report.accepted, len(report.skipped)) == (15, 5, 11)  # misc/ is not walked
    assert report.complete
    assert report.summary() == "发现 15 个文件，入选 5 条，跳过 11 条。"


def test_checksum_is_the_streamed_sha256_when_asked(tmp_path: Path) -> None:
    content = os.urandom(3 * (1 << 20) + 17)  # more than one read chunk
    put(tmp_path, f"{CAM_A}/20260302/{CAM_A}_20260302T090000_20260302T090500.mp4", content)
    (plain,) = scan_export_folder(tmp_path).segments
    (summed,) = scan_export_folder(tmp_path, checksum=True).segments
    assert plain.checksum is None
    assert summed.checksum == hashlib.sha256(content).hexdigest()
    assert summed.size_bytes == len(content)


def test_a_sink_gets_ordered_batches_and_nothing_is_kept(export: Path) -> None:
    batches: list[list[FoundSegment]] = []
    result = scan_export_folder(export, sink=batches.append, batch_size=2)
    assert [len(b) for b in batches] == [2, 2, 1]
    assert result.segments == ()
    assert result.report.accepted == 5
    flat = [s for batch in batches for s in batch]
    assert flat == list(scan_export_folder(export).segments)


def test_empty_export_and_a_missing_root(tmp_path: Path) -> None:
    (tmp_path / "empty" / CAM_A / "20260302").mkdir(parents=True)
    result = scan_export_folder(tmp_path / "empty")
    assert result.segments == ()
    assert result.report == IngestReport(found=0, accepted=0)
    with pytest.raises(ValidationError, match="录像导出目录不存在或不是目录"):
        scan_export_folder(tmp_path / "nowhere")
    put(tmp_path, "a-file")
    with pytest.raises(ValidationError, match="录像导出目录不存在或不是目录"):
        scan_export_folder(tmp_path / "a-file")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (f"{CAM_A}_20260101T000000_20260101T000500.dav", (utc(2025, 12, 31, 16, 0), utc(2025, 12, 31, 16, 5))),
        (f"{CAM_A}_20261231T235500_20270101T000500.mp4", (utc(2026, 12, 31, 15, 55), utc(2026, 12, 31, 16, 5))),
        (f"{CAM_A}_20260302T090000_20260302T090500", "文件名不符合“摄像机编号_开始时间_结束时间.扩展名”格式"),
        (f"{CAM_A}_20260302T090000_20260302T090500.jpg", "不是录像文件（扩展名 .jpg）"),
        (f"{CAM_A}_2026030T090000_20260302T090500.mp4", "文件名不符合“摄像机编号_开始时间_结束时间.扩展名”格式"),
        (f"{CAM_A}_20260302T250000_20260302T260000.mp4", "文件名中的时间无效"),
        (f"{CAM_A}0_20260302T090000_20260302T090500.mp4", f"摄像机编号“{CAM_A}0”不是 20 位数字"),
    ],
)
def test_parse_segment_name(name: str, expected: tuple[datetime, datetime] | str) -> None:
    parsed = parse_segment_name(name)
    if isinstance(expected, str):
        assert parsed == expected
    else:
        assert not isinstance(parsed, str)
        assert (parsed.camera_id, parsed.start, parsed.end) == (CAM_A, *expected)
