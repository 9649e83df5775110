"""The NVR export-folder scanner (录像导出目录扫描): files named by camera and time become :class:`FoundSegment`\\ s.

Layout of an export folder (both may appear side by side)::

    <root>/<camera>/<YYYYMMDD>/<camera>_<YYYYMMDDTHHMMSS>_<YYYYMMDDTHHMMSS>.<ext>    nested (any depth under
                                                                                    the camera folder)
    <root>/<camera>_<YYYYMMDDTHHMMSS>_<YYYYMMDDTHHMMSS>.<ext>                       flat

``<camera>`` is the 20-digit GB/T 28181 id; the two times are the start and end of the recording in local time
(Asia/Shanghai, UTC+8), so a file starting at 23:55 and ending at 00:05 the next day is one segment (it sits in
the folder of its start day). ``<ext>`` is one of :data:`VIDEO_EXTENSIONS` (case-insensitive).

Segments come out in (camera, start) order, with the size from the file system, the absolute ``file://`` URI,
and — when ``checksum=True`` — the sha256 of the content (streamed, lowercase hex). Nothing here fails on a bad
file: a name that does not parse, an end not after the start, a camera id that is not 20 digits, a file of
another kind, an empty file, a file that vanished while being read, a camera folder holding another camera's
file or a folder that fits neither layout is skipped and reported with its reason. Only a root that is not a
folder is refused (:class:`~federation.errors.ValidationError`).

Memory holds one camera's files at a time (plus the flat files of the root), so a whole retention period of
exports can be scanned.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import structlog

from county_node.video.adapters.ingest_model import (
    FoundSegment,
    IngestReport,
    IngestResult,
    SegmentSink,
    Skipped,
    looks_like_camera_id,
)
from federation.errors import ValidationError
from federation.timeutil import CST

__all__ = ["VIDEO_EXTENSIONS", "ParsedName", "parse_segment_name", "scan_export_folder"]

log = structlog.get_logger(__name__)

VIDEO_EXTENSIONS = frozenset({"mp4", "ts", "ps", "mkv", "avi", "dav", "h264", "h265", "264", "265"})
_NAME = re.compile(r"(?P<camera>[^_/]+)_(?P<start>\d{8}T\d{6})_(?P<end>\d{8}T\d{6})\.(?P<ext>[A-Za-z0-9]+)")
_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class ParsedName:
    """What a segment file's name says: the camera and the UTC start and end."""

    camera_id: str
    start: datetime
    end: datetime


def parse_segment_name(name: str, *, extensions: Iterable[str] = VIDEO_EXTENSIONS) -> ParsedName | str:
    """The camera and UTC moments a file name stands for, or the Chinese reason it does not parse."""
    match = _NAME.fullmatch(name)
    if match is None:
        return "文件名不符合“摄像机编号_开始时间_结束时间.扩展名”格式"
    if match["ext"].lower() not in {e.lower() for e in extensions}:
        return f"不是录像文件（扩展名 .{match['ext']}）"
    camera = match["camera"]
    if not looks_like_camera_id(camera):
        return f"摄像机编号“{camera}”不是 20 位数字"
    try:
        start = datetime.strptime(match["start"], "%Y%m%dT%H%M%S").replace(tzinfo=CST)
        end = datetime.strptime(match["end"], "%Y%m%dT%H%M%S").replace(tzinfo=CST)
    except ValueError:
        return "文件名中的时间无效"
    if end <= start:
        return "结束时间不晚于开始时间"
    return ParsedName(camera, start.astimezone(UTC), end.astimezone(UTC))


