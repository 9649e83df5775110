"""Recording segments, events and clips (pure): validation, overlap within a camera, gaps in a time range.

A segment covers ``[start, end)``. Within one camera segments never overlap: an *exact* duplicate (same camera,
start, end, URI, size and checksum) re-sent by an NVR is a no-op; anything else that overlaps is refused, and the
whole batch with it. Moments are stored in UTC and shown in China Standard Time (Asia/Shanghai).
"""

from __future__ import annotations

import enum
import posixpath
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from operator import attrgetter
from urllib.parse import quote, unquote, urlsplit

from federation.errors import Conflict, ValidationError
from federation.timeutil import CST, check_moment

__all__ = [
    "DEFAULT_MAX_SEGMENT",
    "EVENT_ID_LENGTH",
    "EVENT_KIND_LABELS",
    "ClipMargin",
    "EventKind",
    "Gap",
    "Segment",
    "Timeline",
    "check_new_segments",
    "find_gaps",
    "show",
]

DEFAULT_MAX_SEGMENT = timedelta(hours=1)
"""The longest segment the index accepts: a range query reads ``start >= T1 - max`` instead of scanning ends."""


CHECKSUM_LENGTH = 80
"""The longest checksum text (``video_segments.checksum``): room for ``sha256:`` and 64 hex digits."""
MAX_SIZE = 2**63 - 1
"""The largest size in bytes a segment row holds (a 64-bit integer)."""
EVENT_ID_LENGTH = 40
"""The longest event id, the county's prefix included (``video_events.event_id``)."""


def show(moment: datetime) -> str:
    """A moment as the hall reads it (China Standard Time)."""
    return moment.astimezone(CST).strftime("%Y-%m-%d %H:%M:%S")


class EventKind(enum.StrEnum):
    ALARM = "alarm"  # 报警
    MOTION = "motion"  # 移动侦测
    WINDOW_UNATTENDED = "window_unattended"  # 窗口无人
    COMPLAINT_LINKED = "complaint_linked"  # 投诉关联


EVENT_KIND_LABELS: Mapping[str, str] = {
    EventKind.ALARM: "报警",
    EventKind.MOTION: "移动侦测",
    EventKind.WINDOW_UNATTENDED: "窗口无人",
    EventKind.COMPLAINT_LINKED: "投诉关联",
}
"""How a person reads a video event's kind."""


@dataclass(frozen=True, slots=True)
class Segment:
    camera_id: str
    start: datetime
    end: datetime
    uri: str
    size: int
    checksum: str

    def same_as(self, other: Segment) -> bool:
        return (self.end, self.uri, self.size, self.checksum) == (other.end, other.uri, other.size, other.checksum)

    def validate(self, max_length: timedelta) -> None:
        if self.start.tzinfo is not None and self.end.tzinfo is not None:
            check_moment(self.start, "录像片段的开始时间")
            check_moment(self.end, "录像片段的结束时间")
        if (
            self.start.tzinfo is not None
            and self.end.tzinfo is not None
            and self.start < self.end
            and self.end - self.start <= max_length
            and self.uri.strip()
            and 0 <= self.size <= MAX_SIZE
            and self.checksum.strip()
            and len(self.checksum) <= CHECKSUM_LENGTH
        ):
            return  # the common case, without formatting the moments for an error that is not raised
        where = {"camera_id": self.camera_id, "start": show(self.start)}
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValidationError("录像片段的起止时间必须带时区", **where)
        if self.end <= self.start:
            raise ValidationError(f"录像片段 {show(self.start)} 的结束时间必须晚于开始时间", **where)
        if self.end - self.start > max_length:
            raise ValidationError(
                f"录像片段 {show(self.start)}–{show(self.end)} 超过最长片段时长 {max_length}，请按时长切分后再入库",
                **where,
            )
        if not self.uri.strip():
            raise ValidationError(f"录像片段 {show(self.start)} 缺少存储位置（URI）", **where)
        if self.size < 0:
            raise ValidationError(f"录像片段 {show(self.start)} 的大小不能为负数", **where)
        if self.size > MAX_SIZE:
            raise ValidationError(f"录像片段 {show(self.start)} 的大小 {self.size} 超出范围", **where)
        if not self.checksum.strip():
            raise ValidationError(f"录像片段 {show(self.start)} 缺少校验值", **where)
        if len(self.checksum) > CHECKSUM_LENGTH:
            limit = f"至多 {CHECKSUM_LENGTH} 个字符（当前 {len(self.checksum)} 个）"
            raise ValidationError(f"录像片段 {show(self.start)} 的校验值过长：{limit}", **where)


_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]+:")


def canonical_uri(uri: str) -> str:
    """The one spelling of a recording's location, so two spellings of one file compare equal: a ``file:`` URI
    with its path normalised (``cam1/../cam1/a.mp4`` → ``cam1/a.mp4``, percent-encoded as ``Path.as_uri()``
    writes it), a plain path normalised the same way; any other URI (``rtsp://``, ``http://``) as given."""
    text = uri.strip()
    if _SCHEME.match(text):
        parts = urlsplit(text)
        if parts.scheme.lower() != "file":
            return text
        path = posixpath.normpath(unquote(parts.path)) if parts.path else ""
        if path.startswith("//"):  # normpath keeps a leading "//"; a file path means "/" by it
            path = "/" + path.lstrip("/")
        return f"file://{parts.netloc}{quote(path)}"
    return posixpath.normpath(text) if text else text


def _overlap_error(new: Segment, old: Segment, *, stored: bool) -> Conflict:
    what = "已入库的片段" if stored else "同批中的片段"
    return Conflict(
        f"摄像机 {new.camera_id} 的录像片段 {show(new.start)}–{show(new.end)} 与{what} "
        f"{show(old.start)}–{show(old.end)} 重叠，整批未入库",
        camera_id=new.camera_id,
        start=show(new.start),
    )


def check_new_segments(batch: Sequence[Segment], stored: Iterable[Segment]) -> list[Segment]:
    """The segments of ``batch`` to insert, in (camera, start) order: exact duplicates (of a stored segment or
    within the batch) dropped; any other overlap — with ``stored`` or within the batch — raises :class:`Conflict`.

    ``stored`` must hold every stored segment that could overlap the batch (same cameras, nearby starts)."""
    new_by_camera: dict[str, list[Segment]] = {}
    for s in batch:
        new_by_camera.setdefault(s.camera_id, []).append(s)
    stored_by_camera: dict[str, list[Segment]] = {}
    for s in stored:
        stored_by_camera.setdefault(s.camera_id, []).append(s)
    fresh: list[Segment] = []
    for camera in sorted(new_by_camera):
        old = stored_by_camera.get(camera)
        if old:
            fresh += _check_against_stored(new_by_camera[camera], old)
        else:  # the common case (an NVR delivering the next hour): nothing stored nearby, the batch alone
            fresh += _check_batch(new_by_camera[camera])
    return fresh


def _check_batch(segments: list[Segment]) -> list[Segment]:
    """One camera's new segments, none stored nearby: sorted, exact duplicates dropped, an overlap refused."""
    fresh: list[Segment] = []
    reach: Segment | None = None  # the segment reaching furthest so far
    for seg in sorted(segments, key=_START):
        if reach is not None and seg.start < reach.end:
            if seg.start == reach.start and seg.same_as(reach):
                continue  # an exact duplicate within the batch: idempotent
            raise _overlap_error(seg, reach, stored=False)
        if reach is None or seg.end > reach.end:
            reach = seg
        fresh.append(seg)
    return fresh


def _check_against_stored(segments: list[Segment], stored: list[Segment]) -> list[Segment]:
    """One camera's new segments among its stored ones (stored first on a tie of starts)."""
    items = sorted([(s, True) for s in stored] + [(s, False) for s in segments], key=lambda p: (p[0].start, not p[1]))
    fresh: list[Segment] = []
    reach: tuple[Segment, bool] | None = None  # the segment reaching furthest so far, and whether stored
    for seg, is_stored in items:
        if reach is not None and seg.start < reach[0].end:
            if seg.start == reach[0].start and seg.same_as(reach[0]):
                continue  # an exact duplicate re-sent: idempotent
            if not (is_stored and reach[1]):  # two stored rows never overlap; anything else is refused
                new, old = (reach, (seg, is_stored)) if is_stored else ((seg, is_stored), reach)
                raise _overlap_error(new[0], old[0], stored=old[1])
        if reach is None or seg.end > reach[0].end:
            reach = (seg, is_stored)
        if not is_stored:
            fresh.append(seg)
    return fresh


_START = attrgetter("start")


@dataclass(frozen=True, slots=True)
class Gap:
    start: datetime
    end: datetime


def find_gaps(segments: Sequence[Segment], start: datetime, end: datetime) -> list[Gap]:
    """The parts of ``[start, end)`` no segment covers; ``segments`` in start order, one camera."""
    gaps: list[Gap] = []
    cursor = start
    for s in segments:
        if s.start > cursor:
            gaps.append(Gap(cursor, min(s.start, end)))
        cursor = max(cursor, s.end)
        if cursor >= end:
            break
    if cursor < end:
        gaps.append(Gap(cursor, end))
    return gaps


@dataclass(frozen=True, slots=True)
class Timeline:
    """The segments of one camera overlapping ``[start, end)``, in order, and the gaps between them."""

    camera_id: str | None
    start: datetime
    end: datetime
    segments: list[Segment]
    gaps: list[Gap]

    @property
    def complete(self) -> bool:
        return self.camera_id is not None and not self.gaps


@dataclass(frozen=True, slots=True)
class ClipMargin:
    """How much video around a moment makes its clip: ``[at - before, at + after]``."""

    before: timedelta = timedelta(minutes=2)
    after: timedelta = timedelta(minutes=5)

    @classmethod
    def of_seconds(cls, before: int, after: int) -> ClipMargin:
        """From a node's ``[video] margin_before_s`` / ``margin_after_s``."""
        return cls(timedelta(seconds=before), timedelta(seconds=after))

    def around(self, at: datetime) -> tuple[datetime, datetime]:
        return at - self.before, at + self.after