def scan_export_folder(
    root: str | os.PathLike[str],
    *,
    checksum: bool = False,
    sink: SegmentSink | None = None,
    batch_size: int = 5000,
    extensions: Iterable[str] = VIDEO_EXTENSIONS,
) -> IngestResult:
    """Scan the export folder ``root`` (layout in the module docstring).

    Without ``sink`` the segments are returned in (camera, start) order; with one they are passed to it in that
    order in lists of at most ``batch_size`` and the result's ``segments`` is empty."""
    if batch_size < 1:
        raise ValueError("batch_size must be positive")
    base = Path(root)
    if not base.is_dir():
        raise ValidationError(f"录像导出目录不存在或不是目录：{base}", path=str(base))
    base = base.resolve()
    exts = frozenset(e.lower() for e in extensions)
    skipped: list[Skipped] = []
    found = 0
    flat: dict[str, list[tuple[Path, ParsedName]]] = defaultdict(list)
    camera_dirs: dict[str, Path] = {}

    for entry in sorted(os.scandir(base), key=lambda e: e.name):
        if entry.is_dir(follow_symlinks=False):
            if looks_like_camera_id(entry.name):
                camera_dirs[entry.name] = Path(entry.path)
            else:
                skipped.append(Skipped(entry.name + "/", "目录名不是 20 位摄像机编号，整个目录已忽略"))
            continue
        found += 1
        parsed = parse_segment_name(entry.name, extensions=exts)
        if isinstance(parsed, str):
            skipped.append(Skipped(entry.name, parsed))
        else:
            flat[parsed.camera_id].append((Path(entry.path), parsed))

    out = _Output(sink, batch_size)
    for camera in sorted(flat.keys() | camera_dirs.keys()):
        files = flat.pop(camera, [])
        folder = camera_dirs.get(camera)
        if folder is not None:
            found += _scan_camera_folder(folder, camera, base, exts, files=files, skipped=skipped)
        files.sort(key=lambda f: (f[1].start, f[1].end, f[0].name))
        seen: set[tuple[datetime, datetime]] = set()
        for path, name in files:
            if (name.start, name.end) in seen:
                skipped.append(Skipped(_rel(path, base), "与另一文件的摄像机和起止时间相同，重复"))
                continue
            segment = _segment(path, name, checksum=checksum)
            if isinstance(segment, str):
                skipped.append(Skipped(_rel(path, base), segment))
                continue
            seen.add((name.start, name.end))
            out.add(segment)
    out.flush()
    report = IngestReport(found=found, accepted=out.count, skipped=tuple(skipped))
    log.info("video.scan", root=str(base), found=found, accepted=out.count, skipped=len(skipped))
    return IngestResult(segments=tuple(out.kept), report=report)


class _Output:
    def __init__(self, sink: SegmentSink | None, batch_size: int) -> None:
        self.sink = sink
        self.batch_size = batch_size
        self.kept: list[FoundSegment] = []
        self.batch: list[FoundSegment] = []
        self.count = 0

    def add(self, segment: FoundSegment) -> None:
        self.count += 1
        if self.sink is None:
            self.kept.append(segment)
            return
        self.batch.append(segment)
        if len(self.batch) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        if self.sink is not None and self.batch:
            batch, self.batch = self.batch, []
            self.sink(batch)


def _scan_camera_folder(
    folder: Path,
    camera: str,
    base: Path,
    exts: frozenset[str],
    *,
    files: list[tuple[Path, ParsedName]],
    skipped: list[Skipped],
) -> int:
    """Add the segment files under one camera's folder to ``files`` (the rest to ``skipped``); the file count."""
    paths = _files_under(folder)
    for path in paths:
        parsed = parse_segment_name(path.name, extensions=exts)
        if isinstance(parsed, str):
            skipped.append(Skipped(_rel(path, base), parsed))
        elif parsed.camera_id != camera:
            skipped.append(Skipped(_rel(path, base), f"文件属于摄像机 {parsed.camera_id}，却放在 {camera} 目录下"))
        else:
            files.append((path, parsed))
    return len(paths)


def _files_under(folder: Path) -> list[Path]:
    paths: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        paths.extend(Path(dirpath, name) for name in sorted(filenames))
    return paths


def _segment(path: Path, name: ParsedName, *, checksum: bool) -> FoundSegment | str:
    try:
        size = path.stat().st_size
        if size == 0:
            return "文件为空（0 字节）"
        digest = _sha256(path) if checksum else None
    except OSError as exc:
        return f"文件读取失败：{exc.strerror or type(exc).__name__}"
    return FoundSegment(name.camera_id, name.start, name.end, path.as_uri(), size, digest)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _rel(path: Path, base: Path) -> str:
    return path.relative_to(base).as_posix()
